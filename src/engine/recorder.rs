//! The engine's handle on the run's journal: appends [`Event`]s from any task.
//!
//! Two strengths. [`Recorder::record`] returns once the event is on disk:
//! for the steps that act on the server (a POST's intent) and for the start
//! and end of a run. [`Recorder::note`] writes the event into the file at
//! once, so a killed process loses nothing, and leaves it to the next
//! `record` to reach the disk: for facts learned from the server (a task id,
//! a task's end, a reconciliation). Every POST is preceded by a synced
//! intent, which carries every noted event before it to disk; a power loss
//! can thus lose only facts whose requests a resume reads back from the pool
//! anyway, never a POST that went out unrecorded. It halves the syncs per
//! range, the largest share of the client's CPU time.

use std::path::Path;
use std::sync::Mutex;

use crate::engine::events::Event;
use crate::engine::journal::Journal;

/// A journal shared by the tasks of a run.
pub struct Recorder {
    journal: Mutex<Journal>,
}

impl Recorder {
    /// Start a new journal at `path`.
    pub fn create(path: &Path) -> anyhow::Result<Recorder> {
        Ok(Recorder {
            journal: Mutex::new(Journal::create(path)?),
        })
    }

    /// Continue the journal at `path`.
    pub fn open_append(path: &Path) -> anyhow::Result<Recorder> {
        Ok(Recorder {
            journal: Mutex::new(Journal::open_append(path)?),
        })
    }

    /// Append one event; it is on disk when this returns.
    pub fn record(&self, event: &Event) -> anyhow::Result<()> {
        self.journal
            .lock()
            .expect("journal lock poisoned")
            .append(event)?;
        Ok(())
    }

    /// Append several events with one sync: all on disk when this returns.
    pub fn record_all(&self, events: &[Event]) -> anyhow::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        self.journal
            .lock()
            .expect("journal lock poisoned")
            .append_batch(events)?;
        Ok(())
    }

    /// Append one event into the file; it reaches the disk with the next
    /// [`Recorder::record`] (see the module docs).
    pub fn note(&self, event: &Event) -> anyhow::Result<()> {
        self.note_all(std::slice::from_ref(event))
    }

    /// Append several events into the file, unsynced (see [`Recorder::note`]).
    pub fn note_all(&self, events: &[Event]) -> anyhow::Result<()> {
        self.journal
            .lock()
            .expect("journal lock poisoned")
            .append_batch_unsynced(events)?;
        Ok(())
    }
}

/// Every event of the journal at `path` (a torn last line is ignored).
pub fn read_events(path: &Path) -> anyhow::Result<Vec<Event>> {
    Ok(crate::engine::journal::read_journal::<Event>(path)?)
}

//! The engine's handle on the run's journal: appends [`Event`]s, each durable
//! on disk before `record` returns, from any task.

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

    /// Append several events with one flush to disk.
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
}

/// Every event of the journal at `path` (a torn last line is ignored).
pub fn read_events(path: &Path) -> anyhow::Result<Vec<Event>> {
    Ok(crate::engine::journal::read_journal::<Event>(path)?)
}

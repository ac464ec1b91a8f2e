//! The apply engine: plan, submit, poll, reconcile; and the run directory
//! and journal it writes into (`rundir`, `journal`).

pub mod journal;
pub mod rundir;

// Plan and apply (engine branch).
pub mod apply;
pub mod cut;
pub mod events;
pub mod execute;
pub mod plan;
pub mod progress;
pub mod recorder;

//! The apply engine: plan, submit, poll, reconcile; and the run directory
//! and journal it writes into (`rundir`, `journal`).

pub mod journal;
pub mod rundir;

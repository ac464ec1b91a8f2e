//! `ipimport` loads public IP address ranges from spreadsheets and range files
//! into the public IP pools of Veeam Cloud Connect backup servers, through
//! Veeam Backup Enterprise Manager's REST API.
//!
//! The crate is a pipeline, and its modules follow the data:
//!
//! ```text
//! input (csv, yaml, sheets) -> validate -> merge -> engine (plan, submit, poll,
//! reconcile, journal) -> report
//! ```
//!
//! `em` is the Enterprise Manager wire format and client, shared with `sim`,
//! the built-in simulator. `range` is the one address range type.

pub mod cli;
pub mod commands;
pub mod config;
pub mod durable;
pub mod em;
pub mod engine;
pub mod exit;
pub mod input;
pub mod logging;
pub mod memory;
pub mod merge;
pub mod pipeline;
pub mod range;
pub mod report;
pub mod sim;
pub mod validate;

//! Enterprise Manager: the wire format (XML and JSON bodies), shared by the
//! client and by the built-in simulator so that both speak one definition of
//! every body.
//!
//! - [`wire`]: `encode`/`decode` keyed by [`crate::cli::Wire`], content types,
//!   and every body type (re-exported from `bodies`).
//! - [`xml`]: the hand-written XML writer and namespace-checking reader.

pub mod bodies;
pub mod wire;
pub mod xml;

//! Exit codes of the contract, and how an error chooses one.
//!
//! Commands return `anyhow::Result<Exit>`. An error that should end the
//! process with a particular code carries a [`Fatal`] somewhere in its chain
//! (see [`fatal`]); [`classify`] finds it. Anything else is treated as bad
//! input or usage (2), the one code that promises nothing was submitted.

use std::fmt;

/// The process exit codes fixed by the product contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Exit {
    /// Every row ok (validate/plan: no errors).
    Ok = 0,
    /// Some rows failed.
    RowsFailed = 1,
    /// Invalid input or usage; nothing was submitted.
    Invalid = 2,
    /// The server could not be reached, authenticated or understood.
    Server = 3,
    /// The run directory is locked by another apply.
    Locked = 4,
    /// Interrupted; the journal is complete and the run can be resumed.
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An error that ends the command with a chosen exit code.
#[derive(Debug, thiserror::Error)]
pub struct Fatal {
    pub exit: Exit,
    pub message: String,
}

impl fmt::Display for Fatal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Build an `anyhow::Error` that exits with `exit`.
pub fn fatal(exit: Exit, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Fatal {
        exit,
        message: message.into(),
    })
}

/// The exit code an error asks for: the first [`Fatal`] in its chain, else 2.
pub fn classify(err: &anyhow::Error) -> Exit {
    err.chain()
        .find_map(|cause| cause.downcast_ref::<Fatal>().map(|f| f.exit))
        .unwrap_or(Exit::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn finds_fatal_under_context() {
        let err: anyhow::Result<()> = Err(fatal(Exit::Server, "refused"));
        let err = err.context("logging on").unwrap_err();
        assert_eq!(classify(&err), Exit::Server);
        assert_eq!(classify(&anyhow::anyhow!("plain")), Exit::Invalid);
    }
}

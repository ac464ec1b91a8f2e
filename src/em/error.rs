//! Errors of the Enterprise Manager client, worded as advice.

use crate::exit::{Exit, Fatal};

/// What went wrong talking to Enterprise Manager.
#[derive(Debug, thiserror::Error)]
pub enum EmError {
    /// No connection, TLS failure, or no answer at all.
    #[error(
        "cannot reach Enterprise Manager at {url}: {detail}. Check --server (e.g. https://em01:9398), \
         that the service runs, and for a self-signed certificate --ca-cert PEM"
    )]
    Unreachable { url: String, detail: String },
    /// The logon was refused.
    #[error(
        "Enterprise Manager refused the logon of user '{user}' (HTTP 401): check the user name and \
         the password (IPIMPORT_PASSWORD, --password-file)"
    )]
    Auth { user: String },
    /// The server answered with an error status.
    #[error("{what}: HTTP {status}{}", message_suffix(.message))]
    Status {
        what: String,
        status: u16,
        message: String,
    },
    /// The reply could not be understood.
    #[error(
        "the reply to {what} could not be understood ({detail}); is --server an Enterprise Manager \
         REST API, and does --wire match what it speaks?"
    )]
    Protocol { what: String, detail: String },
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl EmError {
    /// As a command-ending error with exit code 3.
    pub fn into_fatal(self) -> anyhow::Error {
        anyhow::Error::new(Fatal {
            exit: Exit::Server,
            message: self.to_string(),
        })
    }
}

//! Settings: command line, then environment, then `--config FILE`, then defaults.
//!
//! clap already merges the command line with the environment variables it
//! knows (`IPIMPORT_SERVER`, ...), leaving `None` where neither said anything;
//! this module fills those holes from the TOML file and then from the
//! defaults of the product contract. The resolved structs are what the
//! commands and the engine take: they never look at clap types again.
//!
//! A password is never read from the configuration file (only `password_file`
//! is), and never from the command line: see [`resolve_password`].

use std::fmt;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use crate::cli::{ConnectionArgs, EngineArgs, OutputFormat, ValidationArgs, Wire};
use crate::exit::{Exit, fatal};

/// Largest `--max-range-size` the contract allows.
pub const MAX_RANGE_SIZE_LIMIT: u64 = 16_777_216;

/// The keys of the TOML configuration file: the long option names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub server: Option<String>,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    pub ca_cert: Option<PathBuf>,
    pub insecure: Option<bool>,
    pub wire: Option<Wire>,
    pub timeout: Option<u64>,
    pub backup_server: Option<String>,
    pub max_range_size: Option<u64>,
    pub allow_nonpublic: Option<bool>,
    pub skip_invalid: Option<bool>,
    pub format: Option<OutputFormat>,
    pub sheet: Option<String>,
    pub rate: Option<u32>,
    pub burst: Option<u32>,
    pub concurrency: Option<usize>,
    pub max_per_request: Option<u64>,
    pub task_timeout: Option<u64>,
    pub retries: Option<u32>,
    pub run_dir: Option<PathBuf>,
}

impl FileConfig {
    /// Read the file named by `--config` / `IPIMPORT_CONFIG`, or nothing.
    pub fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            fatal(
                Exit::Invalid,
                format!("cannot read config file {}: {e}", path.display()),
            )
        })?;
        FileConfig::parse(&text).map_err(|e| {
            fatal(
                Exit::Invalid,
                format!("config file {}: {e:#}", path.display()),
            )
        })
    }

    /// Parse the TOML text of a configuration file.
    pub fn parse(text: &str) -> anyhow::Result<FileConfig> {
        let value: toml::Table = toml::from_str(text).context("not valid TOML")?;
        if value.contains_key("password") {
            anyhow::bail!(
                "a password is never read from the config file; put it in a file named by \
                 `password_file`, or in IPIMPORT_PASSWORD"
            );
        }
        let config: FileConfig = toml::from_str(text).context(
            "unknown or mistyped key (keys are the long option names, e.g. `max_per_request`)",
        )?;
        if config
            .backup_server
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            anyhow::bail!("`backup_server`: {}", crate::validate::BLANK_BACKUP_SERVER);
        }
        Ok(config)
    }
}

/// Resolved validation settings.
#[derive(Debug, Clone)]
pub struct ValidationSettings {
    pub backup_server: Option<String>,
    pub max_range_size: u64,
    pub allow_nonpublic: bool,
    pub skip_invalid: bool,
    pub format: OutputFormat,
    pub sheet: Option<String>,
}

impl Default for ValidationSettings {
    fn default() -> Self {
        ValidationSettings {
            backup_server: None,
            max_range_size: 65_536,
            allow_nonpublic: false,
            skip_invalid: false,
            format: OutputFormat::Text,
            sheet: None,
        }
    }
}

impl ValidationSettings {
    pub fn resolve(
        args: &ValidationArgs,
        sheet: Option<&String>,
        file: &FileConfig,
    ) -> anyhow::Result<Self> {
        let d = ValidationSettings::default();
        let max_range_size = args
            .max_range_size
            .or(file.max_range_size)
            .unwrap_or(d.max_range_size);
        if max_range_size == 0 || max_range_size > MAX_RANGE_SIZE_LIMIT {
            return Err(fatal(
                Exit::Invalid,
                format!(
                    "--max-range-size must be between 1 and {MAX_RANGE_SIZE_LIMIT}, not {max_range_size}"
                ),
            ));
        }
        Ok(ValidationSettings {
            backup_server: args
                .backup_server
                .clone()
                .or_else(|| file.backup_server.clone()),
            max_range_size,
            allow_nonpublic: args.allow_nonpublic || file.allow_nonpublic.unwrap_or(false),
            skip_invalid: args.skip_invalid || file.skip_invalid.unwrap_or(false),
            format: args.format.or(file.format).unwrap_or(d.format),
            sheet: sheet.cloned().or_else(|| file.sheet.clone()),
        })
    }
}

/// Resolved connection settings. The password is resolved separately and
/// late ([`resolve_password`]) so that it lives in as few places as possible.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// Base URL ending in `/api`.
    pub server: String,
    pub user: String,
    pub password_file: Option<PathBuf>,
    pub ca_cert: Option<PathBuf>,
    pub insecure: bool,
    pub wire: Wire,
    pub timeout: Duration,
}

impl ConnectionSettings {
    pub fn resolve(args: &ConnectionArgs, file: &FileConfig) -> anyhow::Result<Self> {
        let server = args.server.clone().or_else(|| file.server.clone()).ok_or_else(|| {
            fatal(
                Exit::Invalid,
                "no server given: pass --server https://EM:9398, set IPIMPORT_SERVER, or set `server` in the config file",
            )
        })?;
        let user = args.user.clone().or_else(|| file.user.clone()).ok_or_else(|| {
            fatal(
                Exit::Invalid,
                "no user given: pass --user NAME, set IPIMPORT_USER, or set `user` in the config file",
            )
        })?;
        Ok(ConnectionSettings {
            server: normalize_server_url(&server)?,
            user,
            // Command line, then environment, then the file: a --password-file
            // given here beats IPIMPORT_PASSWORD, which beats the config's
            // password_file. Decided now so resolve_password stays simple.
            password_file: args.password_file.clone().or_else(|| {
                if std::env::var_os("IPIMPORT_PASSWORD").is_some() {
                    None
                } else {
                    file.password_file.clone()
                }
            }),
            ca_cert: args.ca_cert.clone().or_else(|| file.ca_cert.clone()),
            insecure: args.insecure || file.insecure.unwrap_or(false),
            wire: args.wire.or(file.wire).unwrap_or(Wire::Xml),
            timeout: Duration::from_secs(args.timeout.or(file.timeout).unwrap_or(30).max(1)),
        })
    }
}

/// `https://em01:9398` -> `https://em01:9398/api`; an existing `/api` is kept.
pub fn normalize_server_url(server: &str) -> anyhow::Result<String> {
    let trimmed = server.trim().trim_end_matches('/');
    let url = url::Url::parse(trimmed).map_err(|e| {
        fatal(
            Exit::Invalid,
            format!("server URL '{trimmed}' is not valid ({e}); write it like https://em01:9398"),
        )
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(fatal(
            Exit::Invalid,
            format!("server URL '{trimmed}' must start with https:// (or http://)"),
        ));
    }
    if trimmed.ends_with("/api") {
        Ok(trimmed.to_string())
    } else {
        Ok(format!("{trimmed}/api"))
    }
}

/// Resolved engine settings (apply).
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub rate: u32,
    pub burst: u32,
    pub concurrency: usize,
    pub max_per_request: u64,
    pub task_timeout: Duration,
    pub retries: u32,
    pub run_dir: Option<PathBuf>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            rate: 10,
            burst: 1,
            concurrency: 8,
            max_per_request: 4096,
            task_timeout: Duration::from_secs(600),
            retries: 5,
            run_dir: None,
        }
    }
}

impl EngineSettings {
    pub fn resolve(args: &EngineArgs, file: &FileConfig) -> anyhow::Result<Self> {
        let d = EngineSettings::default();
        let s = EngineSettings {
            rate: args.rate.or(file.rate).unwrap_or(d.rate),
            burst: args.burst.or(file.burst).unwrap_or(d.burst),
            concurrency: args
                .concurrency
                .or(file.concurrency)
                .unwrap_or(d.concurrency),
            max_per_request: args
                .max_per_request
                .or(file.max_per_request)
                .unwrap_or(d.max_per_request),
            task_timeout: args
                .task_timeout
                .or(file.task_timeout)
                .map(Duration::from_secs)
                .unwrap_or(d.task_timeout),
            retries: args.retries.or(file.retries).unwrap_or(d.retries),
            run_dir: args.run_dir.clone().or_else(|| file.run_dir.clone()),
        };
        for (name, value) in [
            ("--rate", s.rate as u64),
            ("--concurrency", s.concurrency as u64),
            ("--max-per-request", s.max_per_request),
            ("--retries", s.retries as u64),
        ] {
            if value == 0 {
                return Err(fatal(Exit::Invalid, format!("{name} must be at least 1")));
            }
        }
        Ok(s)
    }
}

/// A secret string (password, session token): never printed by `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The password: from the password file when one is set (`--password-file`,
/// or the config's `password_file` when `IPIMPORT_PASSWORD` is unset: see
/// [`ConnectionSettings::resolve`]), else `IPIMPORT_PASSWORD`, else a prompt
/// when standard input is a terminal.
pub fn resolve_password(settings: &ConnectionSettings) -> anyhow::Result<Secret> {
    if let Some(path) = &settings.password_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            fatal(
                Exit::Invalid,
                format!("cannot read password file {}: {e}", path.display()),
            )
        })?;
        let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
        return Ok(Secret::new(line));
    }
    if let Ok(p) = std::env::var("IPIMPORT_PASSWORD") {
        return Ok(Secret::new(p));
    }
    if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password(format!("Password for {}: ", settings.user))
            .context("reading the password from the terminal")?;
        return Ok(Secret::new(p));
    }
    Err(fatal(
        Exit::Invalid,
        "no password: set IPIMPORT_PASSWORD, pass --password-file FILE, or run on a terminal to be asked",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_keys_are_long_option_names() {
        let f = FileConfig::parse(
            "server = \"https://em:9398\"\nmax_per_request = 10\nrun_dir = \"/tmp/x\"\n",
        )
        .unwrap();
        assert_eq!(f.max_per_request, Some(10));
        assert!(
            FileConfig::parse("password = \"x\"")
                .unwrap_err()
                .to_string()
                .contains("never")
        );
        assert!(FileConfig::parse("no_such_key = 1").is_err());
    }

    #[test]
    fn command_line_wins_over_file() {
        let file = FileConfig::parse("rate = 3\nburst = 4").unwrap();
        let args = EngineArgs {
            rate: Some(7),
            ..Default::default()
        };
        let s = EngineSettings::resolve(&args, &file).unwrap();
        assert_eq!((s.rate, s.burst, s.concurrency), (7, 4, 8));
    }

    #[test]
    fn server_url_gets_api() {
        assert_eq!(
            normalize_server_url("https://em01:9398").unwrap(),
            "https://em01:9398/api"
        );
        assert_eq!(
            normalize_server_url("https://em01:9398/api/").unwrap(),
            "https://em01:9398/api"
        );
        assert!(normalize_server_url("em01").is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
    }
}

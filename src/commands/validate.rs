//! `ipimport validate INPUT... [--backup-server NAME|UID] [--max-range-size N]
//! [--allow-nonpublic] [--format text|json] [--input-format F] [--sheet NAME]`
//!
//! Reads every input, applies every validation rule, merges the valid rows per
//! (backup server, family) and prints the diagnostics and the merged ranges.
//! No network. Exit 0 when there is no error (warnings are fine), 2 when any
//! row has an error or an input cannot be read.
//!
//! ```text
//! $ ipimport validate samples/ranges.csv --backup-server backup01
//! $ ipimport validate --format json samples/*.csv samples/*.yaml > report.json
//! ```

use std::io::Write;

use crate::cli::{OutputFormat, ValidateArgs};
use crate::config::{FileConfig, ValidationSettings};
use crate::exit::Exit;
use crate::pipeline::{InputOptions, load};

pub fn run(args: ValidateArgs) -> anyhow::Result<Exit> {
    let file = FileConfig::load(args.validation.config.as_deref())?;
    let settings = ValidationSettings::resolve(&args.validation, args.input.sheet.as_ref(), &file)?;
    let opts = InputOptions {
        format: args.input.input_format,
        sheet: settings.sheet.clone(),
    };
    let loaded = load(&args.input.inputs, &opts, &settings, false)?;
    let mut out = crate::commands::stdout_writer();
    match settings.format {
        OutputFormat::Json => loaded.write_json(&mut out)?,
        OutputFormat::Text => loaded.write_text(&mut out)?,
    }
    out.flush()?;
    tracing::debug!("output written");
    Ok(if loaded.has_errors() {
        Exit::Invalid
    } else {
        Exit::Ok
    })
}

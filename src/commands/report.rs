//! `ipimport report`: render a finished (or interrupted) run's report again.
//!
//! ```text
//! ipimport report RUN_DIR [--format md|csv|json|junit|html] [-o FILE]
//!
//! ipimport report ipimport-runs/20261203T171500Z-3f9a1c              # Markdown on stdout
//! ipimport report ipimport-runs/20261203T171500Z-3f9a1c --format junit -o junit.xml
//! ipimport report ipimport-runs/20261203T171500Z-3f9a1c --format html -o run.html
//! ```
//!
//! Reads `RUN_DIR/report.json` (written by `apply`) and needs no network.
//! Exits 0 once the report is written, whatever the rows' statuses (the
//! apply's own exit code said that; a CI step publishing JUnit should not
//! fail on it); 2 when the run directory or its report is missing or damaged.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use anyhow::Context;

use crate::cli::ReportArgs;
use crate::exit::{Exit, fatal};
use crate::report::{self, REPORT_JSON, ReportReadError};

pub fn run(args: ReportArgs) -> anyhow::Result<Exit> {
    let dir = &args.run_dir;
    if !dir.is_dir() {
        return Err(fatal(
            Exit::Invalid,
            format!(
                "run directory {} does not exist; give the directory an apply wrote \
                 (by default under ./ipimport-runs/)",
                dir.display()
            ),
        ));
    }
    let path = dir.join(REPORT_JSON);
    let run_report = match report::read_report(&path) {
        Ok(r) => r,
        Err(ReportReadError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Err(fatal(
                Exit::Invalid,
                format!(
                    "{} has no {REPORT_JSON}: the apply that used it has not finished; \
                     if it was interrupted, finish it with `ipimport apply --resume {}`",
                    dir.display(),
                    dir.display()
                ),
            ));
        }
        Err(e) => return Err(fatal(Exit::Invalid, e.to_string())),
    };

    match &args.output {
        Some(out_path) => {
            let file = File::create(out_path)
                .with_context(|| format!("cannot create {}", out_path.display()))?;
            let mut out = BufWriter::new(file);
            report::render(&run_report, args.format, &mut out)
                .and_then(|()| out.flush())
                .with_context(|| format!("cannot write {}", out_path.display()))?;
        }
        None => {
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            let written =
                report::render(&run_report, args.format, &mut out).and_then(|()| out.flush());
            match written {
                // `ipimport report DIR | head` closes the pipe early: not an error.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                other => other.context("cannot write the report to standard output")?,
            }
        }
    }
    Ok(Exit::Ok)
}

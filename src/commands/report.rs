//! `ipimport report` (not built yet).

use crate::cli::ReportArgs;
use crate::exit::Exit;

pub fn run(_args: ReportArgs) -> anyhow::Result<Exit> {
    super::not_built("report")
}

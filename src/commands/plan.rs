//! `ipimport plan` (not built yet).

use crate::cli::PlanArgs;
use crate::exit::Exit;

pub fn run(_args: PlanArgs) -> anyhow::Result<Exit> {
    super::not_built("plan")
}

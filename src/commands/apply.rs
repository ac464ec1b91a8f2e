//! `ipimport apply` (not built yet).

use crate::cli::ApplyArgs;
use crate::exit::Exit;

pub fn run(_args: ApplyArgs) -> anyhow::Result<Exit> {
    super::not_built("apply")
}

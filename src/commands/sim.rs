//! `ipimport sim` (not built yet).

use crate::cli::SimArgs;
use crate::exit::Exit;

pub fn run(_args: SimArgs) -> anyhow::Result<Exit> {
    super::not_built("sim")
}

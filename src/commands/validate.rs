//! `ipimport validate` (not built yet).

use crate::cli::ValidateArgs;
use crate::exit::Exit;

pub fn run(_args: ValidateArgs) -> anyhow::Result<Exit> {
    super::not_built("validate")
}

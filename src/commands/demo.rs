//! `ipimport demo` (not built yet).

use crate::cli::DemoArgs;
use crate::exit::Exit;

pub fn run(_args: DemoArgs) -> anyhow::Result<Exit> {
    super::not_built("demo")
}

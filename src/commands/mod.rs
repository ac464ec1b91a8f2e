//! One module per command. Each opens with its usage and has a small `run`
//! that wires reader -> work -> writer and returns the exit code.

pub mod apply;
pub mod demo;
pub mod plan;
pub mod report;
pub mod sim;
pub mod validate;

use crate::cli::Command;
use crate::exit::Exit;

/// Run one parsed command.
pub fn run(command: Command) -> anyhow::Result<Exit> {
    match command {
        Command::Validate(args) => validate::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Apply(args) => apply::run(args),
        Command::Report(args) => report::run(args),
        Command::Sim(args) => sim::run(args),
        Command::Demo(args) => demo::run(args),
    }
}

//! `ipimport`: parse the command line, run the command, map errors to exit codes.

use clap::Parser;

fn main() {
    let cli = ipimport::cli::Cli::parse();
    ipimport::logging::init(&cli.log);
    let exit = match ipimport::commands::run(cli.command) {
        Ok(exit) => exit,
        Err(err) => {
            eprintln!("error: {err:#}");
            ipimport::exit::classify(&err)
        }
    };
    std::process::exit(exit.code());
}

//! chatctl: provision, inspect and tear down the Cloud Run WebSocket chat stack.
//! `main` parses the command line, runs the command and maps the outcome to an exit code.

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match cli.command {}
}

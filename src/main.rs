//! chatctl: provision, inspect and tear down the Cloud Run WebSocket chat stack.
//! `main` parses the command line, runs the command and maps the outcome to an exit code.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::process::ExitCode;

use chatctl::cli::Cli;
use chatctl::outcome::{EXIT_CONFIG, EXIT_OK, exit_code};
use clap::Parser;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() {
                EXIT_CONFIG
            } else {
                EXIT_OK
            });
        }
    };
    // `serve-chat` (a chat-server instance of `up --local`) logs like chat-server itself.
    if !matches!(cli.command, chatctl::cli::Command::ServeChat(_)) {
        init_logging(cli.global.verbose);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(chatctl::commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(exit_code(&err))
        }
    }
}

/// Logs go to stderr; -v info, -vv debug, -vvv trace. RUST_LOG overrides.
fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "chatctl=info",
        2 => "chatctl=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

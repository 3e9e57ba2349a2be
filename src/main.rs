//! chatctl: provision, inspect and tear down the Cloud Run WebSocket chat stack.
//! `main` parses the command line, runs the command and maps the outcome to an exit code.
//! Under `--output json` every failure is also one JSON object on stdout:
//! `{"type":"error","exitCode":N,"message":"..."}` (the text stays on stderr).
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::process::ExitCode;

use chatctl::cli::Cli;
use chatctl::outcome::{EXIT_CONFIG, EXIT_OK, exit_code};
use clap::Parser;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            if !err.use_stderr() {
                return ExitCode::from(EXIT_OK); // --help, --version
            }
            if chatctl::config::json_output_requested(&args) {
                let text = err.to_string();
                let first = text.lines().next().unwrap_or_default();
                json_error(EXIT_CONFIG, first.trim_start_matches("error: "), &text);
            }
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let json = cli.global.output == Some(chatctl::report::OutputFormat::Json);
    // `serve-chat` (a chat-server instance of `up --local`) logs like chat-server itself.
    if !matches!(cli.command, chatctl::cli::Command::ServeChat(_)) {
        init_logging(cli.global.verbose);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            let message = format!("cannot start the async runtime: {err}");
            eprintln!("error: {message}");
            if json {
                json_error(1, &message, &message);
            }
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(chatctl::commands::run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let message = format!("{err:#}");
            eprintln!("error: {message}");
            let code = exit_code(&err);
            if json {
                json_error(code, &message, &message);
            }
            ExitCode::from(code)
        }
    }
}

/// The failure as one JSON line on stdout: `message` in one line, `detail` as printed on stderr.
fn json_error(exit_code: u8, message: &str, detail: &str) {
    chatctl::report::emit_json(&serde_json::json!({
        "type": "error",
        "exitCode": exit_code,
        "message": message,
        "detail": detail.trim_end(),
    }));
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

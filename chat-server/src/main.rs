//! The `chat-server` binary: reads its settings from the environment (or flags), serves until
//! SIGTERM/SIGINT, then drains. Exit codes: 0 stopped cleanly, 1 runtime failure, 2 bad settings.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use std::process::ExitCode;

use chat_server::{Config, ServeError};
use clap::Parser;

fn main() -> ExitCode {
    // Bad values make clap print the problem and exit with code 2; --help/--version exit 0.
    let config = Config::parse();
    if let Err(problem) = config.validate() {
        eprintln!("chat-server: {problem}");
        return ExitCode::from(2);
    }
    chat_server::logging::init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("chat-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "chat-server failed");
            eprintln!("chat-server: {e}");
            match e {
                ServeError::Config(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

async fn run(config: Config) -> Result<(), ServeError> {
    let addr = std::net::SocketAddr::from(([0, 0, 0, 0], config.port));
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        ServeError::Io(std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr}: {e} (is PORT free?)"),
        ))
    })?;
    chat_server::serve(listener, config, shutdown_signal()).await
}

/// Resolves on SIGTERM (Cloud Run stopping the instance) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(signal) => signal,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

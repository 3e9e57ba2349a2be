//! `chatctl serve-chat` (hidden): one chat-server instance of `up --local`, run from chatctl's
//! own executable through the chat-server library. Settings come from the environment exactly
//! as for the `chat-server` binary (REDISHOST, REDISPORT, HISTORY_LIMIT, ...); only the listen
//! address is a flag, so the instance binds loopback. Logs are chat-server's JSON lines.

use anyhow::Context as _;
use clap::Parser as _;

use crate::cli::ServeChatArgs;

/// Serves until SIGTERM or SIGINT, then drains like chat-server does on Cloud Run.
pub async fn serve_chat(args: &ServeChatArgs) -> anyhow::Result<()> {
    let config = chat_server::Config::try_parse_from(["chat-server"])
        .map_err(|e| anyhow::anyhow!("chat-server settings from the environment: {e}"))?;
    config.validate().map_err(anyhow::Error::msg)?;
    chat_server::logging::init();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    chat_server::serve(listener, config, shutdown_signal())
        .await
        .context("chat-server stopped with an error")
}

/// Resolves on SIGTERM (what `up --local` sends to stop an instance) or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

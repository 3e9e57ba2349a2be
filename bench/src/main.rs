//! chat-bench: load generator for servers that speak the tutorial's Socket.IO chat protocol.
//! Parses the scenario, runs it on a multi-threaded runtime, prints its JSON line on stdout.
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod cli;
mod client;
mod fanout;
mod idle;
mod latency;
mod procfs;
mod protocol;
mod setup;
mod summary;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use cli::{Cli, Scenario};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("chat-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    latency::init_origin();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = cli.threads {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("start the tokio runtime")?;
    let line = runtime.block_on(async {
        match &cli.scenario {
            Scenario::Fanout(args) => {
                let report = fanout::run(args.config()?).await?;
                eprintln!("{}", summary::fanout(&report));
                Ok::<_, anyhow::Error>(serde_json::to_string(&report)?)
            }
            Scenario::Idle(args) => {
                let report = idle::run(args.config()?).await?;
                eprintln!("{}", summary::idle(&report));
                Ok(serde_json::to_string(&report)?)
            }
        }
    })?;
    println!("{line}");
    // Connection tasks that ignored the stop signal must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(())
}

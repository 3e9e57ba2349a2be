//! Command-line definitions for chatctl (clap derive). Each flag is documented where it is defined.

use clap::{Parser, Subcommand};

/// Provision the Cloud Run WebSocket chat stack in one command.
#[derive(Debug, Parser)]
#[command(name = "chatctl", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {}

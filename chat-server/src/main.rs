//! The `chat-server` binary: reads its settings from the environment and serves until SIGTERM.

fn main() {}

//! chat-bench: load generator for servers that speak the tutorial's Socket.IO chat protocol.

fn main() {}

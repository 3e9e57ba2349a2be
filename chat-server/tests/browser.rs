//! The web pages in headless Chromium: starts a real redis-server and two chat-server instances
//! sharing it, then runs a playwright-core suite (`tests/browser/chat-page.test.mjs`,
//! `tests/browser/whiteboard-page.test.mjs`) with `node --test` and fails with its output
//! unless every browser test passed.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{ChatServer, Redis, run_node_tests};

/// The whole suite (Chromium start, six scenarios, one instance restart) must end within this.
const SUITE_LIMIT: Duration = Duration::from_secs(300);
/// The whiteboard suite (Chromium start, four scenarios) must end within this.
const WHITEBOARD_LIMIT: Duration = Duration::from_secs(180);

fn require_playwright() {
    let playwright = Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/playwright-core");
    assert!(
        playwright.exists(),
        "{} is missing: run `npm ci` at the repository root (scripts/deps does it)",
        playwright.display()
    );
}

#[test]
fn web_page_in_headless_chromium() {
    require_playwright();
    let redis = Redis::start();
    let first = ChatServer::with_redis(&redis, &[]);
    let second = ChatServer::with_redis(&redis, &[]);
    let env = [
        ("CHAT_URL_A", first.url()),
        ("CHAT_URL_B", second.url()),
        (
            "CHAT_SERVER_BIN",
            env!("CARGO_BIN_EXE_chat-server").to_string(),
        ),
        ("REDISHOST", "127.0.0.1".to_string()),
        ("REDISPORT", redis.port.to_string()),
    ];
    run_node_tests("browser/chat-page.test.mjs", &env, SUITE_LIMIT);
}

#[test]
fn whiteboard_page_in_headless_chromium() {
    require_playwright();
    let redis = Redis::start();
    let first = ChatServer::with_redis(&redis, &[]);
    let second = ChatServer::with_redis(&redis, &[]);
    let env = [("CHAT_URL_A", first.url()), ("CHAT_URL_B", second.url())];
    run_node_tests("browser/whiteboard-page.test.mjs", &env, WHITEBOARD_LIMIT);
}

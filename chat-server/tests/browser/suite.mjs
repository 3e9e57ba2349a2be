// What chat-server's browser suites share: their settings from the environment (set by
// tests/browser.rs) and one headless Chromium per suite, closed with every context it opened.
import { before, after } from "node:test";
import { launchChromium } from "./chromium.mjs";

/** A setting the Rust runner passes; a clear error when the suite is run some other way. */
export function requireEnv(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this suite through \`cargo nextest run -p chat-server --test browser\``);
  return value;
}

/**
 * Launches Chromium before the suite's tests and closes it after them. `suite.browser` is the
 * browser; contexts pushed to `suite.contexts` are closed first.
 */
export function suiteBrowser() {
  const suite = { browser: null, contexts: [] };
  before(async () => {
    suite.browser = await launchChromium();
  });
  after(async () => {
    for (const context of suite.contexts) await context.close().catch(() => {});
    if (suite.browser) await suite.browser.close();
  });
  return suite;
}

// Starts Debian's Chromium (/usr/bin/chromium) headless through playwright-core, with the flags
// this machine's closed network needs. Shared by the browser suites of chat-server and chatctl.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

/** A headless browser; launch() gives every run a fresh temporary profile (its own --user-data-dir). */
export async function launchChromium() {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: install it with scripts/deps (apt-get install chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

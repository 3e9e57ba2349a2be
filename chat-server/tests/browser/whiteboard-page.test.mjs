//! chat-server's whiteboard page in real headless Chromium (playwright-core, Debian's
//! /usr/bin/chromium) against two chat-server instances sharing one real redis-server. Started by
//! tests/browser.rs, which passes CHAT_URL_A and CHAT_URL_B. Drawing is done with the mouse and
//! with touch (CDP touch events), and checked by reading the other page's canvas pixels.

import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { requireEnv, suiteBrowser } from "./suite.mjs";

const WAIT_MS = 20000; // upper bound for anything the page should do by itself

const urlA = requireEnv("CHAT_URL_A");
const urlB = requireEnv("CHAT_URL_B");
const suite = suiteBrowser();

let boards = 0;
/** A board no other test uses. */
const boardName = (label) => `${label}-${process.pid}-${Date.now()}-${++boards}`;

/** Opens a whiteboard page in a fresh browser context (one "person"), recording script errors. */
async function openBoard(baseUrl, board, contextOptions = {}) {
  const context = await suite.browser.newContext({ viewport: { width: 800, height: 600 }, ...contextOptions });
  suite.contexts.push(context);
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (err) => page.errors.push(String(err)));
  const path = board === undefined ? "/whiteboard" : `/whiteboard?board=${encodeURIComponent(board)}`;
  page.response = await page.goto(`${baseUrl}${path}`);
  await ready(page);
  return page;
}

/** Connected, and the board drawn so far is on the canvas. */
async function ready(page) {
  await page.waitForSelector('#connection[data-state="connected"]', { timeout: WAIT_MS });
  await page.waitForSelector('#board[data-synced="true"]', { timeout: WAIT_MS });
}

/** Page coordinates of a point given as fractions of the canvas. */
async function at(page, fx, fy) {
  const box = await page.locator("#board").boundingBox();
  return { x: box.x + fx * box.width, y: box.y + fy * box.height };
}

/** Draws a line with the mouse from (fx0, fy0) to (fx1, fy1), fractions of the canvas. */
async function drawWithMouse(page, [fx0, fy0], [fx1, fy1]) {
  const from = await at(page, fx0, fy0);
  const to = await at(page, fx1, fy1);
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  for (let i = 1; i <= 20; i++) {
    await page.mouse.move(from.x + ((to.x - from.x) * i) / 20, from.y + ((to.y - from.y) * i) / 20);
    await page.waitForTimeout(12); // the page sends at most one segment per 10 ms, like the example
  }
  await page.mouse.up();
}

/** Draws a line with one finger, through the DevTools protocol's touch events. */
async function drawWithTouch(page, [fx0, fy0], [fx1, fy1]) {
  const cdp = await page.context().newCDPSession(page);
  const from = await at(page, fx0, fy0);
  const to = await at(page, fx1, fy1);
  const touch = (type, p) => cdp.send("Input.dispatchTouchEvent", { type, touchPoints: type === "touchEnd" ? [] : [{ x: p.x, y: p.y }] });
  await touch("touchStart", from);
  for (let i = 1; i <= 20; i++) {
    await touch("touchMove", { x: from.x + ((to.x - from.x) * i) / 20, y: from.y + ((to.y - from.y) * i) / 20 });
    await page.waitForTimeout(12);
  }
  await touch("touchEnd", to);
  await cdp.detach();
}

/** Whether the canvas has a pixel of `color` ([r, g, b] ± 60) within 4 px of the point (fx, fy). */
function hasColorNear(page, [fx, fy], color) {
  return page.evaluate(
    ([fx, fy, [r, g, b]]) => {
      const canvas = document.getElementById("board");
      const cx = Math.round(fx * canvas.width);
      const cy = Math.round(fy * canvas.height);
      const data = canvas.getContext("2d").getImageData(cx - 4, cy - 4, 9, 9).data;
      for (let i = 0; i < data.length; i += 4) {
        const close = Math.abs(data[i] - r) < 60 && Math.abs(data[i + 1] - g) < 60 && Math.abs(data[i + 2] - b) < 60;
        if (close && data[i + 3] > 128) return true;
      }
      return false;
    },
    [fx, fy, color],
  );
}

/** Waits until the canvas shows (or, with `shown` false, no longer shows) `color` near the point. */
async function waitForColor(page, point, color, shown = true) {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    if ((await hasColorNear(page, point, color)) === shown) return;
    await page.waitForTimeout(50);
  }
  throw new Error(`the canvas ${shown ? "never showed" : "still shows"} rgb(${color}) near ${point} within ${WAIT_MS} ms`);
}

const RED = [255, 0, 0];
const BLUE = [0, 0, 255];
const GREEN = [0, 128, 0];

test("a line drawn with the mouse on one instance's page shows on the other instance's canvas", async () => {
  const board = boardName("mouse");
  const drawer = await openBoard(urlA, board);
  const viewer = await openBoard(urlB, board);
  assert.match(drawer.response.headers()["content-security-policy"], /script-src 'self'/, "the page has the strict CSP");
  await drawer.click('.color[data-color="red"]');
  await drawWithMouse(drawer, [0.2, 0.5], [0.8, 0.5]);
  await waitForColor(drawer, [0.5, 0.5], RED);
  await waitForColor(viewer, [0.5, 0.5], RED);
  await waitForColor(viewer, [0.3, 0.5], RED);
  assert.equal(await hasColorNear(viewer, [0.5, 0.2], RED), false, "nothing drawn elsewhere");
  assert.deepEqual([...drawer.errors, ...viewer.errors], []);
});

test("a line drawn by touch shows on the other page; a late page and a reloaded page show the board so far", async () => {
  const board = boardName("touch");
  const drawer = await openBoard(urlB, board, { hasTouch: true, isMobile: false });
  const viewer = await openBoard(urlA, board);
  await drawer.click('.color[data-color="blue"]');
  await drawWithTouch(drawer, [0.5, 0.1], [0.5, 0.9]);
  await waitForColor(viewer, [0.5, 0.5], BLUE);
  const late = await openBoard(urlA, board);
  await waitForColor(late, [0.5, 0.5], BLUE);
  await viewer.reload();
  await ready(viewer);
  await waitForColor(viewer, [0.5, 0.3], BLUE);
  assert.deepEqual([...drawer.errors, ...viewer.errors, ...late.errors], []);
});

test("clear board reaches every page; other boards and the default board are untouched", async () => {
  const board = boardName("clear");
  const a = await openBoard(urlA, board);
  const b = await openBoard(urlB, board);
  const other = await openBoard(urlB, boardName("other"));
  await other.click('.color[data-color="green"]');
  await drawWithMouse(other, [0.1, 0.3], [0.9, 0.3]);
  await a.click('.color[data-color="red"]');
  await drawWithMouse(a, [0.1, 0.7], [0.9, 0.7]);
  await waitForColor(b, [0.5, 0.7], RED);
  assert.equal(await hasColorNear(b, [0.5, 0.3], GREEN), false, "another board's line must not show");
  await b.click("#clear");
  await waitForColor(a, [0.5, 0.7], RED, false);
  await waitForColor(b, [0.5, 0.7], RED, false);
  await waitForColor(other, [0.5, 0.3], GREEN); // still there
  const reopened = await openBoard(urlA, board);
  assert.equal(await hasColorNear(reopened, [0.5, 0.7], RED), false, "a cleared board opens empty");
});

test("the default board: /whiteboard shows what a plain io() client (like the socket.io example) draws, and the chat page links to it", async () => {
  const page = await openBoard(urlB);
  const example = io(urlA, { forceNew: true }); // the example's client: plain io(), polling first
  try {
    await new Promise((resolve, reject) => {
      example.once("connect", resolve);
      example.once("connect_error", reject);
    });
    // The example's main.js in a browser: plain io() from our /socket.io/socket.io.js, listening for drawing.
    await page.evaluate(() => {
      window.examplePage = { drawn: [], socket: io() };
      window.examplePage.socket.on("drawing", (d) => window.examplePage.drawn.push(d));
    });
    await page.waitForFunction(() => window.examplePage.socket.connected, null, { timeout: WAIT_MS });
    example.emit("drawing", { x0: 0.1, y0: 0.45, x1: 0.9, y1: 0.45, color: "green" });
    await waitForColor(page, [0.5, 0.45], GREEN);
    await page.waitForFunction(() => window.examplePage.drawn.some((d) => d.color === "green" && d.y0 === 0.45), null, { timeout: WAIT_MS });
    // And what the page draws reaches the example client.
    const received = new Promise((resolve) => example.once("drawing", resolve));
    await page.click('.color[data-color="yellow"]');
    await drawWithMouse(page, [0.3, 0.8], [0.6, 0.8]);
    const segment = await Promise.race([received, page.waitForTimeout(WAIT_MS).then(() => null)]);
    assert.ok(segment, "the example client got nothing from the page");
    assert.equal(segment.color, "yellow");
    for (const k of ["x0", "y0", "x1", "y1"]) assert.ok(segment[k] >= 0 && segment[k] <= 1, `${k} is normalised`);
  } finally {
    example.close();
  }
  const chat = await (await suite.browser.newContext()).newPage();
  suite.contexts.push(chat.context());
  await chat.goto(`${urlA}/`);
  await chat.click('a[href="/whiteboard"]');
  await ready(chat);
  assert.equal(new URL(chat.url()).pathname, "/whiteboard");
});

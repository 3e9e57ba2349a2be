//! chat-server's web page in real headless Chromium (playwright-core, Debian's /usr/bin/chromium)
//! against real chat-server instances sharing one real redis-server. Started by tests/browser.rs,
//! which passes CHAT_URL_A, CHAT_URL_B (two running instances), CHAT_SERVER_BIN, REDISHOST and
//! REDISPORT (so the reconnect test can stop and restart an instance of its own).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./chromium.mjs";
import { requireEnv } from "./suite.mjs";

const WAIT_MS = 20000; // upper bound for anything the page should do by itself (reconnect backoff ≤ 5 s)
const here = (path) => fileURLToPath(new URL(path, import.meta.url));

const urlA = requireEnv("CHAT_URL_A");
const urlB = requireEnv("CHAT_URL_B");

let browser;
const contexts = [];
const servers = [];

before(async () => {
  browser = await launchChromium();
});

after(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  if (browser) await browser.close();
  for (const server of servers) await stopServer(server);
});

/** A unique room per test, so tests never see each other's history or notices. */
function roomName(label) {
  return `${label}-${process.pid}-${Date.now()}`;
}

/**
 * Opens `url` in a fresh browser context (one "person"), recording script errors and dialogs:
 * a dialog means injected script ran, so it fails the test that looks at `page.dialogs`.
 */
async function openPage(url) {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  page.errors = [];
  page.dialogs = [];
  page.on("pageerror", (err) => page.errors.push(String(err)));
  page.on("dialog", (dialog) => {
    page.dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  });
  await page.goto(url);
  return page;
}

async function waitConnected(page) {
  await page.waitForSelector('#connection[data-state="connected"]', { timeout: WAIT_MS });
}

/** Signs in through the form, as a person would, and waits for the chat view. */
async function signIn(page, user, room) {
  await waitConnected(page);
  await page.fill("#name", user);
  await page.fill("#room", room);
  await page.click("button.signin");
  await page.waitForSelector("#chatroom:not([hidden])", { timeout: WAIT_MS });
}

async function send(page, text) {
  await page.fill("#msg", text);
  await page.press("#msg", "Enter");
}

/** The chat messages as the page shows them: [{user, text}] in list order. */
function shownMessages(page) {
  return page.$$eval("#messages li.message", (items) =>
    items.map((li) => ({ user: li.querySelector(".user").textContent, text: li.querySelector(".text").textContent })),
  );
}

/** Waits for `predicate(arg)` in the page; on timeout, says what the page's list showed. */
async function waitInPage(page, what, predicate, arg) {
  try {
    await page.waitForFunction(predicate, arg, { timeout: WAIT_MS });
  } catch (err) {
    const shown = await page.$$eval("#messages li", (items) => items.map((li) => li.textContent)).catch(() => []);
    throw new Error(`${what} not shown within ${WAIT_MS} ms; the list shows ${JSON.stringify(shown)}`, { cause: err });
  }
}

/** Waits until the page shows a message {user, text}. */
async function waitForMessage(page, user, text) {
  await waitInPage(
    page,
    `message ${JSON.stringify({ user, text })}`,
    ([u, t]) =>
      [...document.querySelectorAll("#messages li.message")].some(
        (li) => li.querySelector(".user").textContent === u && li.querySelector(".text").textContent === t,
      ),
    [user, text],
  );
}

async function waitForNotice(page, text) {
  await waitInPage(
    page,
    `notice ${JSON.stringify(text)}`,
    (t) => [...document.querySelectorAll("#messages li.notice")].some((li) => li.textContent === t),
    text,
  );
}

/**
 * Opens the tutorial's page (fixture) on `baseUrl`'s origin and signs in. It must run in a
 * document of the server's own origin (same-origin WebSocket, as on Cloud Run), and the server
 * does not serve it, so: navigate to a path the server answers with a plain-text 404 (a real
 * loopback document, no script in it), write the fixture into it, and let the test supply
 * only the fixture's script; /socket.io/socket.io.js comes from the server. (A document
 * fulfilled by page.route has no network address, so Chromium's local-network-access checks
 * would refuse its WebSocket to 127.0.0.1.)
 */
async function openTutorial(baseUrl, user, room) {
  const context = await browser.newContext();
  contexts.push(context);
  await context.route(`${baseUrl}/tutorial/index.js`, (route) =>
    route.fulfill({ contentType: "text/javascript", body: readFileSync(here("tutorial-page/index.js")) }),
  );
  const page = await context.newPage();
  const blank = await page.goto(`${baseUrl}/tutorial/`);
  assert.equal(blank.status(), 404, "the server must not serve /tutorial/ itself");
  page.errors = []; // uncaught exceptions
  page.consoleErrors = []; // the tutorial's console.error(ackError), and failed connection attempts
  page.on("pageerror", (err) => page.errors.push(String(err)));
  page.on("console", (msg) => msg.type() === "error" && page.consoleErrors.push(msg.text()));
  const clientScript = page.waitForResponse(`${baseUrl}/socket.io/socket.io.js`);
  await page.setContent(readFileSync(here("tutorial-page/index.html"), "utf8"));
  const served = await clientScript;
  assert.equal(served.status(), 200);
  const official = readFileSync(here("../../../node_modules/socket.io-client/dist/socket.io.js"), "utf8");
  assert.equal(await served.text(), official, "the server serves the official socket.io-client bundle");
  assert.equal(page.url(), `${baseUrl}/tutorial/`, "the fixture runs on the server's origin");

  await page.fill("#name", user);
  await page.fill("#room", room);
  await page.click(".signin");
  await page.waitForSelector("#chatroom", { state: "visible", timeout: WAIT_MS });
  assert.equal(await page.textContent("#chatroom h1"), room);
  return page;
}

/** Waits until the tutorial's page lists the line `text` ("user: text" or "title: description"). */
async function waitForTutorialLine(page, text) {
  await waitInPage(page, `line ${JSON.stringify(text)}`, (t) => [...document.querySelectorAll("#messages li")].some((li) => li.textContent === t), text);
}

function count(messages, user, text) {
  return messages.filter((m) => m.user === user && m.text === text).length;
}

// ---- a chat-server instance of the test's own, to stop and restart --------------------------

async function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function startServer(port) {
  const child = spawn(requireEnv("CHAT_SERVER_BIN"), [], {
    env: { ...process.env, PORT: String(port), REDISHOST: requireEnv("REDISHOST"), REDISPORT: requireEnv("REDISPORT") },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr.on("data", (chunk) => {
    log = (log + chunk).slice(-4000);
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const server = { child, port, url: `http://127.0.0.1:${port}`, exited, log: () => log };
  servers.push(server);
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`chat-server exited with ${child.exitCode} at start:\n${log}`);
    const ready = await fetch(`${server.url}/readyz`).then((r) => r.ok, () => false);
    if (ready) return server;
    if (Date.now() > deadline) throw new Error(`chat-server on port ${port} not ready within ${WAIT_MS} ms:\n${log}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** SIGTERM (what Cloud Run sends), then SIGKILL if it has not exited within WAIT_MS. */
async function stopServer(server) {
  if (server.child.exitCode !== null || server.child.signalCode !== null) return;
  server.child.kill("SIGTERM");
  const timer = setTimeout(() => server.child.kill("SIGKILL"), WAIT_MS);
  await server.exited;
  clearTimeout(timer);
}

// ---- tests ------------------------------------------------------------------------------------

test("two people on two instances sign into one room and chat through the page", async () => {
  const room = roomName("lobby");
  const alice = await openPage(urlA);
  const bob = await openPage(urlB);
  await signIn(alice, "Alice", room);
  await signIn(bob, "Bob", room);

  // Alice (instance A) is told Bob (instance B) arrived; the room title is the room's name.
  await waitForNotice(alice, "Bob just entered the room");
  assert.equal(await alice.textContent("#room-title"), room);

  // One after the other (Alice's is stored before Bob's is sent), so history order is known.
  await send(alice, "Hello from A");
  await waitForMessage(alice, "Alice", "Hello from A");
  await send(bob, "Hello from B");
  for (const page of [alice, bob]) {
    await waitForMessage(page, "Alice", "Hello from A");
    await waitForMessage(page, "Bob", "Hello from B");
  }
  for (const page of [alice, bob]) {
    const messages = await shownMessages(page);
    assert.equal(count(messages, "Alice", "Hello from A"), 1, "each message shown once");
    assert.equal(count(messages, "Bob", "Hello from B"), 1, "each message shown once");
  }
  // The input is cleared once the server acknowledged the message.
  assert.equal(await alice.inputValue("#msg"), "");

  // Someone joining later gets both from history, in the order they were sent.
  const carol = await openPage(urlA);
  await signIn(carol, "Carol", room);
  const history = (await shownMessages(carol)).filter((m) => m.user !== "Carol");
  assert.deepEqual(history, [
    { user: "Alice", text: "Hello from A" },
    { user: "Bob", text: "Hello from B" },
  ]);
  for (const page of [alice, bob, carol]) assert.deepEqual(page.errors, []);
});

test("leaving returns to the sign-in form; a room link fills in the room", async () => {
  const first = roomName("first");
  const second = roomName("second");
  const page = await openPage(`${urlB}/?room=${encodeURIComponent(first)}`);
  assert.equal(await page.inputValue("#room"), first);
  await signIn(page, "Ivan", first);
  await send(page, "in the first room");
  await waitForMessage(page, "Ivan", "in the first room");

  await page.click("#leave");
  await page.waitForSelector("#signin:not([hidden])", { timeout: WAIT_MS });
  assert.equal(await page.isHidden("#chatroom"), true);
  assert.equal(await page.textContent("#room-title"), "Chat");
  await signIn(page, "Ivan", second);
  assert.equal(await page.textContent("#room-title"), second);
  await send(page, "in the second room");
  await waitForMessage(page, "Ivan", "in the second room");
  assert.deepEqual(await shownMessages(page), [{ user: "Ivan", text: "in the second room" }], "the first room is gone");
  assert.deepEqual(page.errors, []);
});

test("markup in names, rooms and messages is shown as text and never runs", async () => {
  const room = `<i>${roomName("xss")}</i>`;
  const payload = "<img src=x onerror=alert(1)>";
  const user = "<b>Mallory</b>";
  const viewer = await openPage(urlA);
  const mallory = await openPage(urlB);
  await signIn(viewer, "Viewer", room);
  await signIn(mallory, user, room);
  await send(mallory, payload);
  await waitForMessage(viewer, user, payload);
  await waitForNotice(viewer, `${user} just entered the room`);

  for (const page of [viewer, mallory]) {
    assert.equal(await page.textContent("#room-title"), room, "room title shown literally");
    const injected = await page.$$eval("#messages img, #messages b, #room-title i", (nodes) => nodes.length);
    assert.equal(injected, 0, "no element was created from the text");
  }
  // A later joiner gets the same text from history, still as text.
  const late = await openPage(urlA);
  await signIn(late, "Late", room);
  await waitForMessage(late, user, payload);
  assert.equal(await late.$$eval("#messages img", (nodes) => nodes.length), 0);
  for (const page of [viewer, mallory, late]) {
    assert.deepEqual(page.dialogs, [], "no alert() ran");
    assert.deepEqual(page.errors, []);
  }
});

test("the server's error answers are shown to the user", async () => {
  const page = await openPage(urlA);
  await waitConnected(page);
  // A name made only of control characters passes the page's length check; the server refuses it.
  await page.$eval("#name", (input) => {
    input.value = "\u0007\u0007";
  });
  await page.fill("#room", roomName("errors"));
  await page.click("button.signin");
  await page.waitForFunction(() => document.getElementById("signin-error").textContent.startsWith("user must be"), null, {
    timeout: WAIT_MS,
  });
  assert.equal(await page.isHidden("#chatroom"), true, "still on the sign-in form");

  // Sending far more than the rate limit (20 per 10 s) at once: the surplus is refused and
  // the page says why, giving the text back so it can be sent later.
  await signIn(page, "Hasty", roomName("errors"));
  await page.evaluate(() => {
    const form = document.getElementById("chat");
    const input = document.getElementById("msg");
    for (let i = 0; i < 40; i++) {
      input.value = `burst ${i}`;
      form.requestSubmit();
    }
  });
  await page.waitForFunction(() => document.getElementById("chat-error").textContent.startsWith("Too many messages"), null, {
    timeout: WAIT_MS,
  });
  assert.match(await page.inputValue("#msg"), /^burst \d+$/);
});

test("the page shows a lost connection, reconnects by itself and catches up on what it missed", async () => {
  const room = roomName("reconnect");
  const port = await freePort();
  let own = await startServer(port);
  const dave = await openPage(own.url);
  const erin = await openPage(urlA);
  await signIn(dave, "Dave", room);
  await signIn(erin, "Erin", room);
  // The tutorial's page on the same instance relies on socket.io.on("reconnect") instead.
  const tutor = await openTutorial(own.url, "Tutor", room);
  // Observe (not change) its socket, to explain a failure below.
  await tutor.evaluate(() => {
    window.socketLog = [];
    const note = (...entry) => window.socketLog.push(entry.join(" "));
    socket.on("connect", () => note("connect", socket.id));
    socket.on("disconnect", (reason) => note("disconnect", reason));
    socket.on("connect_error", (err) => note("connect_error", err.message));
    socket.io.on("reconnect_attempt", (n) => note("reconnect_attempt", n));
    socket.io.on("reconnect", (n) => note("reconnect", n));
  });
  await send(dave, "before the restart");
  await waitForMessage(erin, "Dave", "before the restart");

  await stopServer(own);
  await dave.waitForSelector('#connection[data-state="reconnecting"]', { timeout: WAIT_MS });
  // Every text of the "reconnecting" state says so (it changes with each attempt).
  assert.match(await dave.textContent("#connection-text"), /reconnecting/i);

  // Erin writes while Dave's instance is down; Dave must get it after reconnecting (lastId replay).
  await send(erin, "while you were away");
  await waitForMessage(erin, "Erin", "while you were away");
  own = await startServer(port);
  await waitConnected(dave);
  await waitForMessage(dave, "Erin", "while you were away");

  // Dave's socket is registered again: his messages reach Erin, and hers reach him live.
  await send(dave, "back again");
  await waitForMessage(erin, "Dave", "back again");
  await waitForMessage(dave, "Dave", "back again");
  await send(erin, "welcome back");
  await waitForMessage(dave, "Erin", "welcome back");
  const messages = await shownMessages(dave);
  assert.deepEqual(
    messages.filter((m) => m.user !== "Dave" || m.text !== "back again"),
    [
      { user: "Dave", text: "before the restart" },
      { user: "Erin", text: "while you were away" },
      { user: "Erin", text: "welcome back" },
    ],
    "nothing lost, nothing duplicated, in order",
  );
  assert.equal(await dave.textContent("#chat-error"), "", "the rejoin was acknowledged");
  assert.deepEqual(dave.errors, []);

  // The tutorial's page reconnected by itself and its "reconnect" handler re-registered it
  // (updateSocketId without lastId: no replay). Its re-registration races Erin's sends, so
  // Erin writes until one arrives (bounded); without the "reconnect" event none ever would.
  await tutor.waitForFunction(() => socket.connected, null, { timeout: WAIT_MS });
  for (let attempt = 1; ; attempt++) {
    await send(erin, `are you back? ${attempt}`);
    const arrived = await tutor
      .waitForFunction(() => [...document.querySelectorAll("#messages li")].some((li) => li.textContent.startsWith("Erin: are you back?")), null, {
        timeout: 2000,
      })
      .then(() => true, () => false);
    if (arrived) break;
    const log = await tutor.evaluate(() => window.socketLog);
    // A log with "reconnect" but no messages means the server dropped the updateSocketId the
    // client sent right after CONNECT (its handlers must be registered before CONNECT is answered).
    assert.ok(attempt < 5, `the tutorial's page never got messages again after reconnecting; its socket: ${JSON.stringify(log)}`);
  }
  assert.deepEqual(tutor.errors, []);
});

test("the tutorial's own page works unchanged with the server's /socket.io/socket.io.js (the official client)", async () => {
  const room = roomName("Google");
  const tutorial = await openTutorial(urlA, "Sundar", room);

  // Our page on the other instance, in the same room.
  const frank = await openPage(urlB);
  await signIn(frank, "Frank", room);
  await waitForTutorialLine(tutorial, "Someone's here: Frank just entered the room");

  await tutorial.fill("#msg", "Welcome!");
  await tutorial.click(".send");
  await waitForTutorialLine(tutorial, "Sundar: Welcome!");
  await waitForMessage(frank, "Sundar", "Welcome!");
  await tutorial.waitForFunction(() => document.getElementById("msg").value === "", null, { timeout: WAIT_MS });

  await send(frank, "Hi Sundar");
  await waitForTutorialLine(tutorial, "Frank: Hi Sundar");
  assert.deepEqual(tutorial.errors, []);
  assert.deepEqual(tutorial.consoleErrors, [], "no ack carried an error");
});

test("pages written for socket.io get what they expect from the served client: polling, emitWithAck, socket.io.engine", async () => {
  // Our page, under its CSP, has loaded /socket.io/socket.io.min.js; a second socket in it
  // behaves as the official client does behind a proxy that blocks WebSockets (polling only),
  // then with the default transports (polling first, upgraded to WebSocket).
  const page = await openPage(urlA);
  await waitConnected(page);
  const room = roomName("Polling");
  const seen = await page.evaluate(
    async ({ room, waitMs }) => {
      const run = async (options, user) => {
        const socket = io("", options);
        try {
          await new Promise((resolve, reject) => {
            socket.on("connect", resolve);
            socket.on("connect_error", reject);
          });
          // The tutorial's acks are (error, ...values): emitWithAck resolves with the first.
          const refused = await socket.timeout(waitMs).emitWithAck("signin", { user: "", room });
          const accepted = await socket.timeout(waitMs).emitWithAck("signin", { user, room });
          const first = socket.io.engine.transport.name;
          const upgraded = await new Promise((resolve) => {
            if (socket.io.engine.transport.name === "websocket") return resolve(true);
            socket.io.engine.once("upgrade", () => resolve(true));
            setTimeout(() => resolve(false), 2000);
          });
          return { first, upgraded, now: socket.io.engine.transport.name, acks: [typeof refused, accepted] };
        } finally {
          socket.disconnect();
        }
      };
      return {
        pollingOnly: await run({ transports: ["polling"], forceNew: true }, "Paula"),
        defaults: await run({ forceNew: true }, "Dora"),
      };
    },
    { room, waitMs: WAIT_MS },
  );
  assert.deepEqual(
    { first: seen.pollingOnly.first, upgraded: seen.pollingOnly.upgraded, acks: seen.pollingOnly.acks },
    { first: "polling", upgraded: false, acks: ["string", null] },
    "polling only: signed in through emitWithAck, never upgraded",
  );
  assert.equal(seen.defaults.now, "websocket", "the default transports upgrade to WebSocket");
  assert.deepEqual(seen.defaults.acks, ["string", null], "an error, then no error");
  assert.deepEqual(page.errors, []);
});

// Helpers for the chat-server suites: real socket.io-client connections, acks and events with
// timeouts (no wait is unbounded), and the settings the Rust runner passes in the environment.
import { io } from "socket.io-client";
import assert from "node:assert/strict";
import net from "node:net";

export const URL_A = required("CHAT_URL_A");
export const URL_B = required("CHAT_URL_B");
/** RECONNECT_GRACE of the servers under test, in ms. */
export const GRACE_MS = Number(required("CHAT_GRACE_MS"));
/** Every wait is bounded by this unless a test says otherwise. */
export const WAIT_MS = 5000;

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this suite through cargo nextest (chat-server tests)`);
  return value;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let counter = 0;
/** A room name no other test uses. */
export const freshRoom = (label) => `${label}-${process.pid}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;

/** Wraps a promise with a deadline and a message saying what did not happen. */
export function within(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A connected socket.io-client socket (WebSocket only, like the tutorial's page) that records
 * every `message` and `notification` it receives.
 */
export async function connect(url, options = {}) {
  const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false, ...options });
  socket.received = { message: [], notification: [] };
  socket.on("message", (m) => socket.received.message.push(m));
  socket.on("notification", (n) => socket.received.notification.push(n));
  await within(
    new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    }),
    `a connection to ${url}`,
  );
  return socket;
}

/** Emits `event` with `args` and an ack callback; resolves with the ack's argument list. */
export function ack(socket, event, ...args) {
  return within(new Promise((resolve) => socket.emit(event, ...args, (...reply) => resolve(reply))), `the ack of ${event}`);
}

/** Signs in and checks the ack says success; returns the history (or null). */
export async function signin(socket, user, room) {
  const [error, history] = await ack(socket, "signin", { user, room });
  assert.equal(error, null, `signin ${user}/${room} failed: ${error}`);
  return history;
}

/** Waits until `check(socket.received)` returns something truthy, polling every 10 ms. */
export async function eventually(socket, what, check, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const result = check(socket.received);
    if (result) return result;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Waits for the message with this text to reach the socket; returns it. */
export const messageArrives = (socket, text, ms) =>
  eventually(socket, `message ${JSON.stringify(text)}`, (r) => r.message.find((m) => m.text === text), ms);

/** Waits for a notification whose description is exactly `description`. */
export const noticeArrives = (socket, description, ms) =>
  eventually(socket, `notification "${description}"`, (r) => r.notification.find((n) => n.description === description), ms);

/** Resolves with the disconnect reason. */
export const disconnected = (socket, ms) =>
  within(new Promise((resolve) => socket.once("disconnect", resolve)), "a disconnect", ms);

/**
 * Drops a WebSocket connection the way a network failure does: the TCP connection is destroyed
 * with no Socket.IO DISCONNECT, no Engine.IO close packet and no WebSocket close frame.
 */
export function dropTransport(socket) {
  const ws = socket.io.engine?.transport?.ws;
  assert.ok(ws && typeof ws.terminate === "function", "dropTransport needs a websocket transport (the ws package)");
  ws.terminate();
}

/** Closes sockets, ignoring ones already closed. */
export function closeAll(...sockets) {
  for (const socket of sockets) socket?.close();
}

/**
 * Sends `text` from `sender` again and again (a new numbered copy every `everyMs`) until one copy
 * reaches `receiver`, within `ms`. Proves delivery works, however long it took to come back.
 */
export async function deliveredEventually(sender, receiver, text, ms, everyMs = 200) {
  const deadline = Date.now() + ms;
  for (let i = 0; Date.now() < deadline; i++) {
    sender.emit("sendMessage", `${text} #${i}`, () => {});
    await sleep(everyMs);
    const arrived = receiver.received.message.find((m) => m.text.startsWith(`${text} #`));
    if (arrived) return arrived;
  }
  throw new Error(`"${text}" never reached the other instance within ${ms} ms`);
}

/** Sends one command to the Redis the instances share (CHAT_REDIS_PORT) over a raw RESP connection; resolves with the reply text. */
export function redisCommand(...args) {
  const port = Number(required("CHAT_REDIS_PORT"));
  const request = `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("");
  return within(
    new Promise((resolve, reject) => {
      const conn = net.createConnection({ host: "127.0.0.1", port }, () => conn.write(request));
      conn.once("data", (data) => {
        resolve(data.toString());
        conn.end();
      });
      conn.once("error", reject);
    }),
    `redis ${args.join(" ")}`,
  );
}

/**
 * Sends one request to the NATS server the instances share (CHAT_NATS_PORT) over a raw
 * connection (NATS's text protocol) and resolves with the reply's payload as text; used to
 * reach the JetStream API ($JS.API.…) the way the `nats` CLI would.
 */
export function natsRequest(subject, body) {
  const port = Number(required("CHAT_NATS_PORT"));
  const payload = body === undefined ? "" : JSON.stringify(body);
  const inbox = `_INBOX.test.${Math.random().toString(36).slice(2)}`;
  return within(
    new Promise((resolve, reject) => {
      let buffer = Buffer.alloc(0);
      const conn = net.createConnection({ host: "127.0.0.1", port });
      conn.on("data", (data) => {
        buffer = Buffer.concat([buffer, data]);
        const text = buffer.toString("latin1");
        if (text.startsWith("INFO ") && text.includes("\r\n") && !conn.sentRequest) {
          conn.sentRequest = true;
          conn.write(
            `CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\nSUB ${inbox} 1\r\n` +
              `PUB ${subject} ${inbox} ${Buffer.byteLength(payload)}\r\n${payload}\r\n`,
          );
        }
        const at = text.indexOf(`MSG ${inbox} 1 `);
        if (at < 0) return;
        const lineEnd = text.indexOf("\r\n", at);
        if (lineEnd < 0) return;
        const size = Number(text.slice(at, lineEnd).split(" ").at(-1));
        const start = Buffer.byteLength(text.slice(0, lineEnd + 2), "latin1");
        if (buffer.length < start + size) return;
        resolve(buffer.subarray(start, start + size).toString());
        conn.end();
      });
      conn.once("error", reject);
    }),
    `nats ${subject}`,
  );
}

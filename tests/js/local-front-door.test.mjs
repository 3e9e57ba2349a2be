// `chatctl up --local` seen by real socket.io-client users through the front door: new
// connections are spread over the instances, users on different instances chat with each
// other, and when one instance is killed its user reconnects and finds the room's history.
// Started by tests/local_up.rs, which passes CHAT_URL (the front door) and CHAT_PIDS
// ({"chat-1": pid, ...}, read from chatctl's log), BUS_PID (the process the instances share
// history through: redis-server, the Memorystore instance, or nats-server with --bus nats) and
// BUS_NAME (its name in messages).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";

const WAIT_MS = 15000;
const URL = required("CHAT_URL");
const PIDS = JSON.parse(required("CHAT_PIDS"));
const BUS_PID = Number(required("BUS_PID"));
const BUS_NAME = required("BUS_NAME");

/** Every socket opened, closed at the end even when a test fails (or node would hang). */
const opened = [];
after(() => opened.forEach((socket) => socket.close()));

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this suite through cargo nextest (tests/local_up.rs)`);
  return value;
}

function within(promise, what, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * A WebSocket-only socket.io-client connection through the front door, with the instance that
 * answered the upgrade (the door's x-chatctl-instance header on the 101 response).
 */
async function connect(label) {
  const socket = io(URL, { transports: ["websocket"], forceNew: true, reconnection: false });
  opened.push(socket);
  socket.received = [];
  socket.on("message", (m) => socket.received.push(m));
  const instance = new Promise((resolve) => {
    socket.io.engine.transport.ws.once("upgrade", (response) => resolve(response.headers["x-chatctl-instance"]));
  });
  await within(
    new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", (e) => reject(new Error(`${label} could not connect: ${e.message} (${e.description?.message ?? e.description?.error?.message ?? "no detail"})`)));
    }),
    `${label}'s connection to ${URL}`,
  );
  socket.instance = await within(instance, `the instance header of ${label}'s upgrade`);
  return socket;
}

function ack(socket, event, ...args) {
  return within(new Promise((resolve) => socket.emit(event, ...args, (...reply) => resolve(reply))), `the ack of ${event}`);
}

async function signin(socket, user, room) {
  const [error, history] = await ack(socket, "signin", { user, room });
  assert.equal(error, null, `signin ${user}/${room} failed: ${error}`);
  return history?.messages ?? [];
}

async function arrives(socket, text) {
  const deadline = Date.now() + WAIT_MS;
  while (!socket.received.some((m) => m.text === text)) {
    if (Date.now() > deadline) throw new Error(`message ${JSON.stringify(text)} did not arrive within ${WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("two users land on different instances, chat, and history survives killing one instance", async () => {
  const room = `local-${process.pid}`;
  const alice = await connect("alice");
  const bob = await connect("bob");
  assert.ok(PIDS[alice.instance], `alice's instance ${alice.instance} is not one chatctl started: ${JSON.stringify(PIDS)}`);
  assert.ok(PIDS[bob.instance], `bob's instance ${bob.instance} is not one chatctl started`);
  assert.notEqual(alice.instance, bob.instance, "round-robin should put two new connections on different instances");

  await signin(alice, "alice", room);
  await signin(bob, "bob", room);
  assert.deepEqual(await ack(alice, "sendMessage", "hello from alice"), []);
  await arrives(bob, "hello from alice");
  assert.deepEqual(await ack(bob, "sendMessage", "hello from bob"), []);
  await arrives(alice, "hello from bob");

  // Kill alice's instance outright: her connection drops, like a crashed Cloud Run instance.
  const closed = new Promise((resolve) => alice.once("disconnect", resolve));
  process.kill(PIDS[alice.instance], "SIGKILL");
  await within(closed, "alice's disconnect after her instance was killed");
  assert.ok(bob.connected, "bob's instance was not touched");

  // She comes back through the front door (to whichever instance answers) and the room's
  // history, kept in the bus server, is intact.
  const again = await connect("alice again");
  const history = await signin(again, "alice", room);
  const texts = history.map((m) => m.text);
  assert.ok(texts.includes("hello from alice") && texts.includes("hello from bob"), `history after the restart: ${JSON.stringify(texts)}`);
  assert.deepEqual(await ack(again, "sendMessage", "alice is back"), []);
  await arrives(bob, "alice is back");

  again.close();
  bob.close();
});

test(`history survives a crash of ${BUS_NAME}: it restarts on its port with its store`, async () => {
  const room = `local-bus-${process.pid}`;
  const ann = await connect("ann");
  await signin(ann, "ann", room);
  assert.deepEqual(await ack(ann, "sendMessage", "before the bus crash"), []);
  process.kill(BUS_PID, "SIGKILL");
  ann.close();

  // Until the bus server is back (chatctl restarts it) and the instances reconnect, sign-in may fail;
  // once it succeeds, the history must hold the message.
  const deadline = Date.now() + 30000;
  let lastError;
  while (Date.now() < deadline) {
    let socket;
    try {
      socket = await connect("ann again");
      const [error, history] = await ack(socket, "signin", { user: "ann", room });
      if (error === null) {
        const texts = (history?.messages ?? []).map((m) => m.text);
        assert.ok(texts.includes("before the bus crash"), `history after the ${BUS_NAME} restart: ${JSON.stringify(texts)}`);
        return;
      }
      lastError = error;
    } catch (err) {
      if (err instanceof assert.AssertionError) throw err;
      lastError = err.message;
    } finally {
      socket?.close();
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`no sign-in succeeded within 30 s after the ${BUS_NAME} crash; last error: ${lastError}`);
});

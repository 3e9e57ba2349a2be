// The tutorial's protocol, row by row, with the real socket.io-client against two chat-server
// instances (CHAT_URL_A, CHAT_URL_B; the same URL twice in memory mode), plus our superset:
// ids and timestamps, lastId replay, the reconnect grace period, validation and limits.
import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import {
  URL_A, URL_B, GRACE_MS, ack, closeAll, connect, disconnected, dropTransport, eventually, freshRoom,
  messageArrives, noticeArrives, signin, sleep, within,
} from "./helpers.mjs";

const RATE_COUNT = Number(process.env.CHAT_RATE_COUNT ?? "20");
const MAX_MESSAGE_LEN = Number(process.env.CHAT_MAX_MESSAGE_LEN ?? "2000");

test("signin acks (null, null) for a new room, then (null, {room, messages}) with ids and timestamps", async () => {
  const room = freshRoom("history");
  const ann = await connect(URL_A);
  try {
    assert.deepEqual(await ack(ann, "signin", { user: "ann", room }), [null, null]);
    assert.deepEqual(await ack(ann, "sendMessage", "first"), []);
    const bob = await connect(URL_B);
    try {
      const [error, history] = await ack(bob, "signin", { user: "bob", room });
      assert.equal(error, null);
      assert.equal(history.room, room);
      assert.equal(history.messages.length, 1);
      const [message] = history.messages;
      assert.equal(message.user, "ann");
      assert.equal(message.text, "first");
      assert.match(message.id, /^\d+-\d+$/);
      assert.ok(Math.abs(message.ts - Date.now()) < 60_000, `ts ${message.ts} is not a current ms timestamp`);
    } finally {
      closeAll(bob);
    }
  } finally {
    closeAll(ann);
  }
});

test("the join notice reaches the other members on both instances, never the joiner", async () => {
  const room = freshRoom("join");
  const onA = await connect(URL_A);
  const onB = await connect(URL_B);
  const joiner = await connect(URL_B);
  try {
    await signin(onA, "ann", room);
    await signin(onB, "bob", room);
    await signin(joiner, "cid", room);
    await noticeArrives(onA, "cid just entered the room");
    const notice = await noticeArrives(onB, "cid just entered the room");
    assert.deepEqual(notice, { title: "Someone's here", description: "cid just entered the room" });
    await sleep(200);
    assert.deepEqual(joiner.received.notification, [], "the joiner must not be told about itself");
  } finally {
    closeAll(onA, onB, joiner);
  }
});

test("sendMessage before signin acks 'User session not found.'", async () => {
  const socket = await connect(URL_A);
  try {
    assert.deepEqual(await ack(socket, "sendMessage", "hello?"), ["User session not found."]);
  } finally {
    closeAll(socket);
  }
});

test("a message reaches everyone in the room, sender included, across instances both ways", async () => {
  const room = freshRoom("fanout");
  const ann = await connect(URL_A);
  const bob = await connect(URL_B);
  const outsider = await connect(URL_B);
  try {
    await signin(ann, "ann", room);
    await signin(bob, "bob", room);
    await signin(outsider, "olga", freshRoom("elsewhere"));
    assert.deepEqual(await ack(ann, "sendMessage", "from A"), []);
    assert.deepEqual(await ack(bob, "sendMessage", "from B"), []);
    for (const socket of [ann, bob]) {
      const fromA = await messageArrives(socket, "from A");
      const fromB = await messageArrives(socket, "from B");
      assert.equal(fromA.user, "ann");
      assert.equal(fromB.user, "bob");
      assert.deepEqual(Object.keys(fromA).sort(), ["id", "text", "ts", "user"]);
    }
    await sleep(200);
    assert.deepEqual(outsider.received.message, [], "another room's member must not get the message");
  } finally {
    closeAll(ann, bob, outsider);
  }
});

test("history keeps the order of sequential sends, with increasing ids", async () => {
  const room = freshRoom("order");
  const ann = await connect(URL_A);
  const bob = await connect(URL_B);
  try {
    await signin(ann, "ann", room);
    await signin(bob, "bob", room);
    const sent = [];
    for (let i = 0; i < 10; i++) {
      const [sender, name] = i % 2 ? [bob, "bob"] : [ann, "ann"];
      const text = `${name} ${i}`;
      assert.deepEqual(await ack(sender, "sendMessage", text), []);
      sent.push(text);
    }
    const reader = await connect(URL_A);
    try {
      const history = await signin(reader, "reader", room);
      assert.deepEqual(history.messages.map((m) => m.text), sent);
      assertIncreasingIds(history.messages);
    } finally {
      closeAll(reader);
    }
  } finally {
    closeAll(ann, bob);
  }
});

function assertIncreasingIds(messages) {
  const key = (id) => id.split("-").map(BigInt);
  for (let i = 1; i < messages.length; i++) {
    const [a, b] = [key(messages[i - 1].id), key(messages[i].id)];
    assert.ok(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]), `ids out of order: ${messages[i - 1].id} then ${messages[i].id}`);
  }
}

test("200 concurrent sends from two instances: none lost, live or in history", async () => {
  const room = freshRoom("race");
  const SENDERS_PER_INSTANCE = 10;
  const EACH = 10; // below the rate limit: this test is about loss, not throttling
  const senders = [];
  for (let i = 0; i < SENDERS_PER_INSTANCE * 2; i++) senders.push(await connect(i % 2 ? URL_B : URL_A));
  const listenerA = await connect(URL_A);
  const listenerB = await connect(URL_B);
  try {
    await Promise.all(senders.map((s, i) => signin(s, `sender${i}`, room)));
    await signin(listenerA, "listenA", room);
    await signin(listenerB, "listenB", room);
    const acks = [];
    for (let round = 0; round < EACH; round++) {
      senders.forEach((s, i) => acks.push(ack(s, "sendMessage", `s${i}-m${round}`)));
    }
    const replies = await within(Promise.all(acks), "200 acks", 20_000);
    assert.ok(replies.every((r) => r.length === 0), `some sends failed: ${JSON.stringify(replies.filter((r) => r.length))}`);
    const total = SENDERS_PER_INSTANCE * 2 * EACH;
    for (const [name, listener] of [["listener on A", listenerA], ["listener on B", listenerB]]) {
      await eventually(listener, `${total} messages at the ${name}`, (r) => r.message.length >= total, 20_000);
      const texts = listener.received.message.map((m) => m.text);
      assert.equal(new Set(texts).size, total, `${name} got duplicates or strays`);
      assert.equal(texts.length, total, `${name} got ${texts.length} deliveries for ${total} messages`);
    }
    const reader = await connect(URL_B);
    try {
      const history = await signin(reader, "reader", room);
      assert.equal(history.messages.length, total, "every acked message is in history");
      assertIncreasingIds(history.messages);
      // Each sender's own messages are stored in the order it sent them.
      senders.forEach((_, i) => {
        const mine = history.messages.filter((m) => m.user === `sender${i}`).map((m) => m.text);
        assert.deepEqual(mine, Array.from({ length: EACH }, (_, r) => `s${i}-m${r}`));
      });
      const liveIds = new Set(listenerA.received.message.map((m) => m.id));
      assert.ok(history.messages.every((m) => liveIds.has(m.id)), "what is in history was broadcast with the same id");
    } finally {
      closeAll(reader);
    }
  } finally {
    closeAll(...senders, listenerA, listenerB);
  }
});

test("every error ack is a string: bad signins, wrong types, too long, empty, unknown events", async () => {
  const socket = await connect(URL_A);
  try {
    for (const payload of [undefined, null, "ann", 42, {}, { user: "ann" }, { room: "r" }, { user: 5, room: "r" },
      { user: "", room: "r" }, { user: "a".repeat(33), room: "r" }, { user: "ann", room: "r".repeat(65) },
      { user: "\u0007\u0008", room: "r" }, { user: "ann", room: "r", lastId: "not-an-id" }]) {
      const reply = payload === undefined ? await ack(socket, "signin") : await ack(socket, "signin", payload);
      assert.equal(typeof reply[0], "string", `signin ${JSON.stringify(payload)} answered ${JSON.stringify(reply)}`);
      assert.equal(reply[1], null);
    }
    await signin(socket, "ann", freshRoom("errors"));
    for (const payload of [{ text: "hi" }, 42, null, ["hi"], "", "   ", "\u0000\u0001", "x".repeat(MAX_MESSAGE_LEN + 1)]) {
      const reply = await ack(socket, "sendMessage", payload);
      assert.equal(reply.length, 1, `sendMessage ${JSON.stringify(payload).slice(0, 40)} answered ${JSON.stringify(reply)}`);
      assert.equal(typeof reply[0], "string");
    }
    assert.match((await ack(socket, "sendMessage", "x".repeat(MAX_MESSAGE_LEN + 1)))[0], /too long/i);
    assert.deepEqual(await ack(socket, "sendMessage", "x".repeat(MAX_MESSAGE_LEN)), []);
    assert.equal(typeof (await ack(socket, "noSuchEvent", 1))[0], "string");
    assert.equal(typeof (await ack(socket, "updateSocketId", { user: 1 }))[0], "string");
  } finally {
    closeAll(socket);
  }
});

test("control characters are stripped and HTML is passed through as text, not altered", async () => {
  const room = freshRoom("text");
  const socket = await connect(URL_A);
  try {
    await signin(socket, "<b>ann</b>", room);
    assert.deepEqual(await ack(socket, "sendMessage", "<img src=x onerror=alert(1)>\u0007"), []);
    const message = await messageArrives(socket, "<img src=x onerror=alert(1)>");
    assert.equal(message.user, "<b>ann</b>");
  } finally {
    closeAll(socket);
  }
});

test("the tutorial's three crash packets (and malformed frames) leave the server up", async () => {
  const room = freshRoom("crash");
  const witness = await connect(URL_A);
  const attacker = await connect(URL_A);
  try {
    await signin(witness, "witness", room);
    attacker.emit("sendMessage", "no ack before signin");
    attacker.emit("signin", { user: "mallory", room }); // no ack
    attacker.emit("signin"); // no payload, no ack
    attacker.emit("sendMessage", "no ack after signin");
    await messageArrives(witness, "no ack after signin");
    await rawFrames(URL_A, ['42["signin"]', '42["sendMessage"]', "42[", "4x", '42{"a":1}', "42[1,2,3]", '42["signin",{"user":{"$gt":""},"room":[]}]']);
    const reply = await rawAck(URL_A, '421["signin",null]');
    assert.match(reply, /^431\["[^"]+",null\]$/, `a raw signin with a null payload must get a string error ack, got ${reply}`);
    assert.ok(attacker.connected && witness.connected, "the sockets are still connected");
    assert.deepEqual(await ack(attacker, "sendMessage", "still here"), []);
    await messageArrives(witness, "still here");
    const newcomer = await connect(URL_A);
    try {
      await signin(newcomer, "newcomer", room);
    } finally {
      closeAll(newcomer);
    }
  } finally {
    closeAll(witness, attacker);
  }
});

/** Opens a raw Engine.IO WebSocket, connects to "/", and resolves with the opened socket. */
function rawSocket(url) {
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}/socket.io/?EIO=4&transport=websocket`);
  return within(
    new Promise((resolve, reject) => {
      ws.on("error", reject);
      ws.on("message", (data) => {
        const text = data.toString();
        if (text.startsWith("0")) ws.send("40");
        else if (text.startsWith("40")) resolve(ws);
        else if (text === "2") ws.send("3");
      });
    }),
    "a raw Socket.IO connection",
  );
}

async function rawFrames(url, frames) {
  const ws = await rawSocket(url);
  for (const frame of frames) ws.send(frame);
  await sleep(200);
  ws.close();
}

async function rawAck(url, frame) {
  const ws = await rawSocket(url);
  try {
    return await within(
      new Promise((resolve) => {
        ws.on("message", (data) => {
          const text = data.toString();
          if (text.startsWith("43")) resolve(text);
        });
        ws.send(frame);
      }),
      `the ack of ${frame}`,
    );
  } finally {
    ws.close();
  }
}

test("an oversized frame closes only that connection", async () => {
  const room = freshRoom("oversize");
  const witness = await connect(URL_B);
  const big = await connect(URL_B);
  try {
    await signin(witness, "witness", room);
    await signin(big, "big", room);
    const gone = disconnected(big);
    big.emit("sendMessage", "x".repeat(1024 * 1024), () => {});
    const reason = await gone;
    assert.match(reason, /transport (close|error)/);
    assert.ok(witness.connected);
    assert.deepEqual(await ack(witness, "sendMessage", "after the big one"), []);
    await messageArrives(witness, "after the big one");
    assert.equal(witness.received.message.some((m) => m.user === "big"), false);
  } finally {
    closeAll(witness, big);
  }
});

test("the per-socket rate limit answers extra messages with an error ack", async () => {
  const socket = await connect(URL_A);
  const other = await connect(URL_A);
  try {
    const room = freshRoom("rate");
    await signin(socket, "chatty", room);
    await signin(other, "calm", room);
    const replies = await Promise.all(Array.from({ length: RATE_COUNT + 5 }, (_, i) => ack(socket, "sendMessage", `m${i}`)));
    assert.ok(replies.slice(0, RATE_COUNT).every((r) => r.length === 0), "the first RATE_LIMIT messages pass");
    const refused = replies.slice(RATE_COUNT).filter((r) => typeof r[0] === "string");
    assert.ok(refused.length >= 1, `extra messages must be refused, got ${JSON.stringify(replies.slice(RATE_COUNT))}`);
    assert.match(refused[0][0], /too many messages/i);
    assert.deepEqual(await ack(other, "sendMessage", "my own budget"), [], "other sockets are not limited");
  } finally {
    closeAll(socket, other);
  }
});

test("updateSocketId with lastId replays what was missed, in order, without duplicates, silently", async () => {
  const room = freshRoom("replay");
  const ann = await connect(URL_A);
  const bob = await connect(URL_B);
  const watcher = await connect(URL_B);
  try {
    await signin(ann, "ann", room);
    await signin(bob, "bob", room);
    await signin(watcher, "watcher", room);
    await ack(bob, "sendMessage", "seen");
    const seen = await messageArrives(ann, "seen");
    // A dropped connection (a deliberate disconnect would be announced as a leave at once).
    dropTransport(ann);
    for (const text of ["missed 1", "missed 2", "missed 3"]) assert.deepEqual(await ack(bob, "sendMessage", text), []);
    const noticesBefore = watcher.received.notification.length;
    const back = await connect(URL_B); // lands on the other instance
    try {
      assert.deepEqual(await ack(back, "updateSocketId", { user: "ann", room, lastId: seen.id }), []);
      await eventually(back, "3 replayed messages", (r) => r.message.length >= 3);
      await sleep(200);
      assert.deepEqual(back.received.message.map((m) => m.text), ["missed 1", "missed 2", "missed 3"]);
      // Re-registered: it can send and receive as ann without signing in again.
      assert.deepEqual(await ack(back, "sendMessage", "ann is back"), []);
      assert.equal((await messageArrives(bob, "ann is back")).user, "ann");
      assert.equal(watcher.received.notification.length, noticesBefore, "updateSocketId is silent");
    } finally {
      closeAll(back);
    }
  } finally {
    closeAll(ann, bob, watcher);
  }
});

test("the tutorial's updateSocketId (no lastId, no ack) re-registers the socket", async () => {
  const room = freshRoom("tutorial-reconnect");
  const bob = await connect(URL_A);
  const ann = await connect(URL_B);
  try {
    await signin(bob, "bob", room);
    ann.emit("updateSocketId", { user: "ann", room });
    assert.deepEqual(await ack(ann, "sendMessage", "hello after reconnect"), []);
    assert.equal((await messageArrives(bob, "hello after reconnect")).user, "ann");
    assert.deepEqual(ann.received.message.map((m) => m.text), ["hello after reconnect"], "no replay without lastId");
  } finally {
    closeAll(bob, ann);
  }
});

test("a quick reconnect to the other instance makes no leave/enter; a real leave is announced after the grace", async () => {
  const room = freshRoom("grace");
  const watcherA = await connect(URL_A);
  const watcherB = await connect(URL_B);
  const first = await connect(URL_A);
  try {
    await signin(watcherA, "watcherA", room);
    await signin(watcherB, "watcherB", room);
    await signin(first, "ann", room);
    await noticeArrives(watcherA, "ann just entered the room");
    await noticeArrives(watcherB, "ann just entered the room");
    const about = (w) => w.received.notification.filter((n) => n.description.startsWith("ann ")).length;
    const before = [about(watcherA), about(watcherB)];
    // A dropped connection (not a deliberate disconnect, which is announced at once).
    dropTransport(first);
    await sleep(Math.min(300, GRACE_MS / 4));
    const second = await connect(URL_B);
    try {
      assert.deepEqual(await ack(second, "updateSocketId", { user: "ann", room }), []);
      await sleep(GRACE_MS + 1000);
      assert.deepEqual([about(watcherA), about(watcherB)], before, "no spurious just left / just entered");
      dropTransport(second);
      await noticeArrives(watcherA, "ann just left the room", GRACE_MS + 5000);
      const left = await noticeArrives(watcherB, "ann just left the room", GRACE_MS + 5000);
      assert.deepEqual(left, { title: "Someone just left", description: "ann just left the room" });
      await sleep(300);
      assert.equal(watcherB.received.notification.filter((n) => n.description === "ann just left the room").length, 1, "announced once");
    } finally {
      closeAll(second);
    }
  } finally {
    closeAll(watcherA, watcherB, first);
  }
});

test("signing in to another room moves the socket there", async () => {
  const [roomOne, roomTwo] = [freshRoom("one"), freshRoom("two")];
  const mover = await connect(URL_A);
  const inOne = await connect(URL_B);
  const inTwo = await connect(URL_B);
  try {
    await signin(inOne, "one", roomOne);
    await signin(inTwo, "two", roomTwo);
    await signin(mover, "mover", roomOne);
    await signin(mover, "mover", roomTwo);
    assert.deepEqual(await ack(mover, "sendMessage", "hi two"), []);
    await messageArrives(inTwo, "hi two");
    assert.deepEqual(await ack(inOne, "sendMessage", "only for one"), []);
    await sleep(300);
    assert.equal(inOne.received.message.some((m) => m.text === "hi two"), false);
    assert.equal(mover.received.message.some((m) => m.text === "only for one"), false);
  } finally {
    closeAll(mover, inOne, inTwo);
  }
});

test("HTTP long-polling clients (socket.io-client's default first transport) chat too", async () => {
  const room = freshRoom("polling");
  const polling = await connect(URL_A, { transports: ["polling"] });
  const upgrading = await connect(URL_B, { transports: ["polling", "websocket"] });
  try {
    assert.equal(polling.io.engine.transport.name, "polling");
    await signin(polling, "poll", room);
    await signin(upgrading, "upgrade", room);
    assert.deepEqual(await ack(polling, "sendMessage", "over polling"), []);
    await messageArrives(upgrading, "over polling");
    assert.deepEqual(await ack(upgrading, "sendMessage", "back"), []);
    await messageArrives(polling, "back");
  } finally {
    closeAll(polling, upgrading);
  }
});

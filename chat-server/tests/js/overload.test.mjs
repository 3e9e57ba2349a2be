// Overload is bounded: a member that stops reading is disconnected once its outgoing queue is
// full (the server logs why), everyone else keeps getting every message, and the slow member,
// back on a new connection, replays what it missed with no gap. Nothing acked is lost.
import { test } from "node:test";
import assert from "node:assert/strict";
import { URL_A, URL_B, ack, closeAll, connect, eventually, freshRoom, signin, sleep, within } from "./helpers.mjs";

/** The longest the flood may run before the slow member must have been let go. */
const FLOOD_MS = 60_000;
const IN_FLIGHT = 32;
const TEXT = "x".repeat(1900);

/** chat_slow_consumers_total of the instance at `url`. */
async function slowConsumers(url) {
  const body = await (await fetch(`${url}/metrics`)).text();
  const line = body.split("\n").find((l) => l.startsWith("chat_slow_consumers_total "));
  return Number(line?.split(" ")[1] ?? "NaN");
}

test("a member that stops reading is let go, then replays everything it missed", async () => {
  const room = freshRoom("slow");
  const slow = await connect(URL_A);
  const fast = await connect(URL_A);
  const sender = await connect(URL_B);
  const acked = [];
  try {
    await signin(slow, "slow", room);
    await signin(fast, "fast", room);
    await signin(sender, "sender", room);
    const gone = new Promise((resolve) => slow.once("disconnect", resolve));
    // Stop reading: the kernel buffers fill, then the server's queue for this socket.
    slow.io.engine.transport.ws._socket.pause();

    const deadline = Date.now() + FLOOD_MS;
    let refused = 0;
    let seq = 0;
    while ((await slowConsumers(URL_A)) < 1) {
      assert.ok(Date.now() < deadline, `the slow member was not let go within ${FLOOD_MS} ms (${acked.length} acked)`);
      const batch = Array.from({ length: IN_FLIGHT }, () => `m${++seq} ${TEXT}`);
      const replies = await Promise.all(batch.map((text) => ack(sender, "sendMessage", text).then((reply) => [text, reply])));
      for (const [text, reply] of replies) {
        if (reply.length === 0) acked.push(text);
        else {
          assert.equal(typeof reply[0], "string", "an error ack is a string");
          refused += 1;
        }
      }
      if (refused) await sleep(20);
    }
    // A few more after the overflow: the slow member must not get these on the old connection.
    for (let i = 0; i < 5; i++) {
      const text = `after ${i}`;
      const reply = await ack(sender, "sendMessage", text);
      if (reply.length === 0) acked.push(text);
    }

    slow.io.engine.transport.ws._socket.resume();
    await within(gone, "the slow member's disconnect", 30_000);
    const seen = slow.received.message.map((m) => m.text);
    assert.ok(seen.length < acked.length, "the slow member missed some messages");
    assert.deepEqual(seen, acked.slice(0, seen.length), "what it got before being let go has no gap");

    // Back on a new connection, it asks for everything after the last message it saw.
    console.log(`acked ${acked.length}, refused ${refused}, the slow member saw ${seen.length} before it was let go`);
    const lastId = slow.received.message.at(-1)?.id;
    assert.ok(lastId, "it received some messages before falling behind");
    const back = await connect(URL_A);
    try {
      assert.deepEqual(await ack(back, "updateSocketId", { user: "slow", room, lastId }), []);
      const missed = acked.slice(seen.length);
      await eventually(back, `${missed.length} replayed messages`, (r) => r.message.length >= missed.length, 10_000);
      assert.deepEqual(back.received.message.map((m) => m.text), missed, "the replay fills the gap exactly");
    } finally {
      closeAll(back);
    }
    await eventually(fast, "every acked message at the fast member", (r) => r.message.length >= acked.length, 20_000);
    assert.deepEqual(fast.received.message.map((m) => m.text), acked, "the fast member got everything, in order");
  } finally {
    closeAll(slow, fast, sender);
  }
});

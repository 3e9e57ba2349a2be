// Cross-instance delivery, both ways, retried until it works (bounded): run by the Redis restart
// test once Redis is back, to prove delivery resumes by itself.
import { test } from "node:test";
import assert from "node:assert/strict";
import { URL_A, URL_B, ack, closeAll, connect, deliveredEventually, freshRoom, messageArrives, signin } from "./helpers.mjs";

const RESUME_MS = Number(process.env.CHAT_RESUME_MS ?? "15000");

test("messages cross between the instances both ways", async () => {
  const room = freshRoom("cross");
  const ann = await connect(URL_A);
  const bob = await connect(URL_B);
  try {
    await signin(ann, "ann", room);
    await signin(bob, "bob", room);
    await deliveredEventually(ann, bob, "A to B", RESUME_MS);
    await deliveredEventually(bob, ann, "B to A", RESUME_MS);
    // Once it works, it works at once: a single message arrives on both sides.
    assert.deepEqual(await ack(ann, "sendMessage", "steady"), []);
    await messageArrives(bob, "steady");
    await messageArrives(ann, "steady");
  } finally {
    closeAll(ann, bob);
  }
});

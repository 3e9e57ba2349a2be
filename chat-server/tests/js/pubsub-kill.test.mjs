// `CLIENT KILL TYPE pubsub` drops every instance's subscriber connection (what a Memorystore
// failover does): local delivery must go on, and cross-instance delivery must come back by itself.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  URL_A, URL_B, ack, closeAll, connect, deliveredEventually, freshRoom, messageArrives, redisCommand, signin,
} from "./helpers.mjs";

const REDIS_PORT = Number(process.env.CHAT_REDIS_PORT);
const RESUME_MS = 15_000;

test("after CLIENT KILL TYPE pubsub, local delivery goes on and cross-instance delivery resumes", async () => {
  assert.ok(REDIS_PORT > 0, "CHAT_REDIS_PORT must name the Redis the instances share");
  const room = freshRoom("pubsub-kill");
  const ann = await connect(URL_A);
  const bob = await connect(URL_B);
  try {
    await signin(ann, "ann", room);
    await signin(bob, "bob", room);
    assert.deepEqual(await ack(ann, "sendMessage", "before"), []);
    await messageArrives(bob, "before");

    const killed = await redisCommand("CLIENT", "KILL", "TYPE", "pubsub");
    const count = Number(killed.match(/^:(\d+)/)?.[1]);
    assert.ok(count >= 2, `expected both instances' subscribers to be killed, Redis answered ${killed.trim()}`);

    assert.deepEqual(await ack(ann, "sendMessage", "local right after the kill"), []);
    await messageArrives(ann, "local right after the kill");

    await deliveredEventually(ann, bob, "A to B after the kill", RESUME_MS);
    await deliveredEventually(bob, ann, "B to A after the kill", RESUME_MS);
    const subscribers = await redisCommand("PUBSUB", "NUMSUB", "chat-socket.io-request#/#");
    assert.match(subscribers, /:2\r\n$/, `both instances must be subscribed again, got ${JSON.stringify(subscribers)}`);
  } finally {
    closeAll(ann, bob);
  }
});

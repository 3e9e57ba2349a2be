// The whiteboard's nothing-lost rule when Redis refuses a write (CHAT_REDIS_PORT: the Redis the
// instances share): a stroke or clear that could not be stored gets an error ack and is never
// relayed, so no page shows what a reloaded page would not; once Redis accepts again, so does the board.
import { test } from "node:test";
import assert from "node:assert/strict";
import { URL_A, URL_B, ack, closeAll, eventually, freshRoom, redisCommand, sleep } from "./helpers.mjs";
import { boardClient, draw, history, segment } from "./board-helpers.mjs";

test("what Redis cannot store is refused with an error ack and never relayed; the board works again after", async () => {
  const board = freshRoom("store-error");
  const drawer = await boardClient(URL_A, { board });
  const viewer = await boardClient(URL_B, { board });
  const key = `chat:board:${board}:strokes`;
  try {
    // A key of the wrong type makes every stream command on it fail, as a sick Redis would.
    assert.match(await redisCommand("SET", key, "not a stream"), /^\+OK/);
    assert.match((await ack(drawer, "drawing", segment()))[0], /Could not save .* please try again/);
    assert.match((await ack(drawer, "clearBoard"))[0], /Could not save .* please try again/);
    assert.match((await ack(drawer, "boardHistory", {}))[0], /Could not load the board/);
    await sleep(300);
    assert.deepEqual(viewer.received.drawing, [], "a stroke that was not stored must not be relayed");
    assert.deepEqual(viewer.received.clearBoard, [], "a clear that was not stored must not be relayed");
    assert.match(await redisCommand("DEL", key), /^:1/);
    const stroke = await draw(drawer);
    await eventually(viewer, "the stroke once Redis accepts again", (r) => r.drawing.find((d) => d.id === stroke.id));
    assert.deepEqual((await history(viewer)).entries, [stroke]);
  } finally {
    closeAll(drawer, viewer);
  }
});

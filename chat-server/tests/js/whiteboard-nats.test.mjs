// The whiteboard's nothing-lost rule with BUS=nats when JetStream refuses a write (CHAT_NATS_PORT:
// the NATS the instances share): a stroke or clear that could not be stored gets an error ack and
// is never relayed; once the board's stream is gone entirely (a NATS server that lost its store),
// the next stroke creates it again and the board works as before.
import { test } from "node:test";
import assert from "node:assert/strict";
import { URL_A, URL_B, ack, closeAll, eventually, freshRoom, natsRequest, sleep } from "./helpers.mjs";
import { boardClient, draw, history, segment } from "./board-helpers.mjs";

const STREAM = "CHAT_BOARDS";

test("what JetStream cannot store is refused with an error ack and never relayed; the board works again after", async () => {
  const board = freshRoom("store-error");
  const drawer = await boardClient(URL_A, { board });
  const viewer = await boardClient(URL_B, { board });
  try {
    await draw(drawer);
    // A sealed stream refuses every write, as a full or broken store would.
    const info = JSON.parse(await natsRequest(`$JS.API.STREAM.INFO.${STREAM}`));
    assert.equal(info.error, undefined, JSON.stringify(info));
    const sealed = JSON.parse(await natsRequest(`$JS.API.STREAM.UPDATE.${STREAM}`, { ...info.config, sealed: true }));
    assert.equal(sealed.config?.sealed, true, JSON.stringify(sealed));
    const relayedBefore = viewer.received.drawing.length;
    assert.match((await ack(drawer, "drawing", segment()))[0], /Could not save .* please try again/);
    assert.match((await ack(drawer, "clearBoard"))[0], /Could not save .* please try again/);
    await sleep(300);
    assert.equal(viewer.received.drawing.length, relayedBefore, "a stroke that was not stored must not be relayed");
    assert.deepEqual(viewer.received.clearBoard, [], "a clear that was not stored must not be relayed");

    const deleted = JSON.parse(await natsRequest(`$JS.API.STREAM.DELETE.${STREAM}`));
    assert.equal(deleted.success, true, JSON.stringify(deleted));
    const stroke = await draw(drawer);
    await eventually(viewer, "the stroke once the stream is back", (r) => r.drawing.find((d) => d.id === stroke.id));
    assert.deepEqual((await history(viewer)).entries, [stroke]);
  } finally {
    closeAll(drawer, viewer);
  }
});

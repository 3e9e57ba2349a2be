// Leaving means leaving: a client that disconnects on purpose (socket.disconnect()) is announced
// as gone at once, on both instances; a connection that merely drops (no close packet) keeps the
// RECONNECT_GRACE period, so a quick reconnect stays silent.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  URL_A, URL_B, GRACE_MS, closeAll, connect, dropTransport, freshRoom, noticeArrives, signin, sleep,
} from "./helpers.mjs";

/** A deliberate leave must reach every member within this. */
const AT_ONCE_MS = 1000;

/** Two watchers, one per instance, already signed in to `room`. */
async function watchers(room) {
  const onA = await connect(URL_A);
  const onB = await connect(URL_B);
  await signin(onA, "watcherA", room);
  await signin(onB, "watcherB", room);
  return [onA, onB];
}

const leftNotices = (socket, user) =>
  socket.received.notification.filter((n) => n.description === `${user} just left the room`).length;

test("socket.disconnect() is announced as 'just left' within a second on both instances", async () => {
  const room = freshRoom("leave-now");
  const [watcherA, watcherB] = await watchers(room);
  const ann = await connect(URL_A);
  try {
    await signin(ann, "ann", room);
    await noticeArrives(watcherB, "ann just entered the room");
    const started = Date.now();
    ann.disconnect();
    const notice = await noticeArrives(watcherB, "ann just left the room", AT_ONCE_MS);
    await noticeArrives(watcherA, "ann just left the room", Math.max(1, AT_ONCE_MS - (Date.now() - started)));
    const elapsed = Date.now() - started;
    assert.ok(elapsed < AT_ONCE_MS, `announced after ${elapsed} ms`);
    assert.ok(elapsed < GRACE_MS, `the grace period (${GRACE_MS} ms) was not waited for`);
    assert.deepEqual(notice, { title: "Someone just left", description: "ann just left the room" });
    await sleep(300);
    assert.deepEqual([leftNotices(watcherA, "ann"), leftNotices(watcherB, "ann")], [1, 1], "announced once on each");
  } finally {
    closeAll(watcherA, watcherB, ann);
  }
});

test("a dropped connection (no close packet) is announced only after the grace period", async () => {
  const room = freshRoom("leave-dropped");
  const [watcherA, watcherB] = await watchers(room);
  const bob = await connect(URL_B);
  try {
    await signin(bob, "bob", room);
    await noticeArrives(watcherA, "bob just entered the room");
    const started = Date.now();
    dropTransport(bob);
    await sleep(GRACE_MS * 0.75);
    assert.deepEqual([leftNotices(watcherA, "bob"), leftNotices(watcherB, "bob")], [0, 0], "not announced within the grace period");
    await noticeArrives(watcherA, "bob just left the room", GRACE_MS + 5000);
    await noticeArrives(watcherB, "bob just left the room", 2000);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= GRACE_MS, `announced after ${elapsed} ms, before the ${GRACE_MS} ms grace period`);
  } finally {
    closeAll(watcherA, watcherB, bob);
  }
});

test("a deliberate disconnect of one of a user's two sockets announces nothing", async () => {
  const room = freshRoom("leave-one-tab");
  const [watcherA, watcherB] = await watchers(room);
  const tabOne = await connect(URL_A);
  const tabTwo = await connect(URL_B);
  try {
    await signin(tabOne, "cat", room);
    await signin(tabTwo, "cat", room);
    tabOne.disconnect();
    await sleep(AT_ONCE_MS);
    assert.deepEqual([leftNotices(watcherA, "cat"), leftNotices(watcherB, "cat")], [0, 0], "cat is still here");
    tabTwo.disconnect();
    await noticeArrives(watcherA, "cat just left the room", AT_ONCE_MS);
    await noticeArrives(watcherB, "cat just left the room", AT_ONCE_MS);
  } finally {
    closeAll(watcherA, watcherB, tabOne, tabTwo);
  }
});

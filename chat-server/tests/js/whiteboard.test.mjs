// The whiteboard protocol with the real socket.io-client against two chat-server instances
// (CHAT_URL_A, CHAT_URL_B; the same URL twice in memory mode): socket.io's whiteboard example
// (`drawing` relayed to every other client of the default board, plain io() with its default
// transports) and our superset: named boards, kept strokes (boardHistory with lastId replay),
// clearBoard, validation, the stroke rate limit, and chat sockets never getting `drawing`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { URL_A, URL_B, ack, closeAll, connect, eventually, freshRoom, signin, sleep, within } from "./helpers.mjs";
import { boardClient, connected, draw, exampleClient, exampleDrag, history, only, segment } from "./board-helpers.mjs";

const BOARD_LIMIT = Number(process.env.CHAT_WHITEBOARD_LIMIT ?? "150");
const STROKE_RATE_COUNT = Number(process.env.CHAT_WHITEBOARD_RATE_COUNT ?? "100");
/** How long to wait to be sure something that should not arrive did not. */
const QUIET_MS = 300;

test("an example client's drawing reaches every other example client on both instances; long-polling clients too", async () => {
  const drawer = exampleClient(URL_A);
  const pollingOnly = exampleClient(URL_B, { transports: ["polling"] });
  const viewers = [exampleClient(URL_A), exampleClient(URL_B), pollingOnly];
  const drawnAt = (socket) => ({ get received() { return socket.drawn; } });
  try {
    await Promise.all([drawer, ...viewers].map(connected));
    assert.equal(drawer.firstTransport, "polling", "plain io() starts with long-polling");
    await within(
      new Promise((resolve) => (drawer.upgradedTo ? resolve() : drawer.io.engine.once("upgrade", resolve))),
      "the WebSocket upgrade",
    );
    assert.equal(drawer.upgradedTo, "websocket");
    const stroke = segment("blue");
    drawer.emit("drawing", stroke);
    for (const viewer of viewers) {
      const got = await eventually(drawnAt(viewer), "the drawing", (drawn) => drawn.find((d) => d.x0 === stroke.x0));
      assert.deepEqual(only(got), stroke, "the payload arrives as sent");
      assert.match(got.id, /^\d+-\d+$/);
    }
    assert.equal(pollingOnly.io.engine.transport.name, "polling", "delivered over long-polling");
    // A drag as the example's page reports it: every segment reaches every viewer, in order.
    const drag = await exampleDrag(drawer, [80, 500], [720, 100], { width: 800, height: 600, color: "yellow" });
    for (const viewer of viewers) {
      const got = await eventually(drawnAt(viewer), "the whole drag",
        (drawn) => { const mine = drawn.filter((d) => d.color === "yellow"); return mine.length >= drag.length && mine; });
      assert.deepEqual(got.map(only), drag, "each segment once, in the order drawn");
    }
    // A long-polling client draws back (the example has no roles): everyone else gets it.
    const back = segment("green");
    pollingOnly.emit("drawing", back);
    for (const socket of [drawer, viewers[0], viewers[1]]) {
      await eventually(drawnAt(socket), "the polling client's drawing", (drawn) => drawn.find((d) => d.x0 === back.x0));
    }
    await sleep(QUIET_MS);
    assert.ok(!drawer.drawn.some((d) => d.x0 === stroke.x0), "no echo to the sender");
    assert.ok(!pollingOnly.drawn.some((d) => d.x0 === back.x0), "no echo to the sender");
  } finally {
    closeAll(drawer, ...viewers);
  }
});

test("boards are separate: a named board's strokes never reach the default board or another board", async () => {
  const board = freshRoom("board");
  const onA = await boardClient(URL_A, { board });
  const onB = await boardClient(URL_B, { board });
  const defaultViewer = exampleClient(URL_B);
  const otherBoard = await boardClient(URL_B, { board: freshRoom("other") });
  try {
    await connected(defaultViewer);
    const stroke = await draw(onA);
    const got = await eventually(onB, "the stroke on the same board", (r) => r.drawing.find((d) => d.id === stroke.id));
    assert.deepEqual(got, stroke);
    await sleep(QUIET_MS);
    assert.ok(!defaultViewer.drawn.some((d) => d.id === stroke.id), "the default board must not get a named board's stroke");
    assert.deepEqual(otherBoard.received.drawing, []);
    assert.deepEqual(onA.received.drawing, [], "no echo to the sender");
  } finally {
    closeAll(onA, onB, defaultViewer, otherBoard);
  }
});

test("chat sockets never get drawing: tutorial clients before and after signin, our chat page, a client after it signs in", async () => {
  const room = freshRoom("chat");
  const tutorial = await connect(URL_A); // the tutorial's client: io('', {transports: ['websocket']}), then signin
  const idleTutorial = await connect(URL_B); // the same, still on the sign-in form
  const chatPage = await boardClient(URL_B, { chat: true }); // our chat page says so at connect
  const convert = exampleClient(URL_B); // plain io(): on the default board until it signs in
  const drawer = exampleClient(URL_A);
  const watcher = exampleClient(URL_B);
  const drawingsAt = (socket) => {
    const got = [];
    socket.on("drawing", (d) => got.push(d));
    return got;
  };
  const [atTutorial, atIdleTutorial] = [drawingsAt(tutorial), drawingsAt(idleTutorial)];
  const drawnAt = (socket) => ({ get received() { return socket.drawn; } });
  try {
    await Promise.all([convert, drawer, watcher].map(connected));
    await signin(tutorial, "ann", room);
    const first = segment();
    drawer.emit("drawing", first);
    await eventually(drawnAt(convert), "a drawing at the not-yet-signed-in plain io() client", (d) => d.find((x) => x.x0 === first.x0));
    await signin(convert, "bob", room);
    const second = segment();
    drawer.emit("drawing", second);
    await eventually(drawnAt(watcher), "the second drawing at a board client", (d) => d.find((x) => x.x0 === second.x0));
    await sleep(QUIET_MS);
    assert.deepEqual(atTutorial, [], "a signed-in tutorial client got drawing");
    assert.deepEqual(atIdleTutorial, [], "a tutorial client on its sign-in form got drawing");
    assert.deepEqual(chatPage.received.drawing, [], "the chat page's connection got drawing");
    assert.ok(!convert.drawn.some((d) => d.x0 === second.x0), "a socket that signed in still got drawing");
    const [refusal] = await ack(tutorial, "drawing", segment());
    assert.match(refusal, /no whiteboard/, "a chat socket cannot draw");
    assert.match((await ack(idleTutorial, "drawing", segment()))[0], /no whiteboard/);
    assert.match((await ack(chatPage, "clearBoard"))[0], /no whiteboard/);
    assert.match((await ack(chatPage, "boardHistory", {}))[0], /no whiteboard/);
    assert.deepEqual(tutorial.received.message, [], "and chat got nothing but chat");
  } finally {
    closeAll(tutorial, idleTutorial, chatPage, convert, drawer, watcher);
  }
});

test("a page that opens late gets the board drawn so far, in order, from either instance", async () => {
  const board = freshRoom("late");
  const drawerA = await boardClient(URL_A, { board });
  const drawerB = await boardClient(URL_B, { board });
  try {
    const empty = await history(drawerA);
    assert.deepEqual(empty, { board, reset: true, lastId: null, entries: [] });
    const drawn = [];
    for (let i = 0; i < 10; i++) drawn.push(await draw(i % 2 ? drawerB : drawerA, segment(i % 2 ? "#0a0B0c" : "yellow")));
    const late = await boardClient(URL_B, { board });
    try {
      const whole = await history(late);
      assert.equal(whole.reset, true);
      assert.deepEqual(whole.entries, drawn);
      assert.equal(whole.lastId, drawn.at(-1).id);
      const more = await draw(drawerA);
      const since = await history(late, whole.lastId);
      assert.deepEqual(since, { board, reset: false, lastId: more.id, entries: [more] });
      assert.deepEqual(await history(late, more.id), { board, reset: false, lastId: more.id, entries: [] });
    } finally {
      closeAll(late);
    }
  } finally {
    closeAll(drawerA, drawerB);
  }
});

test("after a reconnect, boardHistory with lastId replays exactly what was missed: nothing twice, nothing lost", async () => {
  const board = freshRoom("replay");
  const drawer = await boardClient(URL_A, { board });
  let viewer = await boardClient(URL_B, { board });
  try {
    for (let i = 0; i < 5; i++) await draw(drawer);
    await eventually(viewer, "5 live strokes", (r) => r.drawing.length >= 5);
    const seen = viewer.received.drawing.map((d) => d.id);
    closeAll(viewer);
    const missed = [];
    for (let i = 0; i < 7; i++) missed.push(await draw(drawer));
    viewer = await boardClient(URL_A, { board }); // back, on the other instance
    const live = [];
    for (let i = 0; i < 3; i++) live.push(await draw(drawer));
    const replay = await history(viewer, seen.at(-1));
    assert.equal(replay.reset, false);
    // Live strokes that raced the replay are in both: a page skips ids up to replay.lastId.
    const fromReplay = replay.entries.map((e) => e.id);
    const liveAfter = viewer.received.drawing.map((d) => d.id).filter((id) => !fromReplay.includes(id));
    const all = [...seen, ...fromReplay, ...liveAfter];
    assert.equal(new Set(all).size, all.length, "an id arrived twice");
    assert.deepEqual(fromReplay.slice(0, 7), missed.map((m) => m.id), "the missed strokes, in order");
    const everything = await history(drawer);
    assert.deepEqual(all, everything.entries.map((e) => e.id), "the page has the whole board");
  } finally {
    closeAll(drawer, viewer);
  }
});

test("clearBoard reaches everyone on the board, the sender included, and is replayed to a page that was away", async () => {
  const board = freshRoom("clear");
  const a = await boardClient(URL_A, { board });
  const b = await boardClient(URL_B, { board });
  let away = await boardClient(URL_B, { board });
  const outsider = await boardClient(URL_A, { board: freshRoom("elsewhere") });
  try {
    await draw(a);
    const before = await draw(a);
    await eventually(away, "the strokes before leaving", (r) => r.drawing.find((d) => d.id === before.id));
    closeAll(away);
    const [error, cleared] = await ack(b, "clearBoard");
    assert.equal(error, null);
    for (const socket of [a, b]) {
      const got = await eventually(socket, "clearBoard", (r) => r.clearBoard.find((c) => c.id === cleared.id));
      assert.deepEqual(got, { clear: true, id: cleared.id });
    }
    const after = await draw(a);
    const whole = await history(b);
    assert.deepEqual(whole.entries, [{ clear: true, id: cleared.id }, after]);
    away = await boardClient(URL_A, { board });
    const caughtUp = await history(away, before.id);
    assert.equal(caughtUp.reset, false, "it saw everything before the clear: only what followed");
    assert.deepEqual(caughtUp.entries, [{ clear: true, id: cleared.id }, after]);
    await sleep(QUIET_MS);
    assert.deepEqual(outsider.received.clearBoard, [], "another board is not cleared");
    assert.equal((await history(outsider)).entries.length, 0);
  } finally {
    closeAll(a, b, away, outsider);
  }
});

test(`a board keeps its ${BOARD_LIMIT} newest strokes; a page that missed dropped ones gets the whole board`, async () => {
  const board = freshRoom("cap");
  const drawers = [await boardClient(URL_A, { board }), await boardClient(URL_B, { board })];
  try {
    const first = await draw(drawers[0]);
    const total = BOARD_LIMIT + 10;
    const ids = [first.id];
    const per = Math.ceil((total - 1) / drawers.length);
    const batches = drawers.map(async (socket) => {
      for (let i = 0; i < per; i++) ids.push((await draw(socket)).id);
    });
    await within(Promise.all(batches), `${total} strokes`, 30_000);
    const whole = await history(drawers[0]);
    assert.equal(whole.entries.length, BOARD_LIMIT);
    const missedDropped = await history(drawers[1], first.id);
    assert.equal(missedDropped.reset, true, "the first stroke's successors were dropped: the whole board");
    assert.deepEqual(missedDropped.entries, whole.entries);
  } finally {
    closeAll(...drawers);
  }
});

test("an explicit auth without a board (e.g. {}) is on the default board", async () => {
  const page = await boardClient(URL_A, {}); // WebSocket only, auth {}
  const drawer = exampleClient(URL_B);
  try {
    await connected(drawer);
    const stroke = segment("black");
    drawer.emit("drawing", stroke);
    const got = await eventually(page, "the default board's drawing", (r) => r.drawing.find((d) => d.x0 === stroke.x0));
    assert.deepEqual(only(got), stroke);
  } finally {
    closeAll(page, drawer);
  }
});

test("bad strokes, ids and board names get error strings and are never relayed", async () => {
  const board = freshRoom("bad");
  const drawer = await boardClient(URL_A, { board });
  const viewer = await boardClient(URL_B, { board });
  try {
    for (const payload of [null, 42, "line", [0, 0, 1, 1], {}, { x0: 0, y0: 0, x1: 1, y1: 1 },
      { x0: 1.01, y0: 0, x1: 0, y1: 0, color: "red" }, { x0: -1, y0: 0, x1: 0, y1: 0, color: "red" },
      { x0: "0", y0: 0, x1: 0, y1: 0, color: "red" }, { x0: 0, y0: 0, x1: 0, y1: null, color: "red" },
      { x0: 0, y0: 0, x1: 0, y1: 0, color: "purple" }, { x0: 0, y0: 0, x1: 0, y1: 0, color: "#12345" },
      { x0: 0, y0: 0, x1: 0, y1: 0, color: "url(javascript:1)" }]) {
      const reply = await ack(drawer, "drawing", payload);
      assert.equal(reply.length, 1, `drawing ${JSON.stringify(payload)} answered ${JSON.stringify(reply)}`);
      assert.equal(typeof reply[0], "string");
    }
    assert.equal(typeof (await ack(drawer, "boardHistory", { lastId: "yesterday" }))[0], "string");
    await sleep(QUIET_MS);
    assert.deepEqual(viewer.received.drawing, [], "nothing refused was relayed");
    assert.deepEqual((await history(viewer)).entries, [], "nothing refused was stored");
    for (const name of ["", "a b", "x".repeat(65), "<script>", 7]) {
      const socket = io(URL_A, { transports: ["websocket"], forceNew: true, reconnection: false, auth: { board: name } });
      try {
        const error = await within(new Promise((resolve) => socket.once("connect_error", resolve)), `the refusal of board ${JSON.stringify(name)}`);
        assert.match(error.message, /board name/);
      } finally {
        socket.close();
      }
    }
  } finally {
    closeAll(drawer, viewer);
  }
});

test(`the stroke rate limit (${STROKE_RATE_COUNT} at once) refuses the excess with an error saying when to retry`, async () => {
  const board = freshRoom("rate");
  const drawer = await boardClient(URL_A, { board });
  try {
    const replies = await within(
      Promise.all(Array.from({ length: STROKE_RATE_COUNT + 20 }, () => ack(drawer, "drawing", segment()))),
      "the burst's acks",
      20_000,
    );
    const refused = replies.filter(([error]) => error !== null);
    assert.ok(refused.length >= 1, "a burst over the limit must be refused in part");
    assert.ok(refused.length <= 20 + 1, `only the excess is refused, ${refused.length} were`);
    assert.match(refused[0][0], /Too many strokes: at most \d+ per .*try again in/);
    const stored = (await history(drawer)).entries.length;
    assert.equal(stored, replies.length - refused.length, "exactly the accepted strokes are stored");
  } finally {
    closeAll(drawer);
  }
});

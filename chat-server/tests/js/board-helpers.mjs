// Whiteboard clients for the chat-server suites: one written like the socket.io whiteboard
// example's main.js, one like our /whiteboard page's connection, and acked strokes and history.
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { ack, connect, within } from "./helpers.mjs";

/**
 * A client written like the socket.io whiteboard example's main.js: plain io() (long-polling
 * first, then the WebSocket upgrade), `drawing` listened for and emitted with normalised
 * coordinates, no acks, no auth. `drawn` records what it would draw.
 */
export function exampleClient(url, options) {
  const socket = options === undefined ? io(url) : io(url, options);
  // The transport it opened with (the engine is created synchronously) and where it upgraded to.
  socket.firstTransport = socket.io.engine.transport.name;
  socket.io.engine.on("upgrade", (transport) => (socket.upgradedTo = transport.name));
  socket.drawn = [];
  socket.on("drawing", (data) => socket.drawn.push(data));
  return socket;
}

/** Our whiteboard page's connection: a named board (or none given), recording what arrives. */
export async function boardClient(url, auth) {
  const socket = await connect(url, auth === undefined ? {} : { auth });
  socket.received.drawing = [];
  socket.received.clearBoard = [];
  socket.on("drawing", (d) => socket.received.drawing.push(d));
  socket.on("clearBoard", (c) => socket.received.clearBoard.push(c));
  return socket;
}

export const connected = (socket) =>
  within(
    new Promise((resolve, reject) => {
      if (socket.connected) return resolve();
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    }),
    "the example client's connection",
  );

let n = 0;
/** A distinct valid segment (its x0 tells segments apart). */
export function segment(color = "red") {
  n = (n + 1) % 1000;
  return { x0: n / 1000, y0: 0.25, x1: n / 1000, y1: 0.75, color };
}

export const only = ({ x0, y0, x1, y1, color }) => ({ x0, y0, x1, y1, color });

export async function draw(socket, seg = segment()) {
  const [error, reply] = await ack(socket, "drawing", seg);
  assert.equal(error, null, `drawing ${JSON.stringify(seg)} refused: ${error}`);
  assert.match(reply.id, /^\d+-\d+$/);
  return { ...seg, color: seg.color.toLowerCase(), id: reply.id }; // colours are stored in lower case
}

export async function history(socket, lastId) {
  const [error, board] = await ack(socket, "boardHistory", lastId === undefined ? {} : { lastId });
  assert.equal(error, null, `boardHistory refused: ${error}`);
  return board;
}

/**
 * Drags across a `width` x `height` canvas as the example's main.js reports it: the pointer's
 * last position is remembered on mousedown; each mousemove (at most one per 10 ms) draws from
 * there to the new position and emits that segment divided by the canvas size; mouseup emits the
 * last one. `moves` pointer moves in a straight line, one every 12 ms. Returns what it emitted.
 */
export async function exampleDrag(socket, [fromX, fromY], [toX, toY], { width, height, color, moves = 20 }) {
  const emitted = [];
  let current = { x: fromX, y: fromY };
  let lastEmit = 0;
  const drawLine = (x0, y0, x1, y1) => {
    const data = { x0: x0 / width, y0: y0 / height, x1: x1 / width, y1: y1 / height, color };
    emitted.push(data);
    socket.emit("drawing", data);
  };
  for (let i = 1; i <= moves; i++) {
    await new Promise((resolve) => setTimeout(resolve, 12));
    const e = { x: fromX + ((toX - fromX) * i) / moves, y: fromY + ((toY - fromY) * i) / moves };
    const now = Date.now();
    if (now - lastEmit < 10) continue; // the example's throttle
    lastEmit = now;
    drawLine(current.x, current.y, e.x, e.y);
    current = e;
  }
  drawLine(current.x, current.y, toX, toY); // mouseup
  return emitted;
}

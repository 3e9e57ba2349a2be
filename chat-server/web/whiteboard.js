//! chat-server's whiteboard page: draw on a shared board, with the socket.io whiteboard
//! example's `drawing` events (normalised coordinates, so every window size shows the same
//! picture), plus what the example lacks: the board drawn so far on open and after a reconnect
//! (`boardHistory` with `lastId`; each stroke drawn once, however it arrives), `clearBoard`, and
//! the server's refusals shown to the user. Mouse, pen and touch through Pointer Events.
(function () {
  "use strict";

  const ACK_TIMEOUT_MS = 10000; // how long to wait for the server to answer
  const THROTTLE_MS = 10; // at most one segment per 10 ms while drawing, like the example
  const MAX_KEPT = 50000; // strokes kept to redraw after a resize
  const BOARD_NAME = /^[A-Za-z0-9._-]{1,64}$/; // the server's rule for board names
  const LINE_WIDTH = 2;

  const $ = (id) => document.getElementById(id);
  const ui = {
    title: $("board-title"),
    connection: $("connection"),
    connectionText: $("connection-text"),
    canvas: $("board"),
    error: $("board-error"),
    clear: $("clear"),
    switchForm: $("switch"),
    boardName: $("board-name"),
    colors: Array.from(document.querySelectorAll(".palette .color")),
  };
  const context = ui.canvas.getContext("2d");

  const requested = new URLSearchParams(window.location.search).get("board");
  const board = requested && BOARD_NAME.test(requested) ? requested : "default";
  if (requested && board !== requested) {
    ui.error.textContent = "A board name is 1 to 64 letters, digits, '-', '_' or '.'; showing the default board.";
  }
  ui.title.textContent = board === "default" ? "Whiteboard" : "Whiteboard · " + board;
  document.title = ui.title.textContent;
  ui.boardName.value = board === "default" ? "" : board;

  const socket = io("", { transports: ["websocket"], auth: { board } });

  let color = "black";
  let strokes = []; // what is on the canvas, oldest first: {x0, y0, x1, y1, color, id?}
  const seenIds = new Set(); // ids drawn (history, live and replay overlap)
  let lastId = null; // newest id seen, sent on reconnect to get only what was missed
  let syncing = false; // live events that race the history ack wait in `early`
  let early = [];

  // ---- ids ---------------------------------------------------------------------------------

  /** Ids look like "1700000000000-3"; returns -1, 0 or 1. */
  function compareIds(a, b) {
    const pa = /^(\d+)-(\d+)$/.exec(a);
    const pb = /^(\d+)-(\d+)$/.exec(b);
    if (!pa || !pb) return 0;
    const ms = Number(pa[1]) - Number(pb[1]);
    return Math.sign(ms !== 0 ? ms : Number(pa[2]) - Number(pb[2]));
  }

  function noteId(id) {
    seenIds.add(id);
    if (lastId === null || compareIds(id, lastId) > 0) lastId = id;
  }

  // ---- the canvas ----------------------------------------------------------------------------

  function drawSegment(s) {
    const w = ui.canvas.width;
    const h = ui.canvas.height;
    context.beginPath();
    context.moveTo(s.x0 * w, s.y0 * h);
    context.lineTo(s.x1 * w, s.y1 * h);
    context.strokeStyle = s.color;
    context.lineWidth = LINE_WIDTH * (window.devicePixelRatio || 1);
    context.lineCap = "round";
    context.stroke();
    context.closePath();
  }

  function redraw() {
    context.clearRect(0, 0, ui.canvas.width, ui.canvas.height);
    strokes.forEach(drawSegment);
    ui.canvas.dataset.strokes = String(strokes.length);
  }

  function keep(s) {
    strokes.push(s);
    if (strokes.length > MAX_KEPT) strokes = strokes.slice(-MAX_KEPT);
    drawSegment(s);
    ui.canvas.dataset.strokes = String(strokes.length);
  }

  function wipe() {
    strokes = [];
    seenIds.clear();
    redraw();
  }

  function fitCanvas() {
    const ratio = window.devicePixelRatio || 1;
    ui.canvas.width = Math.max(1, Math.round(ui.canvas.clientWidth * ratio));
    ui.canvas.height = Math.max(1, Math.round(ui.canvas.clientHeight * ratio));
    redraw();
  }

  /** Checks what the server sent before it touches the canvas. */
  function isSegment(d) {
    const unit = (v) => typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= 1;
    return d && unit(d.x0) && unit(d.y0) && unit(d.x1) && unit(d.y1) && typeof d.color === "string";
  }

  /** Applies a stroke or a clear once, however many times it arrives. */
  function apply(entry) {
    if (!entry || typeof entry.id !== "string") return;
    if (seenIds.has(entry.id)) return;
    if (entry.clear === true) {
      wipe();
      noteId(entry.id);
      return;
    }
    if (!isSegment(entry)) return;
    noteId(entry.id);
    keep({ x0: entry.x0, y0: entry.y0, x1: entry.x1, y1: entry.y1, color: entry.color, id: entry.id });
  }

  // ---- the connection ----------------------------------------------------------------------

  function setConnection(state, text) {
    ui.connection.dataset.state = state;
    ui.connectionText.textContent = text;
  }

  /** Acks carry errors as strings; anything else gets a generic, still useful, message. */
  function errorText(err) {
    return typeof err === "string" && err !== "" ? err : "The server reported an error. Please try again.";
  }

  /** Asks for the board (all of it, or what followed lastId) and draws it. */
  function sync() {
    syncing = true;
    early = [];
    const request = lastId === null ? {} : { lastId };
    socket.timeout(ACK_TIMEOUT_MS).emit("boardHistory", request, (timeoutErr, err, history) => {
      const raced = early;
      syncing = false;
      early = [];
      if (timeoutErr || err || !history || !Array.isArray(history.entries)) {
        if (timeoutErr && !socket.connected) return; // the next connection asks again
        ui.error.textContent = "Could not load the board (" + (timeoutErr ? "the server did not answer" : errorText(err)) + "). Reload the page.";
        raced.forEach(apply);
        return;
      }
      if (history.reset) wipe();
      history.entries.forEach(apply);
      // What arrived live during the request and is not already in the history.
      const newest = typeof history.lastId === "string" ? history.lastId : null;
      raced.filter((e) => newest === null || compareIds(e.id, newest) > 0).forEach(apply);
      ui.canvas.dataset.synced = "true";
    });
  }

  socket.on("connect", () => {
    setConnection("connected", "Connected");
    sync();
  });

  socket.on("disconnect", (reason) => {
    if (reason === "io server disconnect") {
      setConnection("reconnecting", "Server went away, reconnecting…");
      socket.connect();
    } else {
      setConnection("reconnecting", "Connection lost, reconnecting…");
    }
  });

  socket.on("connect_error", (err) => {
    if (socket.active) setConnection("reconnecting", "Cannot reach the server, reconnecting…");
    else setConnection("offline", "Refused by the server: " + err.message);
  });

  socket.on("drawing", (data) => {
    if (syncing) early.push(data);
    else apply(data);
  });

  socket.on("clearBoard", (data) => {
    const entry = { clear: true, id: data && data.id };
    if (syncing) early.push(entry);
    else apply(entry);
  });

  // ---- drawing -------------------------------------------------------------------------------

  /** Draws a segment here at once, then sends it; a refusal takes it off the canvas again. */
  function send(s) {
    keep(s);
    socket.timeout(ACK_TIMEOUT_MS).emit("drawing", { x0: s.x0, y0: s.y0, x1: s.x1, y1: s.y1, color: s.color }, (timeoutErr, err, reply) => {
      if (!timeoutErr && !err && reply && typeof reply.id === "string") {
        s.id = reply.id;
        noteId(reply.id);
        return;
      }
      if (timeoutErr) {
        ui.error.textContent = "The server did not confirm your drawing. Check the connection.";
        return;
      }
      ui.error.textContent = errorText(err);
      strokes = strokes.filter((kept) => kept !== s);
      redraw();
    });
  }

  let pen = null; // {x, y, at} while a pointer is down

  function position(event) {
    const rect = ui.canvas.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return {
      x: clamp((event.clientX - rect.left) / rect.width),
      y: clamp((event.clientY - rect.top) / rect.height),
    };
  }

  function lineTo(event, force) {
    if (!pen) return;
    const now = performance.now();
    if (!force && now - pen.at < THROTTLE_MS) return;
    const to = position(event);
    if (to.x !== pen.x || to.y !== pen.y || force) send({ x0: pen.x, y0: pen.y, x1: to.x, y1: to.y, color });
    pen = { x: to.x, y: to.y, at: now };
  }

  ui.canvas.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    event.preventDefault();
    ui.canvas.setPointerCapture(event.pointerId);
    const at = position(event);
    pen = { x: at.x, y: at.y, at: performance.now() };
    if (ui.error.textContent.startsWith("Too many strokes")) ui.error.textContent = "";
  });
  ui.canvas.addEventListener("pointermove", (event) => lineTo(event, false));
  ui.canvas.addEventListener("pointerup", (event) => {
    lineTo(event, true);
    pen = null;
  });
  ui.canvas.addEventListener("pointercancel", () => {
    pen = null;
  });

  ui.colors.forEach((button) => {
    button.addEventListener("click", () => {
      color = button.dataset.color;
      ui.colors.forEach((b) => b.setAttribute("aria-pressed", String(b === button)));
    });
  });

  ui.clear.addEventListener("click", () => {
    socket.timeout(ACK_TIMEOUT_MS).emit("clearBoard", (timeoutErr, err) => {
      if (!timeoutErr && !err) {
        ui.error.textContent = "";
        return;
      }
      ui.error.textContent = timeoutErr ? "The server did not confirm the clear. Try again." : errorText(err);
    });
  });

  ui.switchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const name = ui.boardName.value.trim();
    if (!BOARD_NAME.test(name)) {
      ui.error.textContent = "A board name is 1 to 64 letters, digits, '-', '_' or '.'.";
      return;
    }
    window.location.search = "?board=" + encodeURIComponent(name);
  });

  window.addEventListener("resize", fitCanvas);
  fitCanvas();
})();

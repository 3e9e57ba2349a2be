//! chat-server's page logic: sign in to a room, show history and live messages, send messages,
//! show the connection state, and catch up after a reconnect (`updateSocketId` with `lastId`).
//! Everything the server or other users send is rendered with textContent, never as HTML.
(function () {
  "use strict";

  const ACK_TIMEOUT_MS = 10000; // how long to wait for the server to answer signin/sendMessage
  const MAX_RENDERED = 500; // older list items are dropped so long sessions stay light
  const LIMITS = { user: 32, room: 64 }; // the server's limits, checked early for a clear message
  const REJOIN_FAILED = "Could not rejoin the room after reconnecting";

  const $ = (id) => document.getElementById(id);
  const ui = {
    title: $("room-title"),
    connection: $("connection"),
    connectionText: $("connection-text"),
    signin: $("signin"),
    name: $("name"),
    room: $("room"),
    signinError: $("signin-error"),
    chatroom: $("chatroom"),
    messages: $("messages"),
    chat: $("chat"),
    msg: $("msg"),
    chatError: $("chat-error"),
    leave: $("leave"),
  };

  // auth {chat: true}: a chat connection, never on a whiteboard (it gets no `drawing` events).
  const socket = io("", { transports: ["websocket"], auth: { chat: true } });

  let session = null; // {user, room} once signed in
  let signingIn = false; // live messages that race the signin ack wait in `early`
  let early = [];
  let lastId = null; // id of the newest message seen, sent on reconnect to get what we missed
  const seenIds = new Set(); // message ids already rendered (history, live and replay overlap)

  // ---- connection state -------------------------------------------------------------------

  /** state: "connecting" | "connected" | "reconnecting" | "offline" (CSS and tests key on it). */
  function setConnection(state, text) {
    ui.connection.dataset.state = state;
    ui.connectionText.textContent = text;
  }

  function showConnectionLost(text) {
    if (navigator.onLine === false) setConnection("offline", "Offline: waiting for the network…");
    else setConnection("reconnecting", text);
  }

  socket.on("connect", () => {
    setConnection("connected", "Connected");
    // A new socket (possibly on another server instance): re-register and fetch what we missed.
    if (session) {
      const payload = { user: session.user, room: session.room };
      if (lastId !== null) payload.lastId = lastId;
      socket.timeout(ACK_TIMEOUT_MS).emit("updateSocketId", payload, (timeoutErr, err) => {
        if (timeoutErr && !socket.connected) return; // the next connection re-registers anyway
        if (!timeoutErr && !err) {
          if (ui.chatError.textContent.startsWith(REJOIN_FAILED)) ui.chatError.textContent = "";
          return;
        }
        const why = timeoutErr ? "the server did not answer" : errorText(err);
        ui.chatError.textContent = REJOIN_FAILED + " (" + why + "). Leave and join again.";
      });
    }
  });

  socket.on("disconnect", (reason) => {
    if (reason === "io server disconnect") {
      // The server let us go on purpose (e.g. it is shutting down): go find another instance.
      showConnectionLost("Server went away, reconnecting…");
      socket.connect();
    } else if (reason === "io client disconnect") {
      setConnection("connecting", "Connecting…");
    } else {
      showConnectionLost("Connection lost, reconnecting…");
    }
  });

  socket.on("connect_error", (err) => {
    if (socket.active) showConnectionLost("Cannot reach the server, reconnecting…");
    else setConnection("offline", "Refused by the server: " + err.message);
  });

  socket.io.on("reconnect_attempt", (attempt) => {
    showConnectionLost("Reconnecting (attempt " + attempt + ")…");
  });

  window.addEventListener("offline", () => setConnection("offline", "Offline: waiting for the network…"));
  window.addEventListener("online", () => {
    if (!socket.connected) setConnection("reconnecting", "Back online, reconnecting…");
  });

  // ---- rendering --------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** Redis stream ids look like "1700000000000-3"; returns a<b, a>b as -1/1, or 0 if unknown. */
  function compareIds(a, b) {
    const pa = /^(\d+)-(\d+)$/.exec(a);
    const pb = /^(\d+)-(\d+)$/.exec(b);
    if (!pa || !pb) return 0;
    const ms = Number(pa[1]) - Number(pb[1]);
    const seq = ms !== 0 ? ms : Number(pa[2]) - Number(pb[2]);
    return Math.sign(seq);
  }

  /** Adds a list item, keeping messages in id order when a replay arrives late. */
  function addItem(li, id) {
    const list = ui.messages;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    let before = null;
    if (id !== undefined) {
      for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
        if (node.dataset.id === undefined) continue;
        if (compareIds(node.dataset.id, id) > 0) before = node;
        else break;
      }
    }
    list.insertBefore(li, before);
    while (list.childElementCount > MAX_RENDERED) list.firstElementChild.remove();
    if (atBottom) list.scrollTop = list.scrollHeight;
  }

  /** Renders {user, text, id?, ts?} once, however many times it arrives. */
  function showMessage(msg) {
    if (!msg || typeof msg.user !== "string" || typeof msg.text !== "string") return;
    let id;
    if (msg.id !== undefined && msg.id !== null) {
      id = String(msg.id);
      if (seenIds.has(id)) return;
      seenIds.add(id);
      if (lastId === null || compareIds(id, lastId) >= 0) lastId = id;
    }
    const li = el("li", session && msg.user === session.user ? "message mine" : "message");
    if (id !== undefined) li.dataset.id = id;
    li.append(el("span", "user", msg.user), document.createTextNode(": "), el("span", "text", msg.text));
    if (typeof msg.ts === "number" && Number.isFinite(msg.ts)) {
      const when = new Date(msg.ts);
      const time = el("time", "", when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
      time.dateTime = when.toISOString();
      li.prepend(time); // floats right; first in the flow so the text wraps around it
    }
    addItem(li, id);
  }

  function showNotice(text) {
    addItem(el("li", "notice", text));
  }

  /** Acks carry errors as strings; anything else gets a generic, still useful, message. */
  function errorText(err) {
    return typeof err === "string" && err !== "" ? err : "The server reported an error. Please try again.";
  }

  socket.on("message", (msg) => {
    if (signingIn) early.push(msg);
    else if (session) showMessage(msg);
  });

  socket.on("notification", (note) => {
    if (!session || !note) return;
    const text = typeof note.description === "string" ? note.description : note.title;
    if (typeof text === "string") showNotice(text);
  });

  // ---- sign in / leave ----------------------------------------------------------------------

  function enterRoom(user, room, history) {
    session = { user, room };
    ui.title.textContent = room;
    document.title = room + " · Chat";
    const messages = history && Array.isArray(history.messages) ? history.messages : [];
    messages.forEach(showMessage);
    early.forEach(showMessage);
    early = [];
    ui.signin.hidden = true;
    ui.chatroom.hidden = false;
    ui.msg.focus();
  }

  function leaveRoom() {
    session = null;
    lastId = null;
    seenIds.clear();
    ui.messages.replaceChildren();
    ui.chatError.textContent = "";
    ui.title.textContent = "Chat";
    document.title = "Chat";
    ui.chatroom.hidden = true;
    ui.signin.hidden = false;
    // The protocol has no "leave": a fresh socket is how a client leaves its room.
    socket.disconnect();
    socket.connect();
    ui.name.focus();
  }

  ui.signin.addEventListener("submit", (event) => {
    event.preventDefault();
    if (signingIn) return;
    const user = ui.name.value.trim();
    const room = ui.room.value.trim();
    if (!user || user.length > LIMITS.user) {
      ui.signinError.textContent = "Enter a name of 1 to " + LIMITS.user + " characters.";
      ui.name.focus();
      return;
    }
    if (!room || room.length > LIMITS.room) {
      ui.signinError.textContent = "Enter a room of 1 to " + LIMITS.room + " characters.";
      ui.room.focus();
      return;
    }
    ui.signinError.textContent = socket.connected ? "" : "Waiting for the connection…";
    signingIn = true;
    early = [];
    socket.timeout(ACK_TIMEOUT_MS).emit("signin", { user, room }, (timeoutErr, err, history) => {
      signingIn = false;
      if (timeoutErr) {
        early = [];
        ui.signinError.textContent = "The server did not answer. Check the connection and try again.";
      } else if (err) {
        early = [];
        ui.signinError.textContent = errorText(err);
      } else {
        ui.signinError.textContent = "";
        enterRoom(user, room, history);
      }
    });
  });

  ui.leave.addEventListener("click", leaveRoom);

  // A link such as /?room=standup fills in the room, so a room can be shared by URL.
  const sharedRoom = new URLSearchParams(window.location.search).get("room");
  if (sharedRoom) ui.room.value = sharedRoom.slice(0, LIMITS.room);

  // ---- sending --------------------------------------------------------------------------------

  ui.chat.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = ui.msg.value;
    if (!text.trim()) return;
    ui.msg.value = "";
    ui.chatError.textContent = "";
    socket.timeout(ACK_TIMEOUT_MS).emit("sendMessage", text, (timeoutErr, err) => {
      if (!timeoutErr && !err) return;
      ui.chatError.textContent = timeoutErr
        ? "The server did not confirm your message. Check the connection and send it again."
        : errorText(err);
      // Give the text back so it can be sent again, unless something new was typed meanwhile.
      if (ui.msg.value === "") ui.msg.value = text;
    });
  });
})();

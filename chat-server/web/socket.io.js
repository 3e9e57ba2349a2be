//! chat-server's own small Socket.IO browser client (served at /socket.io/socket.io.js).
//! Socket.IO protocol v5 over Engine.IO v4, WebSocket transport only, namespace "/" only,
//! written from the protocol specification. It offers the subset of the socket.io-client
//! API that the Cloud Run chat tutorial's page uses (see `io()` below), so that page
//! works unchanged against chat-server.
//!
//! Wire format, one WebSocket text frame per Engine.IO packet:
//!   server → `0{"sid","pingInterval","pingTimeout",...}`  Engine.IO open
//!   client → `40` or `40{auth}`                            Socket.IO CONNECT to "/"
//!   server → `40{"sid":"..."}`                             CONNECT ok (`44{...}` = refused)
//!   both   → `42["event",...args]`, `42<id>["event",...]`  EVENT (with an ack id)
//!   both   → `43<id>[...args]`                             ACK
//!   server → `2` ping, client → `3` pong                   (in EIO4 the server pings)
//!   both   → `41`                                          Socket.IO DISCONNECT
//!   server → `1`                                           Engine.IO close
//! Binary attachments (`45`/`46`) and long-polling are not supported.
(function (global) {
  "use strict";

  // Engine.IO v4 packet types (first character of a frame).
  const EIO_OPEN = "0";
  const EIO_CLOSE = "1";
  const EIO_PING = "2";
  const EIO_PONG = "3";
  const EIO_MESSAGE = "4";

  // Socket.IO v5 packet types (second character of a MESSAGE frame).
  const SIO_CONNECT = "0";
  const SIO_DISCONNECT = "1";
  const SIO_EVENT = "2";
  const SIO_ACK = "3";
  const SIO_CONNECT_ERROR = "4";

  // Event names the socket emits locally; socket.emit() refuses to send them.
  const RESERVED = ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];

  /** A minimal event emitter: on/once/off locally, `_fire` to call the listeners. */
  class Emitter {
    constructor() {
      this._listeners = new Map();
    }
    on(event, fn) {
      if (!this._listeners.has(event)) this._listeners.set(event, []);
      this._listeners.get(event).push(fn);
      return this;
    }
    once(event, fn) {
      const wrapper = (...args) => {
        this.off(event, wrapper);
        fn.apply(this, args);
      };
      wrapper.original = fn;
      return this.on(event, wrapper);
    }
    off(event, fn) {
      if (event === undefined) this._listeners.clear();
      else if (fn === undefined) this._listeners.delete(event);
      else {
        const list = (this._listeners.get(event) || []).filter((l) => l !== fn && l.original !== fn);
        this._listeners.set(event, list);
      }
      return this;
    }
    _fire(event, ...args) {
      // Copy first: a listener may add or remove listeners while we iterate.
      for (const fn of (this._listeners.get(event) || []).slice()) {
        try {
          fn.apply(this, args);
        } catch (err) {
          // One faulty listener must not break the connection logic; report it asynchronously.
          setTimeout(() => {
            throw err;
          });
        }
      }
    }
  }

  /** Parses `42<id>["ev",...]`-style Socket.IO text (without the leading Engine.IO "4"). */
  function decodeSocketPacket(text) {
    const type = text.charAt(0);
    let i = 1;
    let nsp = "/";
    if (/^\d+-/.test(text.slice(i))) {
      return { type, unsupported: "binary attachments" };
    }
    if (text.charAt(i) === "/") {
      const comma = text.indexOf(",", i);
      nsp = comma === -1 ? text.slice(i) : text.slice(i, comma);
      i = comma === -1 ? text.length : comma + 1;
    }
    let idDigits = "";
    while (i < text.length && text.charAt(i) >= "0" && text.charAt(i) <= "9") idDigits += text.charAt(i++);
    const id = idDigits === "" ? undefined : Number(idDigits);
    const data = i < text.length ? JSON.parse(text.slice(i)) : undefined;
    return { type, nsp, id, data };
  }

  /** The Engine.IO WebSocket URL for a page-relative or absolute base URL. */
  function engineUrl(base, path) {
    const url = new URL(base || "", global.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.pathname = path;
    url.search = "EIO=4&transport=websocket";
    url.hash = "";
    return url.toString();
  }

  /**
   * Manager (`socket.io`): owns the WebSocket, answers pings, detects dead connections and
   * reconnects with jittered exponential backoff. Events: open, close, error, ping,
   * reconnect_attempt(n), reconnect(n), reconnect_error(err).
   */
  class Manager extends Emitter {
    constructor(url, opts) {
      super();
      this.url = engineUrl(url, opts.path || "/socket.io/");
      this.opts = opts;
      this.reconnection = opts.reconnection !== false;
      this.reconnectionDelay = opts.reconnectionDelay ?? 1000;
      this.reconnectionDelayMax = opts.reconnectionDelayMax ?? 5000;
      this.randomizationFactor = opts.randomizationFactor ?? 0.5;
      this.connectTimeout = opts.timeout ?? 20000;
      this.readyState = "closed"; // closed | opening | open
      this.attempts = 0; // failed attempts since the last successful open
      this.reconnecting = false;
      this.skipReconnect = false; // set by a deliberate close (client or server disconnect)
      this.ws = null;
      this.timers = {};
      this.engineSid = undefined;
      this.onOffline = () => this._lost("transport close");
      if (global.addEventListener) global.addEventListener("offline", this.onOffline);
    }

    /** Opens the transport unless it is already open or opening. */
    open() {
      if (this.readyState !== "closed") return;
      this.skipReconnect = false;
      this.readyState = "opening";
      let ws;
      try {
        ws = new WebSocket(this.url);
      } catch (err) {
        this._openFailed(err);
        return;
      }
      this.ws = ws;
      this._setTimer("connect", this.connectTimeout, () => {
        this._openFailed(new Error("timeout"));
      });
      ws.onmessage = (ev) => this._onFrame(ev.data);
      ws.onerror = () => {
        if (this.readyState === "opening") this._openFailed(new Error("websocket error"));
      };
      ws.onclose = () => {
        if (this.readyState === "opening") this._openFailed(new Error("websocket error"));
        else this._lost("transport close");
      };
    }

    /** Sends one Engine.IO MESSAGE frame carrying Socket.IO text; false when not open. */
    send(socketText) {
      if (this.readyState !== "open") return false;
      this.ws.send(EIO_MESSAGE + socketText);
      return true;
    }

    /** Closes on purpose, giving the sockets `reason`; no automatic reconnection afterwards. */
    close(reason) {
      this.skipReconnect = true;
      this.reconnecting = false;
      this._clearTimer("reconnect");
      if (this.readyState === "open") this.ws.send(EIO_CLOSE);
      this._teardown(reason || "forced close");
    }

    _onFrame(frame) {
      if (typeof frame !== "string") return; // binary frames are not part of this protocol subset
      const type = frame.charAt(0);
      const body = frame.slice(1);
      if (type === EIO_OPEN) {
        let handshake;
        try {
          handshake = JSON.parse(body);
        } catch {
          this._openFailed(new Error("parse error"));
          return;
        }
        this.engineSid = handshake.sid;
        // Engine.IO's defaults, should a server leave them out of the handshake.
        this.pingInterval = Number(handshake.pingInterval) || 25000;
        this.pingTimeout = Number(handshake.pingTimeout) || 20000;
        this._clearTimer("connect");
        this.readyState = "open";
        this._armPingTimeout();
        const wasReconnecting = this.reconnecting;
        const attempts = this.attempts;
        this.reconnecting = false;
        this.attempts = 0;
        this._fire("open");
        if (wasReconnecting) this._fire("reconnect", attempts);
      } else if (type === EIO_PING) {
        this.ws.send(EIO_PONG);
        this._armPingTimeout();
        this._fire("ping");
      } else if (type === EIO_MESSAGE) {
        this._fire("packet", body);
      } else if (type === EIO_CLOSE) {
        this._lost("transport close");
      }
      // "3" (pong), "5" (upgrade) and "6" (noop) need no action over WebSocket.
    }

    /** A server that stops pinging for pingInterval + pingTimeout is gone. */
    _armPingTimeout() {
      this._setTimer("ping", this.pingInterval + this.pingTimeout, () => this._lost("ping timeout"));
    }

    _openFailed(err) {
      if (this.readyState !== "opening") return;
      this._teardown();
      this._fire("error", err);
      if (this.reconnecting) this._fire("reconnect_error", err);
      this._scheduleReconnect();
    }

    /** The open connection died: tell the sockets why, then try again. */
    _lost(reason) {
      if (this.readyState !== "open") return;
      this._teardown(reason);
      this._scheduleReconnect();
    }

    /**
     * Drops the WebSocket and timers, then fires "close" if it had been open. The state is
     * already "closed" when listeners run, so a "disconnect" handler may call connect().
     */
    _teardown(reason) {
      const wasOpen = this.readyState === "open";
      this.readyState = "closed";
      this._clearTimer("connect");
      this._clearTimer("ping");
      if (this.ws) {
        this.ws.onmessage = this.ws.onerror = this.ws.onclose = null;
        try {
          this.ws.close();
        } catch {
          // already closed
        }
        this.ws = null;
      }
      if (wasOpen) this._fire("close", reason);
    }

    _scheduleReconnect() {
      if (!this.reconnection || this.skipReconnect || this.timers.reconnect) return;
      this.reconnecting = true;
      const delay = this._backoff(this.attempts++);
      this._setTimer("reconnect", delay, () => {
        delete this.timers.reconnect;
        if (this.skipReconnect) return;
        this._fire("reconnect_attempt", this.attempts);
        this.open();
      });
    }

    /** reconnectionDelay × 2^attempt, ± randomizationFactor, capped at reconnectionDelayMax. */
    _backoff(attempt) {
      const base = this.reconnectionDelay * Math.pow(2, Math.min(attempt, 16));
      const jitter = (Math.random() * 2 - 1) * this.randomizationFactor * base;
      return Math.min(this.reconnectionDelayMax, Math.max(0, base + jitter));
    }

    _setTimer(name, ms, fn) {
      this._clearTimer(name);
      this.timers[name] = setTimeout(fn, ms);
    }

    _clearTimer(name) {
      clearTimeout(this.timers[name]);
      delete this.timers[name];
    }
  }

  /**
   * Socket: the namespace "/" on top of a Manager. Emits connect, disconnect(reason),
   * connect_error(err) and every server event. Emits made while disconnected are buffered
   * and sent once connected, as socket.io-client does.
   */
  class Socket extends Emitter {
    constructor(manager, opts) {
      super();
      this.io = manager;
      this.id = undefined;
      this.connected = false;
      this.disconnected = true;
      this.nextAckId = 0;
      this.acks = new Map(); // ack id → callback
      this.sendBuffer = []; // Socket.IO texts waiting for a connection
      this.active = false; // true while the socket is (re)connecting or connected on its own
      // Sent with CONNECT, as socket.io-client does (an object). A plain io() (no transports
      // option) sends {} when it has none: socket.io-client's plain io() connects over
      // long-polling first, which tells chat-server it is a default client (the whiteboard
      // example's page, on the default board); this client has no long-polling, so it says it
      // this way. With transports given (the chat tutorial's page) it sends none, like socket.io-client.
      this.auth = opts.auth ?? (opts.transports === undefined ? {} : undefined);
      manager.on("open", () => this.io.send(SIO_CONNECT + (this.auth ? JSON.stringify(this.auth) : "")));
      manager.on("packet", (text) => this._onPacket(text));
      manager.on("close", (reason) => this._onClose(reason));
      manager.on("error", (err) => {
        if (!this.connected) this._fire("connect_error", err);
      });
      if (opts.autoConnect !== false) this.connect();
    }

    /** Connects (or reconnects after disconnect()); a no-op while connected. */
    connect() {
      if (this.connected) return this;
      this.active = true;
      this.io.open();
      return this;
    }

    open() {
      return this.connect();
    }

    /** Disconnects on purpose; no automatic reconnection follows. */
    disconnect() {
      this.active = false;
      if (this.connected) this.io.send(SIO_DISCONNECT);
      this.io.close("io client disconnect");
      return this;
    }

    close() {
      return this.disconnect();
    }

    /**
     * socket.timeout(ms).emit(event, ...args, ack): the ack is error-first, called with an
     * Error when no acknowledgement arrives within ms or the connection drops after sending.
     */
    timeout(ms) {
      return { emit: (event, ...args) => this._send(event, args, ms) };
    }

    /** Sends an event; a trailing function argument is the acknowledgement callback. */
    emit(event, ...args) {
      return this._send(event, args, undefined);
    }

    _send(event, args, ackTimeout) {
      if (RESERVED.includes(event)) throw new Error(`"${event}" is a reserved event name`);
      let ack = typeof args[args.length - 1] === "function" ? args.pop() : undefined;
      let text = SIO_EVENT;
      if (ack) {
        const id = this.nextAckId++;
        text += id;
        if (ackTimeout !== undefined) ack = this._withTimeout(id, ack, ackTimeout);
        this.acks.set(id, ack);
      }
      text += JSON.stringify([event, ...args]);
      if (this.connected) this.io.send(text);
      else this.sendBuffer.push(text);
      return this;
    }

    /** Wraps an ack so it is error-first and fails after ms without an answer. */
    _withTimeout(id, ack, ms) {
      const timer = setTimeout(() => {
        this.acks.delete(id);
        this.sendBuffer = this.sendBuffer.filter((t) => !t.startsWith(SIO_EVENT + id + "["));
        ack(new Error("operation has timed out"));
      }, ms);
      const wrapped = (...args) => {
        clearTimeout(timer);
        ack(null, ...args);
      };
      wrapped.withError = (err) => {
        clearTimeout(timer);
        ack(err);
      };
      return wrapped;
    }

    _onPacket(text) {
      let packet;
      try {
        packet = decodeSocketPacket(text);
      } catch {
        this.io._lost("parse error");
        return;
      }
      if (packet.unsupported || packet.nsp !== "/") return;
      switch (packet.type) {
        case SIO_CONNECT:
          this.id = packet.data && packet.data.sid;
          this.connected = true;
          this.disconnected = false;
          this._fire("connect");
          this._flush();
          break;
        case SIO_CONNECT_ERROR: {
          // The server refused the namespace: like socket.io-client, do not retry by ourselves.
          const err = new Error((packet.data && packet.data.message) || "connect error");
          err.data = packet.data && packet.data.data;
          this.active = false;
          this.io.close();
          this._fire("connect_error", err);
          break;
        }
        case SIO_EVENT:
          if (Array.isArray(packet.data) && packet.data.length > 0) this._onEvent(packet);
          break;
        case SIO_ACK: {
          const ack = this.acks.get(packet.id);
          if (!ack) return;
          this.acks.delete(packet.id);
          ack.apply(this, Array.isArray(packet.data) ? packet.data : []);
          break;
        }
        case SIO_DISCONNECT:
          // The server disconnected us on purpose: no automatic reconnection (the page decides).
          this.active = false;
          this.io.close("io server disconnect");
          break;
      }
    }

    _onEvent(packet) {
      const [event, ...args] = packet.data;
      if (packet.id !== undefined) {
        // The server asked for an acknowledgement: hand the listener a callback that sends it.
        let sent = false;
        args.push((...ackArgs) => {
          if (sent) return;
          sent = true;
          this.io.send(SIO_ACK + packet.id + JSON.stringify(ackArgs));
        });
      }
      this._fire(event, ...args);
    }

    _flush() {
      const queued = this.sendBuffer;
      this.sendBuffer = [];
      for (const text of queued) this.io.send(text);
    }

    _onClose(reason) {
      if (!this.connected) return;
      this.connected = false;
      this.disconnected = true;
      this.id = undefined;
      // Acks of packets already sent can never arrive now; timed ones learn it at once.
      for (const [id, ack] of this.acks) {
        const buffered = this.sendBuffer.some((t) => t.startsWith(SIO_EVENT + id + "["));
        if (buffered) continue;
        this.acks.delete(id);
        if (ack.withError) ack.withError(new Error("socket has been disconnected"));
      }
      this._fire("disconnect", reason);
    }
  }

  /**
   * io(url?, opts?): connects to the Socket.IO server at url (default: this page's origin).
   * Options: path ("/socket.io/"), autoConnect (true), reconnection (true),
   * reconnectionDelay (1000), reconnectionDelayMax (5000), randomizationFactor (0.5),
   * timeout (20000 ms to open), auth (an object sent with every namespace connect; {} by default
   * when transports is not given). `transports` is accepted; only "websocket" is implemented.
   */
  function io(url, opts) {
    if (typeof url === "object" && url !== null) {
      opts = url;
      url = undefined;
    }
    opts = opts || {};
    return new Socket(new Manager(url, opts), opts);
  }

  io.connect = io;
  io.protocol = 5;
  io.Socket = Socket;
  io.Manager = Manager;
  global.io = io;
})(typeof window !== "undefined" ? window : globalThis);

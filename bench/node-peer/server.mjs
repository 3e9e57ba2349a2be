#!/usr/bin/env node
// The comparison peer for chat-bench: the Cloud Run tutorial's chat server in Node, built as the
// tutorial builds it (socket.io 4.7.2, @socket.io/redis-adapter over node-redis 4, users in a
// per-process map, each room's history one JSON blob in Redis, rewritten on every message and not
// awaited), so bench/run-benchmarks.sh can measure it beside chat-server with the same load.
// Two of the tutorial's bugs would make it unmeasurable and are fixed: the adapter's subscriber
// connects (cross-instance delivery), and an event without an ack callback is ignored (no crash).
// Settings: PORT (default 8080), REDISHOST (127.0.0.1), REDISPORT (6379). Serves /healthz, /readyz.
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";

const port = Number(process.env.PORT ?? 8080);
const redisUrl = `redis://${process.env.REDISHOST ?? "127.0.0.1"}:${process.env.REDISPORT ?? 6379}`;

const redis = createClient({ url: redisUrl });
const pub = redis.duplicate();
const sub = redis.duplicate();
for (const client of [redis, pub, sub]) client.on("error", (e) => console.error(`redis: ${e.message}`));
await Promise.all([redis.connect(), pub.connect(), sub.connect()]);

/** socket id → {user, room}, as the tutorial's users.js keeps it. */
const users = new Map();

async function getRoomFromCache(room) {
  if (!(await redis.exists(room))) return null;
  return JSON.parse(await redis.get(room));
}

async function addMessageToCache(room, message) {
  const history = (await getRoomFromCache(room)) ?? { room, messages: [] };
  history.messages.push(message);
  await redis.set(room, JSON.stringify(history));
}

const http = createServer((req, res) => {
  const ok = req.url === "/healthz" || req.url === "/readyz";
  res.writeHead(ok ? 200 : 404, { "content-type": "text/plain" });
  res.end(ok ? "ok\n" : "not found\n");
});
const io = new Server(http, { adapter: createAdapter(pub, sub) });

io.on("connection", (socket) => {
  socket.on("signin", async (payload, cb) => {
    if (typeof cb !== "function") return;
    try {
      const { user, room } = payload ?? {};
      users.set(socket.id, { user, room });
      socket.join(room);
      socket.in(room).emit("notification", { title: "Someone's here", description: `${user} just entered the room` });
      cb(null, await getRoomFromCache(room));
    } catch (err) {
      cb(String(err), null);
    }
  });

  socket.on("updateSocketId", (payload) => {
    const { user, room } = payload ?? {};
    users.set(socket.id, { user, room });
    socket.join(room);
  });

  socket.on("sendMessage", (text, cb) => {
    if (typeof cb !== "function") return;
    const session = users.get(socket.id);
    if (!session) return cb("User session not found.");
    const message = { user: session.user, text };
    io.in(session.room).emit("message", message);
    addMessageToCache(session.room, message).catch((e) => console.error(`history: ${e.message}`));
    cb();
  });

  socket.on("disconnect", () => {
    const session = users.get(socket.id);
    users.delete(socket.id);
    if (session) {
      io.in(session.room).emit("notification", { title: "Someone just left", description: `${session.user} just left the room` });
    }
  });
});

http.listen(port, () => console.log(`node peer listening on ${port}`));
// Like the tutorial, stop at once on SIGTERM (history writes still in flight are dropped).
process.on("SIGTERM", () => process.exit(0));

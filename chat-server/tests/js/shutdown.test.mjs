// SIGTERM: the instance stops accepting, closes its clients' transports (so socket.io-client
// reconnects, on Cloud Run to another instance) and exits 0 within 8 s. The user who does not
// come back is announced as gone by the surviving instance once the grace period ends.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import { URL_B, GRACE_MS, closeAll, connect, disconnected, freshRoom, noticeArrives, signin, sleep, within } from "./helpers.mjs";

const BIN = process.env.CHAT_SERVER_BIN;
const REDIS_PORT = process.env.CHAT_REDIS_PORT;

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });

async function startInstance() {
  const port = await freePort();
  const child = spawn(BIN, [], {
    env: { PATH: process.env.PATH, PORT: String(port), REDISHOST: "127.0.0.1", REDISPORT: REDIS_PORT, RECONNECT_GRACE: `${GRACE_MS}ms` },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.log = "";
  child.stdout.on("data", (d) => (child.log += d));
  child.stderr.on("data", (d) => (child.log += d));
  child.exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal, at: Date.now() })));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { child, url };
    } catch {}
    if (Date.now() > deadline) throw new Error(`chat-server did not start:\n${child.log}`);
    await sleep(50);
  }
}

test("SIGTERM closes client transports, exits 0 within 8 s, and the leave is announced elsewhere", async () => {
  assert.ok(BIN && REDIS_PORT, "CHAT_SERVER_BIN and CHAT_REDIS_PORT must be set");
  const { child, url } = await startInstance();
  const room = freshRoom("shutdown");
  const staying = await connect(URL_B);
  const leaving = await connect(url, { reconnection: true, reconnectionAttempts: 2, reconnectionDelay: 100 });
  try {
    await signin(staying, "stays", room);
    await signin(leaving, "leaves", room);
    await noticeArrives(staying, "leaves just entered the room");
    const reason = disconnected(leaving, 8000);
    const sentAt = Date.now();
    child.kill("SIGTERM");
    assert.equal(await reason, "transport close", "clients see a transport close, so socket.io-client reconnects");
    const exit = await within(child.exited, "chat-server to exit after SIGTERM", 8000);
    assert.equal(exit.code, 0, `exit status after SIGTERM:\n${child.log}`);
    assert.ok(exit.at - sentAt < 8000, `took ${exit.at - sentAt} ms`);
    assert.match(child.log, /"severity":"INFO"/);
    assert.match(child.log, /shutting down/);
    // The surviving instance announces the departure after the grace period.
    await noticeArrives(staying, "leaves just left the room", GRACE_MS + 5000);
  } finally {
    closeAll(staying, leaving);
    child.kill("SIGKILL");
  }
});

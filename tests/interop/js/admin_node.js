// A Node socket.io 4.8 server watched by the official admin UI's server side
// (@socket.io/admin-ui's instrument()), in a Redis cluster (@socket.io/redis-adapter), driven
// by Python tests of socketwire's admin UI (tests/interop/test_admin_cluster.py,
// tests/integration/test_admin_browser.py).
//
// Usage: node admin_node.js '<json args>'
//   args: {"redis": "redis://127.0.0.1:1234", "serverId": "node-1", "mode": "development"}
// The server listens on 127.0.0.1, port 0, with instrument({auth: false, serverId, mode}).
// Its clients (socket.io-client 4.8, of this same process) connect on command; a client
// joins the rooms in its auth ("rooms"), and its socket.data is the auth's "data".
//
// Output: one JSON object per line on stdout, each with an "event" field; the first is
//   {"event": "ready", "port": n}
// then:
//   {"event": "client_connect", "name": "a", "id": "<sid>"}
//   {"event": "client_ev", "name": "a", "ev": "x", "args": [...]}
//   {"event": "client_disconnect", "name": "a", "reason": "..."}
//   {"event": "ack", "id": n}        (a command was executed)
//   {"event": "fatal", "message": "..."}
//
// Input: one JSON command per line on stdin ("id" is echoed in the "ack" event):
//   {"cmd": "client", "name": "a", "nsp": "/", "rooms": [...], "data": {...}}
//        (acked once connected)
// End of stdin: close everything and exit 0.
"use strict";

const http = require("http");
const readline = require("readline");
const { Server } = require("socket.io");
const { io: connectClient } = require("socket.io-client");
const { createClient } = require("redis");
const { createAdapter } = require("@socket.io/redis-adapter");
const { instrument } = require("@socket.io/admin-ui");

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

process.on("uncaughtException", (e) => out({ event: "fatal", message: String(e && e.stack) }));
process.on("unhandledRejection", (e) => out({ event: "fatal", message: String(e && e.stack) }));

const args = JSON.parse(process.argv[2] || "{}");
const redisClients = [];
const clients = new Map();
let io;
let port;

async function redisClient() {
  const client = createClient({ url: args.redis });
  client.on("error", () => {});
  await client.connect();
  redisClients.push(client);
  return client;
}

function connect(cmd) {
  return new Promise((resolve, reject) => {
    const socket = connectClient(`http://127.0.0.1:${port}${cmd.nsp || "/"}`, {
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
      auth: { rooms: cmd.rooms || [], data: cmd.data || {} },
    });
    const name = cmd.name;
    socket.on("connect", () => {
      clients.set(name, socket);
      out({ event: "client_connect", name, id: socket.id });
      resolve();
    });
    socket.on("connect_error", reject);
    socket.onAny((ev, ...rest) => out({ event: "client_ev", name, ev, args: rest }));
    socket.on("disconnect", (reason) => out({ event: "client_disconnect", name, reason }));
  });
}

async function handle(cmd) {
  if (cmd.cmd === "client") {
    await connect(cmd);
  } else {
    throw new Error("unknown command " + cmd.cmd);
  }
  out({ event: "ack", id: cmd.id });
}

async function main() {
  const httpServer = http.createServer();
  io = new Server(httpServer, {
    adapter: createAdapter(await redisClient(), await redisClient()),
    cors: { origin: true, credentials: true },
  });
  for (const name of ["/"]) {
    io.of(name).on("connection", (socket) => {
      const auth = socket.handshake.auth || {};
      socket.join(auth.rooms || []);
      Object.assign(socket.data, auth.data || {});
    });
  }
  instrument(io, { auth: false, serverId: args.serverId, mode: args.mode || "development" });
  await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  port = httpServer.address().port;
  out({ event: "ready", port });

  const rl = readline.createInterface({ input: process.stdin });
  let chain = Promise.resolve();
  rl.on("line", (line) => {
    if (!line.trim()) return;
    const cmd = JSON.parse(line);
    chain = chain.then(() =>
      handle(cmd).catch((e) => out({ event: "fatal", message: String(e && e.stack) })),
    );
  });
  rl.on("close", async () => {
    await chain;
    for (const socket of clients.values()) socket.disconnect();
    io.close();
    await Promise.all(redisClients.map((c) => c.quit().catch(() => {})));
    process.exit(0);
  });
}

main().catch((e) => {
  out({ event: "fatal", message: String(e && e.stack) });
  process.exit(1);
});

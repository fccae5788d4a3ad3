// Node socket.io 4.8: the reference peer.
// Usage: node node_socketio.js --port N [--host H] [--redis URL]
// --redis joins a cluster (S6) through @socket.io/redis-adapter (classic pub/sub) and node-redis.
"use strict";
const { createServer } = require("node:http");
const { Server } = require("socket.io");

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

async function main() {
  const port = Number(option("--port"));
  const host = option("--host", "127.0.0.1");
  const redisUrl = option("--redis");
  const httpServer = createServer();
  const io = new Server(httpServer, { serveClient: false, maxHttpBufferSize: 1e7 });

  if (redisUrl) {
    const { createClient } = require("redis");
    const { createAdapter } = require("@socket.io/redis-adapter");
    const pubClient = createClient({ url: redisUrl });
    const subClient = pubClient.duplicate();
    await Promise.all([pubClient.connect(), subClient.connect()]);
    io.adapter(createAdapter(pubClient, subClient));
  }

  io.on("connection", (socket) => {
    // S1, S4 (text) and S5 (binary): acknowledge with the payload.
    socket.on("echo", (data, ack) => {
      if (typeof ack === "function") ack(data);
    });
    // S2: send the payload to every connected client (S6: of the cluster).
    socket.on("broadcast", (data) => {
      io.emit("bcast", data);
    });
  });

  httpServer.listen({ port, host, backlog: 4096 });
}

process.on("SIGTERM", () => process.exit(0));
main().catch((err) => {
  console.error(err);
  process.exit(1);
});

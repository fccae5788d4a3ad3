// Node socket.io 4.8 in N worker processes (S7): the Node answer to socketwire's --workers.
// Usage: node node_cluster.js --port N [--host H] [--workers N]
// The primary listens and hands each connection to a worker with @socket.io/sticky (which
// routes by session id, so polling needs no sticky load balancer); the workers form one
// cluster through the primary with @socket.io/cluster-adapter, as their READMEs set it up.
// It prints "listening on" once every worker is ready.
"use strict";
const cluster = require("node:cluster");
const { createServer } = require("node:http");

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const port = Number(option("--port"));
const host = option("--host", "127.0.0.1");
const workers = Number(option("--workers", "2"));

if (cluster.isPrimary) {
  const { setupMaster } = require("@socket.io/sticky");
  const { setupPrimary } = require("@socket.io/cluster-adapter");
  const httpServer = createServer();
  setupMaster(httpServer, { loadBalancingMethod: "least-connection" });
  setupPrimary();
  // Binary payloads cross the primary (as Buffers) only with advanced serialization.
  cluster.setupPrimary({ serialization: "advanced" });
  let ready = 0;
  cluster.on("message", (_worker, message) => {
    if (message === "ready" && ++ready === workers) {
      httpServer.listen({ port, host, backlog: 4096 }, () => {
        console.log(`listening on http://${host}:${port}/`);
      });
    }
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on("SIGTERM", () => {
    for (const worker of Object.values(cluster.workers)) worker.kill();
    process.exit(0);
  });
} else {
  const { Server } = require("socket.io");
  const { setupWorker } = require("@socket.io/sticky");
  const { createAdapter } = require("@socket.io/cluster-adapter");
  const httpServer = createServer();
  const io = new Server(httpServer, {
    serveClient: false,
    maxHttpBufferSize: 1e7,
    adapter: createAdapter(),
  });
  setupWorker(io);
  io.on("connection", (socket) => {
    socket.on("echo", (data, ack) => {
      if (typeof ack === "function") ack(data);
    });
    socket.on("broadcast", (data) => {
      io.emit("bcast", data);
    });
  });
  process.send("ready");
}

// Node socket.io 4.8: the reference peer. Usage: node node_socketio.js --port N [--host H]
"use strict";
const { createServer } = require("node:http");
const { Server } = require("socket.io");

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const port = Number(option("--port"));
const host = option("--host", "127.0.0.1");
const httpServer = createServer();
const io = new Server(httpServer, { serveClient: false, maxHttpBufferSize: 1e7 });

io.on("connection", (socket) => {
  // S1, S4 (text) and S5 (binary): acknowledge with the payload.
  socket.on("echo", (data, ack) => {
    if (typeof ack === "function") ack(data);
  });
  // S2: send the payload to every connected client.
  socket.on("broadcast", (data) => {
    io.emit("bcast", data);
  });
});

httpServer.listen({ port, host, backlog: 4096 });
process.on("SIGTERM", () => process.exit(0));

// The official engine.io server (6.6.12), driven by Python tests of socketwire's client.
//
// Usage: node eio_server.js '<json args>'
//   args: {
//     "path": "/engine.io/",
//     "tls": {"key": "<PEM file>", "cert": "<PEM file>"},  // optional: serve https/wss
//     "options": {...}          // engine.io Server options, passed as is (pingInterval,
//                               // pingTimeout, transports, maxHttpBufferSize, ...)
//   }
// Listens on 127.0.0.1, port 0. Echoes every message back to its sender.
//
// Output: one JSON object per line on stdout, each with an "event" field; the first is
//   {"event": "listening", "port": 12345}
// then:
//   {"event": "connection", "sid": "...", "transport": "polling", "query": {...},
//    "header": "<value of the X-Socketwire-Test request header, or null>"}
//   {"event": "message", "sid": "...", "binary": false, "data": "text"}
//   {"event": "message", "sid": "...", "binary": true, "data": "<base64>"}
//   {"event": "upgrade", "sid": "...", "transport": "websocket"}
//   {"event": "close", "sid": "...", "reason": "...", "description": "..."}
//   {"event": "ack", "id": n}                       (a command was executed)
//   {"event": "fatal", "message": "..."}            (a bug in the driver or its input)
//
// Input: one JSON command per line on stdin, each with a "cmd" field and an optional "id"
// echoed back in an "ack" event once the command has run:
//   {"cmd": "send", "data": "text"}                 (to every open socket)
//   {"cmd": "send", "binary": "<base64>"}
//   {"cmd": "close"}                                 (server-initiated close of every socket)
//   {"cmd": "stop_pinging"}                          (every socket stops its heartbeat)
//   {"cmd": "exit"}
// End of stdin means "exit".
"use strict";

const fs = require("fs");
const http = require("http");
const https = require("https");
const readline = require("readline");
const engine = require("engine.io");

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

let args;
try {
  args = JSON.parse(process.argv[2] || "{}");
} catch (e) {
  emit({ event: "fatal", message: "bad args: " + e.message });
  process.exit(2);
}

const httpServer = args.tls
  ? https.createServer({ key: fs.readFileSync(args.tls.key), cert: fs.readFileSync(args.tls.cert) })
  : http.createServer();
const server = new engine.Server(args.options || {});
server.attach(httpServer, { path: args.path || "/engine.io/" });

const sockets = new Map();

server.on("connection", (socket) => {
  sockets.set(socket.id, socket);
  emit({
    event: "connection",
    sid: socket.id,
    transport: socket.transport.name,
    query: socket.request._query,
    header: socket.request.headers["x-socketwire-test"] || null,
  });
  socket.on("message", (data) => {
    if (typeof data === "string") {
      emit({ event: "message", sid: socket.id, binary: false, data });
    } else {
      emit({
        event: "message",
        sid: socket.id,
        binary: true,
        data: Buffer.from(data).toString("base64"),
      });
    }
    socket.send(data);
  });
  socket.on("upgrade", (transport) =>
    emit({ event: "upgrade", sid: socket.id, transport: transport.name }),
  );
  socket.on("close", (reason, description) => {
    sockets.delete(socket.id);
    emit({
      event: "close",
      sid: socket.id,
      reason,
      description: description ? String(description.message || description) : null,
    });
  });
});

// socket.js: schedulePing() arms pingIntervalTimer, which sends a ping and arms
// pingTimeoutTimer; a pong refreshes pingIntervalTimer. Clearing both timers, nulling them
// (so a late pong's refresh() is a no-op) and disabling schedulePing stops the heartbeat
// for good: the server neither pings nor times the client out.
function stopPinging(socket) {
  clearTimeout(socket.pingIntervalTimer);
  clearTimeout(socket.pingTimeoutTimer);
  socket.pingIntervalTimer = null;
  socket.pingTimeoutTimer = null;
  socket.schedulePing = () => {};
}

function finish() {
  for (const socket of sockets.values()) socket.close();
  server.close();
  httpServer.close();
  setTimeout(() => process.exit(0), 50);
}

httpServer.listen(0, "127.0.0.1", () => {
  emit({ event: "listening", port: httpServer.address().port });
});

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    emit({ event: "fatal", message: "bad command: " + line });
    return;
  }
  switch (cmd.cmd) {
    case "send":
      for (const socket of sockets.values()) {
        socket.send(cmd.binary !== undefined ? Buffer.from(cmd.binary, "base64") : cmd.data);
      }
      break;
    case "close":
      for (const socket of sockets.values()) socket.close();
      break;
    case "stop_pinging":
      for (const socket of sockets.values()) stopPinging(socket);
      break;
    case "exit":
      finish();
      break;
    default:
      emit({ event: "fatal", message: "unknown command: " + cmd.cmd });
      return;
  }
  if (cmd.id !== undefined) emit({ event: "ack", id: cmd.id });
});
rl.on("close", finish);

// The "retry" scenarios of socket.io-client 4.8.4's own tests, run by the official client
// against any server; the Python tests decide what the results must be.
//
// Usage: node sio_retry.js '<json args>'
//   args: {
//     "url": "http://127.0.0.1:1234",
//     "scenario": "connect_emit" | "unacknowledged",
//     "event": "echo", "args": [null],      // what the scenario emits
//     "back": "ack"                          // unacknowledged: the event the server sends back
//   }
// Default transports (polling, then the upgrade to WebSocket).
//
// connect_emit ("should not emit a packet twice in the 'connect' handler"): retries 3; the
//   connect handler emits event(...args) once. When the first ACK packet arrives:
//   {"event": "acked", "sent": [...], "received": [...]}
//   sent: the data of every packet the engine created (packetCreate), received: every packet
//   it got ({"type", "data"}), in order; then the socket disconnects.
// unacknowledged ("should fail when the server does not acknowledge the packet"): retries 3,
//   ackTimeout 50 ms; emits event(...args) with a callback and counts the "back" events. When
//   the callback runs: {"event": "settled", "error": "<message>"|null, "args": [...],
//   "count": n}, then the socket disconnects and
//   {"event": "done", "sent": [...]}
// Problems: {"event": "fatal", "message": "..."}. The driver exits when stdin closes.
"use strict";

const readline = require("readline");
const { io } = require("socket.io-client");

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

let args;
try {
  args = JSON.parse(process.argv[2] || "{}");
} catch (e) {
  out({ event: "fatal", message: "bad args: " + e.message });
  process.exit(2);
}

const socket = io(args.url, {
  forceNew: true,
  retries: 3,
  ackTimeout: args.scenario === "unacknowledged" ? 50 : undefined,
});
const sent = [];
const received = [];
socket.io.engine.on("packetCreate", ({ data }) => sent.push(data));
socket.io.engine.on("packet", ({ type, data }) => received.push({ type, data: data ?? null }));

if (args.scenario === "connect_emit") {
  let acked = false;
  socket.io.engine.on("packet", ({ type, data }) => {
    if (!acked && type === "message" && typeof data === "string" && data[0] === "3") {
      acked = true;
      out({ event: "acked", sent: sent.slice(), received: received.slice() });
      socket.disconnect();
    }
  });
  socket.on("connect", () => {
    socket.emit(args.event, ...(args.args || []));
  });
} else if (args.scenario === "unacknowledged") {
  let count = 0;
  socket.on(args.back, () => {
    count++;
  });
  socket.emit(args.event, ...(args.args || []), (err, ...reply) => {
    out({ event: "settled", error: err ? err.message : null, args: reply, count });
    socket.disconnect();
    out({ event: "done", sent: sent.slice() });
  });
} else {
  out({ event: "fatal", message: "unknown scenario: " + args.scenario });
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("close", () => {
  socket.disconnect();
  setTimeout(() => process.exit(0), 20);
});

// Scenario runner for the official engine.io-client, driven by Python tests.
//
// Usage: node eio_client.js '<json args>'
//   args: {
//     "url": "http://127.0.0.1:1234",       // server origin
//     "path": "/engine.io/",                 // Engine.IO path
//     "transports": ["polling", "websocket"],
//     "upgrade": true,                        // probe and upgrade to WebSocket
//     "scenario": "default" | "ignore_pings", // ignore_pings: never answer server pings
//     "options": {...}                        // extra engine.io-client options, passed as is
//   }
//
// Output: one JSON object per line on stdout, each with an "event" field:
//   {"event": "open", "transport": "polling", "sid": "..."}
//   {"event": "handshake", "data": {...}}          (the open packet's payload)
//   {"event": "message", "binary": false, "data": "text"}
//   {"event": "message", "binary": true, "data": "<base64>"}
//   {"event": "ping"}                               (a server ping arrived)
//   {"event": "upgrading", "transport": "websocket"}
//   {"event": "upgrade", "transport": "websocket"}
//   {"event": "upgradeError", "message": "..."}
//   {"event": "error", "message": "...", "description": ..., "code": ...}
//   {"event": "close", "reason": "...", "description": {...}}
//   {"event": "ack", "id": n}                       (a command was executed)
//   {"event": "fatal", "message": "..."}            (a bug in the driver or its input)
//
// Input: one JSON command per line on stdin, each with a "cmd" field and an optional "id"
// echoed back in an "ack" event once the command has run:
//   {"cmd": "send", "data": "text"}
//   {"cmd": "send", "binary": "<base64>"}
//   {"cmd": "close"}                                 (client-initiated close)
//   {"cmd": "ignore_pings"}                          (stop answering pings from now on)
//   {"cmd": "exit"}                                  (close if needed and exit)
// End of stdin means "exit".
//
// Later suites (socket.io-client) copy this shape: args as JSON in argv, events out as JSON
// lines, commands in as JSON lines, nothing else on stdout.
"use strict";

const readline = require("readline");
const { Socket } = require("engine.io-client");

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// Reduce an error, a close description or a close event to plain JSON.
function describe(value) {
  if (value === undefined || value === null) return null;
  if (typeof value !== "object") return value;
  const out = {};
  if (value instanceof Error || value.message !== undefined) {
    out.message = String(value.message);
  }
  for (const key of ["type", "description", "code", "reason", "wasClean"]) {
    const v = value[key];
    if (v === undefined || v === null) continue;
    out[key] = typeof v === "object" ? describe(v) : v;
  }
  // ws CloseEvent and xhr objects hang off "context"; keep only what identifies them.
  if (value.context && typeof value.context === "object") {
    const ctx = {};
    for (const key of ["code", "reason", "wasClean", "status"]) {
      const v = value.context[key];
      if (v !== undefined && v !== null && typeof v !== "object") ctx[key] = v;
    }
    out.context = ctx;
  }
  return out;
}

let args;
try {
  args = JSON.parse(process.argv[2] || "{}");
} catch (e) {
  emit({ event: "fatal", message: "bad args: " + e.message });
  process.exit(2);
}

const options = Object.assign(
  {
    path: args.path || "/engine.io/",
    transports: args.transports || ["polling", "websocket"],
    upgrade: args.upgrade !== undefined ? args.upgrade : true,
  },
  args.options || {},
);

const socket = new Socket(args.url, options);
let ignorePings = args.scenario === "ignore_pings";
let closed = false;

// engine.io-client answers a server ping from Socket#_onPacket with
// this._sendPacket("pong"); dropping that call is exactly "a client that stops answering".
const originalSendPacket = socket._sendPacket.bind(socket);
socket._sendPacket = function (type, ...rest) {
  if (type === "pong" && ignorePings) return;
  return originalSendPacket(type, ...rest);
};

socket.on("open", () => {
  emit({ event: "open", transport: socket.transport.name, sid: socket.id });
});
socket.on("handshake", (data) => emit({ event: "handshake", data }));
socket.on("message", (data) => {
  if (typeof data === "string") {
    emit({ event: "message", binary: false, data });
  } else {
    emit({ event: "message", binary: true, data: Buffer.from(data).toString("base64") });
  }
});
socket.on("ping", () => emit({ event: "ping" }));
socket.on("upgrading", (t) => emit({ event: "upgrading", transport: t.name }));
socket.on("upgrade", (t) => emit({ event: "upgrade", transport: t.name }));
socket.on("upgradeError", (err) =>
  emit({ event: "upgradeError", message: String(err && err.message) }),
);
socket.on("error", (err) => {
  const d = describe(err);
  emit(Object.assign({ event: "error" }, typeof d === "object" && d ? d : { message: String(d) }));
});
socket.on("close", (reason, description) => {
  closed = true;
  emit({ event: "close", reason, description: describe(description) });
});

function finish() {
  if (!closed) socket.close();
  // Let the close packet or frame reach the server before leaving.
  setTimeout(() => process.exit(0), 50);
}

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
      if (cmd.binary !== undefined) {
        socket.send(Buffer.from(cmd.binary, "base64"));
      } else {
        socket.send(cmd.data);
      }
      break;
    case "close":
      socket.close();
      break;
    case "ignore_pings":
      ignorePings = true;
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

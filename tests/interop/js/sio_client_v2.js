// Scenario driver for the official socket.io-client 2.5.0 (Engine.IO v3, Socket.IO v4),
// installed as "socket.io-client-v2"; the same protocol as sio_client.js, where 2.x allows.
//
// Usage: node sio_client_v2.js '<json args>'
//   args: {
//     "url": "http://127.0.0.1:1234", "path": "/socket.io/",
//     "transports": ["polling", "websocket"], "upgrade": true,
//     "options": {...}     // extra Manager options, passed as is (forceJSONP, forceBase64...)
//   }
// One Manager (one Engine.IO connection) is shared by every socket the driver opens. The
// main namespace's socket is connected by the server without a CONNECT packet (v4).
//
// Values: JSON, where binary is {"$bin": "<base64>"} both ways.
//
// Output: one JSON object per line on stdout, each with an "event" field:
//   {"event": "connect", "name": "a", "id": "..."}
//   {"event": "connect_error", "name": "a", "data": ...}   (an ERROR packet: v4's refusal)
//   {"event": "disconnect", "name": "a", "reason": "..."}
//   {"event": "ev", "name": "a", "ev": "chat", "args": [...], "acked": true|false}
//   {"event": "ack_response", "name": "a", "ref": 1, "args": [...]}
//   {"event": "upgrade", "transport": "websocket"}
//   {"event": "engine_close", "reason": "..."}
//   {"event": "ack", "id": n} / {"event": "fatal", "message": "..."}
//
// Input: one JSON command per line on stdin:
//   {"cmd": "socket", "name": "a", "nsp": "/chat", "query": {...}}
//   {"cmd": "emit", "name": "a", "ev": "chat", "args": [...], "ref": 1}
//   {"cmd": "reply", "name": "a", "ev": "question", "args": [...]}
//   {"cmd": "disconnect", "name": "a"} / {"cmd": "engine_close"} / {"cmd": "exit"}
"use strict";

const readline = require("readline");
const { Manager } = require("socket.io-client-v2");
const { toJson, fromJson } = require("./values");

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

const manager = new Manager(
  args.url,
  Object.assign(
    {
      path: args.path || "/socket.io/",
      transports: args.transports || ["polling", "websocket"],
      upgrade: args.upgrade !== undefined ? args.upgrade : true,
      reconnection: false,
      // the first socket opens the connection (a "/" socket made later would miss the
      // server's implicit CONNECT)
      autoConnect: false,
    },
    args.options || {},
  ),
);
const sockets = new Map();
const replies = new Map(); // "name\0ev" -> args

manager.on("open", () => {
  const engine = manager.engine;
  engine.on("upgrade", (t) => emit({ event: "upgrade", transport: t.name }));
  engine.on("close", (reason) => emit({ event: "engine_close", reason }));
});

function makeSocket(cmd) {
  const opts = {};
  if (cmd.query !== undefined) opts.query = cmd.query;
  const socket = manager.socket(cmd.nsp || "/", opts);
  const name = cmd.name;
  socket.on("connect", () => emit({ event: "connect", name, id: socket.id }));
  // socket.io-client 2.x reports a refused namespace (an ERROR packet) as "error"
  socket.on("error", (data) => emit({ event: "connect_error", name, data: toJson(data) }));
  socket.on("disconnect", (reason) => emit({ event: "disconnect", name, reason }));
  // 2.x has no onAny: every incoming event goes through onevent
  socket.onevent = function (packet) {
    const data = (packet.data || []).slice();
    const ev = data.shift();
    const acked = packet.id != null;
    if (acked) {
      const reply = replies.get(name + "\0" + ev);
      if (reply !== undefined) this.ack(packet.id)(...fromJson(reply));
    }
    emit({ event: "ev", name, ev, args: toJson(data), acked });
  };
  sockets.set(name, socket);
  socket.open();
  return socket;
}

function finish() {
  manager.engine && manager.engine.close();
  for (const s of sockets.values()) s.disconnect();
  setTimeout(() => process.exit(0), 50);
}

function run(cmd) {
  const socket = cmd.name !== undefined ? sockets.get(cmd.name) : undefined;
  switch (cmd.cmd) {
    case "socket":
      makeSocket(cmd);
      break;
    case "emit": {
      const payload = fromJson(cmd.args || []);
      if (cmd.ref !== undefined) {
        socket.emit(cmd.ev, ...payload, (...res) => {
          emit({ event: "ack_response", name: cmd.name, ref: cmd.ref, args: toJson(res) });
        });
      } else {
        socket.emit(cmd.ev, ...payload);
      }
      break;
    }
    case "reply":
      replies.set(cmd.name + "\0" + cmd.ev, cmd.args || []);
      break;
    case "disconnect":
      socket.disconnect();
      break;
    case "engine_close":
      manager.engine.close();
      break;
    case "exit":
      finish();
      break;
    default:
      emit({ event: "fatal", message: "unknown command: " + cmd.cmd });
      return;
  }
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
  try {
    run(cmd);
  } catch (e) {
    emit({ event: "fatal", message: "command failed: " + e.stack });
    return;
  }
  if (cmd.id !== undefined) emit({ event: "ack", id: cmd.id });
});
rl.on("close", finish);

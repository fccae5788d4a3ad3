// Scenario driver for the official socket.io-client 4.8.4, driven by Python tests.
//
// Usage: node sio_client.js '<json args>'
//   args: {
//     "url": "http://127.0.0.1:1234",        // server origin
//     "path": "/socket.io/",
//     "transports": ["polling", "websocket"],
//     "upgrade": true,
//     "parser": "json" | "msgpack",           // msgpack: socket.io-msgpack-parser
//     "options": {...}                         // extra Manager options, passed as is
//   }
// One Manager (one Engine.IO connection) is shared by every socket the driver opens.
//
// Values: JSON, where binary is {"$bin": "<base64>"} both ways (Buffer/ArrayBuffer in JS).
//
// Output: one JSON object per line on stdout, each with an "event" field:
//   {"event": "connect", "name": "a", "id": "...", "recovered": false}
//   {"event": "connect_error", "name": "a", "message": "...", "data": ...,
//    "type": "TransportError" | null, "description": "..." | null}
//   {"event": "disconnect", "name": "a", "reason": "...", "description": ...}
//   {"event": "ev", "name": "a", "ev": "chat", "args": [...], "acked": true|false}
//        (acked: the server asked for an ack; the driver answers with the reply set by
//         "reply", or not at all when none is set)
//   {"event": "ack_response", "name": "a", "ref": 1, "args": [...]}
//   {"event": "ack_response", "name": "a", "ref": 1, "error": "operation has timed out"}
//   {"event": "upgrade", "transport": "websocket"}
//   {"event": "engine_close", "reason": "..."}
//   {"event": "manager", "name": "reconnect_attempt" | "reconnect_error" | "reconnect_failed"
//    | "reconnect" | "error", "arg": ..., "message": ..., "type": ...}
//   {"event": "ack", "id": n}                 (a command was executed)
//   {"event": "fatal", "message": "..."}
//
// Input: one JSON command per line on stdin ("id" is echoed back in an "ack" event):
//   {"cmd": "socket", "name": "a", "nsp": "/chat", "auth": {...}, "options": {...}}
//        (create and connect a socket; options: socket options such as retries)
//   {"cmd": "emit", "name": "a", "ev": "chat", "args": [...],
//        "ref": 1, "timeout": 500}   (ref: ask for an ack; timeout: socket.timeout(ms))
//   {"cmd": "volatile_emit", "name": "a", "ev": "x", "args": [...]}
//   {"cmd": "reply", "name": "a", "ev": "question", "args": [...]}   (auto-ack from now on)
//   {"cmd": "disconnect", "name": "a"} / {"cmd": "connect", "name": "a"}
//   {"cmd": "engine_close"}   (close the Engine.IO connection: "transport close" server-side)
//   {"cmd": "raw", "data": "..."}  (send a raw Engine.IO message)
//   {"cmd": "exit"}
// End of stdin means "exit".
"use strict";

const readline = require("readline");
const { Manager } = require("socket.io-client");
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

const managerOptions = Object.assign(
  {
    path: args.path || "/socket.io/",
    transports: args.transports || ["polling", "websocket"],
    upgrade: args.upgrade !== undefined ? args.upgrade : true,
    reconnection: false,
  },
  args.options || {},
);
if (args.parser === "msgpack") managerOptions.parser = require("socket.io-msgpack-parser");

const manager = new Manager(args.url, managerOptions);

function describe(value) {
  if (value === undefined || value === null) return null;
  if (typeof value === "object" && value.message !== undefined) return String(value.message);
  return String(value);
}

for (const name of ["reconnect_attempt", "reconnect_error", "reconnect_failed", "reconnect", "error"]) {
  manager.on(name, (arg) => {
    const record = { event: "manager", name };
    if (arg instanceof Error) {
      record.message = arg.message;
      record.type = arg.type || null;
    } else if (arg !== undefined) {
      record.arg = arg;
    }
    emit(record);
  });
}
const sockets = new Map();
const replies = new Map(); // "name\0ev" -> args

manager.on("open", () => {
  const engine = manager.engine;
  engine.on("upgrade", (t) => emit({ event: "upgrade", transport: t.name }));
  engine.on("close", (reason) => emit({ event: "engine_close", reason }));
});

function makeSocket(cmd) {
  const opts = Object.assign({}, cmd.options || {});
  if (cmd.auth !== undefined) opts.auth = cmd.auth;
  const socket = manager.socket(cmd.nsp || "/", opts);
  const name = cmd.name;
  socket.on("connect", () => emit({ event: "connect", name, id: socket.id, recovered: socket.recovered }));
  socket.on("connect_error", (err) =>
    emit({
      event: "connect_error",
      name,
      message: err.message,
      data: toJson(err.data),
      type: err.type || null,
      description: describe(err.description),
    }),
  );
  socket.on("disconnect", (reason, description) =>
    emit({ event: "disconnect", name, reason, description: description ? String(description.message || description) : null }),
  );
  socket.onAny((ev, ...rest) => {
    let acked = false;
    if (rest.length && typeof rest[rest.length - 1] === "function") {
      const ack = rest.pop();
      acked = true;
      const reply = replies.get(name + "\0" + ev);
      if (reply !== undefined) ack(...fromJson(reply));
    }
    emit({ event: "ev", name, ev, args: toJson(rest), acked });
  });
  sockets.set(name, socket);
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
      let target = socket;
      if (cmd.timeout !== undefined) target = socket.timeout(cmd.timeout);
      const payload = fromJson(cmd.args || []);
      if (cmd.ref !== undefined) {
        target.emit(cmd.ev, ...payload, (...res) => {
          if (cmd.timeout !== undefined) {
            const err = res.shift();
            if (err) {
              emit({ event: "ack_response", name: cmd.name, ref: cmd.ref, error: err.message });
              return;
            }
          }
          emit({ event: "ack_response", name: cmd.name, ref: cmd.ref, args: toJson(res) });
        });
      } else {
        target.emit(cmd.ev, ...payload);
      }
      break;
    }
    case "volatile_emit":
      socket.volatile.emit(cmd.ev, ...fromJson(cmd.args || []));
      break;
    case "reply":
      replies.set(cmd.name + "\0" + cmd.ev, cmd.args || []);
      break;
    case "disconnect":
      socket.disconnect();
      break;
    case "connect":
      socket.connect();
      break;
    case "engine_close":
      manager.engine.close();
      break;
    case "raw":
      manager.engine.write(cmd.data);
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

// Scenario server: the official socket.io 4.8.4, driven by Python tests of socketwire's client.
//
// Usage: node sio_server.js '<json args>'
//   args: {
//     "port": 0,                      // 0: any free port; a number: that port (restarts)
//     "parser": "json" | "msgpack",   // msgpack: socket.io-msgpack-parser
//     "recovery": false,              // connectionStateRecovery (skipMiddlewares: true)
//     "options": {...},               // extra Server options, passed as is (pingInterval,
//                                     // pingTimeout, transports, cookie, allowEIO3, ...)
//     "tls": {"key": "<PEM>", "cert": "<PEM>"}   // optional: serve HTTPS with these
//   }
// Listens on 127.0.0.1. Every namespace exists (dynamic namespace /^\/.*/), except that:
//   - a CONNECT to "/refuse" is refused by a middleware: message "refused", data
//     {"reason": "not allowed", "auth": <the auth sent>};
//   - a CONNECT whose auth has "refuse": true is refused the same way on any namespace.
//
// Values: JSON, where binary is {"$bin": "<base64>"} both ways.
//
// Output: one JSON object per line on stdout, each with an "event" field; the first is
//   {"event": "listening", "port": 12345}
// then:
//   {"event": "connection", "nsp": "/", "id": "...", "engine": "<engine sid>",
//    "auth": {...}, "query": {"room": <the "room" query parameter or null>},
//    "query_keys": [...], "headers": {...}, "handshake_transport": "polling"
//        (of the Engine.IO handshake request: the transport the connection began with)
//    "recovered": false, "transport": "polling", "protocol": 4}   (3: socket.io-client 2.x)
//   {"event": "message", "nsp": "/", "id": "...", "name": "ev", "args": [...], "acked": bool}
//        Every event from a client. An acked event is acked with its own arguments, unless
//        a "drop_acks" command asked to leave the next ones unanswered:
//   {"event": "dropped_ack", "nsp": "/", "name": "ev", "args": [...]}
//        Events named "emit_back" make the server emit args[0] with args[1:] to the sender;
//        events named "join" make the sender join the room args[0] (before the ack).
//   {"event": "disconnect", "nsp": "/", "id": "...", "reason": "..."}
//   {"event": "upgrade", "engine": "<engine sid>", "transport": "websocket"}
//   {"event": "client_ack", "ref": r, "args": [...]} / {"event": "client_ack", "ref": r,
//    "error": "..."}    (the answer to an "emit" command with "ref")
//   {"event": "ack", "id": n}           (a command was executed)
//   {"event": "fatal", "message": "..."}
//
// Input: one JSON command per line on stdin ("id" is echoed back in an "ack" event):
//   {"cmd": "emit", "nsp": "/", "event": "ev", "args": [...], "room": "r"}
//        broadcast to the namespace, or to a room of it (stored for connection state
//        recovery)
//   {"cmd": "emit", "nsp": "/", "to": "<socket id>", "event": "ev", "args": [...],
//    "ref": r, "timeout": ms}       (to one socket; with "ref": ask for an ack)
//   {"cmd": "disconnect", "nsp": "/", "to": "<socket id>"|null}   ("io server disconnect")
//   {"cmd": "close_transport", "nsp": "/", "to": "<socket id>"|null}   (socket.conn.close())
//   {"cmd": "raw", "nsp": "/", "to": "<socket id>", "data": "..."}
//        (write a raw Engine.IO message on the socket's connection: hostile input)
//   {"cmd": "drop_acks", "count": n}    (do not answer the next n acked events)
//   {"cmd": "exit"}
// End of stdin means "exit".
"use strict";

const http = require("http");
const https = require("https");
const readline = require("readline");
const { Server } = require("socket.io");
const { toJson, fromJson } = require("./values");

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

const options = Object.assign({}, args.options || {});
if (args.parser === "msgpack") options.parser = require("socket.io-msgpack-parser");
if (args.recovery) {
  options.connectionStateRecovery = { maxDisconnectionDuration: 60000, skipMiddlewares: true };
}
const httpServer = args.tls ? https.createServer(args.tls) : http.createServer();
const io = new Server(httpServer, options);
let dropAcks = 0;

io.engine.on("connection", (conn) => {
  conn.on("upgrade", (transport) => {
    out({ event: "upgrade", engine: conn.id, transport: transport.name });
  });
});

const namespaces = io.of(/^\/.*/);
function refuse(socket, next) {
  const auth = socket.handshake.auth || {};
  if (socket.nsp.name === "/refuse" || auth.refuse === true) {
    const err = new Error("refused");
    err.data = { reason: "not allowed", auth: toJson(auth) };
    return next(err);
  }
  next();
}
io.of("/").use(refuse);
namespaces.use(refuse);

function onConnection(socket) {
  out({
    event: "connection",
    nsp: socket.nsp.name,
    id: socket.id,
    engine: socket.conn.id,
    auth: toJson(socket.handshake.auth),
    query: { room: socket.handshake.query.room || null },
    query_keys: Object.keys(socket.handshake.query),
    handshake_transport: socket.handshake.query.transport,
    headers: socket.handshake.headers,
    recovered: socket.recovered,
    transport: socket.conn.transport.name,
    protocol: socket.conn.protocol,
  });
  socket.onAny((name, ...rest) => {
    const ack = typeof rest[rest.length - 1] === "function" ? rest.pop() : null;
    out({
      event: "message",
      nsp: socket.nsp.name,
      id: socket.id,
      name,
      args: toJson(rest),
      acked: ack !== null,
    });
    if (name === "emit_back" && rest.length > 0) {
      socket.emit(rest[0], ...rest.slice(1));
    }
    if (name === "join" && rest.length > 0) {
      socket.join(rest[0]);
    }
    if (ack) {
      if (dropAcks > 0) {
        dropAcks -= 1;
        out({ event: "dropped_ack", nsp: socket.nsp.name, name, args: toJson(rest) });
      } else {
        ack(...rest);
      }
    }
  });
  socket.on("disconnect", (reason) => {
    out({ event: "disconnect", nsp: socket.nsp.name, id: socket.id, reason });
  });
}
io.of("/").on("connection", onConnection);
namespaces.on("connection", onConnection);

function targets(cmd) {
  const nsp = io.of(cmd.nsp || "/");
  const all = [...nsp.sockets.values()];
  return cmd.to ? all.filter((s) => s.id === cmd.to) : all;
}

function run(cmd) {
  switch (cmd.cmd) {
    case "emit": {
      const payload = fromJson(cmd.args || []);
      if (!cmd.to) {
        const nsp = io.of(cmd.nsp || "/");
        (cmd.room ? nsp.to(cmd.room) : nsp).emit(cmd.event, ...payload);
        break;
      }
      for (const socket of targets(cmd)) {
        if (cmd.ref === undefined) {
          socket.emit(cmd.event, ...payload);
        } else {
          socket.timeout(cmd.timeout || 5000).emit(cmd.event, ...payload, (err, ...reply) => {
            if (err) out({ event: "client_ack", ref: cmd.ref, error: err.message });
            else out({ event: "client_ack", ref: cmd.ref, args: toJson(reply) });
          });
        }
      }
      break;
    }
    case "disconnect":
      for (const socket of targets(cmd)) socket.disconnect();
      break;
    case "close_transport":
      for (const socket of targets(cmd)) socket.conn.close();
      break;
    case "raw":
      for (const socket of targets(cmd)) socket.conn.write(cmd.data);
      break;
    case "drop_acks":
      dropAcks = cmd.count;
      break;
    case "exit":
      shutdown();
      return;
    default:
      throw new Error("unknown command " + cmd.cmd);
  }
  if (cmd.id !== undefined) out({ event: "ack", id: cmd.id });
}

function shutdown() {
  io.close();
  httpServer.close();
  setTimeout(() => process.exit(0), 200).unref();
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  try {
    run(JSON.parse(line));
  } catch (e) {
    out({ event: "fatal", message: String(e && e.stack ? e.stack : e) });
  }
});
rl.on("close", shutdown);

httpServer.listen(args.port || 0, "127.0.0.1", () => {
  out({ event: "listening", port: httpServer.address().port });
});

// A Node socket.io 4.8 server in a Redis or PostgreSQL cluster, driven by Python tests of the
// inter-node wire codecs (tests/interop/test_cluster_wire_vectors.py) and of mixed clusters
// (tests/interop/test_cluster_mixed.py, test_cluster_postgres_mixed.py).
//
// Usage: node cluster_capture.js '<json args>'
//   args: {
//     "redis": "redis://127.0.0.1:1234",
//     "postgres": "postgresql://postgres@127.0.0.1:5432/db",   (adapter "postgres")
//     "adapter": "classic" | "sharded" | "streams" | "postgres",
//     "options": {...},          // adapter options, passed as is
//     "recovery": false          // connectionStateRecovery (maxDisconnectionDuration 60 s)
//   }
// The server listens on 127.0.0.1, port 0, namespaces "/" and "/admin"; clients of this same
// process (socket.io-client 4.8, websocket only) connect to it on command. A client joins
// the rooms in its auth ("rooms") and its socket.data is the auth's "data". Every client
// answers every acknowledged event with "ack-<name>". The server answers a server-side emit
// with ack ("py-sse") with "node-pong".
//
// Values: JSON, where binary is {"$bin": "<base64>"} both ways.
//
// Output: one JSON object per line on stdout, each with an "event" field; the first is
//   {"event": "ready", "port": n, "uids": {"/": "<adapter uid>", "/admin": "..."}}
// then:
//   {"event": "client_connect", "name": "a", "id": "<sid>", "recovered": false}
//   {"event": "client_ev", "name": "a", "ev": "x", "args": [...]}
//   {"event": "client_disconnect", "name": "a", "reason": "..."}
//   {"event": "server_sse", "nsp": "/", "args": [...], "acked": bool}
//   {"event": "result", "ref": r, "value": ...} / {"event": "result", "ref": r, "error": "..."}
//   {"event": "ack", "id": n}        (a command was executed, or for async ones started)
//   {"event": "fatal", "message": "..."}
//
// Input: one JSON command per line on stdin ("id" is echoed in the "ack" event):
//   {"cmd": "client", "name": "a", "nsp": "/", "rooms": [...], "data": {...}}
//        (acked once connected)
//   {"cmd": "client_drop", "name": "a"}   (close its transport: "transport close")
//   {"cmd": "client_reconnect", "name": "a"}  (acked once reconnected)
//   {"cmd": "emit", "nsp": "/", "rooms": [], "except": [], "flags": ["volatile", ...],
//        "compress": false, "ev": "x", "args": [...]}
//   {"cmd": "emit_ack", "ref": r, "nsp", "rooms", "timeout": ms, "ev", "args"}  (result later)
//   {"cmd": "fetch", "ref": r, "nsp", "rooms", "except"}
//   {"cmd": "all_rooms", "ref": r, "nsp"}           (classic adapter only)
//   {"cmd": "server_count", "ref": r, "nsp"}
//   {"cmd": "sse", "nsp", "args": [ev, ...]}
//   {"cmd": "sse_ack", "ref": r, "nsp", "args": [ev, ...]}  (result later)
//   {"cmd": "join" | "leave", "nsp", "rooms", "except", "target": [...]}
//   {"cmd": "disconnect", "nsp", "rooms", "except", "close": bool}
//   {"cmd": "emitter_emit", "nsp", "rooms", "except", "flags": [...], "ev", "args"}
//   {"cmd": "emitter_sse", "nsp", "args": [ev, ...]}
//   {"cmd": "emitter_join" | "emitter_leave", "nsp", "rooms", "except", "target": [...]}
//   {"cmd": "emitter_disconnect", "nsp", "rooms", "except", "close": bool}
//   {"cmd": "close_adapter", "nsp"}   (the namespace's adapter closes: ADAPTER_CLOSE)
//   {"cmd": "exit_now"}   (exit 0 at once, closing nothing: a crash, as the cluster sees it)
// End of stdin: close everything and exit 0.
"use strict";

const http = require("http");
const readline = require("readline");
const { Server } = require("socket.io");
const { io: connectClient } = require("socket.io-client");
const { createClient } = require("redis");
const { toJson, fromJson } = require("./values");

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}


process.on("uncaughtException", (e) => out({ event: "fatal", message: String(e && e.stack) }));
process.on("unhandledRejection", (e) => out({ event: "fatal", message: String(e && e.stack) }));

let args;
try {
  args = JSON.parse(process.argv[2] || "{}");
} catch (e) {
  out({ event: "fatal", message: "bad args: " + e.message });
  process.exit(2);
}

const NSPS = ["/", "/admin"];
const redisClients = [];
let pgPool;
const clients = new Map();
let io;
let port;
let emitter;

async function redisClient() {
  const client = createClient({ url: args.redis });
  client.on("error", () => {}); // a test may stop Redis; the adapters log through debug
  await client.connect();
  redisClients.push(client);
  return client;
}

async function makeAdapter() {
  const options = args.options || {};
  if (args.adapter === "classic") {
    const { createAdapter } = require("@socket.io/redis-adapter");
    return createAdapter(await redisClient(), await redisClient(), options);
  }
  if (args.adapter === "sharded") {
    const { createShardedAdapter } = require("@socket.io/redis-adapter");
    return createShardedAdapter(await redisClient(), await redisClient(), options);
  }
  if (args.adapter === "streams") {
    const { createAdapter } = require("@socket.io/redis-streams-adapter");
    return createAdapter(await redisClient(), options);
  }
  if (args.adapter === "postgres") {
    const { Pool } = require("pg");
    const { createAdapter } = require("@socket.io/postgres-adapter");
    // The adapter keeps one connection for LISTEN and publishes on the others, each message
    // a pool.query: with several idle connections its notifications go out in any order,
    // and a test's "marker sent last" would not mean that everything before it arrived.
    // Three: one listens, one publishes (pg-pool reuses an idle connection before opening
    // another), and one spare for the LISTEN connection after it is killed, since the
    // adapter never releases the dead one and the pool still counts it.
    pgPool = new Pool({ connectionString: args.postgres, max: 3 });
    // A test may kill a connection. The adapter reconnects on the LISTEN client's "end", but
    // leaves its "error" unhandled, which would throw; an application must handle it.
    pgPool.on("error", () => {});
    pgPool.on("connect", (client) => client.on("error", () => {}));
    return createAdapter(pgPool, options);
  }
  throw new Error("unknown adapter " + args.adapter);
}

function setupNamespace(nsp) {
  nsp.on("connection", (socket) => {
    const auth = socket.handshake.auth || {};
    if (!socket.recovered) {
      socket.join(auth.rooms || []);
      socket.data = auth.data || {};
    }
  });
  nsp.on("py-sse", (...rest) => {
    let acked = false;
    if (rest.length && typeof rest[rest.length - 1] === "function") {
      acked = true;
      rest.pop()("node-pong");
    }
    out({ event: "server_sse", nsp: nsp.name, args: toJson(rest), acked });
  });
}

function operator(target, cmd) {
  let op = target;
  if (cmd.rooms && cmd.rooms.length) op = op.to(cmd.rooms);
  if (cmd.except && cmd.except.length) op = op.except(cmd.except);
  for (const flag of cmd.flags || []) op = op[flag];
  if (cmd.compress !== undefined) op = op.compress(cmd.compress);
  if (cmd.timeout !== undefined) op = op.timeout(cmd.timeout);
  return op;
}

function result(ref, promise) {
  promise.then(
    (value) => out({ event: "result", ref, value: toJson(value) }),
    (err) => out({ event: "result", ref, error: String(err && err.message ? err.message : err) }),
  );
}

function connect(cmd) {
  return new Promise((resolve, reject) => {
    const socket = connectClient(`http://127.0.0.1:${port}${cmd.nsp || "/"}`, {
      transports: ["websocket"],
      forceNew: true,
      reconnection: false,
      auth: { rooms: cmd.rooms || [], data: fromJson(cmd.data || {}) },
    });
    const name = cmd.name;
    socket.on("connect", () => {
      out({ event: "client_connect", name, id: socket.id, recovered: socket.recovered });
      resolve();
    });
    socket.on("connect_error", (err) => reject(err));
    socket.on("disconnect", (reason) => out({ event: "client_disconnect", name, reason }));
    socket.onAny((ev, ...rest) => {
      if (rest.length && typeof rest[rest.length - 1] === "function") rest.pop()("ack-" + name);
      out({ event: "client_ev", name, ev, args: toJson(rest) });
    });
    clients.set(name, socket);
  });
}

function reconnect(name) {
  const socket = clients.get(name);
  return new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
    socket.connect();
  });
}

async function run(cmd) {
  const nsp = io.of(cmd.nsp || "/");
  switch (cmd.cmd) {
    case "client":
      await connect(cmd);
      break;
    case "client_drop":
      clients.get(cmd.name).io.engine.close();
      break;
    case "client_reconnect":
      await reconnect(cmd.name);
      break;
    case "emit":
      operator(nsp, cmd).emit(cmd.ev, ...fromJson(cmd.args || []));
      break;
    case "emit_ack":
      result(cmd.ref, operator(nsp, cmd).emitWithAck(cmd.ev, ...fromJson(cmd.args || [])));
      break;
    case "fetch":
      result(
        cmd.ref,
        operator(nsp, cmd)
          .fetchSockets()
          .then((sockets) =>
            sockets.map((s) => ({ id: s.id, handshake: s.handshake, rooms: [...s.rooms], data: s.data })),
          ),
      );
      break;
    case "all_rooms":
      result(cmd.ref, nsp.adapter.allRooms().then((rooms) => [...rooms]));
      break;
    case "server_count":
      result(cmd.ref, nsp.adapter.serverCount());
      break;
    case "sse":
      nsp.serverSideEmit(...fromJson(cmd.args));
      break;
    case "sse_ack":
      result(cmd.ref, nsp.serverSideEmitWithAck(...fromJson(cmd.args)));
      break;
    case "join":
      operator(nsp, cmd).socketsJoin(cmd.target);
      break;
    case "leave":
      operator(nsp, cmd).socketsLeave(cmd.target);
      break;
    case "disconnect":
      operator(nsp, cmd).disconnectSockets(!!cmd.close);
      break;
    case "emitter_emit":
      operator(await emitterOf(cmd.nsp), cmd).emit(cmd.ev, ...fromJson(cmd.args || []));
      break;
    case "emitter_sse":
      (await emitterOf(cmd.nsp)).serverSideEmit(...fromJson(cmd.args));
      break;
    case "emitter_join":
      operator(await emitterOf(cmd.nsp), cmd).socketsJoin(cmd.target);
      break;
    case "emitter_leave":
      operator(await emitterOf(cmd.nsp), cmd).socketsLeave(cmd.target);
      break;
    case "emitter_disconnect":
      operator(await emitterOf(cmd.nsp), cmd).disconnectSockets(!!cmd.close);
      break;
    case "close_adapter":
      nsp.adapter.close();
      break;
    case "exit_now":
      setTimeout(() => process.exit(0), 50); // after the "ack" line
      break;
    default:
      throw new Error("unknown command " + cmd.cmd);
  }
}

async function emitterOf(name) {
  if (!emitter) {
    const { Emitter } = require("@socket.io/redis-emitter");
    emitter = new Emitter(await redisClient());
  }
  return emitter.of(name || "/");
}

async function shutdown() {
  for (const socket of clients.values()) socket.disconnect();
  const closing = new Promise((resolve) => (io ? io.close(() => resolve()) : resolve()));
  await Promise.race([closing, new Promise((r) => setTimeout(r, 1000))]);
  for (const client of redisClients) {
    try {
      await Promise.race([client.disconnect(), new Promise((r) => setTimeout(r, 500))]);
    } catch (e) {
      // already closed
    }
  }
  if (pgPool) {
    await Promise.race([pgPool.end().catch(() => {}), new Promise((r) => setTimeout(r, 500))]);
  }
  // The streams adapter's reader may sit in a blocking XREAD: do not wait for it.
  process.exit(0);
}

async function main() {
  const httpServer = http.createServer();
  const serverOptions = { adapter: await makeAdapter() };
  if (args.recovery) {
    serverOptions.connectionStateRecovery = { maxDisconnectionDuration: 60000 };
  }
  io = new Server(httpServer, serverOptions);
  const uids = {};
  for (const name of NSPS) {
    setupNamespace(io.of(name));
    uids[name] = io.of(name).adapter.uid;
  }
  await new Promise((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  port = httpServer.address().port;
  if (args.adapter === "postgres") {
    // Ready once the adapter LISTENs (its PubSubClient sets .client then): a node that
    // announces itself earlier would miss the answers (Node's own start-up race).
    const pubsub = io.of("/").adapter.client;
    while (!pubsub.client) await new Promise((r) => setTimeout(r, 10));
  }
  out({ event: "ready", port, uids });

  const rl = readline.createInterface({ input: process.stdin });
  let chain = Promise.resolve();
  rl.on("line", (line) => {
    if (!line.trim()) return;
    chain = chain.then(async () => {
      let cmd;
      try {
        cmd = JSON.parse(line);
        await run(cmd);
        out({ event: "ack", id: cmd.id });
      } catch (e) {
        out({ event: "fatal", message: String(e && e.stack ? e.stack : e), line });
      }
    });
  });
  rl.on("close", () => chain.then(shutdown));
}

main().catch((e) => {
  out({ event: "fatal", message: String(e && e.stack) });
  process.exit(1);
});

// The load generator of bench/: connects clients to one server, drives one scenario, and
// reports on stdout as JSON lines (see bench/README.md, "Generator protocol").
//
//   node loadgen.js '<config JSON>'
//
// config: { mode: "echo" | "broadcast" | "idle", urls: ["http://127.0.0.1:PORT", ...],
//           client: "lite" | "sio" | "raw", transport: "websocket" | "polling",
//           clients, payload: { kind: "text" | "binary", bytes }, warmup_s, duration_s,
//           depth (broadcast rounds in flight), warm_clients (idle), concurrency (connects in
//           flight), timeout_s, keep_alive (polling: false for a new TCP connection per
//           request; default true) }
//
// Events printed (one JSON object a line):
//   {"event":"connected", ...}          every client joined the main namespace (echo, broadcast)
//   {"event":"mark","name":"start"}     the measured window opens (counters were just reset)
//   {"event":"mark","name":"end"}       it closes; the load stops right after
//   {"event":"result", ...}             what the window measured
//   {"event":"mark","name":"warm"}      idle: the first warm_clients are connected; the
//                                       generator then waits for a line on stdin
//   {"event":"idle", ...}               idle: all clients connected; waits for a line on stdin
//   {"event":"error","message":...}     then exit code 1
//
// Client kinds: "lite" speaks Engine.IO 4 / Socket.IO 5 over a bare `ws` WebSocket with the
// least work a correct client can do (so the generator is not the bottleneck): it checks the
// first acknowledgement and the first broadcast of every client in full, then only the packet
// type. "sio" is the official socket.io-client. Both can poll ("lite" then long-polls over
// keep-alive HTTP, or with `keep_alive: false` over a new TCP connection per request). "raw"
// is for the raw WebSocket floor: the same bytes as "lite" sends, no Engine.IO or Socket.IO
// handshake; it checks the size of the first echo.
//
// Results: echo gives round trips, p50/p99 latency (send to acknowledgement); polling adds
// tcp_connects (TCP connections opened in the window) and open_fds (the generator's file
// descriptors at its end). Broadcast gives deliveries and p50/p99 delivery latency: from the
// moment client 0 sends the `broadcast` event of a round to each client's receipt of that
// round's `bcast` (one process, one clock; a client receives the rounds in order, so its k-th
// `bcast` belongs to the k-th round), over the deliveries received in the window.
"use strict";

const fs = require("node:fs");
const http = require("node:http");
const WebSocket = require("ws");
const readline = require("node:readline");

const config = JSON.parse(process.argv[2]);
const now = () => Number(process.hrtime.bigint()) / 1e3; // microseconds

function emit(event, fields = {}) {
  // stdout is a pipe: writes are synchronous on Linux, so the line leaves before the next tick.
  process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
}

function fail(message) {
  emit("error", { message: String(message) });
  process.exit(1);
}

function makePayload(spec) {
  if (spec.kind === "binary") return Buffer.alloc(spec.bytes, 0x61);
  return "x".repeat(spec.bytes);
}

function wsUrl(base) {
  return base.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket";
}

const BIN_PLACEHOLDER = '{"_placeholder":true,"num":0}';

// --- the lite client: Engine.IO 4 + Socket.IO 5 over a bare WebSocket --------------------

class LiteClient {
  constructor(base, raw) {
    this.raw = raw;
    this.url = raw ? base.replace(/^http/, "ws") + "/" : wsUrl(base);
    this.nextId = 0;
    this.pendingAck = null; // callback of the one echo in flight
    this.verified = false;
    this.expectBinaryAck = false;
    this.onEvent = null; // called for every event packet ("42...") received
  }

  connect(timeoutMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("connect timeout")), timeoutMs);
      const ws = new WebSocket(this.url, { perMessageDeflate: false, skipUTF8Validation: true });
      this.ws = ws;
      let state = this.raw ? "ready" : "open";
      ws.on("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      ws.on("close", () => {
        if (!this.closing && state === "ready") fail("server closed a connection");
      });
      if (this.raw) {
        ws.on("open", () => {
          clearTimeout(timer);
          resolve();
        });
      }
      ws.on("message", (data, isBinary) => {
        if (state === "ready") return this.receive(data, isBinary);
        const text = data.toString();
        if (state === "open" && text[0] === "0") {
          state = "connecting";
          ws.send("40");
        } else if (state === "connecting" && text.startsWith("40")) {
          state = "ready";
          clearTimeout(timer);
          resolve();
        } else if (text.startsWith("44")) {
          reject(new Error("connect_error: " + text));
        }
      });
    });
  }

  receive(data, isBinary) {
    if (this.raw) {
      // The floor echoes verbatim and broadcasts verbatim: any message is the answer.
      if (this.pendingAck !== null) {
        if (!this.verified) {
          const got = data.length;
          if (got !== this.sentBytes) fail(`echo of ${got} B, sent ${this.sentBytes} B`);
          this.verified = true;
        }
        const cb = this.pendingAck;
        this.pendingAck = null;
        cb(data);
      } else if (this.onEvent !== null) {
        if (!this.eventVerified) this.verifyEvent(data.toString(), '42["broadcast",');
        this.onEvent();
      }
      return;
    }
    if (isBinary) {
      if (this.expectBinaryAck) {
        this.expectBinaryAck = false;
        const cb = this.pendingAck;
        this.pendingAck = null;
        cb(data);
      }
      return;
    }
    const a = data[0];
    const b = data[1];
    if (a === 0x32 /* "2" ping */) return this.ws.send("3");
    if (a !== 0x34 /* "4" message */) return;
    if (b === 0x32 /* "2" EVENT */) {
      if (this.onEvent !== null) {
        if (!this.eventVerified) this.verifyEvent(data.toString(), '42["bcast",');
        this.onEvent();
      }
    } else if (b === 0x33 /* "3" ACK */ || b === 0x36 /* "6" BINARY_ACK */) {
      if (!this.verified) this.verifyAck(data.toString(), b === 0x36);
      if (b === 0x36) this.expectBinaryAck = true;
      else {
        const cb = this.pendingAck;
        this.pendingAck = null;
        cb(data);
      }
    } else if (b === 0x31 || b === 0x34) fail("disconnected by the server: " + data.toString());
  }

  verifyEvent(text, prefix) {
    if (!text.startsWith(prefix)) fail(`unexpected event ${text.slice(0, 80)} (wanted ${prefix})`);
    this.eventVerified = true;
  }

  verifyAck(text, binary) {
    const id = String(this.nextId - 1);
    const prefix = binary ? "461-" + id : "43" + id;
    if (!text.startsWith(prefix)) fail(`unexpected ack ${text.slice(0, 80)} (wanted ${prefix})`);
    const args = JSON.parse(text.slice(prefix.length));
    const want = binary ? [JSON.parse(BIN_PLACEHOLDER)] : [this.payloadCheck];
    if (JSON.stringify(args) !== JSON.stringify(want)) fail(`ack carried ${text.slice(0, 80)}`);
    this.verified = true;
  }

  echo(payload, cb) {
    this.pendingAck = cb;
    const id = this.nextId++;
    if (this.raw && !this.verified) {
      this.sentBytes = Buffer.isBuffer(payload)
        ? payload.length
        : Buffer.byteLength(`42${id}["echo",${JSON.stringify(payload)}]`);
    }
    if (Buffer.isBuffer(payload)) {
      if (this.raw) return this.ws.send(payload, { binary: true });
      this.ws.send(`451-${id}["echo",${BIN_PLACEHOLDER}]`);
      this.ws.send(payload, { binary: true });
    } else {
      if (!this.verified) this.payloadCheck = payload;
      this.ws.send(`42${id}["echo",${JSON.stringify(payload)}]`);
    }
  }

  broadcast(payload) {
    this.ws.send(`42["broadcast",${JSON.stringify(payload)}]`);
  }

  close() {
    this.closing = true;
    this.ws.terminate();
  }
}

// --- the lite polling client: Engine.IO 4 long-polling over HTTP ------------------------
//
// What a browser does: one long-poll GET outstanding, one POST at most beside it (what is
// sent meanwhile waits and leaves in the next POST, packets joined by the record separator,
// as the official client does: Engine.IO servers refuse overlapping POSTs), on kept-alive
// connections: one socket for the GETs, one for the POSTs. Without keep-alive every request
// opens a new TCP connection (as the official client in Node does, which makes it, not the
// server, the bottleneck of S4) and asks the server to close it after its response
// (`Connection: close`), so the server's side holds the TIME_WAIT, not our ports.

// TCP connections the polling clients opened (reset when the window opens).
let tcpConnects = 0;

class LitePollingClient {
  constructor(base, keepAlive) {
    const url = new URL(base);
    this.host = url.hostname;
    this.port = Number(url.port);
    this.keepAlive = keepAlive;
    this.agent = new http.Agent({ keepAlive, maxSockets: 2 });
    this.path = "/socket.io/?EIO=4&transport=polling";
    this.nextId = 0;
    this.pendingAck = null;
    this.onEvent = null;
    this.verified = false;
    this.closing = false;
    this.outbox = []; // packets waiting for the POST in flight to end
    this.posting = false;
  }

  request(method, body) {
    const headers = {};
    if (body !== undefined) headers["content-type"] = "text/plain;charset=UTF-8";
    if (!this.keepAlive) headers.connection = "close";
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: this.host,
          port: this.port,
          method,
          path: this.sid ? `${this.path}&sid=${this.sid}` : this.path,
          agent: this.agent,
          headers,
        },
        (res) => {
          if (!req.reusedSocket) tcpConnects++;
          const chunks = [];
          res.on("data", (chunk) => chunks.push(chunk));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString();
            if (res.statusCode !== 200) reject(new Error(`${method} ${res.statusCode}: ${text}`));
            else resolve(text);
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  post(text) {
    this.outbox.push(text);
    if (!this.posting) this.flush();
  }

  flush() {
    const body = this.outbox.join("\x1e");
    this.outbox = [];
    this.posting = true;
    this.request("POST", body).then(
      () => {
        this.posting = false;
        if (this.outbox.length && !this.closing) this.flush();
      },
      (err) => this.closing || fail(err),
    );
  }

  async connect(timeoutMs) {
    const timer = setTimeout(() => fail("polling connect timeout"), timeoutMs);
    const open = await this.request("GET");
    if (open[0] !== "0") throw new Error("unexpected handshake " + open.slice(0, 80));
    this.sid = JSON.parse(open.split("\x1e")[0].slice(1)).sid;
    await new Promise((resolve, reject) => {
      this.onConnect = resolve;
      this.onConnectError = reject;
      this.post("40");
      this.poll();
    });
    clearTimeout(timer);
  }

  async poll() {
    while (!this.closing) {
      let payload;
      try {
        payload = await this.request("GET");
      } catch (err) {
        if (!this.closing) fail(err);
        return;
      }
      for (const packet of payload.split("\x1e")) this.handle(packet);
    }
  }

  handle(packet) {
    if (packet === "2") return this.post("3");
    if (packet[0] === "1") return this.closing || fail("the server closed the session");
    if (packet[0] !== "4") return;
    const type = packet[1];
    if (type === "0") this.onConnect();
    else if (type === "4") this.onConnectError(new Error("connect_error: " + packet));
    else if (type === "2") {
      if (this.onEvent !== null) this.onEvent();
    } else if (type === "3") {
      if (!this.verified) {
        const prefix = "43" + String(this.nextId - 1);
        if (!packet.startsWith(prefix)) fail(`unexpected ack ${packet.slice(0, 80)}`);
        const args = JSON.parse(packet.slice(prefix.length));
        if (args.length !== 1 || args[0] !== this.payloadCheck) fail("ack lost the payload");
        this.verified = true;
      }
      const cb = this.pendingAck;
      this.pendingAck = null;
      cb(packet);
    } else if (type === "1") fail("disconnected by the server");
  }

  echo(payload, cb) {
    if (Buffer.isBuffer(payload)) fail("the lite polling client sends text only");
    this.pendingAck = cb;
    if (!this.verified) this.payloadCheck = payload;
    this.post(`42${this.nextId++}["echo",${JSON.stringify(payload)}]`);
  }

  broadcast(payload) {
    this.post(`42["broadcast",${JSON.stringify(payload)}]`);
  }

  close() {
    this.closing = true;
    this.agent.destroy();
  }
}

// --- the official client ----------------------------------------------------------------

class SioClient {
  constructor(base, transport) {
    this.base = base;
    this.transport = transport;
    this.onEvent = null;
  }

  connect(timeoutMs) {
    const { io } = require("socket.io-client");
    return new Promise((resolve, reject) => {
      this.socket = io(this.base, {
        transports: [this.transport],
        forceNew: true,
        reconnection: false,
        timeout: timeoutMs,
        perMessageDeflate: false,
      });
      this.socket.once("connect", resolve);
      this.socket.once("connect_error", reject);
      this.socket.on("bcast", () => {
        if (this.onEvent !== null) this.onEvent();
      });
      this.socket.on("disconnect", (reason) => {
        if (!this.closing) fail("disconnected: " + reason);
      });
    });
  }

  echo(payload, cb) {
    this.socket.emit("echo", payload, (answer) => {
      if (!this.verified) {
        const same = Buffer.isBuffer(payload)
          ? Buffer.isBuffer(answer) && answer.equals(payload)
          : answer === payload;
        if (!same) fail("ack did not carry the payload");
        this.verified = true;
      }
      cb(answer);
    });
  }

  broadcast(payload) {
    this.socket.emit("broadcast", payload);
  }

  close() {
    this.closing = true;
    this.socket.close();
  }
}

// --- connecting -------------------------------------------------------------------------

function makeClient(i) {
  const base = config.urls[i % config.urls.length];
  if (config.client === "sio") return new SioClient(base, config.transport);
  if (config.transport === "polling") {
    // The raw floor's polling server (raw_polling.py) answers the lite client's requests.
    return new LitePollingClient(base, config.keep_alive !== false);
  }
  return new LiteClient(base, config.client === "raw");
}

// Connects clients [from, to) with at most `concurrency` handshakes in flight.
async function connectRange(clients, from, to) {
  const concurrency = config.concurrency || 100;
  const timeoutMs = (config.timeout_s || 30) * 1000;
  let next = from;
  async function worker() {
    while (next < to) {
      const i = next++;
      const client = makeClient(i);
      await client.connect(timeoutMs);
      clients[i] = client;
    }
  }
  const workers = [];
  for (let w = 0; w < Math.min(concurrency, to - from); w++) workers.push(worker());
  await Promise.all(workers);
}

// Lines from stdin (run.py's go-aheads), queued so that none is lost while we are busy.
function lineReader(rl) {
  const lines = [];
  const waiters = [];
  let closed = false;
  rl.on("line", (line) => (waiters.length ? waiters.shift()(line) : lines.push(line)));
  rl.on("close", () => {
    closed = true;
    while (waiters.length) waiters.shift()(null);
  });
  return () =>
    new Promise((resolve) => {
      if (lines.length) resolve(lines.shift());
      else if (closed) resolve(null);
      else waiters.push(resolve);
    });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length));
  return sorted[i];
}

// Opens the window after the warm-up, closes it after the duration; `onOpen` resets counters.
function runWindow(onOpen) {
  return new Promise((resolve) => {
    setTimeout(() => {
      onOpen();
      emit("mark", { name: "start" });
      const t0 = now();
      setTimeout(() => {
        const elapsed = (now() - t0) / 1e6;
        emit("mark", { name: "end" });
        resolve(elapsed);
      }, config.duration_s * 1000);
    }, config.warmup_s * 1000);
  });
}

// --- scenarios --------------------------------------------------------------------------

async function echo(clients, payload) {
  let measuring = false;
  let stopped = false;
  let count = 0;
  let latencies = [];
  const payloadBytes = Buffer.isBuffer(payload) ? payload.length : Buffer.byteLength(payload);
  function loop(client) {
    if (stopped) return;
    const t = now();
    client.echo(payload, () => {
      if (measuring) {
        count++;
        latencies.push(now() - t);
      }
      loop(client);
    });
  }
  for (const c of clients) loop(c);
  const elapsed = await runWindow(() => {
    measuring = true;
    count = 0;
    latencies = [];
    tcpConnects = 0;
  });
  measuring = false;
  stopped = true;
  const connects = tcpConnects;
  const sorted = Float64Array.from(latencies).sort();
  const result = {
    round_trips: count,
    elapsed_s: elapsed,
    round_trips_per_s: count / elapsed,
    p50_ms: percentile(sorted, 50) / 1e3,
    p99_ms: percentile(sorted, 99) / 1e3,
    payload_bytes: payloadBytes,
    mb_per_s: (count * payloadBytes) / elapsed / 1e6,
  };
  if (config.transport === "polling" && config.client !== "sio") {
    result.tcp_connects = connects;
    result.open_fds = fs.readdirSync("/proc/self/fd").length;
  }
  return result;
}

async function broadcast(clients, payload) {
  const n = clients.length;
  const depth = config.depth || 2;
  let delivered = 0; // since the first trigger
  let sent = 0; // rounds triggered
  let windowCount = 0;
  let measuring = false;
  let stopped = false;
  let lastDelivery = now();
  // When each round was sent (microseconds), by round number; and the delivery latencies
  // received in the window, in a buffer that doubles when full.
  const sentAt = [];
  let latencies = new Float64Array(1 << 16);
  const controller = clients[0];
  // Keep at most `depth` rounds of deliveries outstanding: a closed loop, so no contender is
  // buried under a queue it cannot drain.
  function trigger() {
    while (!stopped && sent * n - delivered < depth * n) {
      sentAt.push(now());
      sent++;
      controller.broadcast(payload);
    }
  }
  for (const c of clients) {
    let received = 0; // this client's rounds so far: the next one is round `received`
    c.onEvent = () => {
      delivered++;
      lastDelivery = now();
      const round = received++;
      if (measuring) {
        if (windowCount === latencies.length) {
          const grown = new Float64Array(latencies.length * 2);
          grown.set(latencies);
          latencies = grown;
        }
        latencies[windowCount++] = lastDelivery - sentAt[round];
      }
      trigger();
    };
  }
  const watchdog = setInterval(() => {
    if (!stopped && now() - lastDelivery > 10e6) fail("broadcast stalled: no delivery for 10 s");
  }, 1000);
  trigger();
  const elapsed = await runWindow(() => {
    measuring = true;
    windowCount = 0;
  });
  measuring = false;
  stopped = true;
  clearInterval(watchdog);
  const sorted = latencies.subarray(0, windowCount).sort();
  return {
    deliveries: windowCount,
    elapsed_s: elapsed,
    deliveries_per_s: windowCount / elapsed,
    rounds_per_s: windowCount / n / elapsed,
    p50_ms: percentile(sorted, 50) / 1e3,
    p99_ms: percentile(sorted, 99) / 1e3,
  };
}

async function idle(clients, nextLine) {
  const warm = Math.min(config.warm_clients || 0, config.clients);
  await connectRange(clients, 0, warm);
  emit("mark", { name: "warm", clients: warm });
  await nextLine();
  const t0 = now();
  await connectRange(clients, warm, config.clients);
  const elapsed = (now() - t0) / 1e6;
  const connects = config.clients - warm;
  emit("idle", {
    clients: config.clients,
    connects,
    connect_s: elapsed,
    connects_per_s: connects / elapsed,
  });
  await nextLine();
}

async function main() {
  const rl = readline.createInterface({ input: process.stdin });
  const clients = new Array(config.clients);
  if (config.mode === "idle") {
    await idle(clients, lineReader(rl));
  } else {
    const t0 = now();
    await connectRange(clients, 0, config.clients);
    emit("connected", { clients: config.clients, connect_s: (now() - t0) / 1e6 });
    const payload = makePayload(config.payload);
    let result;
    if (config.mode === "echo") result = await echo(clients, payload);
    else if (config.mode === "broadcast") result = await broadcast(clients, payload);
    else fail(`unknown mode ${config.mode}`);
    emit("result", result);
  }
  for (const c of clients) if (c) c.close();
  rl.close();
  process.exit(0);
}

main().catch(fail);

// Encodes and decodes Socket.IO packets with the REAL socket.io-parser and
// socket.io-msgpack-parser, so Python tests can compare their codecs with these.
//
// Usage: node parser_vectors.js < request.json
//   request: {
//     "encode": [packet, ...],            // encoded with both parsers
//     "decode_json": [[message, ...], ...],  // each list fed to a fresh socket.io-parser Decoder
//     "decode_msgpack": ["<base64>", ...]    // each fed to a fresh msgpack Decoder
//   }
//   packet: {"type": n, "nsp": "/", "data": ..., "id": n}  (data and id optional)
//   message: a string (text message) or {"$bin": "<base64>"} (binary message); binary values
//            inside packet data use the same {"$bin": ...} form.
//
// Output (stdout, one JSON document):
//   {
//     "json": [[message, ...], ...],   // socket.io-parser Encoder output per packet
//     "msgpack": ["<base64>", ...],    // socket.io-msgpack-parser Encoder output per packet
//     "decode_json": [result, ...],
//     "decode_msgpack": [result, ...]
//   }
//   result: {"packets": [packet, ...]} (every packet emitted) or
//           {"error": "message", "packets": [...]} when the decoder threw.
"use strict";

const parser = require("socket.io-parser");
const msgpackParser = require("socket.io-msgpack-parser");

function revive(value) {
  if (Array.isArray(value)) return value.map(revive);
  if (value !== null && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$bin") return Buffer.from(value.$bin, "base64");
    const out = {};
    for (const key of keys) out[key] = revive(value[key]);
    return out;
  }
  return value;
}

function toJSONable(value) {
  if (Buffer.isBuffer(value)) return { $bin: value.toString("base64") };
  if (value instanceof ArrayBuffer) return { $bin: Buffer.from(value).toString("base64") };
  if (ArrayBuffer.isView(value)) {
    return { $bin: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64") };
  }
  if (Array.isArray(value)) return value.map(toJSONable);
  if (value !== null && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value)) out[key] = toJSONable(value[key]);
    return out;
  }
  return value;
}

// Key order as socket.io builds packets: {type, data, nsp, id}; notepack keeps it.
function buildPacket(spec) {
  const packet = { type: spec.type };
  if ("data" in spec) packet.data = revive(spec.data);
  packet.nsp = spec.nsp;
  if ("id" in spec) packet.id = spec.id;
  return packet;
}

function decodeAll(makeDecoder, messages) {
  const decoder = makeDecoder();
  const packets = [];
  decoder.on("decoded", (packet) => packets.push(toJSONable(packet)));
  try {
    for (const message of messages) decoder.add(message);
  } catch (err) {
    return { error: String(err && err.message), packets };
  }
  return { packets };
}

function main(request) {
  const out = { json: [], msgpack: [], decode_json: [], decode_msgpack: [] };
  for (const spec of request.encode || []) {
    const jsonEncoded = new parser.Encoder().encode(buildPacket(spec));
    out.json.push(jsonEncoded.map((m) => (typeof m === "string" ? m : toJSONable(m))));
    const [packed] = new msgpackParser.Encoder().encode(buildPacket(spec));
    out.msgpack.push(packed.toString("base64"));
  }
  for (const messages of request.decode_json || []) {
    const wire = messages.map((m) => (typeof m === "string" ? m : revive(m)));
    out.decode_json.push(decodeAll(() => new parser.Decoder(), wire));
  }
  for (const b64 of request.decode_msgpack || []) {
    const wire = Buffer.from(b64, "base64");
    out.decode_msgpack.push(decodeAll(() => new msgpackParser.Decoder(), [wire]));
  }
  return out;
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  process.stdout.write(JSON.stringify(main(JSON.parse(input))));
});

// Encodes and decodes Engine.IO v3 payloads with the REAL parser engine.io 6.6 serves
// allowEIO3 sessions with (engine.io/build/parser-v3), so Python tests compare ours.
//
// Usage: node eio3_vectors.js < request.json
//   request: {
//     "encode": [{"packets": [packet, ...], "binary": bool}, ...],
//     "decode_text": ["<payload>", ...],
//     "decode_binary": ["<base64 payload>", ...]
//   }
//   packet: {"type": "message", "data": "text"} or {"type": "message", "bin": "<base64>"}
// Output (stdout, one JSON document):
//   {"encode": [{"text": "..."} | {"bin": "<base64>"}, ...],
//    "decode_text": [[packet, ...], ...], "decode_binary": [[packet, ...], ...]}
//   (a decoded list ending with {"type": "error"} means the parser refused the payload)
"use strict";

// not an exported subpath of the package: loaded by file
const path = require("path");
const parser = require(
  path.join(path.dirname(require.resolve("engine.io")), "parser-v3", "index.js"),
);

function revive(p) {
  const out = { type: p.type };
  if (p.bin !== undefined) out.data = Buffer.from(p.bin, "base64");
  else if (p.data !== undefined) out.data = p.data;
  return out;
}

function plain(p) {
  const out = { type: p.type };
  if (Buffer.isBuffer(p.data)) out.bin = p.data.toString("base64");
  else if (p.data instanceof ArrayBuffer) out.bin = Buffer.from(p.data).toString("base64");
  else if (p.data !== undefined) out.data = p.data;
  return out;
}

function decoded(payload, binaryType) {
  const packets = [];
  parser.decodePayload(payload, binaryType, (packet) => {
    packets.push(plain(packet));
  });
  return packets;
}

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const result = { encode: [], decode_text: [], decode_binary: [] };
  for (const item of request.encode || []) {
    parser.encodePayload(item.packets.map(revive), item.binary, (data) => {
      result.encode.push(
        typeof data === "string" ? { text: data } : { bin: Buffer.from(data).toString("base64") },
      );
    });
  }
  for (const payload of request.decode_text || []) {
    result.decode_text.push(decoded(payload, "nodebuffer"));
  }
  for (const payload of request.decode_binary || []) {
    result.decode_binary.push(decoded(Buffer.from(payload, "base64"), "nodebuffer"));
  }
  process.stdout.write(JSON.stringify(result));
});

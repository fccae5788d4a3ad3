// Encodes packets with the REAL engine.io-parser 5 WebTransport stream encoder
// (createPacketEncoderStream), and decodes bytes with its decoder, so Python tests compare.
//
// Usage: node stream_vectors.js < request.json
//   request: {"encode": [packet, ...], "decode": ["<base64 bytes>", ...], "max": n}
//   packet: {"type": "message", "data": "text"} or {"type": "message", "bin": "<base64>"}
// Output: {"encode": ["<base64>", ...], "decode": [[packet, ...], ...]}
//   (a decoded {"type": "error"} means the decoder refused the bytes)
"use strict";

const { createPacketEncoderStream, createPacketDecoderStream } = require("engine.io-parser");

async function encode(packet) {
  const stream = createPacketEncoderStream();
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const value = packet.bin !== undefined ? Buffer.from(packet.bin, "base64") : packet.data;
  writer.write({ type: packet.type, data: value });
  writer.close();
  const chunks = [];
  for (;;) {
    const { done, value: chunk } = await reader.read();
    if (done) break;
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks).toString("base64");
}

async function decode(bytes, max) {
  const stream = createPacketDecoderStream(max, "nodebuffer");
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  writer.write(new Uint8Array(Buffer.from(bytes, "base64")));
  writer.close();
  const packets = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const out = { type: value.type };
    if (Buffer.isBuffer(value.data)) out.bin = value.data.toString("base64");
    else if (value.data !== undefined) out.data = value.data;
    packets.push(out);
  }
  return packets;
}

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", async () => {
  const request = JSON.parse(input);
  const result = { encode: [], decode: [] };
  for (const packet of request.encode || []) result.encode.push(await encode(packet));
  for (const bytes of request.decode || []) result.decode.push(await decode(bytes, request.max));
  process.stdout.write(JSON.stringify(result));
});

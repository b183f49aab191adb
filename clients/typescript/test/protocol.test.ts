import assert from "node:assert/strict";
import { test } from "node:test";
import {
  BINARY_HEADER_SIZE,
  bytesToBase64,
  encodeBinaryFrame,
  encodeTextFrame,
  parseServerMessage,
  ProtocolError,
} from "../src/protocol.js";
import { BINARY_FRAME_258, BINARY_FRAME_MAX_SEQ, ERROR_MSGPACK, REPLY_MSGPACK, RESULT_JSON, RESULT_MSGPACK, hex, toHex } from "./fixtures.js";

test("binary header matches the service's struct <BBHId byte for byte", () => {
  assert.equal(toHex(encodeBinaryFrame(258, 1234.5, new Uint8Array([0xff, 0xd8]))), BINARY_FRAME_258);
  assert.equal(toHex(encodeBinaryFrame(2 ** 32 - 1, 1.7e12, new Uint8Array())), BINARY_FRAME_MAX_SEQ);
  assert.equal(BINARY_HEADER_SIZE, 16);
});

test("binary seq wraps at 2^32 instead of throwing", () => {
  const frame = encodeBinaryFrame(2 ** 32 + 5, 0, new Uint8Array());
  assert.equal(new DataView(frame.buffer).getUint32(4, true), 5);
});

test("binary frame copies the JPEG after the header, from a subarray view too", () => {
  const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
  const frame = encodeBinaryFrame(1, 2, backing.subarray(2, 5));
  assert.deepEqual(Array.from(frame.subarray(16)), [1, 2, 3]);
});

test("text frame is the original JSON message plus seq", () => {
  const msg = JSON.parse(encodeTextFrame(4, 99.5, new Uint8Array([0xff, 0xd8, 0xff])));
  assert.deepEqual(msg, { type: "frame", image: "data:image/jpeg;base64,/9j/", timestamp: 99.5, seq: 4 });
});

test("base64 agrees with Buffer for every tail length and long inputs", () => {
  for (const n of [0, 1, 2, 3, 4, 5, 100, 7000, 20001]) {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 131 + 7) & 255);
    assert.equal(bytesToBase64(bytes), Buffer.from(bytes).toString("base64"), `length ${n}`);
  }
});

test("a msgpack result from the service decodes to every field", () => {
  const r = parseServerMessage(hex(RESULT_MSGPACK));
  assert.equal(r.type, "result");
  if (r.type !== "result") return;
  assert.equal(r.timestamp, 1700000000123.25);
  assert.deepEqual(r.pupil_left, [101.5, 202.25]);
  assert.equal(r.pupil_right, null);
  assert.equal(r.horizontal_ratio, 0.42);
  assert.equal(r.is_center, true);
  assert.equal(r.seq, 7);
  assert.equal(r.dropped, null);
  assert.deepEqual(r.face_box, [10, 20, 150, 160]);
  assert.equal(r.pupil_right_reason, "eye_closed");
  assert.deepEqual(r.head_pose, { yaw: -3.5, pitch: 2, roll: 0.25 });
  assert.deepEqual(r.events, [{ type: "blink", start: 1, end: 2, duration: 0.15 }]);
  assert.deepEqual(r.stages_ms, { decode: 0.4, track: 1.25 });
});

test("JSON and msgpack of the same result decode identically", () => {
  assert.deepEqual(parseServerMessage(RESULT_JSON), parseServerMessage(hex(RESULT_MSGPACK).buffer as ArrayBuffer));
});

test("an original eleven-field result gets defaults for the rest", () => {
  const r = parseServerMessage(JSON.stringify({ type: "result", timestamp: 1, pupil_left: null, is_blinking: true }));
  assert.equal(r.type, "result");
  if (r.type !== "result") return;
  assert.equal(r.is_blinking, true);
  assert.equal(r.face_box, null);
  assert.deepEqual(r.events, []);
  assert.equal(r.head_pose, null);
  assert.equal(r.latency_ms, 0);
});

test("errors and replies decode", () => {
  assert.deepEqual(parseServerMessage(hex(ERROR_MSGPACK)), { type: "error", code: "bad_header", message: "short", timestamp: null, seq: 3 });
  assert.deepEqual(parseServerMessage(hex(REPLY_MSGPACK)), { type: "reply", request: "stats", data: { blinks_per_minute: 12, n: -5 } });
});

test("garbage is a ProtocolError, not a crash", () => {
  assert.throws(() => parseServerMessage("{nope"), ProtocolError);
  assert.throws(() => parseServerMessage('{"type":"surprise"}'), ProtocolError);
  assert.throws(() => parseServerMessage("[1,2]"), ProtocolError);
  assert.throws(() => parseServerMessage(new Uint8Array([0xc1])), ProtocolError);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeMsgpack, MsgpackError } from "../src/msgpack.js";
import { hex } from "./fixtures.js";

const cases: [string, unknown][] = [
  ["c0", null],
  ["c2", false],
  ["c3", true],
  ["00", 0],
  ["7f", 127],
  ["ff", -1],
  ["e0", -32],
  ["cc80", 128],
  ["cdffff", 65535],
  ["ceffffffff", 4294967295],
  ["cf001fffffffffffff", Number.MAX_SAFE_INTEGER],
  ["cfffffffffffffffff", 18446744073709551615n],
  ["d080", -128],
  ["d18000", -32768],
  ["d280000000", -2147483648],
  ["d3ffffffffffffffff", -1],
  ["d38000000000000000", -9223372036854775808n],
  ["ca3fc00000", 1.5],
  ["cb400921fb54442d18", Math.PI],
  ["a0", ""],
  ["a3616263", "abc"],
  ["d903c3a978", "éx"],
  ["da0002 6869".replace(" ", ""), "hi"],
  ["db000000016a", "j"],
  ["c403010203", new Uint8Array([1, 2, 3])],
  ["c5000100", new Uint8Array([0])],
  ["c60000000100", new Uint8Array([0])],
  ["90", []],
  ["93 01 a178 c0".replace(/ /g, ""), [1, "x", null]],
  ["dc000201 02".replace(" ", ""), [1, 2]],
  ["dd0000000103", [3]],
  ["80", {}],
  ["82a16101a16292c3c2", { a: 1, b: [true, false]  }],
  ["de0001a17801", { x: 1 }],
  ["df00000001a17902", { y: 2 }],
  ["810102", { "1": 2 }],
];

for (const [bytes, expected] of cases) {
  test(`decodes ${bytes}`, () => {
    assert.deepEqual(decodeMsgpack(hex(bytes)), expected);
  });
}

test("nested structures", () => {
  // {"a": [1, {"b": nil}], "c": "d"}
  assert.deepEqual(decodeMsgpack(hex("82a1619201 81a162c0 a163a164".replace(/ /g, ""))), { a: [1, { b: null }], c: "d" });
});

test("a __proto__ key is data, not a prototype", () => {
  // {"__proto__": {"polluted": true}}
  const bytes = new Uint8Array([0x81, 0xa9, ...new TextEncoder().encode("__proto__"), 0x81, 0xa8, ...new TextEncoder().encode("polluted"), 0xc3]);
  const v = decodeMsgpack(bytes) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.deepEqual(Object.keys(v), ["__proto__"]);
  assert.equal(({} as Record<string, unknown>)["polluted"], undefined);
});

test("reads from a subarray with a non-zero offset", () => {
  const backing = hex("ffff93010203ff");
  assert.deepEqual(decodeMsgpack(backing.subarray(2, 6)), [1, 2, 3]);
});

test("truncated, trailing, ext, reserved and bad UTF-8 input is refused", () => {
  for (const bad of ["", "92 01".replace(" ", ""), "a3 6162".replace(" ", ""), "cb4009", "0101", "d40100", "c1", "a1ff", "ddffffffff", "dfffffffff"]) {
    assert.throws(() => decodeMsgpack(hex(bad)), MsgpackError, `input ${bad}`);
  }
});

test("deep nesting is refused instead of overflowing the stack", () => {
  assert.throws(() => decodeMsgpack(new Uint8Array(100_000).fill(0x91)), /nesting too deep/);
});

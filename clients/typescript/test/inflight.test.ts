import assert from "node:assert/strict";
import { test } from "node:test";
import { InFlight } from "../src/inflight.js";

const frame = (seq: number) => ({ seq, ordinal: seq, sentAt: seq * 10, width: 640, height: 480 });

test("refuses frames beyond maxInFlight", () => {
  const w = new InFlight(2);
  assert.ok(w.add(frame(0)));
  assert.ok(w.add(frame(1)));
  assert.equal(w.hasRoom(), false);
  assert.equal(w.add(frame(2)), false);
  assert.equal(w.size, 2);
});

test("answers settle in order and free room", () => {
  const w = new InFlight(2);
  w.add(frame(0));
  w.add(frame(1));
  assert.equal(w.settle(0)?.sentAt, 0);
  assert.ok(w.hasRoom());
  assert.equal(w.oldest()?.seq, 1);
});

test("an answer for a later seq drops the older frames too", () => {
  const w = new InFlight(3);
  w.add(frame(0));
  w.add(frame(1));
  w.add(frame(2));
  assert.equal(w.settle(1)?.seq, 1);
  assert.equal(w.size, 1);
  assert.equal(w.oldest()?.seq, 2);
});

test("unknown seqs change nothing; a null seq settles the oldest", () => {
  const w = new InFlight(2);
  w.add(frame(5));
  w.add(frame(6));
  assert.equal(w.settle(99), undefined);
  assert.equal(w.size, 2);
  assert.equal(w.settle(null)?.seq, 5);
});

test("clear forgets everything; maxInFlight must be at least 1", () => {
  const w = new InFlight(1);
  w.add(frame(0));
  w.clear();
  assert.ok(w.hasRoom());
  assert.throws(() => new InFlight(0), RangeError);
});

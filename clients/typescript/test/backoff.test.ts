import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay, DEFAULT_BACKOFF } from "../src/backoff.js";

const noJitter = { ...DEFAULT_BACKOFF, jitter: 0 };

test("grows exponentially from the initial delay", () => {
  assert.deepEqual([0, 1, 2, 3].map((a) => backoffDelay(a, noJitter)), [500, 1000, 2000, 4000]);
});

test("is capped, even for huge attempt counts", () => {
  assert.equal(backoffDelay(5, noJitter), 10_000);
  assert.equal(backoffDelay(10_000, noJitter), 10_000);
});

test("jitter draws from [d * (1 - jitter), d]", () => {
  assert.equal(backoffDelay(1, DEFAULT_BACKOFF, () => 0), 1000);
  assert.equal(backoffDelay(1, DEFAULT_BACKOFF, () => 0.999999), 500);
  for (let i = 0; i < 1000; i++) {
    const d = backoffDelay(3, DEFAULT_BACKOFF);
    assert.ok(d >= 2000 && d <= 4000, String(d));
  }
});

test("jitter spreads clients apart", () => {
  const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(4, DEFAULT_BACKOFF)));
  assert.ok(delays.size > 10);
});

test("out-of-range jitter and negative attempts are clamped", () => {
  assert.equal(backoffDelay(-3, { ...DEFAULT_BACKOFF, jitter: 5 }, () => 0), 500);
  assert.equal(backoffDelay(0, { ...DEFAULT_BACKOFF, jitter: -1 }, () => 0.9), 500);
});

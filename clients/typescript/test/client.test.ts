// GazeClient against a fake WebSocket (and, for the capture loop, a fake <video> and canvas): tests this
// client's own accounting, not the service.
import assert from "node:assert/strict";
import { afterEach, test } from "node:test";
import { GazeClient, type ConnectionState, type GazeClientError, type GazeData, type WebSocketLike } from "../src/client.js";
import { RESULT_JSON } from "./fixtures.js";

class FakeSocket implements WebSocketLike {
  readyState = 0;
  binaryType = "blob";
  onopen: ((ev: unknown) => void) | null = null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  sent: (string | Uint8Array)[] = [];
  closedWith: number | undefined;
  constructor(readonly url: string) {}
  send(data: string | Uint8Array): void {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(data);
  }
  close(code?: number): void {
    this.closedWith = code;
    this.readyState = 3;
  }
  // --- driven by the test
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  serverClose(code = 1006): void {
    this.readyState = 3;
    this.onclose?.({ code });
  }
  reply(message: object): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  /** Answers a frame this socket received with a result carrying its seq. */
  answer(index: number, extra: object = {}): void {
    this.reply({ ...JSON.parse(RESULT_JSON), seq: seqOf(this.sent[index]!), ...extra });
  }
}

function seqOf(message: string | Uint8Array): number {
  if (typeof message === "string") return JSON.parse(message).seq;
  return new DataView(message.buffer, message.byteOffset).getUint32(4, true);
}

const clients: GazeClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

function setup(options: ConstructorParameters<typeof GazeClient>[0] = {}) {
  const sockets: FakeSocket[] = [];
  const client = new GazeClient({
    reconnect: { initialDelayMs: 5, maxDelayMs: 20, jitter: 0 },
    webSocketFactory: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    ...options,
  });
  clients.push(client);
  const states: ConnectionState[] = [];
  const results: GazeData[] = [];
  const errors: GazeClientError[] = [];
  client.on("state", (s) => states.push(s));
  client.on("result", (r) => results.push(r));
  client.on("error", (e) => errors.push(e));
  return { client, sockets, states, results, errors };
}

const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xd9]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

test("connects to the default URL and reports states", () => {
  const { client, sockets, states } = setup();
  client.connect();
  assert.equal(sockets[0]!.url, "ws://127.0.0.1:8001/ws/gaze");
  assert.equal(sockets[0]!.binaryType, "arraybuffer");
  sockets[0]!.open();
  assert.deepEqual(states, ["connecting", "open"]);
  client.close();
  assert.deepEqual(states, ["connecting", "open", "closed"]);
  assert.equal(sockets[0]!.closedWith, 1000);
});

test("at most maxInFlight frames await an answer", () => {
  const { client, sockets, results } = setup({ maxInFlight: 2 });
  client.connect();
  assert.equal(client.sendFrame(JPEG), false, "not open yet");
  sockets[0]!.open();
  assert.equal(client.sendFrame(JPEG, { width: 640, height: 480 }), true);
  assert.equal(client.sendFrame(JPEG), true);
  assert.equal(client.sendFrame(JPEG), false, "window full");
  assert.equal(sockets[0]!.sent.length, 2);
  assert.equal(client.stats.inFlight, 2);

  sockets[0]!.answer(0);
  assert.equal(client.stats.inFlight, 1);
  assert.equal(results.length, 1);
  assert.equal(results[0]!.seq, 0);
  assert.equal(results[0]!.frame_width, 640);
  assert.ok(results[0]!.rtt_ms !== null && results[0]!.rtt_ms >= 0);
  assert.equal(client.sendFrame(JPEG), true);
  assert.equal(client.sendFrame(JPEG), false);
});

test("binary mode sends header + JPEG with increasing seq; text mode sends the JSON frame", () => {
  const bin = setup();
  bin.client.connect();
  bin.sockets[0]!.open();
  bin.client.sendFrame(JPEG, null, 1234.5);
  bin.sockets[0]!.answer(0);
  bin.client.sendFrame(JPEG);
  const [first, second] = bin.sockets[0]!.sent as Uint8Array[];
  assert.ok(first instanceof Uint8Array);
  assert.equal(first.length, 16 + JPEG.length);
  assert.equal(new DataView(first.buffer).getFloat64(8, true), 1234.5);
  assert.deepEqual([seqOf(first), seqOf(second!)], [0, 1]);

  const text = setup({ mode: "text" });
  text.client.connect();
  text.sockets[0]!.open();
  text.client.sendFrame(JPEG, null, 42);
  const msg = JSON.parse(text.sockets[0]!.sent[0] as string);
  assert.deepEqual(msg, { type: "frame", image: "data:image/jpeg;base64,/9j/2Q==", timestamp: 42, seq: 0 });
});

test("a server error answers its frame and is reported", () => {
  const { client, sockets, errors } = setup({ maxInFlight: 1 });
  client.connect();
  sockets[0]!.open();
  client.sendFrame(JPEG);
  sockets[0]!.reply({ type: "error", code: "bad_image", message: "not a JPEG", timestamp: null, seq: 0 });
  assert.equal(client.stats.inFlight, 0);
  assert.deepEqual(errors, [{ source: "server", code: "bad_image", message: "not a JPEG", seq: 0 }]);
});

test("undecodable messages are reported, not thrown", () => {
  const { client, sockets, errors } = setup();
  client.connect();
  sockets[0]!.open();
  sockets[0]!.onmessage?.({ data: "{broken" });
  sockets[0]!.onmessage?.({ data: new Uint8Array([0xc1]).buffer });
  assert.deepEqual(errors.map((e) => e.code), ["bad_message", "bad_message"]);
});

test("reconnects with backoff after a drop, forgetting frames in flight", async () => {
  const { client, sockets, states, errors } = setup({ maxInFlight: 1 });
  client.connect();
  sockets[0]!.open();
  client.sendFrame(JPEG);
  assert.equal(client.sendFrame(JPEG), false);
  sockets[0]!.serverClose();
  assert.equal(client.state, "reconnecting");
  assert.equal(client.stats.inFlight, 0);
  assert.equal(errors[0]!.code, "connection_lost");

  await until(() => sockets.length === 2, "second socket");
  sockets[1]!.serverClose(); // refused again: the next delay doubles
  await until(() => sockets.length === 3, "third socket");
  sockets[2]!.open();
  assert.equal(client.state, "open");
  assert.equal(client.sendFrame(JPEG), true);
  assert.equal(client.stats.reconnects, 2);
  assert.deepEqual(states, ["connecting", "open", "reconnecting", "open"]);
  assert.equal(errors[1]!.code, "connect_failed");
});

test("close() during a reconnect wait stays closed", async () => {
  const { client, sockets } = setup({ reconnect: { initialDelayMs: 30, jitter: 0 } });
  client.connect();
  sockets[0]!.serverClose();
  client.close();
  await sleep(60);
  assert.equal(sockets.length, 1);
  assert.equal(client.state, "closed");
});

test("reconnect: false closes for good after a drop", async () => {
  const { client, sockets, states } = setup({ reconnect: false });
  client.connect();
  sockets[0]!.open();
  sockets[0]!.serverClose();
  await sleep(20);
  assert.equal(sockets.length, 1);
  assert.deepEqual(states, ["connecting", "open", "closed"]);
});

test("a stuck connection (no answer within answerTimeoutMs) is reopened", async () => {
  const { client, sockets, errors } = setup({ answerTimeoutMs: 30 });
  client.connect();
  sockets[0]!.open();
  client.sendFrame(JPEG);
  await until(() => sockets.length === 2, "reopened socket", 3000);
  assert.equal(sockets[0]!.closedWith, 4000);
  assert.equal(errors[0]!.code, "answer_timeout");
  assert.equal(client.stats.inFlight, 0);
});

test("control requests resolve with their reply and reject when the connection drops", async () => {
  const { client, sockets } = setup();
  client.connect();
  sockets[0]!.open();
  const stats = client.request({ type: "stats" });
  assert.deepEqual(JSON.parse(sockets[0]!.sent[0] as string), { type: "stats" });
  sockets[0]!.reply({ type: "reply", request: "stats", data: { blinks: 3 } });
  assert.deepEqual(await stats, { blinks: 3 });

  const pending = client.request({ type: "config", settings: { left_threshold: 0.7 } });
  sockets[0]!.serverClose();
  await assert.rejects(pending, /connection closed/);
  await assert.rejects(client.request({ type: "stats" }), /not connected/);
});

test("an error without seq answers whichever of frame and control message was sent first", async () => {
  const { client, sockets } = setup();
  client.connect();
  sockets[0]!.open();
  const pending = client.configure({ nope: 1 });
  client.sendFrame(JPEG);
  sockets[0]!.reply({ type: "error", code: "bad_config", message: "unknown setting nope", timestamp: null, seq: null });
  await assert.rejects(pending, /bad_config/);
  assert.equal(client.stats.inFlight, 1, "the frame still awaits its answer");

  const stats = client.getStats();
  sockets[0]!.reply({ type: "error", code: "bad_image", message: "not a JPEG", timestamp: null, seq: null });
  assert.equal(client.stats.inFlight, 0, "the frame was sent before the stats request");
  sockets[0]!.reply({ type: "reply", request: "stats", data: { n: 1 } });
  assert.deepEqual(await stats, { n: 1 });
});

// --- the capture loop, with just enough of a DOM to run it -----------------------------------------------

class FakeVideo {
  readyState = 4;
  videoWidth = 1280;
  videoHeight = 720;
}

function installFakeDom(): { encoded: number[] } {
  const log = { encoded: [] as number[] };
  const g = globalThis as Record<string, unknown>;
  g["HTMLVideoElement"] = FakeVideo;
  g["document"] = {
    createElement: (tag: string) => {
      assert.equal(tag, "canvas");
      return {
        width: 0,
        height: 0,
        getContext: () => ({ drawImage: () => {} }),
        toBlob(cb: (b: Blob | null) => void, _type: string, quality: number) {
          log.encoded.push(this.width);
          setTimeout(() => cb(new Blob([JPEG], { type: "image/jpeg" })), 1);
          void quality;
        },
      };
    },
  };
  return log;
}

test("the capture loop skips ticks while the window is full instead of queueing", async () => {
  const dom = installFakeDom();
  try {
    const { client, sockets } = setup({ fps: 200, maxInFlight: 1 });
    client.setSource(new FakeVideo() as unknown as HTMLVideoElement);
    client.connect();
    sockets[0]!.open();
    await until(() => sockets[0]!.sent.length === 1, "first frame");
    await sleep(60); // ~12 ticks with no answer
    assert.equal(sockets[0]!.sent.length, 1, "no frame sent while one is unanswered");
    assert.ok(client.stats.skippedBackpressure >= 5, `skipped ${client.stats.skippedBackpressure}`);
    assert.equal(dom.encoded.length, 1, "no frame encoded while the window is full");
    assert.equal(dom.encoded[0], 640, "scaled down to maxWidth");

    sockets[0]!.answer(0);
    await until(() => sockets[0]!.sent.length === 2, "next frame after the answer");
    client.close();
    const sent = sockets[0]!.sent.length;
    await sleep(30);
    assert.equal(sockets[0]!.sent.length, sent, "nothing sent after close()");
  } finally {
    delete (globalThis as Record<string, unknown>)["document"];
    delete (globalThis as Record<string, unknown>)["HTMLVideoElement"];
  }
});

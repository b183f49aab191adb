/**
 * GazeClient: streams camera frames to a gazepipe service over one WebSocket and emits typed results.
 *
 * Design points:
 * - Backpressure by skipping: a capture tick is skipped while `maxInFlight` frames await an answer, so a slow
 *   service lowers the frame rate instead of building a queue (and latency) anywhere.
 * - One connection, reopened with exponential backoff and jitter when it drops; frames in flight on a dead
 *   connection are forgotten (their answers cannot come).
 * - Control messages (`request()`) travel on the same socket as JSON; the calibration flow of the service's
 *   attention work builds on them.
 */

import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
import { FrameGrabber, type FrameSource } from "./capture.js";
import { Emitter } from "./emitter.js";
import { InFlight } from "./inflight.js";
import {
  encodeBinaryFrame,
  encodeTextFrame,
  parseServerMessage,
  type ControlMessage,
  type GazeResult,
  type ReplyMessage,
} from "./protocol.js";

export const DEFAULT_URL = "ws://127.0.0.1:8001/ws/gaze";

export type ConnectionState = "connecting" | "open" | "closed" | "reconnecting";

/** A result as the service sent it, plus what only the client can know about the frame. */
export interface GazeData extends GazeResult {
  /** Send to answer on the client's clock, in ms (includes the network and encoding the service can't see). */
  rtt_ms: number | null;
  /** Size of the frame as sent: the coordinate space of `pupil_*` and `face_box`. */
  frame_width: number | null;
  frame_height: number | null;
}

export type GazeErrorSource = "server" | "socket" | "protocol" | "capture" | "timeout";

export interface GazeClientError {
  source: GazeErrorSource;
  /** The service's error code for `server` errors, a client code otherwise. */
  code: string;
  message: string;
  seq: number | null;
}

export interface GazeClientEvents {
  result: GazeData;
  error: GazeClientError;
  state: ConnectionState;
  reply: ReplyMessage;
}

/** The part of the browser's WebSocket the client uses, so tests (and Node) can supply their own. */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code?: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketFactory = (url: string) => WebSocketLike;

export interface GazeClientOptions {
  /** Service endpoint. Default `ws://127.0.0.1:8001/ws/gaze`. */
  url?: string;
  /** Where frames come from; may also be set later with `setSource()`. */
  source?: FrameSource | null;
  /** `binary` (default: header + JPEG, msgpack answers) or `text` (the original JSON protocol). */
  mode?: "binary" | "text";
  /** Capture rate, frames per second. Default 10. */
  fps?: number;
  /** JPEG quality for canvas.toBlob, 0..1. Default 0.8. */
  jpegQuality?: number;
  /** Frames wider than this are scaled down before encoding. Default 640. */
  maxWidth?: number;
  /** Frames sent and not yet answered, at most. Default 2. */
  maxInFlight?: number;
  /** Reconnect backoff settings, or false to stay closed after a drop. */
  reconnect?: Partial<BackoffOptions> | false;
  /** An unanswered frame older than this means the connection is stuck: it is reopened. 0 disables. Default 10000. */
  answerTimeoutMs?: number;
  /** Opens the socket; defaults to the global WebSocket. */
  webSocketFactory?: WebSocketFactory;
}

export interface GazeClientStats {
  sent: number;
  answered: number;
  /** Capture ticks skipped because `maxInFlight` frames were unanswered (backpressure at work). */
  skippedBackpressure: number;
  errors: number;
  reconnects: number;
  inFlight: number;
}

interface PendingRequest {
  request: string;
  ordinal: number;
  resolve: (data: Record<string, unknown>) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

const OPEN = 1;

export class GazeClient extends Emitter<GazeClientEvents> {
  readonly url: string;
  readonly mode: "binary" | "text";
  private fps: number;
  private jpegQuality: number;
  private readonly maxWidth: number;
  private readonly backoff: BackoffOptions | null;
  private readonly answerTimeoutMs: number;
  private readonly factory: WebSocketFactory;
  private readonly inFlight: InFlight;

  private socket: WebSocketLike | null = null;
  private _state: ConnectionState = "closed";
  private wanted = false; // connect() called and close() not since
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private seq = 0;
  /** Messages sent on the current connection; the service answers frames and control messages in this order. */
  private ordinal = 0;
  private readonly requests: PendingRequest[] = [];

  private grabber: FrameGrabber | null = null;
  private captureTimer: ReturnType<typeof setTimeout> | null = null;
  private nextTickAt = 0;
  private grabbing = false;

  private readonly counters = { sent: 0, answered: 0, skippedBackpressure: 0, errors: 0, reconnects: 0 };

  constructor(options: GazeClientOptions = {}) {
    super();
    this.url = options.url ?? DEFAULT_URL;
    this.mode = options.mode ?? "binary";
    this.fps = positive(options.fps ?? 10, "fps");
    this.jpegQuality = Math.min(1, Math.max(0, options.jpegQuality ?? 0.8));
    this.maxWidth = positive(options.maxWidth ?? 640, "maxWidth");
    this.backoff = options.reconnect === false ? null : { ...DEFAULT_BACKOFF, ...options.reconnect };
    this.answerTimeoutMs = options.answerTimeoutMs ?? 10_000;
    this.inFlight = new InFlight(options.maxInFlight ?? 2);
    this.factory = options.webSocketFactory ?? defaultFactory;
    if (options.source) this.setSource(options.source);
  }

  get state(): ConnectionState {
    return this._state;
  }

  get stats(): GazeClientStats {
    return { ...this.counters, inFlight: this.inFlight.size };
  }

  /** Opens the connection (and keeps it open until `close()`); capture runs whenever a source is set. */
  connect(): this {
    if (this.wanted) return this;
    this.wanted = true;
    this.attempt = 0;
    this.open("connecting");
    this.startCapture();
    return this;
  }

  /** Stops capture, closes the connection, and stays closed. `connect()` may be called again later. */
  close(): void {
    this.wanted = false;
    this.stopCapture();
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      detach(socket);
      socket.close(1000, "client closed");
    }
    this.dropConnectionState(new Error("client closed"));
    this.setState("closed");
  }

  /** Sets (or replaces, or with null removes) the frame source. Does not stop a MediaStream's tracks: the caller owns them. */
  setSource(source: FrameSource | null): void {
    this.grabber?.dispose();
    this.grabber = source ? new FrameGrabber(source, this.maxWidth) : null;
    if (this.wanted) this.startCapture();
  }

  /** Changes the capture rate or JPEG quality on the fly. */
  setCapture(options: { fps?: number; jpegQuality?: number }): void {
    if (options.fps !== undefined) this.fps = positive(options.fps, "fps");
    if (options.jpegQuality !== undefined) this.jpegQuality = Math.min(1, Math.max(0, options.jpegQuality));
  }

  /**
   * Sends one JPEG the caller encoded itself (for sources other than a camera). Returns false, sending
   * nothing, when the connection is not open or `maxInFlight` frames are unanswered.
   */
  sendFrame(jpeg: Uint8Array, size: { width: number; height: number } | null = null, timestamp = nowMs()): boolean {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN || this._state !== "open") return false;
    if (!this.inFlight.hasRoom()) return false;
    const seq = this.seq;
    this.seq = (this.seq + 1) >>> 0;
    socket.send(this.mode === "binary" ? encodeBinaryFrame(seq, timestamp, jpeg) : encodeTextFrame(seq, timestamp, jpeg));
    this.inFlight.add({ seq, ordinal: this.ordinal++, sentAt: monotonicMs(), width: size?.width ?? 0, height: size?.height ?? 0 });
    this.counters.sent++;
    return true;
  }

  /**
   * Sends a control message (config, stats, calibration) and resolves with the reply's data.
   * Replies are matched to requests by name in order, which the service keeps.
   */
  request(message: ControlMessage, timeoutMs = 5_000): Promise<Record<string, unknown>> {
    const socket = this.socket;
    if (!socket || socket.readyState !== OPEN) return Promise.reject(new Error("gazepipe: not connected"));
    return new Promise((resolve, reject) => {
      const pending: PendingRequest = {
        request: message.type,
        ordinal: this.ordinal++,
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.requests.indexOf(pending);
          if (i >= 0) this.requests.splice(i, 1);
          reject(new Error(`gazepipe: no reply to ${message.type} within ${timeoutMs} ms`));
        }, timeoutMs),
      };
      this.requests.push(pending);
      socket.send(JSON.stringify(message));
    });
  }

  /** Changes this session's settings on the service (names as the service documents them); resolves with all of them. */
  configure(settings: Record<string, number | boolean | string>): Promise<Record<string, unknown>> {
    return this.request({ type: "config", settings });
  }

  /** This session's statistics (blinks per minute, PERCLOS, time attentive, ...), as the service computes them. */
  getStats(): Promise<Record<string, unknown>> {
    return this.request({ type: "stats" });
  }

  // --- connection ---------------------------------------------------------------------------------------

  private open(state: "connecting" | "reconnecting"): void {
    this.setState(state);
    let socket: WebSocketLike;
    try {
      socket = this.factory(this.url);
    } catch (err) {
      // An invalid URL throws synchronously; retrying cannot fix it.
      this.report({ source: "socket", code: "bad_url", message: String((err as Error).message ?? err), seq: null });
      this.wanted = false;
      this.stopCapture();
      this.setState("closed");
      return;
    }
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.setState("open");
      this.startWatchdog();
    };
    socket.onmessage = (ev) => {
      if (this.socket === socket) this.handleMessage(ev.data);
    };
    // Browsers fire error then close; only close drives the reconnect so it happens once.
    socket.onerror = () => {};
    socket.onclose = (ev) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.handleDrop(`connection closed (code ${ev.code ?? "?"}${ev.reason ? `: ${ev.reason}` : ""})`);
    };
  }

  private handleDrop(why: string): void {
    this.stopWatchdog();
    const wasOpen = this._state === "open";
    this.dropConnectionState(new Error(`gazepipe: ${why}`));
    if (!this.wanted) return;
    this.report({ source: "socket", code: wasOpen ? "connection_lost" : "connect_failed", message: why, seq: null });
    if (!this.backoff) {
      this.wanted = false;
      this.stopCapture();
      this.setState("closed");
      return;
    }
    const delay = backoffDelay(this.attempt++, this.backoff);
    this.setState("reconnecting");
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.wanted) return;
      this.counters.reconnects++;
      this.open("reconnecting");
    }, delay);
  }

  /** Forgets frames and requests that belonged to a connection that is gone. */
  private dropConnectionState(reason: Error): void {
    this.inFlight.clear();
    this.ordinal = 0;
    for (const r of this.requests.splice(0)) {
      clearTimeout(r.timer);
      r.reject(reason);
    }
  }

  private handleMessage(data: unknown): void {
    let message;
    try {
      if (typeof data !== "string" && !(data instanceof ArrayBuffer) && !(data instanceof Uint8Array)) {
        throw new Error(`unexpected message payload ${Object.prototype.toString.call(data)}`);
      }
      message = parseServerMessage(data);
    } catch (err) {
      this.report({ source: "protocol", code: "bad_message", message: (err as Error).message, seq: null });
      return;
    }
    // The service answered something: the connection works, so the next drop starts the backoff afresh.
    this.attempt = 0;
    switch (message.type) {
      case "result": {
        const frame = this.inFlight.settle(message.seq);
        this.counters.answered++;
        this.emit("result", {
          ...message,
          rtt_ms: frame ? monotonicMs() - frame.sentAt : null,
          frame_width: frame?.width || null,
          frame_height: frame?.height || null,
        });
        break;
      }
      case "error": {
        // Answers come in send order, frames and control messages alike: an error without a seq answers
        // whichever of the oldest frame and the oldest control message was sent first.
        const oldestFrame = this.inFlight.oldest();
        const oldestRequest = this.requests[0];
        if (message.seq === null && oldestRequest && (!oldestFrame || oldestRequest.ordinal < oldestFrame.ordinal)) {
          const r = this.requests.shift()!;
          clearTimeout(r.timer);
          r.reject(new Error(`gazepipe ${message.code}: ${message.message}`));
        } else if (this.inFlight.settle(message.seq)) {
          this.counters.answered++;
        }
        this.report({ source: "server", code: message.code, message: message.message, seq: message.seq });
        break;
      }
      case "reply": {
        const i = this.requests.findIndex((r) => r.request === message.request);
        if (i >= 0) {
          const [r] = this.requests.splice(i, 1);
          clearTimeout(r!.timer);
          r!.resolve(message.data);
        }
        this.emit("reply", message);
        break;
      }
    }
  }

  /** Reopens a connection whose oldest frame has waited too long: the service promised an answer to each. */
  private startWatchdog(): void {
    this.stopWatchdog();
    if (this.answerTimeoutMs <= 0) return;
    this.watchdog = setInterval(() => {
      const oldest = this.inFlight.oldest();
      const socket = this.socket;
      if (!oldest || !socket || monotonicMs() - oldest.sentAt < this.answerTimeoutMs) return;
      this.report({
        source: "timeout",
        code: "answer_timeout",
        message: `no answer to frame ${oldest.seq} within ${this.answerTimeoutMs} ms; reconnecting`,
        seq: oldest.seq,
      });
      this.socket = null;
      detach(socket);
      socket.close(4000, "answer timeout");
      this.handleDrop("answer timeout");
    }, Math.min(1000, this.answerTimeoutMs));
  }

  private stopWatchdog(): void {
    if (this.watchdog !== null) clearInterval(this.watchdog);
    this.watchdog = null;
  }

  private clearTimers(): void {
    this.stopWatchdog();
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  // --- capture ------------------------------------------------------------------------------------------

  private startCapture(): void {
    if (!this.grabber || this.captureTimer !== null) return;
    this.nextTickAt = monotonicMs();
    this.scheduleTick();
  }

  private stopCapture(): void {
    if (this.captureTimer !== null) clearTimeout(this.captureTimer);
    this.captureTimer = null;
  }

  private scheduleTick(): void {
    const interval = 1000 / this.fps;
    const now = monotonicMs();
    // Keep a steady cadence; after a stall (background tab), restart from now rather than firing a burst.
    this.nextTickAt = this.nextTickAt + interval < now ? now + interval : this.nextTickAt + interval;
    this.captureTimer = setTimeout(() => {
      this.captureTimer = null;
      if (!this.wanted || !this.grabber) return;
      this.scheduleTick();
      void this.tick();
    }, Math.max(0, this.nextTickAt - now));
  }

  private async tick(): Promise<void> {
    const grabber = this.grabber;
    if (!grabber || this._state !== "open" || this.grabbing) return;
    if (!this.inFlight.hasRoom()) {
      this.counters.skippedBackpressure++;
      return;
    }
    this.grabbing = true;
    try {
      const frame = await grabber.grab(this.jpegQuality);
      // The source or connection may have changed while encoding; sendFrame re-checks the connection.
      if (frame && grabber === this.grabber) this.sendFrame(frame.jpeg, frame);
    } catch (err) {
      this.report({ source: "capture", code: "capture_failed", message: (err as Error).message, seq: null });
    } finally {
      this.grabbing = false;
    }
  }

  // --- helpers ------------------------------------------------------------------------------------------

  private setState(state: ConnectionState): void {
    if (state === this._state) return;
    this._state = state;
    this.emit("state", state);
  }

  private report(error: GazeClientError): void {
    this.counters.errors++;
    this.emit("error", error);
  }
}

function defaultFactory(url: string): WebSocketLike {
  if (typeof WebSocket === "undefined") throw new Error("no global WebSocket; pass webSocketFactory");
  return new WebSocket(url) as unknown as WebSocketLike;
}

function detach(socket: WebSocketLike): void {
  socket.onopen = socket.onmessage = socket.onerror = null;
  socket.onclose = null;
}

function positive(v: number, name: string): number {
  if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`${name} must be a positive number`);
  return v;
}

/** Monotonic ms for durations. */
function monotonicMs(): number {
  return performance.now();
}

/** Epoch ms that never goes backwards within a page: the frame timestamp the service measures time with. */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * The wire protocol of `/ws/gaze`, mirrored from `src/gazepipe/protocol.py` (the source of truth).
 *
 * Text mode: the client sends a JSON frame message with a base64 JPEG data URL and receives JSON.
 * Binary mode: the client sends a 16-byte header followed by the JPEG bytes and receives msgpack.
 * Either way every frame gets exactly one answer (a result or an error), in send order.
 */

import { decodeMsgpack } from "./msgpack.js";

/** Protocol version carried in the binary header's first byte. */
export const BINARY_VERSION = 1;
/** Size of the binary header: u8 version | u8 flags | u16 header size | u32 seq | f64 timestamp (ms). */
export const BINARY_HEADER_SIZE = 16;

export type DropReason =
  | "superseded"
  | "stale"
  | "overloaded"
  | "rate_limited"
  | "worker_lost"
  | "shutdown"
  | "no_face";

/** Head rotation in degrees: yaw (+ turned to the image's right), pitch (+ down), roll. */
export interface HeadPose {
  yaw: number;
  pitch: number;
  roll: number;
}

/** An event the service attaches to the result of the frame where it happened (blink, look_away, ...). */
export interface GazeEvent {
  type: string;
  [field: string]: unknown;
}

/**
 * One frame's answer exactly as the service sends it (`GazeResult` in protocol.py).
 * Pixel coordinates are in the frame as the client sent it; "left"/"right" in field names mean the image's
 * left/right side, except `is_left`/`is_right`, which follow the original GazeTracking contract.
 */
export interface GazeResult {
  type: "result";
  timestamp: number;
  pupil_left: [number, number] | null;
  pupil_right: [number, number] | null;
  /** 0 = pupil at the image-left eye corner .. 1 = at the image-right corner. */
  horizontal_ratio: number | null;
  /** 0 = top .. 1 = bottom. */
  vertical_ratio: number | null;
  is_left: boolean;
  is_right: boolean;
  is_center: boolean;
  is_blinking: boolean;
  attention_score: number;
  frame_processed: boolean;
  seq: number;
  /** Why the frame was not processed, or null when it was. */
  dropped: DropReason | null;
  /** Time the service spent on the frame, receipt to answer. */
  latency_ms: number;
  face_found: boolean;
  /** x, y, width, height in frame pixels. */
  face_box: [number, number, number, number] | null;
  pupil_left_confidence: number;
  pupil_right_confidence: number;
  pupil_left_reason: string | null;
  pupil_right_reason: string | null;
  eye_openness_left: number | null;
  eye_openness_right: number | null;
  head_pose: HeadPose | null;
  attentive: boolean;
  events: GazeEvent[];
  /** Calibrated screen position, normalised 0..1, when the session is calibrated. */
  screen_x: number | null;
  screen_y: number | null;
  stages_ms: Record<string, number>;
  /** One Euro filtered versions of the raw fields above (the service's docs/attention.md). */
  pupil_left_smoothed: [number, number] | null;
  pupil_right_smoothed: [number, number] | null;
  horizontal_ratio_smoothed: number | null;
  vertical_ratio_smoothed: number | null;
  /** The screen calibration's error estimate in screen units, when the session is calibrated. */
  screen_error: number | null;
  /** This frame's attention value before smoothing. */
  attention_frame: number | null;
}

/** A frame or message the service could not handle; the connection stays open. */
export interface ErrorMessage {
  type: "error";
  code: string;
  message: string;
  timestamp: number | null;
  seq: number | null;
}

/** The answer to a control message (config, stats, calibration). */
export interface ReplyMessage {
  type: "reply";
  request: string;
  data: Record<string, unknown>;
}

export type ServerMessage = GazeResult | ErrorMessage | ReplyMessage;

/** Control messages a client may send (answered by a `reply`). Frames are sent by the client itself. */
export type ControlMessage =
  | { type: "config"; settings: Record<string, number | boolean | string> }
  | { type: "stats" }
  | {
      type: "calibration";
      action: "start" | "point" | "validate" | "finish" | "reset" | "export" | "import";
      x?: number;
      y?: number;
      data?: Record<string, unknown>;
    };

/** Writes the 16-byte little-endian binary frame header into `target` at `offset`. */
export function writeFrameHeader(target: DataView, seq: number, timestamp: number, offset = 0): void {
  target.setUint8(offset, BINARY_VERSION);
  target.setUint8(offset + 1, 0); // flags: none defined yet
  target.setUint16(offset + 2, BINARY_HEADER_SIZE, true);
  // seq is a u32 on the wire; wrap rather than throw so a very long session keeps going.
  target.setUint32(offset + 4, seq >>> 0, true);
  target.setFloat64(offset + 8, timestamp, true);
}

/** Builds one binary-mode message: header + JPEG bytes, in a single buffer so it goes out as one WebSocket message. */
export function encodeBinaryFrame(seq: number, timestamp: number, jpeg: Uint8Array): Uint8Array {
  const out = new Uint8Array(BINARY_HEADER_SIZE + jpeg.byteLength);
  writeFrameHeader(new DataView(out.buffer, out.byteOffset, BINARY_HEADER_SIZE), seq, timestamp);
  out.set(jpeg, BINARY_HEADER_SIZE);
  return out;
}

/** Builds one text-mode message (the original JSON protocol, plus `seq` so answers can be matched). */
export function encodeTextFrame(seq: number, timestamp: number, jpeg: Uint8Array): string {
  return JSON.stringify({ type: "frame", image: "data:image/jpeg;base64," + bytesToBase64(jpeg), timestamp, seq });
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Base64 without btoa's binary-string detour, so a 60 KB frame does not build a 60 KB intermediate string twice. */
export function bytesToBase64(bytes: Uint8Array): string {
  const parts: string[] = [];
  let chunk = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    chunk += BASE64[n >>> 18]! + BASE64[(n >>> 12) & 63]! + BASE64[(n >>> 6) & 63]! + BASE64[n & 63]!;
    if (chunk.length >= 8192) {
      parts.push(chunk);
      chunk = "";
    }
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    chunk += BASE64[n >>> 18]! + BASE64[(n >>> 12) & 63]! + "==";
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    chunk += BASE64[n >>> 18]! + BASE64[(n >>> 12) & 63]! + BASE64[(n >>> 6) & 63]! + "=";
  }
  parts.push(chunk);
  return parts.join("");
}

/** Thrown when a server message cannot be understood; the client reports it as an `error` event. */
export class ProtocolError extends Error {
  override name = "ProtocolError";
}

/**
 * Decodes one server message: a string is JSON (text mode, or control replies), binary is msgpack.
 * Missing optional fields get the service's defaults so consumers can rely on every field being present,
 * even against an older service that sends only the original eleven.
 */
export function parseServerMessage(data: string | ArrayBuffer | Uint8Array): ServerMessage {
  let raw: unknown;
  try {
    raw = typeof data === "string" ? JSON.parse(data) : decodeMsgpack(data instanceof Uint8Array ? data : new Uint8Array(data));
  } catch (err) {
    throw new ProtocolError(`undecodable server message: ${(err as Error).message}`);
  }
  if (!isRecord(raw)) throw new ProtocolError("server message is not an object");
  switch (raw["type"]) {
    case "result":
      return normaliseResult(raw);
    case "error":
      return {
        type: "error",
        code: str(raw["code"]) ?? "unknown",
        message: str(raw["message"]) ?? "",
        timestamp: num(raw["timestamp"]),
        seq: num(raw["seq"]),
      };
    case "reply":
      return {
        type: "reply",
        request: str(raw["request"]) ?? "",
        data: isRecord(raw["data"]) ? raw["data"] : {},
      };
    default:
      throw new ProtocolError(`unknown server message type ${JSON.stringify(raw["type"])}`);
  }
}

function normaliseResult(raw: Record<string, unknown>): GazeResult {
  const pose = raw["head_pose"];
  return {
    type: "result",
    timestamp: num(raw["timestamp"]) ?? 0,
    pupil_left: point(raw["pupil_left"]),
    pupil_right: point(raw["pupil_right"]),
    horizontal_ratio: num(raw["horizontal_ratio"]),
    vertical_ratio: num(raw["vertical_ratio"]),
    is_left: raw["is_left"] === true,
    is_right: raw["is_right"] === true,
    is_center: raw["is_center"] === true,
    is_blinking: raw["is_blinking"] === true,
    attention_score: num(raw["attention_score"]) ?? 0,
    frame_processed: raw["frame_processed"] === true,
    seq: num(raw["seq"]) ?? 0,
    dropped: (str(raw["dropped"]) as DropReason | null) ?? null,
    latency_ms: num(raw["latency_ms"]) ?? 0,
    face_found: raw["face_found"] === true,
    face_box: box(raw["face_box"]),
    pupil_left_confidence: num(raw["pupil_left_confidence"]) ?? 0,
    pupil_right_confidence: num(raw["pupil_right_confidence"]) ?? 0,
    pupil_left_reason: str(raw["pupil_left_reason"]),
    pupil_right_reason: str(raw["pupil_right_reason"]),
    eye_openness_left: num(raw["eye_openness_left"]),
    eye_openness_right: num(raw["eye_openness_right"]),
    head_pose: isRecord(pose)
      ? { yaw: num(pose["yaw"]) ?? 0, pitch: num(pose["pitch"]) ?? 0, roll: num(pose["roll"]) ?? 0 }
      : null,
    attentive: raw["attentive"] === true,
    events: Array.isArray(raw["events"])
      ? raw["events"].filter((e): e is GazeEvent => isRecord(e) && typeof e["type"] === "string")
      : [],
    screen_x: num(raw["screen_x"]),
    screen_y: num(raw["screen_y"]),
    stages_ms: isRecord(raw["stages_ms"])
      ? Object.fromEntries(Object.entries(raw["stages_ms"]).filter((e): e is [string, number] => typeof e[1] === "number"))
      : {},
    pupil_left_smoothed: point(raw["pupil_left_smoothed"]),
    pupil_right_smoothed: point(raw["pupil_right_smoothed"]),
    horizontal_ratio_smoothed: num(raw["horizontal_ratio_smoothed"]),
    vertical_ratio_smoothed: num(raw["vertical_ratio_smoothed"]),
    screen_error: num(raw["screen_error"]),
    attention_frame: num(raw["attention_frame"]),
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}
function num(v: unknown): number | null {
  // msgpack may carry a u64 as a BigInt; results never need that range, so narrow it.
  if (typeof v === "bigint") return Number(v);
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}
function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}
function point(v: unknown): [number, number] | null {
  if (!Array.isArray(v) || v.length !== 2) return null;
  const x = num(v[0]);
  const y = num(v[1]);
  return x === null || y === null ? null : [x, y];
}
function box(v: unknown): [number, number, number, number] | null {
  if (!Array.isArray(v) || v.length !== 4) return null;
  const n = v.map(num);
  return n.every((x): x is number => x !== null) ? (n as [number, number, number, number]) : null;
}

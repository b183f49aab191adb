export { GazeClient, DEFAULT_URL } from "./client.js";
export type {
  ConnectionState,
  GazeClientError,
  GazeClientEvents,
  GazeClientOptions,
  GazeClientStats,
  GazeData,
  GazeErrorSource,
  WebSocketFactory,
  WebSocketLike,
} from "./client.js";
export type { FrameSource } from "./capture.js";
export { openCamera, CameraError, type CameraErrorKind } from "./camera.js";
export { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
export { InFlight, type PendingFrame } from "./inflight.js";
export { decodeMsgpack, MsgpackError, type MsgpackValue } from "./msgpack.js";
export { describeGaze, type GazeSummary, type Direction } from "./describe.js";
export { drawOverlay, type OverlayOptions } from "./overlay.js";
export {
  calibrate,
  exportCalibration,
  importCalibration,
  resetCalibration,
  type CalibrateOptions,
  type CalibrationPoint,
  type CalibrationRequest,
  type CalibrationResult,
  type CalibrationTransport,
  type TargetKind,
} from "./calibration.js";
export {
  BINARY_HEADER_SIZE,
  BINARY_VERSION,
  encodeBinaryFrame,
  encodeTextFrame,
  parseServerMessage,
  ProtocolError,
  writeFrameHeader,
} from "./protocol.js";
export type {
  ControlMessage,
  DropReason,
  ErrorMessage,
  GazeEvent,
  GazeResult,
  HeadPose,
  ReplyMessage,
  ServerMessage,
} from "./protocol.js";

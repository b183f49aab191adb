/**
 * Screen calibration against a gazepipe session (the protocol is in the service's docs/attention.md, "Screen
 * calibration"): the page shows targets, the service records the gaze ratios and head pose of the frames while each
 * target is up, fits a mapping, and from then on every result carries `screen_x`, `screen_y` (0..1 across the
 * screen) and `screen_error`. The service stores nothing: keep `CalibrationResult.calibration` (for example in
 * localStorage) and give it to `importCalibration()` next time.
 *
 * Frames must keep streaming during `calibrate()` (start the client's camera first): the service calibrates on them.
 */

/** What `calibrate()` needs of a client: `GazeClient` has it. */
export interface CalibrationTransport {
  request(message: CalibrationRequest, timeoutMs?: number): Promise<Record<string, unknown>>;
}

export interface CalibrationRequest {
  type: "calibration";
  action: "start" | "point" | "validate" | "finish" | "reset" | "export" | "import";
  x?: number;
  y?: number;
  data?: Record<string, unknown>;
}

/** A target, normalised: x 0 at the screen's left edge .. 1 at its right, y 0 at the top .. 1 at the bottom. */
export type CalibrationPoint = [number, number];

export type TargetKind = "point" | "validate";

export interface CalibrateOptions {
  /** Shows the target (and hides the previous one); called before each target's settle time. */
  show: (x: number, y: number, kind: TargetKind, index: number, count: number) => void | Promise<void>;
  /** Called when the flow ends, however it ends. */
  hide?: () => void;
  /** Targets to fit; default: the service's suggestion (a 3x3 grid). */
  points?: CalibrationPoint[];
  /** Targets that measure the error; default: the service's suggestion (one). Pass [] to skip validation. */
  validationPoints?: CalibrationPoint[];
  /** How long a target is up before it is recorded; default: the service's suggestion (600 ms). */
  settleMs?: number;
  /** How long each target is recorded; default: the session's `calibration_collect_ms` (1000 ms). */
  collectMs?: number;
  /** Aborts the flow between targets. */
  signal?: AbortSignal;
}

export interface CalibrationResult {
  /** Mean distance between targets and gaze on the validation targets (screen units), or leave-one-out. */
  error: number | null;
  errorSource: "validation" | "leave_one_out" | string | null;
  /** The calibration as JSON: store it and pass it to `importCalibration()`. */
  calibration: Record<string, unknown>;
  /** The service's whole `finish` reply (per-target predictions, errors and frame counts). */
  reply: Record<string, unknown>;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new Error("gazepipe: calibration aborted"));
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(new Error("gazepipe: calibration aborted"));
      },
      { once: true },
    );
  });

function points(value: unknown): CalibrationPoint[] | undefined {
  if (!Array.isArray(value)) return undefined;
  return value.filter((p): p is CalibrationPoint => Array.isArray(p) && typeof p[0] === "number" && typeof p[1] === "number");
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

/**
 * Runs the calibration flow: `start`, then for each target show it, wait `settleMs`, send `point` (or `validate`)
 * and wait `collectMs` while frames stream, then `finish`. Rejects with the service's error (`calibration_failed`
 * when too few targets got frames with pupils; the previous calibration then stays in use).
 */
export async function calibrate(client: CalibrationTransport, options: CalibrateOptions): Promise<CalibrationResult> {
  const { signal } = options;
  try {
    const start = await client.request({ type: "calibration", action: "start" });
    const fit = options.points ?? points(start["points"]) ?? [];
    const check = options.validationPoints ?? points(start["validation_points"]) ?? [];
    const settleMs = options.settleMs ?? num(start["settle_ms"]) ?? 600;
    const collectMs = options.collectMs ?? num(start["collect_ms"]) ?? 1000;
    const targets: [CalibrationPoint, TargetKind][] = [
      ...fit.map((p): [CalibrationPoint, TargetKind] => [p, "point"]),
      ...check.map((p): [CalibrationPoint, TargetKind] => [p, "validate"]),
    ];
    for (const [index, [[x, y], kind]] of targets.entries()) {
      await options.show(x, y, kind, index, targets.length);
      await sleep(settleMs, signal);
      await client.request({ type: "calibration", action: kind, x, y });
      await sleep(collectMs, signal);
    }
    const reply = await client.request({ type: "calibration", action: "finish" });
    const calibration = reply["calibration"];
    return {
      error: num(reply["error"]) ?? null,
      errorSource: typeof reply["error_source"] === "string" ? reply["error_source"] : null,
      calibration: typeof calibration === "object" && calibration !== null ? (calibration as Record<string, unknown>) : {},
      reply,
    };
  } finally {
    options.hide?.();
  }
}

/** Makes a stored calibration the session's; rejects with `bad_calibration` when it is not one. */
export function importCalibration(client: CalibrationTransport, calibration: Record<string, unknown>): Promise<Record<string, unknown>> {
  return client.request({ type: "calibration", action: "import", data: calibration });
}

/** The session's calibration as JSON, or null when it has none. */
export async function exportCalibration(client: CalibrationTransport): Promise<Record<string, unknown> | null> {
  const reply = await client.request({ type: "calibration", action: "export" });
  const calibration = reply["calibration"];
  return typeof calibration === "object" && calibration !== null ? (calibration as Record<string, unknown>) : null;
}

/** Back to uncalibrated: `screen_x`, `screen_y` and `screen_error` are null again. */
export function resetCalibration(client: CalibrationTransport): Promise<Record<string, unknown>> {
  return client.request({ type: "calibration", action: "reset" });
}

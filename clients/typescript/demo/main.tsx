/**
 * The /demo page: the CameraAttention component streaming to the service that served the page, plus the
 * numbers someone debugging an integration wants. The latest result is kept in `window.gazepipe.last`.
 *
 * Query parameters: ws (endpoint URL), token (the service's GAZEPIPE_TOKEN, when it requires one),
 * mode (binary | text), fps, quality (0..1), mirror (0 | 1).
 *
 * Calibration mode (the "Calibration" card): "Calibrate" runs `calibrate()` through `CalibrationOverlay` (the page
 * goes full screen when the browser allows it, so the targets span the screen), then a small screen map shows each
 * result's `screen_x`/`screen_y` as a dot, with the validation error. "Reset", "Export" (download and clipboard) and
 * "Import" (a file saved by Export) use the session's calibration; the service itself stores nothing.
 */

import { StrictMode, useEffect, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import type { ConnectionState, GazeClientError, GazeData, GazeEvent, GazeClient, CalibrationResult } from "../src/index.js";
import { exportCalibration, importCalibration, resetCalibration } from "../src/index.js";
import { CalibrationOverlay, CameraAttention } from "../src/react/index.js";

interface DemoGlobal {
  /** The latest result. */
  last: GazeData | null;
  /** Results received since the page loaded. */
  count: number;
  state: ConnectionState;
  /** The last 20 client errors. */
  errors: GazeClientError[];
  client: GazeClient | null;
}

declare global {
  interface Window {
    gazepipe: DemoGlobal;
  }
}

const params = new URLSearchParams(location.search);
const defaultWs = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/gaze`;
const token = params.get("token");
const url = (params.get("ws") ?? defaultWs) + (token ? `?token=${encodeURIComponent(token)}` : "");
const mode = params.get("mode") === "text" ? "text" : "binary";
const fps = Number(params.get("fps")) || 10;
const jpegQuality = Number(params.get("quality")) || 0.8;
const mirrored = params.get("mirror") !== "0";

window.gazepipe = { last: null, count: 0, state: "closed", errors: [], client: null };

function Demo() {
  const [events, setEvents] = useState<(GazeEvent & { at: string })[]>([]);
  // Held in state so the numbers re-render with each result and always match the overlay.
  const [last, setLast] = useState<GazeData | null>(null);

  const onResult = (data: GazeData) => {
    window.gazepipe.last = data;
    window.gazepipe.count++;
    setLast(data);
    if (data.events.length) {
      const at = new Date().toLocaleTimeString();
      setEvents((old) => [...data.events.map((e) => ({ ...e, at })), ...old].slice(0, 50));
    }
  };
  const onError = (error: GazeClientError) => {
    window.gazepipe.errors = [...window.gazepipe.errors, error].slice(-20);
  };

  return (
    <div className="layout">
      <CameraAttention
        url={url}
        mode={mode}
        fps={fps}
        jpegQuality={jpegQuality}
        mirrored={mirrored}
        onResult={onResult}
        onError={onError}
        style={{ flex: "2 1 480px" }}
      >
        {(gaze) => {
          window.gazepipe.state = gaze.connection;
          window.gazepipe.client = gaze.client;
          return null;
        }}
      </CameraAttention>
      <Side events={events} last={last} />
    </div>
  );
}

function Side({ events, last }: { events: (GazeEvent & { at: string })[]; last: GazeData | null }) {
  // Also re-rendered twice a second, so connection state and counters move while no result comes.
  const [, force] = useState(0);
  const stats = window.gazepipe.client?.stats;
  useInterval(() => force((n) => n + 1), 500);
  const f = (v: number | null | undefined, digits = 2) => (v === null || v === undefined ? "–" : v.toFixed(digits));
  return (
    <div className="side">
      <div className="card">
        <h2>Numbers</h2>
        <dl>
          <dt>endpoint</dt><dd><code>{url}</code> ({mode})</dd>
          <dt>connection</dt><dd>{window.gazepipe.state}</dd>
          <dt>results</dt><dd>{window.gazepipe.count}</dd>
          <dt>frames sent</dt><dd>{stats?.sent ?? 0} (skipped for backpressure {stats?.skippedBackpressure ?? 0})</dd>
          <dt>round trip</dt><dd>{f(last?.rtt_ms, 0)} ms (service {f(last?.latency_ms, 1)} ms)</dd>
          <dt>face</dt><dd>{last ? (last.face_found ? `found ${last.face_box?.join(", ")}` : "not found") : "–"}</dd>
          <dt>pupils</dt><dd>{last ? `${last.pupil_left ? "left ✓" : `left ✗ ${last.pupil_left_reason ?? ""}`} · ${last.pupil_right ? "right ✓" : `right ✗ ${last.pupil_right_reason ?? ""}`}` : "–"}</dd>
          <dt>ratios h / v</dt><dd>{f(last?.horizontal_ratio)} / {f(last?.vertical_ratio)}</dd>
          <dt>openness</dt><dd>{f(last?.eye_openness_left)} / {f(last?.eye_openness_right)}</dd>
          <dt>head yaw / pitch</dt><dd>{last?.head_pose ? `${f(last.head_pose.yaw, 0)}° / ${f(last.head_pose.pitch, 0)}°` : "–"}</dd>
          <dt>attention</dt><dd>{f(last?.attention_score)} {last?.attentive ? "(attentive)" : ""}</dd>
          {last?.screen_x !== null && last?.screen_x !== undefined && (
            <><dt>screen x / y</dt><dd>{f(last.screen_x)} / {f(last.screen_y)}</dd></>
          )}
        </dl>
      </div>
      <Calibration last={last} />
      <div className="card">
        <h2>Events</h2>
        {events.length === 0 ? <span style={{ color: "#889" }}>none yet</span> : (
          <ul className="events">
            {events.map((e, i) => <li key={i}>{e.at} <strong>{e.type}</strong> {describeEvent(e)}</li>)}
          </ul>
        )}
      </div>
      <div className="card">
        <details>
          <summary>Last result (also in <code>window.gazepipe.last</code>)</summary>
          <pre>{last ? JSON.stringify(last, null, 1) : "–"}</pre>
        </details>
      </div>
    </div>
  );
}

type CalibrationStatus = { kind: "idle" | "running" | "ok" | "error"; text: string };

/** The calibration mode: runs the flow, shows where the gaze falls on the screen and handles the JSON. */
function Calibration({ last }: { last: GazeData | null }) {
  const [active, setActive] = useState(false);
  const [status, setStatus] = useState<CalibrationStatus>({ kind: "idle", text: "not calibrated" });
  const [result, setResult] = useState<CalibrationResult | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  const client = window.gazepipe.client;
  const streaming = window.gazepipe.state === "open";
  const f = (v: number | null | undefined, digits = 3) => (v === null || v === undefined ? "–" : v.toFixed(digits));

  // Leaving full screen (Escape does that first in most browsers) cancels: the targets no longer span the screen.
  useEffect(() => {
    if (!active) return;
    const onChange = () => {
      if (!document.fullscreenElement) setActive(false);
    };
    document.addEventListener("fullscreenchange", onChange);
    return () => document.removeEventListener("fullscreenchange", onChange);
  }, [active]);

  const fail = (what: string) => (err: unknown) =>
    setStatus({ kind: "error", text: `${what}: ${err instanceof Error ? err.message : String(err)}` });

  const start = () => {
    if (!client || !streaming) {
      setStatus({ kind: "error", text: "calibration needs the camera streaming to the service" });
      return;
    }
    setStatus({ kind: "running", text: "calibrating: follow the dots" });
    // Full screen so the targets (and so screen_x/screen_y) span the screen; over the page when refused.
    document.documentElement.requestFullscreen?.().catch(() => undefined);
    setActive(true);
  };
  const leaveFullscreen = () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => undefined);
  };
  const onDone = (r: CalibrationResult) => {
    setActive(false);
    leaveFullscreen();
    setResult(r);
    setStatus({ kind: "ok", text: "calibrated" });
  };
  const onError = (err: Error) => {
    setActive(false);
    leaveFullscreen();
    // Escape (or leaving the page) aborts the flow; the previous calibration, if any, stays in use.
    if (/aborted/.test(err.message)) setStatus({ kind: "idle", text: "calibration cancelled" });
    else fail("calibration failed")(err);
  };

  const reset = () => {
    if (!client) return;
    resetCalibration(client).then(() => {
      setResult(null);
      setStatus({ kind: "idle", text: "reset: not calibrated" });
    }, fail("reset failed"));
  };
  const exportIt = () => {
    if (!client) return;
    exportCalibration(client).then((calibration) => {
      if (!calibration) {
        setStatus({ kind: "error", text: "nothing to export: not calibrated" });
        return;
      }
      const json = JSON.stringify(calibration, null, 1);
      const link = document.createElement("a");
      link.href = URL.createObjectURL(new Blob([json], { type: "application/json" }));
      link.download = "gazepipe-calibration.json";
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
      navigator.clipboard?.writeText(json).then(
        () => setStatus({ kind: "ok", text: "exported: downloaded and copied to the clipboard" }),
        () => setStatus({ kind: "ok", text: "exported: downloaded" }),
      );
    }, fail("export failed"));
  };
  const importIt = async (file: File | undefined) => {
    if (!client || !file) return;
    try {
      const data: unknown = JSON.parse(await file.text());
      if (typeof data !== "object" || data === null || Array.isArray(data)) throw new Error("not a calibration object");
      await importCalibration(client, data as Record<string, unknown>);
      setResult(null);
      setStatus({ kind: "ok", text: `imported ${file.name}` });
    } catch (err) {
      fail("import failed")(err);
    }
  };

  const x = last?.screen_x;
  const y = last?.screen_y;
  const hasPoint = typeof x === "number" && typeof y === "number";
  const aspect = screen.width > 0 && screen.height > 0 ? screen.width / screen.height : 16 / 9;
  const error = result?.error ?? last?.screen_error ?? null;
  return (
    <div className="card calibration">
      <h2>Calibration</h2>
      <div className="buttons">
        <button type="button" onClick={start} disabled={active}>Calibrate</button>
        <button type="button" onClick={reset} disabled={active || !client}>Reset</button>
        <button type="button" onClick={exportIt} disabled={active || !client}>Export</button>
        <button type="button" onClick={() => fileInput.current?.click()} disabled={active || !client}>Import</button>
        <input
          ref={fileInput}
          type="file"
          accept="application/json,.json"
          hidden
          onChange={(e) => {
            void importIt(e.target.files?.[0]);
            e.target.value = "";
          }}
        />
      </div>
      <div className="screen-map" style={{ aspectRatio: String(aspect) }} aria-label="Where the gaze falls on the screen">
        {hasPoint && (
          <div
            className="gaze-dot"
            style={{ left: `${Math.min(1, Math.max(0, x)) * 100}%`, top: `${Math.min(1, Math.max(0, y)) * 100}%` }}
          />
        )}
      </div>
      <dl>
        <dt>status</dt><dd className={status.kind === "error" ? "calibration-error" : undefined}>{status.text}</dd>
        <dt>screen x / y</dt><dd>{hasPoint ? `${f(x)} / ${f(y)}` : "–"}</dd>
        <dt>error</dt><dd>{error === null ? "–" : `${f(error)} (screen units${result?.errorSource ? `, ${result.errorSource}` : ""})`}</dd>
      </dl>
      <CalibrationOverlay client={active ? client : null} active={active} onDone={onDone} onError={onError} />
    </div>
  );
}

/** An event's own fields, minus its epoch-ms start/end (the list shows wall-clock time) and empty ones. */
function describeEvent(e: GazeEvent): string {
  return Object.entries(e)
    .filter(([k, v]) => !["type", "at", "start", "end", "timestamp"].includes(k) && v !== null && v !== undefined)
    .map(([k, v]) => {
      if (typeof v !== "number") return `${k}=${String(v)}`;
      return k.endsWith("duration") || k.endsWith("_ms") ? `${k} ${Math.round(v)} ms` : `${k}=${Math.round(v * 1000) / 1000}`;
    })
    .join(" ");
}

function useInterval(fn: () => void, ms: number) {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    const id = setInterval(() => ref.current(), ms);
    return () => clearInterval(id);
  }, [ms]);
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <Demo />
  </StrictMode>,
);

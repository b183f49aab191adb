"use client";
/**
 * CalibrationOverlay: runs the service's screen calibration (`calibrate()`) with a full-window overlay that shows
 * one target at a time. Mount it with `active` while the client is streaming; it calls `onDone` with the result
 * (keep `result.calibration` and `importCalibration()` it next time) or `onError`. Escape cancels.
 *
 * The targets are placed across the browser window, so `screen_x`/`screen_y` come out relative to the window:
 * make the page full screen for screen coordinates.
 */

import { useEffect, useState } from "react";
import { calibrate, type CalibrateOptions, type CalibrationResult, type TargetKind } from "../calibration.js";
import type { GazeClient } from "../client.js";

export interface CalibrationOverlayProps {
  client: GazeClient | null;
  active: boolean;
  onDone: (result: CalibrationResult) => void;
  onError?: (error: Error) => void;
  /** Targets, timing: as `calibrate()` takes them (default: the service's suggestions). */
  options?: Omit<CalibrateOptions, "show" | "hide" | "signal">;
  /** Target diameter in CSS pixels. */
  size?: number;
}

interface Target {
  x: number;
  y: number;
  kind: TargetKind;
  index: number;
  count: number;
}

export function CalibrationOverlay({ client, active, onDone, onError, options, size = 24 }: CalibrationOverlayProps) {
  const [target, setTarget] = useState<Target | null>(null);

  useEffect(() => {
    if (!active || !client) return;
    const abort = new AbortController();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") abort.abort();
    };
    window.addEventListener("keydown", onKey);
    calibrate(client, {
      ...options,
      signal: abort.signal,
      show: (x, y, kind, index, count) => setTarget({ x, y, kind, index, count }),
      hide: () => setTarget(null),
    }).then(
      (result) => {
        if (!abort.signal.aborted) onDone(result);
      },
      (err: unknown) => onError?.(err instanceof Error ? err : new Error(String(err))),
    );
    return () => {
      window.removeEventListener("keydown", onKey);
      abort.abort();
    };
    // The flow runs once per activation; callbacks and options are read when it starts.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [active, client]);

  if (!active) return null;
  return (
    <div
      role="dialog"
      aria-label="Screen calibration"
      style={{ position: "fixed", inset: 0, background: "rgba(20, 20, 24, 0.92)", zIndex: 2147483000, cursor: "none" }}
    >
      <p style={{ color: "#ddd", font: "15px system-ui, sans-serif", textAlign: "center", marginTop: "2em" }}>
        {target
          ? `Look at the ${target.kind === "validate" ? "green" : "white"} dot (${target.index + 1} of ${target.count}). Esc cancels.`
          : "Starting calibration..."}
      </p>
      {target && (
        <div
          style={{
            position: "absolute",
            left: `calc(${target.x * 100}% - ${size / 2}px)`,
            top: `calc(${target.y * 100}% - ${size / 2}px)`,
            width: size,
            height: size,
            borderRadius: "50%",
            background: target.kind === "validate" ? "#4caf50" : "#fff",
            boxShadow: "0 0 0 4px rgba(255,255,255,0.25)",
          }}
        />
      )}
    </div>
  );
}

"use client";
/**
 * <CameraAttention />: a self-contained camera preview with the pupils drawn over it, gaze direction, an
 * attention meter, a blink indicator, latency, and plain-language messages when the camera or the service
 * is unavailable. Styled inline so it drops into any app without a CSS import.
 */

import { useEffect, useRef, type CSSProperties, type ReactNode } from "react";
import { describeGaze } from "../describe.js";
import { drawOverlay } from "../overlay.js";
import { useGaze, type UseGazeOptions, type UseGazeResult } from "./useGaze.js";

export interface CameraAttentionProps extends UseGazeOptions {
  /** Show the preview like a mirror (what people expect of a selfie view). Default true. */
  mirrored?: boolean;
  /** Draw the face box as well as the pupils. Default true. */
  showFaceBox?: boolean;
  /** Width of the component (CSS). Default 100% of its container, at most 640px. */
  width?: number | string;
  className?: string;
  style?: CSSProperties;
  /** Extra content under the panel, given the hook's state (e.g. an events list). */
  children?: (gaze: UseGazeResult) => ReactNode;
}

export function CameraAttention(props: CameraAttentionProps): ReactNode {
  const { mirrored = true, showFaceBox = true, width, className, style, children, ...options } = props;
  const gaze = useGaze(options);
  const { data, stream, connection, camera } = gaze;
  const videoRef = useRef<HTMLVideoElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);

  useEffect(() => {
    const video = videoRef.current;
    if (!video || video.srcObject === stream) return;
    video.srcObject = stream;
    if (stream) void video.play().catch(() => {});
  }, [stream]);

  useEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas) return;
    drawOverlay(canvas, data, {
      frameWidth: data?.frame_width ?? videoRef.current?.videoWidth ?? 0,
      frameHeight: data?.frame_height ?? videoRef.current?.videoHeight ?? 0,
      mirrored,
      showFaceBox,
    });
  }, [data, mirrored, showFaceBox]);

  const summary = describeGaze(data);
  const message = statusMessage(gaze, options.url);
  const latency = data ? `${Math.round(data.rtt_ms ?? data.latency_ms)} ms` : "–";

  return (
    <div
      className={className}
      data-gazepipe-camera={camera}
      data-gazepipe-connection={connection}
      style={{ width: width ?? "100%", maxWidth: width === undefined ? 640 : undefined, fontFamily: "system-ui, sans-serif", ...style }}
    >
      <div style={styles.stage}>
        <video
          ref={videoRef}
          muted
          playsInline
          autoPlay
          style={{ ...styles.video, transform: mirrored ? "scaleX(-1)" : undefined }}
        />
        <canvas ref={canvasRef} style={styles.overlay} aria-hidden="true" />
        {message && (
          <div role={camera === "error" || connection !== "open" ? "alert" : "status"} style={styles.message}>
            {message}
          </div>
        )}
      </div>
      <div style={styles.panel}>
        <div style={styles.row}>
          <strong style={{ fontSize: 18 }} data-gazepipe-direction={summary.direction}>
            {summary.label}
          </strong>
          <span title="blink" aria-label={summary.blinking ? "blinking" : "eyes open"} style={styles.blink(summary.blinking)}>
            <span style={styles.blinkDot(summary.blinking)} /> blink
          </span>
        </div>
        <div style={styles.row}>
          <span style={{ width: 80 }}>Attention</span>
          <div
            role="meter"
            aria-label="attention"
            aria-valuemin={0}
            aria-valuemax={1}
            aria-valuenow={summary.attention}
            style={styles.meter}
          >
            <div style={styles.meterFill(summary.attention, summary.attentive)} />
          </div>
          <span style={{ width: 44, textAlign: "right", fontVariantNumeric: "tabular-nums" }}>{Math.round(summary.attention * 100)}%</span>
        </div>
        <div style={{ ...styles.row, color: "#667", fontSize: 13 }}>
          <span>latency {latency}</span>
          <span>service {data ? `${Math.round(data.latency_ms)} ms` : "–"}</span>
          <span>{connection}</span>
        </div>
        {children?.(gaze)}
      </div>
    </div>
  );
}

/** The one message to show over the preview, most important first; null when all is well. */
function statusMessage(gaze: UseGazeResult, url: string | undefined): string | null {
  if (gaze.camera === "error") return gaze.cameraError?.message ?? "The camera could not be opened.";
  if (gaze.camera === "requesting") return "Waiting for camera permission…";
  if (gaze.connection === "reconnecting" || (gaze.connection === "closed" && gaze.error)) {
    // A refused handshake (origin, token, connection limit) looks the same as a dead port to a browser.
    return `The gaze service is not reachable at ${url ?? "ws://127.0.0.1:8001/ws/gaze"}. Is it running (make run)? If it is, its log says why it refused this page. Retrying…`;
  }
  if (gaze.connection === "connecting") return "Connecting to the gaze service…";
  if (gaze.data && !gaze.data.face_found && !gaze.data.dropped) return "No face in view: face the camera, with light on your face.";
  return null;
}

const styles = {
  stage: { position: "relative", width: "100%", background: "#111", borderRadius: 8, overflow: "hidden", minHeight: 120 } as CSSProperties,
  video: { display: "block", width: "100%", height: "auto" } as CSSProperties,
  overlay: { position: "absolute", inset: 0, width: "100%", height: "100%", pointerEvents: "none" } as CSSProperties,
  message: {
    position: "absolute", left: 12, right: 12, bottom: 12, padding: "8px 12px", borderRadius: 6,
    background: "rgba(0,0,0,0.7)", color: "#fff", fontSize: 14, lineHeight: 1.4,
  } as CSSProperties,
  panel: { display: "flex", flexDirection: "column", gap: 8, padding: "10px 2px" } as CSSProperties,
  row: { display: "flex", alignItems: "center", justifyContent: "space-between", gap: 12 } as CSSProperties,
  meter: { flex: 1, height: 12, background: "#e4e6eb", borderRadius: 6, overflow: "hidden" } as CSSProperties,
  meterFill: (v: number, attentive: boolean): CSSProperties => ({
    width: `${Math.round(v * 100)}%`, height: "100%", background: attentive ? "#2ecc71" : "#f1c40f", transition: "width 120ms linear",
  }),
  blink: (on: boolean): CSSProperties => ({ display: "inline-flex", alignItems: "center", gap: 6, color: on ? "#c0392b" : "#99a" }),
  blinkDot: (on: boolean): CSSProperties => ({
    width: 12, height: 12, borderRadius: 6, background: on ? "#e74c3c" : "#dde", boxShadow: on ? "0 0 8px #e74c3c" : "none",
  }),
};

/**
 * Draws a result over a video preview: face box and pupils. Pure canvas code with no React, so the demo
 * page, the component and anyone's own view share it.
 */

import type { GazeResult } from "./protocol.js";

export interface OverlayOptions {
  /** Size of the frame the coordinates refer to (the frame as sent). */
  frameWidth: number;
  frameHeight: number;
  /** Draw mirrored, to match a preview shown with `transform: scaleX(-1)`. */
  mirrored?: boolean;
  /** How the video is fitted into the canvas box, as CSS object-fit. Default "contain". */
  fit?: "contain" | "cover";
  showFaceBox?: boolean;
}

/** Clears the canvas and draws `data`; `null` just clears. Sizes the canvas backing store to its CSS box. */
export function drawOverlay(canvas: HTMLCanvasElement, data: GazeResult | null, options: OverlayOptions): void {
  const dpr = typeof window !== "undefined" ? window.devicePixelRatio || 1 : 1;
  const cssW = canvas.clientWidth || canvas.width;
  const cssH = canvas.clientHeight || canvas.height;
  const w = Math.max(1, Math.round(cssW * dpr));
  const h = Math.max(1, Math.round(cssH * dpr));
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  const ctx = canvas.getContext("2d");
  if (!ctx) return;
  ctx.clearRect(0, 0, w, h);
  if (!data || !options.frameWidth || !options.frameHeight) return;

  const fit = options.fit ?? "contain";
  const scale = (fit === "contain" ? Math.min : Math.max)(w / options.frameWidth, h / options.frameHeight);
  const ox = (w - options.frameWidth * scale) / 2;
  const oy = (h - options.frameHeight * scale) / 2;
  const mirrored = options.mirrored ?? false;
  const mapX = (x: number): number => (mirrored ? w - (ox + x * scale) : ox + x * scale);
  const mapY = (y: number): number => oy + y * scale;
  const line = Math.max(1.5, 2 * dpr);

  if (options.showFaceBox !== false && data.face_box) {
    const [bx, by, bw, bh] = data.face_box;
    const x0 = mapX(bx);
    const x1 = mapX(bx + bw);
    ctx.strokeStyle = data.attentive ? "rgba(46, 204, 113, 0.8)" : "rgba(241, 196, 15, 0.8)";
    ctx.lineWidth = line;
    ctx.strokeRect(Math.min(x0, x1), mapY(by), Math.abs(x1 - x0), bh * scale);
  }

  const radius = Math.max(4 * dpr, (data.face_box ? data.face_box[2] : options.frameWidth / 4) * scale * 0.035);
  for (const [pupil, confidence] of [
    [data.pupil_left, data.pupil_left_confidence],
    [data.pupil_right, data.pupil_right_confidence],
  ] as const) {
    if (!pupil) continue;
    const x = mapX(pupil[0]);
    const y = mapY(pupil[1]);
    // Opaque when the service is sure, fainter when it is guessing.
    const alpha = 0.45 + 0.55 * Math.min(1, Math.max(0, confidence || 1));
    ctx.lineWidth = line;
    ctx.strokeStyle = `rgba(255, 64, 64, ${alpha})`;
    ctx.beginPath();
    ctx.arc(x, y, radius, 0, Math.PI * 2);
    ctx.stroke();
    ctx.beginPath();
    ctx.moveTo(x - radius * 1.8, y);
    ctx.lineTo(x + radius * 1.8, y);
    ctx.moveTo(x, y - radius * 1.8);
    ctx.lineTo(x, y + radius * 1.8);
    ctx.stroke();
  }
}

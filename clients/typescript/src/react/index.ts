"use client";
// React bindings; React is an optional peer dependency, only needed when this entry point is imported.
export { useGaze, type CameraStatus, type UseGazeOptions, type UseGazeResult } from "./useGaze.js";
export { CameraAttention, type CameraAttentionProps } from "./CameraAttention.js";
export { CalibrationOverlay, type CalibrationOverlayProps } from "./CalibrationOverlay.js";

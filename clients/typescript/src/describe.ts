/** Turns a result into the few things a UI shows, so the React component and any other view agree. */

import type { GazeResult } from "./protocol.js";

/** Gaze direction from the person's own point of view (which is also what a mirrored preview shows). */
export type Direction = "left" | "right" | "center" | "unknown";

export interface GazeSummary {
  direction: Direction;
  /** Short text: "Looking left", "No face", ... */
  label: string;
  /** 0..1, the service's attention score clamped. */
  attention: number;
  attentive: boolean;
  blinking: boolean;
  faceFound: boolean;
  pupilsFound: number;
}

export function describeGaze(data: GazeResult | null): GazeSummary {
  if (!data) {
    return { direction: "unknown", label: "Waiting for the first result", attention: 0, attentive: false, blinking: false, faceFound: false, pupilsFound: 0 };
  }
  const pupilsFound = (data.pupil_left ? 1 : 0) + (data.pupil_right ? 1 : 0);
  // is_left / is_right keep the original GazeTracking contract: the person's own left and right.
  const direction: Direction = data.is_left ? "left" : data.is_right ? "right" : data.is_center ? "center" : "unknown";
  let label: string;
  if (data.dropped) label = `Frame dropped (${data.dropped})`;
  else if (!data.face_found) label = "No face in view";
  else if (data.is_blinking) label = "Blinking";
  else if (direction === "unknown") label = pupilsFound ? "Looking somewhere" : "Eyes not found";
  else label = direction === "center" ? "Looking at the screen" : `Looking ${direction}`;
  return {
    direction,
    label,
    attention: Math.min(1, Math.max(0, data.attention_score)),
    attentive: data.attentive,
    blinking: data.is_blinking,
    faceFound: data.face_found,
    pupilsFound,
  };
}

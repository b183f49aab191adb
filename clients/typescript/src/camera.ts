/** Opening the camera, with the browser's many failure modes mapped to a few kinds a UI can explain. */

export type CameraErrorKind = "denied" | "not_found" | "in_use" | "insecure" | "unsupported" | "unknown";

const MESSAGES: Record<CameraErrorKind, string> = {
  denied: "Camera access was denied. Allow the camera for this site (the camera icon in the address bar), then reload.",
  not_found: "No camera was found. Connect a camera and reload.",
  in_use: "The camera could not be started; another application may be using it.",
  insecure: "The camera needs a secure page: open this page over https, or on localhost / 127.0.0.1.",
  unsupported: "This browser cannot capture the camera (no navigator.mediaDevices.getUserMedia).",
  unknown: "The camera could not be opened.",
};

export class CameraError extends Error {
  override name = "CameraError";
  constructor(
    readonly kind: CameraErrorKind,
    readonly cause?: unknown,
  ) {
    super(MESSAGES[kind]);
  }
}

/** 640x480 at up to 30 FPS from the user-facing camera: what the service is tuned for. */
export const DEFAULT_CONSTRAINTS: MediaTrackConstraints = {
  width: { ideal: 640 },
  height: { ideal: 480 },
  frameRate: { ideal: 30 },
  facingMode: "user",
};

/** Asks for the camera; rejects with a `CameraError` whose message can be shown as is. */
export async function openCamera(constraints: MediaTrackConstraints = DEFAULT_CONSTRAINTS): Promise<MediaStream> {
  if (typeof window !== "undefined" && window.isSecureContext === false) throw new CameraError("insecure");
  if (typeof navigator === "undefined" || !navigator.mediaDevices?.getUserMedia) throw new CameraError("unsupported");
  try {
    return await navigator.mediaDevices.getUserMedia({ video: constraints, audio: false });
  } catch (err) {
    throw new CameraError(classify(err), err);
  }
}

function classify(err: unknown): CameraErrorKind {
  const name = (err as { name?: string } | null)?.name;
  switch (name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
    case "SecurityError":
      return "denied";
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return "not_found";
    case "NotReadableError":
    case "TrackStartError":
    case "AbortError":
      return "in_use";
    default:
      return "unknown";
  }
}

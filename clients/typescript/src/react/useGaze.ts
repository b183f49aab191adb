"use client";
/**
 * useGaze(): opens the camera, streams it to the service, and returns the latest result and statuses.
 * The client is created once per connection setting (url, mode, maxInFlight, maxWidth); fps and JPEG
 * quality change on the fly. The camera stream is stopped on unmount when this hook opened it.
 */

import { useEffect, useRef, useState } from "react";
import { CameraError, DEFAULT_CONSTRAINTS, openCamera } from "../camera.js";
import {
  GazeClient,
  type ConnectionState,
  type GazeClientError,
  type GazeClientOptions,
  type GazeData,
} from "../client.js";

export type CameraStatus = "idle" | "requesting" | "live" | "error";

export interface UseGazeOptions extends Omit<GazeClientOptions, "source"> {
  /** False pauses everything (no camera, no connection). Default true. */
  enabled?: boolean;
  /** A stream the caller already has; when set, the hook does not open (nor stop) the camera. */
  stream?: MediaStream | null;
  /** Constraints for getUserMedia when the hook opens the camera. */
  camera?: MediaTrackConstraints;
  /** Called for every result, without waiting for a render (e.g. to log or forward). */
  onResult?: (data: GazeData) => void;
  /** Called for every client error. */
  onError?: (error: GazeClientError) => void;
}

export interface UseGazeResult {
  /** The latest result, or null before the first. */
  data: GazeData | null;
  connection: ConnectionState;
  camera: CameraStatus;
  /** Why the camera is not live, with a message fit for the user. */
  cameraError: CameraError | null;
  /** The last client error (service errors, connection drops, ...), cleared by the next result. */
  error: GazeClientError | null;
  stream: MediaStream | null;
  client: GazeClient | null;
}

export function useGaze(options: UseGazeOptions = {}): UseGazeResult {
  const { enabled = true, stream: externalStream = null, camera: constraints } = options;
  const [ownStream, setOwnStream] = useState<MediaStream | null>(null);
  const [camera, setCamera] = useState<CameraStatus>("idle");
  const [cameraError, setCameraError] = useState<CameraError | null>(null);
  const [client, setClient] = useState<GazeClient | null>(null);
  const [connection, setConnection] = useState<ConnectionState>("closed");
  const [data, setData] = useState<GazeData | null>(null);
  const [error, setError] = useState<GazeClientError | null>(null);

  // Callbacks live in a ref so that passing inline functions does not rebuild the client every render.
  const callbacks = useRef({ onResult: options.onResult, onError: options.onError, factory: options.webSocketFactory });
  callbacks.current = { onResult: options.onResult, onError: options.onError, factory: options.webSocketFactory };

  // Camera: opened here unless the caller supplies a stream.
  const constraintsKey = JSON.stringify(constraints ?? null);
  useEffect(() => {
    if (!enabled || externalStream) {
      setCamera(externalStream ? "live" : "idle");
      setCameraError(null);
      return;
    }
    let cancelled = false;
    let opened: MediaStream | null = null;
    setCamera("requesting");
    setCameraError(null);
    openCamera(constraints ?? DEFAULT_CONSTRAINTS).then(
      (s) => {
        // An effect cleaned up while the permission prompt was open (e.g. React strict mode) must not leak the camera.
        if (cancelled) return stopStream(s);
        opened = s;
        setOwnStream(s);
        setCamera("live");
      },
      (err: unknown) => {
        if (cancelled) return;
        setCameraError(err instanceof CameraError ? err : new CameraError("unknown", err));
        setCamera("error");
      },
    );
    return () => {
      cancelled = true;
      if (opened) stopStream(opened);
      setOwnStream(null);
    };
    // constraints is compared by value through constraintsKey.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [enabled, externalStream, constraintsKey]);

  // Connection: one client per connection setting.
  const { url, mode, maxInFlight, maxWidth, answerTimeoutMs } = options;
  const hasFactory = options.webSocketFactory !== undefined;
  const reconnectKey = JSON.stringify(options.reconnect ?? null);
  useEffect(() => {
    if (!enabled) return;
    const c = new GazeClient({
      url,
      mode,
      maxInFlight,
      maxWidth,
      answerTimeoutMs,
      // Read through the ref at connect time, so an inline factory does not reconnect on every render.
      webSocketFactory: hasFactory ? (u) => callbacks.current.factory!(u) : undefined,
      reconnect: options.reconnect,
      fps: options.fps,
      jpegQuality: options.jpegQuality,
    });
    const offs = [
      c.on("state", setConnection),
      c.on("result", (d) => {
        setData(d);
        setError(null);
        callbacks.current.onResult?.(d);
      }),
      c.on("error", (e) => {
        setError(e);
        callbacks.current.onError?.(e);
      }),
    ];
    setClient(c);
    c.connect();
    return () => {
      for (const off of offs) off();
      c.close();
      setClient(null);
      setConnection("closed");
    };
    // fps and quality are applied below without a new connection; reconnect is compared by value.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [enabled, url, mode, maxInFlight, maxWidth, answerTimeoutMs, hasFactory, reconnectKey]);

  const stream = externalStream ?? ownStream;
  useEffect(() => {
    client?.setSource(stream);
  }, [client, stream]);

  useEffect(() => {
    client?.setCapture({ fps: options.fps, jpegQuality: options.jpegQuality });
  }, [client, options.fps, options.jpegQuality]);

  return { data, connection, camera, cameraError, error, stream, client };
}

function stopStream(stream: MediaStream): void {
  for (const track of stream.getTracks()) track.stop();
}

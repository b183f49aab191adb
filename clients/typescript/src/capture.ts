/**
 * Grabs JPEG frames from a <video> element or a MediaStream, through a canvas, scaled down to a width the
 * service is tuned for (its detectors are measured at 640x480; a 1080p frame would cost bandwidth and time
 * for nothing).
 */

export type FrameSource = HTMLVideoElement | MediaStream;

export interface GrabbedFrame {
  jpeg: Uint8Array;
  width: number;
  height: number;
}

export class FrameGrabber {
  readonly video: HTMLVideoElement;
  private readonly ownsVideo: boolean;
  private canvas: HTMLCanvasElement | null = null;

  constructor(source: FrameSource, private readonly maxWidth: number) {
    if (isVideoElement(source)) {
      this.video = source;
      this.ownsVideo = false;
    } else {
      // A detached, muted <video> still decodes a MediaStream; nothing is added to the page.
      const video = document.createElement("video");
      video.muted = true;
      video.playsInline = true;
      video.autoplay = true;
      video.srcObject = source;
      void video.play().catch(() => {
        /* autoplay of a muted stream is allowed; if a browser refuses, frames simply are not ready yet */
      });
      this.video = video;
      this.ownsVideo = true;
    }
  }

  /** True once the video has a decoded frame with known dimensions. */
  ready(): boolean {
    return this.video.readyState >= 2 /* HAVE_CURRENT_DATA */ && this.video.videoWidth > 0;
  }

  /** One JPEG of the current video frame, or null when no frame is ready or encoding failed. */
  async grab(quality: number): Promise<GrabbedFrame | null> {
    if (!this.ready()) return null;
    const scale = Math.min(1, this.maxWidth / this.video.videoWidth);
    const width = Math.round(this.video.videoWidth * scale);
    const height = Math.round(this.video.videoHeight * scale);
    const canvas = (this.canvas ??= document.createElement("canvas"));
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    const ctx = canvas.getContext("2d", { alpha: false });
    if (!ctx) return null;
    ctx.drawImage(this.video, 0, 0, width, height);
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
    if (!blob) return null;
    return { jpeg: new Uint8Array(await blob.arrayBuffer()), width, height };
  }

  dispose(): void {
    if (this.ownsVideo) {
      this.video.pause();
      this.video.srcObject = null;
    }
    this.canvas = null;
  }
}

function isVideoElement(source: FrameSource): source is HTMLVideoElement {
  return typeof HTMLVideoElement !== "undefined" && source instanceof HTMLVideoElement;
}

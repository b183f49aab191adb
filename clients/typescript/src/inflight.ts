/**
 * Bookkeeping of frames sent and not yet answered. The service answers every frame exactly once, in send
 * order, so this is a FIFO: an answer settles the oldest frame (its seq is checked when the answer carries one).
 * The capture loop asks `hasRoom()` before grabbing a frame and skips the tick when the window is full: a slow
 * service then sees a lower frame rate instead of a growing queue.
 */

export interface PendingFrame {
  seq: number;
  /** Position among all messages sent on the connection (frames and control messages share one answer order). */
  ordinal: number;
  /** Client clock (performance.now()) when the frame was sent, for the round-trip time. */
  sentAt: number;
  width: number;
  height: number;
}

export class InFlight {
  private readonly pending: PendingFrame[] = [];

  constructor(public maxInFlight: number) {
    if (!(maxInFlight >= 1)) throw new RangeError("maxInFlight must be at least 1");
  }

  get size(): number {
    return this.pending.length;
  }

  hasRoom(): boolean {
    return this.pending.length < this.maxInFlight;
  }

  /** Records a sent frame. Callers check `hasRoom()` first; this refuses rather than overfill. */
  add(frame: PendingFrame): boolean {
    if (!this.hasRoom()) return false;
    this.pending.push(frame);
    return true;
  }

  /**
   * Settles the frame an answer belongs to. Answers come in send order, so it is the oldest one; a seq that
   * does not match means frames were answered out of order or lost, and everything older than the matching
   * frame is dropped too (those answers will not come). Returns the frame, or undefined for an unknown seq.
   */
  settle(seq: number | null): PendingFrame | undefined {
    if (seq === null) return this.pending.shift();
    const index = this.pending.findIndex((f) => f.seq === seq >>> 0);
    if (index < 0) return undefined;
    return this.pending.splice(0, index + 1)[index];
  }

  /** The oldest unanswered frame, to detect a service that stopped answering. */
  oldest(): PendingFrame | undefined {
    return this.pending[0];
  }

  /** Forgets everything, e.g. when the connection closes: those answers will never come. */
  clear(): void {
    this.pending.length = 0;
  }
}

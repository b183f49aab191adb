/** Reconnect delays: exponential growth with a cap, and jitter so that many tabs do not reconnect in lockstep. */

export interface BackoffOptions {
  /** Delay before the first retry, in ms. */
  initialDelayMs: number;
  /** Upper bound of any delay, in ms. */
  maxDelayMs: number;
  /** Growth per failed attempt. */
  factor: number;
  /** Share of the delay that is random, 0..1: the delay is drawn from [d * (1 - jitter), d]. */
  jitter: number;
}

export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = {
  initialDelayMs: 500,
  maxDelayMs: 10_000,
  factor: 2,
  jitter: 0.5,
};

/**
 * The delay before retry number `attempt` (0 for the first retry).
 * `random` is injectable so tests are deterministic; it must return a value in [0, 1).
 */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const jitter = Math.min(1, Math.max(0, options.jitter));
  // Math.pow overflows to Infinity for large attempts, which the cap handles.
  const base = Math.min(options.maxDelayMs, options.initialDelayMs * Math.pow(options.factor, Math.max(0, attempt)));
  return Math.round(base * (1 - jitter * random()));
}

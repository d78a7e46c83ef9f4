/**
 * Trailing-edge throttling for what the extension forwards beside LSP's document sync: transport
 * only.
 *
 * Selections and visible ranges change on every keystroke; gathering a burst into one
 * notification keeps the extension host's JSON-RPC traffic off the typing path. Only the trailing
 * edge is sent: by then the language client has sent the didChange that the positions refer to.
 * What is recorded, and how often, is not decided here: the recorder's core sampler rate-limits
 * observations (observe.rate_hz), records the last state of a burst and drops unchanged ones
 * (docs/schema.md, "Observations").
 */

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Keeps the latest value per key and delivers it once the interval has passed. */
export class Throttle<T> {
  private readonly pending = new Map<string, T>();
  private readonly handles = new Map<string, unknown>();

  constructor(
    private readonly intervalMs: number,
    private readonly deliver: (key: string, value: T) => void,
    private readonly timers: Timers = realTimers,
  ) {}

  push(key: string, value: T): void {
    this.pending.set(key, value);
    if (!this.handles.has(key)) {
      this.handles.set(key, this.timers.setTimeout(() => this.flushKey(key), this.intervalMs));
    }
  }

  /** Deliver everything pending now (before a message that must come after it). */
  flush(): void {
    for (const key of [...this.pending.keys()]) {
      this.flushKey(key);
    }
  }

  dispose(): void {
    for (const handle of this.handles.values()) {
      this.timers.clearTimeout(handle);
    }
    this.handles.clear();
    this.pending.clear();
  }

  private flushKey(key: string): void {
    const handle = this.handles.get(key);
    if (handle !== undefined) {
      this.timers.clearTimeout(handle);
      this.handles.delete(key);
    }
    if (this.pending.has(key)) {
      const value = this.pending.get(key) as T;
      this.pending.delete(key);
      this.deliver(key, value);
    }
  }
}

// Timings from a user action (a key press, a click) to the frame painted on
// screen, kept in memory for the end-to-end benchmarks (`make bench ONLY=app`
// reads `window.__argusTrace.entries` over WebDriver). Cheap enough to stay
// on: one object per action, at most `limit` kept.

export interface TraceEntry {
  /** What started it: "step", "sam", "accept", "undo", "redo". */
  kind: string;
  frame: number;
  /** Milliseconds from the action to the first animation frame after the paint. */
  ms: number;
  /** Milliseconds from the action to named steps on the way (frame requested, received, drawn). */
  phases?: Record<string, number>;
}

type Now = () => number;
type NextFrame = (cb: () => void) => void;

export class Tracer {
  entries: TraceEntry[] = [];
  private pending: { kind: string; frame: number; t0: number } | null = null;

  constructor(
    private readonly now: Now = () => performance.now(),
    private readonly nextFrame: NextFrame = (cb) => requestAnimationFrame(() => cb()),
    private readonly limit = 2000,
  ) {}

  /** An action that should end with `frame` painted. A newer action replaces an unfinished one. */
  start(kind: string, frame: number) {
    this.pending = { kind, frame, t0: this.now() };
  }

  /** `frame` was drawn into the canvas; the entry is recorded once it is on screen. */
  painted(frame: number, marks?: Record<string, number>) {
    const p = this.pending;
    if (!p || p.frame !== frame) return;
    this.pending = null;
    const phases = marks
      ? Object.fromEntries(Object.entries(marks).map(([k, t]) => [k, t - p.t0]))
      : undefined;
    this.nextFrame(() => {
      this.entries.push({ kind: p.kind, frame, ms: this.now() - p.t0, ...(phases ? { phases } : {}) });
      if (this.entries.length > this.limit) this.entries.splice(0, this.entries.length - this.limit);
    });
  }

  clear() {
    this.entries = [];
    this.pending = null;
  }
}

import { describe, expect, it } from "vitest";
import { Tracer } from "./trace";

function clock() {
  let t = 0;
  const queued: (() => void)[] = [];
  return {
    now: () => t,
    advance: (ms: number) => (t += ms),
    nextFrame: (cb: () => void) => queued.push(cb),
    flush: () => queued.splice(0).forEach((cb) => cb()),
  };
}

describe("tracer", () => {
  it("times an action to the animation frame after its paint", () => {
    const c = clock();
    const t = new Tracer(c.now, c.nextFrame);
    t.start("step", 5);
    c.advance(10);
    t.painted(4); // an older frame finishing does not count
    c.advance(5);
    t.painted(5);
    expect(t.entries).toEqual([]);
    c.advance(8);
    c.flush();
    expect(t.entries).toEqual([{ kind: "step", frame: 5, ms: 23 }]);
    t.painted(5); // no action pending: nothing recorded
    c.flush();
    expect(t.entries).toHaveLength(1);
  });

  it("keeps the phases relative to the action", () => {
    const c = clock();
    const t = new Tracer(c.now, c.nextFrame);
    c.advance(100);
    t.start("step", 1);
    t.painted(1, { requested: 102, received: 130 });
    c.advance(40);
    c.flush();
    expect(t.entries).toEqual([{ kind: "step", frame: 1, ms: 40, phases: { requested: 2, received: 30 } }]);
  });

  it("a newer action replaces an unfinished one, and the list is bounded", () => {
    const c = clock();
    const t = new Tracer(c.now, c.nextFrame, 3);
    t.start("step", 1);
    t.start("step", 2);
    t.painted(1);
    c.flush();
    expect(t.entries).toEqual([]);
    for (let i = 0; i < 5; i++) {
      t.start("sam", 2);
      t.painted(2);
      c.flush();
    }
    expect(t.entries).toHaveLength(3);
  });
});

import { describe, expect, it } from "vitest";
import { detailScale, fit, frameToScreen, oneToOne, panBy, pixelAt, screenToFrame, zoomAbout, MAX_ZOOM, MIN_ZOOM, cssTransform } from "./view";

describe("view transform", () => {
  it("fits a wide frame into a tall viewport, centred", () => {
    const v = fit({ width: 200, height: 100 }, { width: 100, height: 100 });
    expect(v.zoom).toBeCloseTo(0.5);
    expect(v.panX).toBeCloseTo(0);
    expect(v.panY).toBeCloseTo(25);
  });

  it("1:1 centres on whole pixels", () => {
    const v = oneToOne({ width: 101, height: 50 }, { width: 200, height: 200 });
    expect(v).toEqual({ zoom: 1, panX: 49, panY: 75 });
  });

  it("screenToFrame inverts frameToScreen", () => {
    const v = { zoom: 2.5, panX: -13, panY: 7 };
    for (const p of [{ x: 0, y: 0 }, { x: 10.25, y: 3.5 }, { x: 639, y: 359 }]) {
      const back = screenToFrame(v, frameToScreen(v, p));
      expect(back.x).toBeCloseTo(p.x, 9);
      expect(back.y).toBeCloseTo(p.y, 9);
    }
  });

  it("pixelAt finds the pixel under the cursor and nothing outside", () => {
    const v = { zoom: 4, panX: 10, panY: 20 };
    const frame = { width: 8, height: 6 };
    expect(pixelAt(v, frame, { x: 10, y: 20 })).toEqual({ x: 0, y: 0 });
    expect(pixelAt(v, frame, { x: 13.9, y: 23.9 })).toEqual({ x: 0, y: 0 });
    expect(pixelAt(v, frame, { x: 14, y: 24 })).toEqual({ x: 1, y: 1 });
    expect(pixelAt(v, frame, { x: 9.9, y: 20 })).toBeNull();
    expect(pixelAt(v, frame, { x: 10 + 8 * 4, y: 20 })).toBeNull();
  });

  it("zooming keeps the point under the anchor fixed", () => {
    const v = { zoom: 1.5, panX: 30, panY: -4 };
    const anchor = { x: 123, y: 77 };
    const before = screenToFrame(v, anchor);
    const z = zoomAbout(v, anchor, 2);
    expect(z.zoom).toBeCloseTo(3);
    const after = screenToFrame(z, anchor);
    expect(after.x).toBeCloseTo(before.x, 9);
    expect(after.y).toBeCloseTo(before.y, 9);
  });

  it("zoom is clamped", () => {
    const v = { zoom: 1, panX: 0, panY: 0 };
    expect(zoomAbout(v, { x: 0, y: 0 }, 1e9).zoom).toBe(MAX_ZOOM);
    expect(zoomAbout(v, { x: 0, y: 0 }, 1e-9).zoom).toBe(MIN_ZOOM);
    expect(zoomAbout(v, { x: 0, y: 0 }, Number.NaN).zoom).toBe(1);
  });

  it("panning moves the frame by screen pixels", () => {
    const v = panBy({ zoom: 2, panX: 1, panY: 2 }, 10, -5);
    expect(frameToScreen(v, { x: 0, y: 0 })).toEqual({ x: 11, y: -3 });
    expect(cssTransform(v)).toBe("translate(11px, -3px) scale(2)");
  });

  it("asks for the detail the screen shows, in sixteenths", () => {
    expect(detailScale(1)).toBe(1);
    expect(detailScale(3)).toBe(1);
    expect(detailScale(0.47)).toBe(0.5);
    expect(detailScale(0.5)).toBe(0.5);
    expect(detailScale(0.51)).toBe(9 / 16);
    expect(detailScale(0.43)).toBe(7 / 16);
    expect(detailScale(0.2)).toBe(0.25);
    expect(detailScale(0.01)).toBe(1 / 16);
    expect(detailScale(0.45, 2)).toBe(15 / 16);
    expect(detailScale(0.47, 2)).toBe(1);
    expect(detailScale(0.6, 2)).toBe(1);
    expect(detailScale(Number.NaN)).toBe(1);
  });
});

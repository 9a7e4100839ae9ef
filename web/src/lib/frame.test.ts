import { describe, expect, it } from "vitest";
import { decodeFrame, decodeLayer, frameError, frameUrl, scaledUrl, schemeBase } from "./frame";

describe("frame transport", () => {
  it("picks the scheme form of the platform", () => {
    expect(schemeBase("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit")).toBe("frame://localhost/");
    expect(schemeBase("Mozilla/5.0 (Windows NT 10.0; Win64; x64)")).toBe("http://frame.localhost/");
  });

  it("builds frame URLs with selection, preview and revision", () => {
    const base = "frame://localhost/";
    expect(frameUrl(base, { videoId: "v1", frame: 12 })).toBe("frame://localhost/v1/12");
    expect(frameUrl(base, { videoId: "v1", frame: 3.7, selectedTrack: "t9", preview: 0, revision: 4 })).toBe(
      "frame://localhost/v1/3?sel=t9&preview=0&rev=4",
    );
    expect(frameUrl(base, { videoId: "v1", frame: 0, preview: null, selectedTrack: null })).toBe("frame://localhost/v1/0");
  });

  it("asks the loopback server the same paths, with hidden objects and decode-ahead", () => {
    const base = "http://127.0.0.1:4242/0123abcd/";
    expect(frameUrl(base, { videoId: "v1", frame: 5, hidden: ["a", "b"], ahead: true })).toBe(
      "http://127.0.0.1:4242/0123abcd/v1/5?hide=a%2Cb&ahead=1",
    );
  });

  it("decodes RGBA answers and rejects wrong sizes", () => {
    const f = decodeFrame("2", "1", new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]).buffer);
    expect([f.width, f.height, Array.from(f.data)]).toEqual([2, 1, [1, 2, 3, 4, 5, 6, 7, 8]]);
    expect(() => decodeFrame("2", "2", new Uint8Array(8).buffer)).toThrow(/expected 16/);
    expect(() => decodeFrame(null, "2", new Uint8Array(8).buffer)).toThrow(/no valid size/);
  });

  it("asks for the SAM preview's layer on its own path and reads where it goes", () => {
    expect(frameUrl("b/", { videoId: "v1", frame: 4, preview: 1, revision: 9, layer: true })).toBe("b/v1/4/preview?preview=1&rev=9");
    const headers: Record<string, string> = {
      "x-frame-width": "2",
      "x-frame-height": "1",
      "x-layer-left": "8",
      "x-layer-top": "3",
      "x-layer-width": "10",
      "x-layer-height": "6",
    };
    const body = new Uint8Array(8).buffer;
    const l = decodeLayer((n) => headers[n] ?? null, body);
    expect([l.left, l.top, l.width, l.height, l.image.width, l.image.height]).toEqual([8, 3, 10, 6, 2, 1]);
    expect(() => decodeLayer((n) => ({ ...headers, "x-layer-left": "9" })[n] ?? null, body)).toThrow(/outside/);
    expect(() => decodeLayer((n) => ({ ...headers, "x-layer-top": "" })[n] ?? null, body)).toThrow(/placement/);
    expect(() => decodeLayer((n) => ({ ...headers, "x-layer-width": "x" })[n] ?? null, body)).toThrow(/placement/);
  });

  it("shows the shell's error message", () => {
    expect(frameError(404, JSON.stringify({ kind: "not_found", message: "no video abc" }))).toBe("no video abc");
    expect(frameError(500, "boom")).toBe("frame request failed (500): boom");
  });
});

describe("scaled frames", () => {
  it("asks for a scaled frame only when scaled down", () => {
    expect(scaledUrl("frame://localhost/v/3?rev=1", 1)).toBe("frame://localhost/v/3?rev=1");
    expect(scaledUrl("frame://localhost/v/3?rev=1", 0.5)).toBe("frame://localhost/v/3?rev=1&scale=0.5");
    expect(scaledUrl("frame://localhost/v/3", 0.25)).toBe("frame://localhost/v/3?scale=0.25");
  });
});

// Rendered frames come from the shell as raw RGBA (size in the x-frame-width /
// x-frame-height headers): from its loopback frame server when it runs (see
// src-tauri/src/frame_server.rs), else from the `frame://` URI scheme (see
// src-tauri/src/frames.rs). Both answer the same paths.

import type { CommandError } from "./bindings";

export interface FrameRequest {
  videoId: string;
  frame: number;
  selectedTrack?: string | null;
  preview?: number | null;
  /** Tracks hidden in the object list. */
  hidden?: string[];
  /** Changes whenever masks or the SAM preview change, so the URL is new. */
  revision?: number;
  /** The frame view stepping through the video: the shell decodes ahead of it. */
  ahead?: boolean;
  /** Only the SAM preview's layer (`preview` is then its rank), not the frame. */
  layer?: boolean;
}

export interface RgbaFrame {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/** The scheme's base URL: `frame://localhost/` on Linux and macOS, `http://frame.localhost/` on Windows. */
export function schemeBase(userAgent: string): string {
  return /Windows/i.test(userAgent) ? "http://frame.localhost/" : "frame://localhost/";
}

export function frameUrl(base: string, r: FrameRequest): string {
  const q = new URLSearchParams();
  if (r.selectedTrack) q.set("sel", r.selectedTrack);
  if (r.hidden && r.hidden.length > 0) q.set("hide", r.hidden.join(","));
  if (r.preview !== undefined && r.preview !== null) q.set("preview", String(r.preview));
  if (r.revision !== undefined) q.set("rev", String(r.revision));
  if (r.ahead) q.set("ahead", "1");
  const query = q.toString();
  const layer = r.layer ? "/preview" : "";
  return `${base}${encodeURIComponent(r.videoId)}/${Math.trunc(r.frame)}${layer}${query ? `?${query}` : ""}`;
}

/** Checks the answer's size against its headers; throws a readable error otherwise. */
export function decodeFrame(width: string | null, height: string | null, body: ArrayBuffer): RgbaFrame {
  const w = Number(width);
  const h = Number(height);
  if (!Number.isInteger(w) || !Number.isInteger(h) || w <= 0 || h <= 0) {
    throw new Error(`the frame answer has no valid size (width ${width}, height ${height})`);
  }
  if (body.byteLength !== w * h * 4) {
    throw new Error(`the frame answer has ${body.byteLength} bytes, expected ${w * h * 4} for ${w}x${h} RGBA`);
  }
  return { width: w, height: h, data: new Uint8ClampedArray(body) };
}

/** The message of a failed frame answer (a JSON CommandError, or plain text). */
export function frameError(status: number, text: string): string {
  try {
    const e = JSON.parse(text) as CommandError;
    if (e && typeof e.message === "string") return e.message;
  } catch {
    // not JSON
  }
  return `frame request failed (${status}): ${text || "no details"}`;
}

/** Fetches a rendered frame; `signal` drops it when a newer one is wanted. */
export async function fetchFrame(url: string, signal?: AbortSignal): Promise<RgbaFrame> {
  const res = await fetch(url, { signal });
  if (!res.ok) throw new Error(frameError(res.status, await res.text()));
  return decodeFrame(res.headers.get("x-frame-width"), res.headers.get("x-frame-height"), await res.arrayBuffer());
}

/** The SAM preview drawn on its own: `image` goes at (`left`, `top`) of a frame of `width` x `height`. */
export interface PreviewLayer {
  left: number;
  top: number;
  width: number;
  height: number;
  image: RgbaFrame;
}

/** Reads a layer answer: a frame answer (the crop) with where it goes in the x-layer-* headers. */
export function decodeLayer(header: (name: string) => string | null, body: ArrayBuffer): PreviewLayer {
  const image = decodeFrame(header("x-frame-width"), header("x-frame-height"), body);
  const num = (k: string) => {
    const v = header(`x-layer-${k}`);
    return v === null || v.trim() === "" ? NaN : Number(v);
  };
  const [left, top, width, height] = ["left", "top", "width", "height"].map(num);
  if (![left, top, width, height].every(Number.isInteger) || width <= 0 || height <= 0) {
    throw new Error("the preview layer answer has no valid placement");
  }
  if (left < 0 || top < 0 || left + image.width > width || top + image.height > height) {
    throw new Error(`the preview layer (${image.width}x${image.height} at ${left},${top}) lies outside its ${width}x${height} frame`);
  }
  return { left, top, width, height, image };
}

/** Fetches the SAM preview's layer; `signal` drops it when a newer one is wanted. */
export async function fetchLayer(url: string, signal?: AbortSignal): Promise<PreviewLayer> {
  const res = await fetch(url, { signal });
  if (!res.ok) throw new Error(frameError(res.status, await res.text()));
  return decodeLayer((n) => res.headers.get(n), await res.arrayBuffer());
}

/** The URL the view fetches: `url` at `scale` of full size (raw RGBA either way). */
export function scaledUrl(url: string, scale: number): string {
  if (!(scale < 1)) return url;
  return `${url}${url.includes("?") ? "&" : "?"}scale=${scale}`;
}

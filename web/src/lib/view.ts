// The view transform of the frame view: where the frame lands on screen, and back.
// The same convention as argus-render's ViewTransform: screen = frame * zoom + pan,
// frame pixel (x, y) covers [x, x+1) x [y, y+1). Clicks are mapped back through
// `screenToFrame`, so what the user clicks is exactly what SAM and the store see.

export interface View {
  zoom: number;
  panX: number;
  panY: number;
}

export interface Size {
  width: number;
  height: number;
}

export interface Point {
  x: number;
  y: number;
}

export const MIN_ZOOM = 1 / 64;
export const MAX_ZOOM = 64;

export function clampZoom(zoom: number): number {
  if (!Number.isFinite(zoom)) return 1;
  return Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, zoom));
}

/** The whole frame, as large as fits, centred. */
export function fit(frame: Size, viewport: Size): View {
  const fw = Math.max(1, frame.width);
  const fh = Math.max(1, frame.height);
  const vw = Math.max(1, viewport.width);
  const vh = Math.max(1, viewport.height);
  const zoom = clampZoom(Math.min(vw / fw, vh / fh));
  return { zoom, panX: (vw - fw * zoom) / 2, panY: (vh - fh * zoom) / 2 };
}

/** One frame pixel per screen pixel, centred on whole pixels (no resampling). */
export function oneToOne(frame: Size, viewport: Size): View {
  return {
    zoom: 1,
    panX: Math.trunc((viewport.width - frame.width) / 2),
    panY: Math.trunc((viewport.height - frame.height) / 2),
  };
}

export function frameToScreen(view: View, p: Point): Point {
  return { x: p.x * view.zoom + view.panX, y: p.y * view.zoom + view.panY };
}

export function screenToFrame(view: View, p: Point): Point {
  return { x: (p.x - view.panX) / view.zoom, y: (p.y - view.panY) / view.zoom };
}

/** The integer frame pixel under a screen point, or null outside the frame. */
export function pixelAt(view: View, frame: Size, p: Point): Point | null {
  const f = screenToFrame(view, p);
  const x = Math.floor(f.x);
  const y = Math.floor(f.y);
  if (x < 0 || y < 0 || x >= frame.width || y >= frame.height) return null;
  return { x, y };
}

/** Zooms by `factor` keeping the frame point under `anchor` (screen) fixed. */
export function zoomAbout(view: View, anchor: Point, factor: number): View {
  const zoom = clampZoom(view.zoom * factor);
  const f = screenToFrame(view, anchor);
  return { zoom, panX: anchor.x - f.x * zoom, panY: anchor.y - f.y * zoom };
}

export function panBy(view: View, dx: number, dy: number): View {
  return { ...view, panX: view.panX + dx, panY: view.panY + dy };
}

/** The CSS transform that places a frame-sized canvas according to `view`. */
export function cssTransform(view: View): string {
  return `translate(${view.panX}px, ${view.panY}px) scale(${view.zoom})`;
}

/** The level of detail to ask the shell for: the power of two at or above
 *  what the screen shows (zoom times device pixels), at most 1 (full size),
 *  at least 1/8. A fitted 1080p frame in a 1000-px view gets 1/2. */
export function detailScale(zoom: number, devicePixelRatio = 1): number {
  const want = zoom * (devicePixelRatio > 0 ? devicePixelRatio : 1);
  if (!Number.isFinite(want) || want >= 1) return 1;
  const level = 2 ** Math.ceil(Math.log2(Math.max(want, 1 / 8)));
  return Math.min(1, level);
}

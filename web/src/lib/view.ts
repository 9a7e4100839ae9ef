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

/** Steps of the level of detail: fine enough that the shell sends little more
 *  than the screen shows, coarse enough that zooming refetches only now and then. */
export const DETAIL_STEP = 1 / 16;

/** The level of detail to ask the shell for: the multiple of 1/16 at or above
 *  what the screen shows (zoom times device pixels), at most 1 (full size),
 *  at least 1/16. A 1080p frame fitted at 43% gets 7/16 (840x473 pixels to
 *  move instead of 960x540 at the next power of two). */
export function detailScale(zoom: number, devicePixelRatio = 1): number {
  const want = zoom * (devicePixelRatio > 0 ? devicePixelRatio : 1);
  if (!Number.isFinite(want) || want >= 1) return 1;
  // The epsilon keeps exact steps (0.5) from rounding up through float noise.
  const steps = Math.ceil(want / DETAIL_STEP - 1e-9);
  return Math.min(1, Math.max(1, steps) * DETAIL_STEP);
}

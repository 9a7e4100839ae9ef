//! The masks of one frame, their styles and z-order, and the per-pixel
//! "which object is on top" map the renderer draws from.
//!
//! The map is kept **column-major** (`ids[x * height + y]`), the order COCO
//! runs come in, so painting a mask is a handful of contiguous `fill`s per run
//! and no transpose is ever needed; the GPU texture is the same buffer seen as
//! a `height x width` image and sampled with swapped coordinates. A column
//! range of the frame is a contiguous row range of that texture, so changing
//! one mask repaints and re-uploads only the columns it touches.
//!
//! Next to the map, a coarse grid of [`TILE`]x[`TILE`] tiles records which
//! tiles hold a single id. Outlines are only searched for near tiles that are
//! not uniform, so the cost of outlines is proportional to edge length, not
//! to mask area.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use argus_core::mask::Rle;

use crate::{Error, Result};

/// Side of the uniformity tiles, in frame pixels.
pub const TILE: u32 = 8;
/// Widest `outline_width` accepted; wider values are clamped (selection adds
/// one pixel on top).
pub const MAX_OUTLINE_WIDTH: u32 = 15;
/// Most objects one scene holds (ids are 32-bit; this bounds memory instead).
pub const MAX_OBJECTS: usize = 1 << 22;
/// Tile value meaning "more than one id in this tile".
pub(crate) const MIXED_TILE: u32 = u32::MAX;
/// How much hovering raises the fill opacity.
pub const HOVER_OPACITY_BOOST: f32 = 0.25;

/// Caller-chosen identity of an object (e.g. a track id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(pub u64);

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// How one object is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaskStyle {
    /// Label colour (sRGB bytes, blended as stored).
    pub color: [u8; 3],
    /// Fill opacity in `0..=1` (clamped).
    pub opacity: f32,
    /// Outline width in frame pixels, `0` for none; clamped to [`MAX_OUTLINE_WIDTH`].
    pub outline_width: u32,
    pub selected: bool,
    pub hovered: bool,
    pub hidden: bool,
}

impl Default for MaskStyle {
    fn default() -> Self {
        Self { color: [255, 64, 64], opacity: 0.4, outline_width: 1, selected: false, hovered: false, hidden: false }
    }
}

/// A style resolved to the numbers both compositors use. This is the single
/// definition of what selected and hovered mean:
/// - fill: `mix(frame, color, opacity)`, hovered adds [`HOVER_OPACITY_BOOST`];
/// - outline: pixels within `outline_width` of an edge, drawn in the colour
///   at `0.5 + 0.5 * opacity`; selected makes it one pixel wider, fully opaque
///   and lightened halfway to white.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResolvedStyle {
    pub fill: [f32; 4],
    pub outline: [f32; 4],
    pub outline_width: u32,
}

impl MaskStyle {
    pub fn resolve(&self) -> ResolvedStyle {
        let rgb = self.color.map(|c| f32::from(c) / 255.0);
        let mut opacity = if self.opacity.is_finite() { self.opacity.clamp(0.0, 1.0) } else { 0.0 };
        if self.hovered {
            opacity = (opacity + HOVER_OPACITY_BOOST).min(1.0);
        }
        let mut width = self.outline_width.min(MAX_OUTLINE_WIDTH);
        let (outline_rgb, outline_a) = if self.selected {
            width += 1;
            (rgb.map(|c| c + (1.0 - c) * 0.5), 1.0)
        } else {
            (rgb, 0.5 + 0.5 * opacity)
        };
        ResolvedStyle {
            fill: [rgb[0], rgb[1], rgb[2], opacity],
            outline: [outline_rgb[0], outline_rgb[1], outline_rgb[2], outline_a],
            outline_width: width,
        }
    }
}

#[derive(Debug, Clone)]
struct Object {
    id: ObjectId,
    rle: Rle,
    style: MaskStyle,
    /// Columns holding set pixels, `None` for an empty mask.
    cols: Option<Range<u32>>,
}

/// What changed since the renderer last looked: a column range of the id map
/// (and the tile columns over it) and/or the style table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Dirty {
    pub cols: Option<Range<u32>>,
    pub styles: bool,
}

static NEXT_SCENE_UID: AtomicU64 = AtomicU64::new(1);

/// The masks drawn over one frame (see the module docs).
///
/// Objects are kept bottom to top; [`MaskScene::insert`] puts new objects on
/// top. Every change records what it touches, and the renderer uploads only
/// that. A scene is meant to be drawn by one renderer at a time: a second
/// renderer would see it as new and upload it whole.
#[derive(Debug)]
pub struct MaskScene {
    uid: u64,
    width: u32,
    height: u32,
    /// Stable slots; the id painted in the map is `slot + 1`.
    slots: Vec<Option<Object>>,
    free: Vec<u32>,
    /// Slots bottom to top.
    order: Vec<u32>,
    index: HashMap<ObjectId, u32>,
    ids: Vec<u32>,
    tiles: Vec<u32>,
    /// Columns whose maps must be repainted.
    unpainted: Option<Range<u32>>,
    /// Repainted columns and styles the renderer has not uploaded yet.
    dirty: Dirty,
}

impl MaskScene {
    /// An empty scene for `width x height` frames.
    pub fn new(width: u32, height: u32) -> Result<Self> {
        let max = 1 << 15;
        if width == 0 || height == 0 || width > max || height > max {
            return Err(Error::InvalidSize { what: "mask scene", width, height, max });
        }
        let (tw, th) = (width.div_ceil(TILE), height.div_ceil(TILE));
        Ok(Self {
            uid: NEXT_SCENE_UID.fetch_add(1, Ordering::Relaxed),
            width,
            height,
            slots: Vec::new(),
            free: Vec::new(),
            order: Vec::new(),
            index: HashMap::new(),
            ids: vec![0; width as usize * height as usize],
            tiles: vec![0; tw as usize * th as usize],
            unpainted: None,
            dirty: Dirty { cols: None, styles: true },
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    pub fn contains(&self, id: ObjectId) -> bool {
        self.index.contains_key(&id)
    }

    /// Objects bottom to top, as drawn.
    pub fn objects(&self) -> impl Iterator<Item = (ObjectId, &Rle, &MaskStyle)> {
        self.order.iter().filter_map(|&s| self.slots.get(s as usize)?.as_ref()).map(|o| (o.id, &o.rle, &o.style))
    }

    pub fn style(&self, id: ObjectId) -> Option<&MaskStyle> {
        self.object(id).map(|o| &o.style)
    }

    /// Adds an object on top, or replaces the mask and style of an existing
    /// one in place (keeping its z position). Only the columns of the old and
    /// new mask are repainted.
    pub fn insert(&mut self, id: ObjectId, rle: Rle, style: MaskStyle) -> Result<()> {
        if rle.width() != self.width || rle.height() != self.height {
            return Err(Error::MaskSize {
                id,
                mask_width: rle.width(),
                mask_height: rle.height(),
                width: self.width,
                height: self.height,
            });
        }
        let cols = column_span(&rle);
        let new = Object { id, rle, style, cols: cols.clone() };
        if let Some(&slot) = self.index.get(&id) {
            let old_cols = self.slots.get(slot as usize).and_then(|o| o.as_ref()).and_then(|o| o.cols.clone());
            if let Some(entry) = self.slots.get_mut(slot as usize) {
                *entry = Some(new);
            }
            self.mark_cols(old_cols);
        } else {
            if self.order.len() >= MAX_OBJECTS {
                return Err(Error::TooManyObjects { count: self.order.len() + 1, max: MAX_OBJECTS });
            }
            let slot = match self.free.pop() {
                Some(s) => {
                    if let Some(entry) = self.slots.get_mut(s as usize) {
                        *entry = Some(new);
                    }
                    s
                }
                None => {
                    self.slots.push(Some(new));
                    (self.slots.len() - 1) as u32
                }
            };
            self.index.insert(id, slot);
            self.order.push(slot);
        }
        self.mark_cols(cols);
        self.dirty.styles = true;
        Ok(())
    }

    /// Removes an object; repaints only its columns.
    pub fn remove(&mut self, id: ObjectId) -> Result<()> {
        let slot = self.index.remove(&id).ok_or(Error::UnknownObject { id })?;
        let old = self.slots.get_mut(slot as usize).and_then(Option::take);
        self.order.retain(|&s| s != slot);
        self.free.push(slot);
        if let Some(o) = old {
            self.mark_cols(o.cols);
        }
        self.dirty.styles = true;
        Ok(())
    }

    /// Changes how an object looks. Colour, opacity, outline, selection and
    /// hover only touch the style table; hiding or showing repaints the
    /// object's columns.
    pub fn set_style(&mut self, id: ObjectId, style: MaskStyle) -> Result<()> {
        let slot = *self.index.get(&id).ok_or(Error::UnknownObject { id })?;
        let obj = self.slots.get_mut(slot as usize).and_then(|o| o.as_mut()).ok_or(Error::UnknownObject { id })?;
        let visibility_changed = obj.style.hidden != style.hidden;
        obj.style = style;
        let cols = obj.cols.clone();
        if visibility_changed {
            self.mark_cols(cols);
        }
        self.dirty.styles = true;
        Ok(())
    }

    /// Sets the z-order, bottom to top; `order` must list every object once.
    /// Repaints the whole map.
    pub fn set_order(&mut self, order: &[ObjectId]) -> Result<()> {
        let invalid = Error::InvalidOrder { listed: order.len(), actual: self.order.len() };
        if order.len() != self.order.len() {
            return Err(invalid);
        }
        let mut slots = Vec::with_capacity(order.len());
        let mut seen = std::collections::HashSet::with_capacity(order.len());
        for id in order {
            let slot = *self.index.get(id).ok_or(Error::UnknownObject { id: *id })?;
            if !seen.insert(slot) {
                return Err(invalid);
            }
            slots.push(slot);
        }
        self.order = slots;
        self.mark_cols(Some(0..self.width));
        Ok(())
    }

    /// Removes every object (e.g. when stepping to another frame).
    pub fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
        self.order.clear();
        self.index.clear();
        self.mark_cols(Some(0..self.width));
        self.dirty.styles = true;
    }

    fn object(&self, id: ObjectId) -> Option<&Object> {
        let slot = *self.index.get(&id)?;
        self.slots.get(slot as usize)?.as_ref()
    }

    fn mark_cols(&mut self, cols: Option<Range<u32>>) {
        let Some(c) = cols else { return };
        self.unpainted = Some(match self.unpainted.take() {
            Some(d) => d.start.min(c.start)..d.end.max(c.end),
            None => c,
        });
    }

    /// Repaints the id and tile maps where masks changed, now. The renderer
    /// does this itself before drawing; calling it earlier (e.g. on a worker
    /// thread after loading a frame's masks) takes that CPU work off the
    /// render thread. What it repainted stays marked for upload.
    pub fn prepare(&mut self) {
        if let Some(cols) = self.unpainted.take() {
            // Tiles are repainted whole, so widen to tile boundaries.
            let start = cols.start / TILE * TILE;
            let end = (cols.end.div_ceil(TILE) * TILE).min(self.width);
            self.paint(start..end);
            self.dirty.cols = Some(match self.dirty.cols.take() {
                Some(d) => d.start.min(start)..d.end.max(end),
                None => start..end,
            });
        }
    }

    /// The top-most visible object at frame pixel `(x, y)` (hover and click
    /// hit-testing; map a screen point with [`crate::ViewTransform::screen_to_frame`]
    /// and floor it). `None` outside the frame or where no mask is.
    pub fn object_at(&mut self, x: i64, y: i64) -> Option<ObjectId> {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return None;
        }
        self.prepare();
        let id = *self.ids.get(x as usize * self.height as usize + y as usize)?;
        let slot = id.checked_sub(1)?;
        Some(self.slots.get(slot as usize)?.as_ref()?.id)
    }

    /// Repaints what changed and hands the change set to the renderer.
    pub(crate) fn flush(&mut self) -> Dirty {
        self.prepare();
        std::mem::take(&mut self.dirty)
    }

    /// Marks everything dirty (a renderer seeing this scene for the first time).
    pub(crate) fn mark_all_dirty(&mut self) {
        self.dirty.cols = Some(0..self.width);
        self.dirty.styles = true;
    }

    pub(crate) fn uid(&self) -> u64 {
        self.uid
    }

    /// Id map, column-major, `0` = no object, else slot + 1.
    pub(crate) fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Tile map, column-major (`tiles[tx * tiles_high + ty]`).
    pub(crate) fn tiles(&self) -> &[u32] {
        &self.tiles
    }

    pub(crate) fn tile_grid(&self) -> (u32, u32) {
        (self.width.div_ceil(TILE), self.height.div_ceil(TILE))
    }

    /// Resolved styles indexed by slot (empty slots are transparent).
    pub(crate) fn slot_styles(&self) -> Vec<ResolvedStyle> {
        self.slots
            .iter()
            .map(|s| match s {
                Some(o) => o.style.resolve(),
                None => ResolvedStyle { fill: [0.0; 4], outline: [0.0; 4], outline_width: 0 },
            })
            .collect()
    }

    fn paint(&mut self, cols: Range<u32>) {
        let h = self.height as usize;
        let (start, end) = (cols.start as usize * h, cols.end as usize * h);
        if let Some(region) = self.ids.get_mut(start..end) {
            region.fill(0);
        }
        for &slot in &self.order {
            let Some(Some(obj)) = self.slots.get(slot as usize) else { continue };
            if obj.style.hidden {
                continue;
            }
            match &obj.cols {
                Some(c) if c.start < cols.end && cols.start < c.end => {}
                _ => continue,
            }
            let value = slot + 1;
            let mut pos = 0usize;
            for (i, &count) in obj.rle.counts().iter().enumerate() {
                let run_end = pos + count as usize;
                if i % 2 == 1 {
                    let (a, b) = (pos.max(start), run_end.min(end));
                    if a < b
                        && let Some(run) = self.ids.get_mut(a..b)
                    {
                        run.fill(value);
                    }
                }
                pos = run_end;
                if pos >= end {
                    break;
                }
            }
        }
        self.update_tiles(cols);
    }

    fn update_tiles(&mut self, cols: Range<u32>) {
        let (h, t) = (self.height as usize, TILE as usize);
        let (_, th) = self.tile_grid();
        for tx in (cols.start / TILE)..cols.end.div_ceil(TILE) {
            for ty in 0..th as usize {
                let (y0, y1) = (ty * t, ((ty + 1) * t).min(h));
                let x0 = tx as usize * t;
                let x1 = (x0 + t).min(self.width as usize);
                let first = self.ids.get(x0 * h + y0).copied().unwrap_or(0);
                let uniform = (x0..x1).all(|x| {
                    self.ids.get(x * h + y0..x * h + y1).is_some_and(|col| col.iter().all(|&v| v == first))
                });
                if let Some(tile) = self.tiles.get_mut(tx as usize * th as usize + ty) {
                    *tile = if uniform { first } else { MIXED_TILE };
                }
            }
        }
    }
}

/// Columns `[first, last + 1)` that hold set pixels.
fn column_span(rle: &Rle) -> Option<Range<u32>> {
    let h = u64::from(rle.height());
    let mut pos = 0u64;
    let mut first = None;
    let mut last_end = 0u64;
    for (i, &c) in rle.counts().iter().enumerate() {
        let end = pos + u64::from(c);
        if i % 2 == 1 && c > 0 {
            first.get_or_insert(pos / h);
            last_end = end;
        }
        pos = end;
    }
    let first = first?;
    Some(first as u32..last_end.div_ceil(h) as u32)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
pub(crate) mod tests {
    use super::*;

    /// A `w`x`h` mask set on `x0..x1` x `y0..y1` (also used by `cpu`'s tests).
    pub(crate) fn rect(w: u32, h: u32, x0: u32, y0: u32, x1: u32, y1: u32) -> Rle {
        let mut px = vec![0u8; (w * h) as usize];
        for y in y0..y1 {
            for x in x0..x1 {
                px[(y * w + x) as usize] = 1;
            }
        }
        Rle::from_bitmap_row_major(h, w, &px).unwrap()
    }

    /// The id map built from scratch, row-major, for comparison.
    fn expected_ids(scene: &MaskScene) -> Vec<u32> {
        let (w, h) = (scene.width as usize, scene.height as usize);
        let mut out = vec![0u32; w * h];
        for &slot in &scene.order {
            let o = scene.slots[slot as usize].as_ref().unwrap();
            if o.style.hidden {
                continue;
            }
            for (i, &b) in o.rle.to_bitmap_row_major().iter().enumerate() {
                if b != 0 {
                    out[i] = slot + 1;
                }
            }
        }
        out
    }

    fn actual_ids(scene: &MaskScene) -> Vec<u32> {
        let (w, h) = (scene.width as usize, scene.height as usize);
        let mut out = vec![0u32; w * h];
        for x in 0..w {
            for y in 0..h {
                out[y * w + x] = scene.ids[x * h + y];
            }
        }
        out
    }

    #[test]
    fn later_masks_paint_over_earlier_and_hidden_are_skipped() {
        let mut s = MaskScene::new(40, 30).unwrap();
        s.insert(ObjectId(1), rect(40, 30, 0, 0, 20, 20), MaskStyle::default()).unwrap();
        s.insert(ObjectId(2), rect(40, 30, 10, 10, 30, 25), MaskStyle::default()).unwrap();
        s.flush();
        let ids = actual_ids(&s);
        assert_eq!(ids[15 * 40 + 15], 2);
        assert_eq!(ids[5 * 40 + 5], 1);
        assert_eq!(ids[28 * 40 + 35], 0);
        s.set_style(ObjectId(2), MaskStyle { hidden: true, ..MaskStyle::default() }).unwrap();
        let d = s.flush();
        assert_eq!(d.cols, Some(8..32), "only the hidden mask's columns (10..30), widened to tiles");
        assert_eq!(actual_ids(&s)[15 * 40 + 15], 1);
        assert_eq!(actual_ids(&s), expected_ids(&s));
    }

    #[test]
    fn incremental_edits_match_a_full_rebuild() {
        let (w, h) = (70, 45);
        let mut s = MaskScene::new(w, h).unwrap();
        for i in 0..12u32 {
            let x0 = (i * 7) % 50;
            let y0 = (i * 5) % 30;
            s.insert(ObjectId(u64::from(i)), rect(w, h, x0, y0, x0 + 15, y0 + 12), MaskStyle::default()).unwrap();
        }
        s.flush();
        assert_eq!(actual_ids(&s), expected_ids(&s));
        s.insert(ObjectId(3), rect(w, h, 60, 2, 68, 40), MaskStyle::default()).unwrap();
        let d = s.flush();
        let cols = d.cols.unwrap();
        assert!(cols.start <= 21 && cols.end >= 68 && cols.end <= 70, "{cols:?}");
        assert_eq!(actual_ids(&s), expected_ids(&s));
        s.remove(ObjectId(5)).unwrap();
        s.insert(ObjectId(100), rect(w, h, 0, 0, 3, 3), MaskStyle::default()).unwrap();
        s.flush();
        assert_eq!(actual_ids(&s), expected_ids(&s));
        let mut order: Vec<_> = s.objects().map(|(id, _, _)| id).collect();
        order.reverse();
        s.set_order(&order).unwrap();
        s.flush();
        assert_eq!(actual_ids(&s), expected_ids(&s));
        assert_eq!(s.objects().next().unwrap().0, ObjectId(100));
    }

    #[test]
    fn object_at_hit_tests_the_top_visible_object() {
        let mut s = MaskScene::new(20, 10).unwrap();
        s.insert(ObjectId(1), rect(20, 10, 0, 0, 10, 10), MaskStyle::default()).unwrap();
        s.insert(ObjectId(2), rect(20, 10, 5, 0, 15, 5), MaskStyle::default()).unwrap();
        assert_eq!(s.object_at(6, 2), Some(ObjectId(2)));
        assert_eq!(s.object_at(6, 7), Some(ObjectId(1)));
        assert_eq!(s.object_at(17, 2), None);
        assert_eq!(s.object_at(-1, 2), None);
        assert_eq!(s.object_at(20, 2), None);
        s.set_style(ObjectId(2), MaskStyle { hidden: true, ..MaskStyle::default() }).unwrap();
        assert_eq!(s.object_at(6, 2), Some(ObjectId(1)));
        s.remove(ObjectId(1)).unwrap();
        assert_eq!(s.object_at(6, 7), None);
    }

    #[test]
    fn style_only_changes_do_not_repaint() {
        let mut s = MaskScene::new(32, 32).unwrap();
        s.insert(ObjectId(7), rect(32, 32, 1, 1, 5, 5), MaskStyle::default()).unwrap();
        s.flush();
        s.set_style(ObjectId(7), MaskStyle { selected: true, ..MaskStyle::default() }).unwrap();
        assert_eq!(s.flush(), Dirty { cols: None, styles: true });
        assert_eq!(s.flush(), Dirty::default());
    }

    #[test]
    fn tiles_mark_uniform_and_mixed_regions() {
        let mut s = MaskScene::new(48, 32).unwrap();
        s.insert(ObjectId(1), rect(48, 32, 0, 0, 8, 8), MaskStyle::default()).unwrap();
        s.insert(ObjectId(2), rect(48, 32, 10, 0, 20, 5), MaskStyle::default()).unwrap();
        s.flush();
        let (_, th) = s.tile_grid();
        let tile = |tx: u32, ty: u32| s.tiles()[(tx * th + ty) as usize];
        assert_eq!(tile(0, 0), 1);
        assert_eq!(tile(0, 1), 0);
        assert_eq!(tile(1, 0), MIXED_TILE);
        assert_eq!(tile(2, 1), 0);
    }

    #[test]
    fn errors_are_typed() {
        let mut s = MaskScene::new(10, 10).unwrap();
        assert!(matches!(
            s.insert(ObjectId(1), rect(11, 10, 0, 0, 1, 1), MaskStyle::default()),
            Err(Error::MaskSize { .. })
        ));
        assert_eq!(s.remove(ObjectId(9)), Err(Error::UnknownObject { id: ObjectId(9) }));
        s.insert(ObjectId(1), rect(10, 10, 0, 0, 1, 1), MaskStyle::default()).unwrap();
        s.insert(ObjectId(2), rect(10, 10, 0, 0, 1, 1), MaskStyle::default()).unwrap();
        assert!(matches!(s.set_order(&[ObjectId(1), ObjectId(1)]), Err(Error::InvalidOrder { .. })));
        assert!(MaskScene::new(0, 5).is_err());
    }

    #[test]
    fn resolve_defines_selection_and_hover() {
        let base = MaskStyle { color: [200, 0, 100], opacity: 0.4, outline_width: 2, ..MaskStyle::default() };
        let r = base.resolve();
        assert_eq!(r.fill[3], 0.4);
        assert!((r.outline[3] - 0.7).abs() < 1e-6);
        assert_eq!(r.outline_width, 2);
        let sel = MaskStyle { selected: true, ..base }.resolve();
        assert_eq!(sel.outline_width, 3);
        assert_eq!(sel.outline[3], 1.0);
        assert!(sel.outline[0] > r.outline[0] && sel.outline[1] > r.outline[1]);
        let hov = MaskStyle { hovered: true, ..base }.resolve();
        assert!((hov.fill[3] - 0.65).abs() < 1e-6);
        let wide = MaskStyle { outline_width: 99, selected: true, ..base }.resolve();
        assert_eq!(wide.outline_width, MAX_OUTLINE_WIDTH + 1);
    }

    #[test]
    fn column_span_finds_set_columns() {
        assert_eq!(column_span(&rect(10, 4, 3, 1, 6, 2)), Some(3..6));
        assert_eq!(column_span(&Rle::new(4, 10, vec![40]).unwrap()), None);
    }
}

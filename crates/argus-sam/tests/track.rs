//! `track::*`: the per-frame step of mask propagation (`argus_sam::track`) on
//! generated videos of moving discs with known ground truth, with the
//! generated test models (whose previous-mask guidance and predicted IoU are
//! what these tests exercise; see scripts/make_test_model.py).

use argus_core::Rle;
use argus_sam::{
    Error, LowResMask, SamModel, TrackState, TrackStepOptions, prompt_from_mask,
};

use crate::util::*;

pub const W: u32 = 320;
pub const H: u32 = 240;
const RED: [u8; 3] = [220, 30, 30];
const BLUE: [u8; 3] = [40, 60, 220];

fn rle(gt: &[u8], w: u32, h: u32) -> Result<Rle, String> {
    Rle::from_bitmap_row_major(h, w, gt).map_err(|e| e.to_string())
}

/// Frame `t` of the moving disc: it moves 6 px a frame to the right from
/// (60, 110), 1 px a frame down, and grows from radius 32 to 44 over 30 frames.
fn moving_disc(t: u32) -> (Frame, Vec<u8>) {
    let t = f64::from(t);
    let mut f = Frame::new(W, H);
    let gt = f.paint(RED, ellipse(60.0 + 6.0 * t, 110.0 + t, 32.0 + 0.4 * t, 32.0 + 0.4 * t));
    (f, gt)
}

/// Frame `t` of two discs that cross: a red one of radius 40 moving right
/// 4 px a frame from (60, 120), and a small blue one of radius 20, drawn over
/// it, flying left 24 px a frame from (260, 120) (points sampled deep inside
/// the red disc only land on the blue one when it moves farther in a frame
/// than they are deep). Returns the frame, the visible part of each disc, and
/// whether the discs are apart (more than 4 px between them).
fn crossing_discs(t: u32) -> (Frame, Vec<u8>, Vec<u8>, bool) {
    let t = f64::from(t);
    let (red_x, blue_x) = (60.0 + 4.0 * t, 260.0 - 24.0 * t);
    let mut f = Frame::new(W, H);
    let red = f.paint(RED, ellipse(red_x, 120.0, 40.0, 40.0));
    let blue = f.paint(BLUE, ellipse(blue_x, 120.0, 20.0, 20.0));
    let red = red.iter().zip(&blue).map(|(r, b)| r & !b & 1).collect();
    (f, red, blue, (red_x - blue_x).abs() > 40.0 + 20.0 + 4.0)
}

/// The models that give low-res masks back, one of each contract and layout.
fn tracking_models() -> Result<Vec<SamModel>, String> {
    let m = test_models()?;
    [&m.sam1, &m.sam2, &m.sam2x, &m.sam1lr]
        .into_iter()
        .map(|manifest| load(manifest, single_thread()))
        .collect()
}

/// Chaining `track_step` from the true first mask follows a disc that moves
/// 6 px a frame and grows: IoU >= 0.85 with the truth on each of 30 frames,
/// and the area within 15% of the truth's (a union with the previous mask,
/// as the test model used to do, lags behind and grows).
pub fn moving_disc_is_followed() -> TestResult {
    for model in tracking_models()? {
        let id = &model.manifest().id;
        let (_, first) = moving_disc(0);
        let mut state = TrackState::from_mask(rle(&first, W, H)?);
        let mut worst = 1.0f64;
        for t in 1..=30 {
            let (frame, gt) = moving_disc(t);
            let e = model.encode(&frame.view())?;
            state = model.track_step(&e, &state, &TrackStepOptions::default())?;
            let v = iou(&state.mask, &gt);
            let truth = gt.iter().filter(|&&b| b != 0).count() as f64;
            let area = state.mask.area() as f64;
            ensure!(v >= 0.85, "{id}: frame {t}: IoU {v:.3} < 0.85");
            ensure!(
                (area - truth).abs() <= 0.15 * truth,
                "{id}: frame {t}: area {area} is not within 15% of the truth's {truth}"
            );
            ensure!(state.low_res.is_some(), "{id}: the low-res mask is carried on");
            worst = worst.min(v);
        }
        eprintln!("{id}: worst IoU over 30 frames {worst:.3}");
    }
    Ok(())
}

/// Where the points of a prompt land on a frame: on red, on blue.
fn landing(state: &TrackState, red: &[u8], blue: &[u8]) -> Result<(usize, usize), String> {
    let prompt = prompt_from_mask(state, &TrackStepOptions::default()).ok_or("a prompt")?;
    let (mut r, mut b) = (0, 0);
    for c in &prompt.clicks {
        let i = c.point.y as usize * W as usize + c.point.x as usize;
        r += usize::from(red.get(i) == Some(&1));
        b += usize::from(blue.get(i) == Some(&1));
    }
    Ok((r, b))
}

/// The margin by which frames whose points land on both discs score below
/// frames where the discs are apart.
const CROSSING_MARGIN: f32 = 0.2;

/// A small blue disc flies across the red disc that is tracked: on the frames
/// where the points sampled from the previous mask land on both discs the
/// predicted IoU (the step's score) is at least `CROSSING_MARGIN` below that
/// of every frame where the discs are apart, and the track is still on the
/// red disc once they are apart again.
pub fn crossing_discs_lower_the_score() -> TestResult {
    for model in tracking_models()? {
        let id = &model.manifest().id;
        let (_, first, _, _) = crossing_discs(0);
        let mut state = TrackState::from_mask(rle(&first, W, H)?);
        let (mut mixed, mut apart) = (Vec::new(), Vec::new());
        for t in 1..=20 {
            let (frame, red, blue, is_apart) = crossing_discs(t);
            let (r, b) = landing(&state, &red, &blue)?;
            let e = model.encode(&frame.view())?;
            state = model.track_step(&e, &state, &TrackStepOptions::default())?;
            if r > 0 && b > 0 {
                mixed.push((t, state.score));
            } else if is_apart {
                apart.push((t, state.score));
            }
            if is_apart && t > 10 {
                let v = iou(&state.mask, &red);
                ensure!(v >= 0.85, "{id}: frame {t}, after the crossing: IoU {v:.3} with the red disc");
            }
        }
        ensure!(
            mixed.len() >= 2 && !apart.is_empty(),
            "{id}: the points land on both discs on some frames ({mixed:?}), the discs are apart on others ({apart:?})"
        );
        let worst_apart = apart.iter().map(|s| s.1).fold(f32::INFINITY, f32::min);
        let best_mixed = mixed.iter().map(|s| s.1).fold(f32::NEG_INFINITY, f32::max);
        ensure!(
            best_mixed <= worst_apart - CROSSING_MARGIN,
            "{id}: scores with points on both discs {mixed:?} are not {CROSSING_MARGIN} below those with the discs apart {apart:?}"
        );
        eprintln!("{id}: discs apart score >= {worst_apart:.3}, points on both <= {best_mixed:.3}");
    }
    Ok(())
}

/// The first step from a user's mask (no low-res logits) is guided by that
/// mask, resampled into the model's low-res grid: of two discs of the same
/// colour, points inside one select both, but the step keeps to the one
/// tracked (so the low-res mask lands where the disc is, on both contracts'
/// resize modes and a frame with padding).
pub fn first_step_is_guided_by_the_users_mask() -> TestResult {
    let points_only = TrackStepOptions {
        use_box: false,
        ..TrackStepOptions::default()
    };
    for model in tracking_models()? {
        let id = &model.manifest().id;
        let mut f = Frame::new(W, H);
        let a = f.paint(RED, ellipse(80.0, 120.0, 40.0, 40.0));
        let b = f.paint(RED, ellipse(240.0, 120.0, 40.0, 40.0));
        let e = model.encode(&f.view())?;
        let from = TrackState::from_mask(rle(&a, W, H)?);
        let unguided = model.track_step(
            &e,
            &from,
            &TrackStepOptions {
                use_previous_mask: false,
                ..points_only
            },
        )?;
        ensure!(
            iou(&unguided.mask, &union(&a, &b)) >= 0.85,
            "{id}: without the mask, points in A select both discs (IoU {:.3})",
            iou(&unguided.mask, &union(&a, &b))
        );
        let guided = model.track_step(&e, &from, &points_only)?;
        ensure!(
            iou(&guided.mask, &a) >= 0.85 && coverage(&guided.mask, &b) < 0.02,
            "{id}: with the user's mask, only A (IoU {:.3}, B covered {:.3})",
            iou(&guided.mask, &a),
            coverage(&guided.mask, &b)
        );
    }
    Ok(())
}

/// Bad input to a step is a typed error, never a panic: an empty mask, a mask
/// of another size than the frame, options that ask for no prompt.
pub fn bad_input_is_a_typed_error() -> TestResult {
    let model = load(&test_models()?.sam1, single_thread())?;
    let (frame, gt) = moving_disc(0);
    let e = model.encode(&frame.view())?;
    let options = TrackStepOptions::default();
    let empty = TrackState::from_mask(Rle::empty(H, W)?);
    let r = model.track_step(&e, &empty, &options);
    ensure!(matches!(r, Err(Error::InvalidInput(_))), "an empty mask: {r:?}");
    let other = TrackState::from_mask(Rle::full(H / 2, W)?);
    let r = model.track_step(&e, &other, &options);
    ensure!(matches!(r, Err(Error::InvalidInput(_))), "a mask of another size: {r:?}");
    let r = LowResMask::from_mask(&other.mask, e.transform());
    ensure!(matches!(r, Err(Error::InvalidInput(_))), "from_mask of another size: {r:?}");
    let nothing = TrackStepOptions {
        points: 0,
        use_box: false,
        use_previous_mask: true,
    };
    let state = TrackState::from_mask(rle(&gt, W, H)?);
    let r = model.track_step(&e, &state, &nothing);
    ensure!(matches!(r, Err(Error::InvalidInput(_))), "no points and no box: {r:?}");
    // a box alone, and points alone, are prompts
    for options in [
        TrackStepOptions {
            points: 0,
            ..options
        },
        TrackStepOptions {
            use_box: false,
            ..options
        },
    ] {
        let next = model.track_step(&e, &state, &options)?;
        ensure!(iou(&next.mask, &gt) >= 0.85, "{options:?}: IoU {:.3}", iou(&next.mask, &gt));
    }
    Ok(())
}

/// `prompt_from_mask` (no model needed): the box is the mask's box, the points
/// are inside the mask and apart, the same mask gives the same prompt, and an
/// empty mask gives none.
pub fn prompt_from_mask_box_points() -> TestResult {
    let options = TrackStepOptions::default();
    for t in [0, 7, 30] {
        let (_, gt) = moving_disc(t);
        let mask = rle(&gt, W, H)?;
        let state = TrackState::from_mask(mask.clone());
        let p = prompt_from_mask(&state, &options).ok_or("a prompt")?;
        ensure!(p.bbox == mask.bbox(), "frame {t}: the box is the mask's: {:?}", p.bbox);
        ensure!(p.clicks.len() == 3, "frame {t}: three points: {:?}", p.clicks);
        for c in &p.clicks {
            ensure!(c.positive, "positive points");
            ensure!(
                mask.get(c.point.x as u32, c.point.y as u32),
                "frame {t}: ({}, {}) is inside the mask",
                c.point.x,
                c.point.y
            );
        }
        for (i, a) in p.clicks.iter().enumerate() {
            for b in &p.clicks[i + 1..] {
                let d = ((a.point.x - b.point.x).powi(2) + (a.point.y - b.point.y).powi(2)).sqrt();
                ensure!(d >= 10.0, "frame {t}: points apart: {:?}", p.clicks);
            }
        }
        ensure!(p.previous.is_none(), "a user's mask has no low-res logits yet");
        let again = prompt_from_mask(&TrackState::from_mask(mask.clone()), &options);
        ensure!(again.as_ref() == Some(&p), "deterministic");
        // the state's low-res mask is passed on, unless the options say not to
        let low = LowResMask::from_logits(vec![1.0; 256 * 256])?;
        let with_low = TrackState {
            low_res: Some(low.clone()),
            ..state.clone()
        };
        let p = prompt_from_mask(&with_low, &options).ok_or("a prompt")?;
        ensure!(p.previous == Some(low), "the previous low-res mask is in the prompt");
        let p = prompt_from_mask(
            &with_low,
            &TrackStepOptions {
                points: 5,
                use_box: false,
                use_previous_mask: false,
            },
        )
        .ok_or("a prompt")?;
        ensure!(
            p.previous.is_none() && p.bbox.is_none() && p.clicks.len() == 5,
            "options are followed: {p:?}"
        );
    }
    let empty = TrackState::from_mask(Rle::empty(H, W)?);
    ensure!(prompt_from_mask(&empty, &options).is_none(), "none for an empty mask");
    // a one-pixel mask: one point, on it
    let mut bits = vec![0u8; (W * H) as usize];
    bits[(50 * W + 70) as usize] = 1;
    let dot = TrackState::from_mask(rle(&bits, W, H)?);
    let p = prompt_from_mask(&dot, &options).ok_or("a prompt")?;
    ensure!(
        p.clicks.len() == 1 && (p.clicks[0].point.x, p.clicks[0].point.y) == (70.5, 50.5),
        "{p:?}"
    );
    Ok(())
}

//! Prompts in frame pixel coordinates, and their encoding into the decoder's
//! `point_coords` / `point_labels` tensors.

use argus_core::{BBox, Point};

use crate::image::Transform;
use crate::{Error, Result};

/// Side of the low-resolution mask SAM decoders take as `mask_input`.
pub const LOW_RES: usize = 256;

/// A click.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Click {
    /// Frame pixel coordinates.
    pub point: Point,
    /// `true` adds the region, `false` removes it.
    pub positive: bool,
}

/// A low-resolution mask logit map (`256 x 256`, model space) from a previous
/// prediction, fed back as `mask_input` to refine the same object.
#[derive(Debug, Clone, PartialEq)]
pub struct LowResMask(pub(crate) Vec<f32>);

impl LowResMask {
    /// The 256x256 logits, row-major.
    pub fn logits(&self) -> &[f32] {
        &self.0
    }

    /// Builds one from 256x256 logits.
    pub fn from_logits(logits: Vec<f32>) -> Result<Self> {
        if logits.len() != LOW_RES * LOW_RES {
            return Err(Error::InvalidInput(format!(
                "a low-res mask needs {} values, got {}",
                LOW_RES * LOW_RES,
                logits.len()
            )));
        }
        Ok(Self(logits))
    }
}

/// Everything the user said about one object on one frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prompt {
    /// Positive and negative clicks, any number.
    pub clicks: Vec<Click>,
    /// An optional box around the object.
    pub bbox: Option<BBox>,
    /// The previous prediction's low-res mask, for successive clicks on the same object.
    pub previous: Option<LowResMask>,
}

impl Prompt {
    /// A single positive click.
    pub fn click(x: f64, y: f64) -> Self {
        Self {
            clicks: vec![Click {
                point: Point { x, y },
                positive: true,
            }],
            ..Self::default()
        }
    }

    /// Adds a click.
    pub fn with_click(mut self, x: f64, y: f64, positive: bool) -> Self {
        self.clicks.push(Click {
            point: Point { x, y },
            positive,
        });
        self
    }

    /// Sets the box.
    pub fn with_box(mut self, bbox: BBox) -> Self {
        self.bbox = Some(bbox);
        self
    }

    /// Sets the previous low-res mask.
    pub fn with_previous(mut self, previous: LowResMask) -> Self {
        self.previous = Some(previous);
        self
    }

    /// Encodes the prompt as SAM's point tensors in model space: clicks with
    /// labels 1/0, the box as two corners labelled 2 and 3, and when there is no
    /// box and `pad` a padding point `(0, 0)` labelled -1 (as segment-anything's
    /// predictor does; SAM 2 exports add it inside the graph).
    pub(crate) fn encode(&self, t: &Transform, pad: bool) -> Result<(Vec<f32>, Vec<f32>)> {
        if self.clicks.is_empty() && self.bbox.is_none() {
            return Err(Error::InvalidInput(
                "a prompt needs at least one click or a box".to_owned(),
            ));
        }
        let mut coords = Vec::with_capacity(2 * (self.clicks.len() + 2));
        let mut labels = Vec::with_capacity(self.clicks.len() + 2);
        for c in &self.clicks {
            if !(c.point.x.is_finite() && c.point.y.is_finite()) {
                return Err(Error::InvalidInput(
                    "click coordinates must be finite".to_owned(),
                ));
            }
            let (x, y) = t.to_model(c.point.x, c.point.y);
            coords.extend([x, y]);
            labels.push(if c.positive { 1.0 } else { 0.0 });
        }
        match &self.bbox {
            Some(b) => {
                if !(b.x.is_finite()
                    && b.y.is_finite()
                    && b.width.is_finite()
                    && b.height.is_finite())
                {
                    return Err(Error::InvalidInput(
                        "box coordinates must be finite".to_owned(),
                    ));
                }
                let (x0, y0) = t.to_model(b.x, b.y);
                let (x1, y1) = t.to_model(b.x + b.width, b.y + b.height);
                coords.extend([x0, y0, x1, y1]);
                labels.extend([2.0, 3.0]);
            }
            None if pad => {
                coords.extend([0.0, 0.0]);
                labels.push(-1.0);
            }
            None => {}
        }
        Ok((coords, labels))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use crate::manifest::ResizeMode;

    #[test]
    fn encodes_points_box_and_padding_in_model_space() {
        let t = Transform::new(2048, 1024, 1024, ResizeMode::LongestSide).unwrap();
        let (c, l) = Prompt::click(100.0, 50.0)
            .with_click(10.0, 20.0, false)
            .encode(&t, true)
            .unwrap();
        assert_eq!(c, vec![50.0, 25.0, 5.0, 10.0, 0.0, 0.0]);
        assert_eq!(l, vec![1.0, 0.0, -1.0]);
        let b = BBox::new(0.0, 0.0, 200.0, 100.0).unwrap();
        let (c, l) = Prompt::default().with_box(b).encode(&t, true).unwrap();
        assert_eq!(c, vec![0.0, 0.0, 100.0, 50.0]);
        assert_eq!(l, vec![2.0, 3.0]);
        let (c, l) = Prompt::click(100.0, 50.0).encode(&t, false).unwrap();
        assert_eq!((c, l), (vec![50.0, 25.0], vec![1.0]));
        assert!(Prompt::default().encode(&t, true).is_err());
        assert!(Prompt::click(f64::NAN, 1.0).encode(&t, true).is_err());
        assert!(LowResMask::from_logits(vec![0.0; 10]).is_err());
    }
}

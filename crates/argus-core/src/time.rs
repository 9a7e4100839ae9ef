//! Frame-time arithmetic with exact rationals.
//!
//! Video timing is rational: NTSC's 29.97 fps is really `30000/1001`, and
//! container timestamps (pts) count ticks of a rational time base such as
//! `1/90000`. Doing this in floating point drifts: after an hour at 29.97 fps a
//! float frame time can be a frame off, and labels land on the wrong frame.
//! Everything here is exact integer arithmetic in `i128`, with explicit,
//! documented rounding, so `frame -> pts -> frame` is the identity for every
//! frame of every video whose time base is at least as fine as its frame rate.

use std::{cmp::Ordering, fmt};

use serde::{Deserialize, Serialize};

/// Why a time computation was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TimeError {
    #[error("rational {num}/{den} has a zero denominator")]
    ZeroDenominator { num: i64, den: i64 },
    #[error("frame rate {0} must be positive")]
    NonPositiveRate(Rational),
    #[error("time base {0} must be positive")]
    NonPositiveTimeBase(Rational),
    #[error("time base {time_base} is coarser than one frame at {rate} fps, so frames cannot be told apart by pts")]
    TimeBaseTooCoarse { rate: Rational, time_base: Rational },
    #[error("{0} seconds is not a finite, non-negative time")]
    InvalidSeconds(f64),
    #[error("time value out of range")]
    Overflow,
}

/// An exact fraction `num/den`, always normalised: `den > 0` and
/// `gcd(num, den) == 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "[i64; 2]", into = "[i64; 2]")]
pub struct Rational {
    num: i64,
    den: i64,
}

impl Rational {
    pub fn new(num: i64, den: i64) -> Result<Self, TimeError> {
        if den == 0 {
            return Err(TimeError::ZeroDenominator { num, den });
        }
        let g = gcd(num.unsigned_abs(), den.unsigned_abs()).max(1);
        let (mut n, mut d) = (i128::from(num) / g as i128, i128::from(den) / g as i128);
        if d < 0 {
            n = -n;
            d = -d;
        }
        Ok(Self { num: i64::try_from(n).map_err(|_| TimeError::Overflow)?, den: i64::try_from(d).map_err(|_| TimeError::Overflow)? })
    }

    pub const fn integer(n: i64) -> Self {
        Self { num: n, den: 1 }
    }

    pub const fn num(&self) -> i64 {
        self.num
    }

    pub const fn den(&self) -> i64 {
        self.den
    }

    pub fn is_positive(&self) -> bool {
        self.num > 0
    }

    pub fn to_f64(&self) -> f64 {
        self.num as f64 / self.den as f64
    }

    /// The reciprocal; an error for zero.
    pub fn recip(&self) -> Result<Self, TimeError> {
        Self::new(self.den, self.num)
    }

    pub fn checked_mul(&self, other: &Self) -> Result<Self, TimeError> {
        from_i128(i128::from(self.num) * i128::from(other.num), i128::from(self.den) * i128::from(other.den))
    }

    pub fn checked_add(&self, other: &Self) -> Result<Self, TimeError> {
        from_i128(
            i128::from(self.num) * i128::from(other.den) + i128::from(other.num) * i128::from(self.den),
            i128::from(self.den) * i128::from(other.den),
        )
    }
}

fn from_i128(num: i128, den: i128) -> Result<Rational, TimeError> {
    if den == 0 {
        return Err(TimeError::Overflow);
    }
    let g = gcd128(num.unsigned_abs(), den.unsigned_abs()).max(1) as i128;
    let (mut n, mut d) = (num / g, den / g);
    if d < 0 {
        n = -n;
        d = -d;
    }
    Ok(Rational { num: i64::try_from(n).map_err(|_| TimeError::Overflow)?, den: i64::try_from(d).map_err(|_| TimeError::Overflow)? })
}

fn gcd(a: u64, b: u64) -> u64 {
    gcd128(a.into(), b.into()) as u64
}

fn gcd128(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl PartialOrd for Rational {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Rational {
    fn cmp(&self, other: &Self) -> Ordering {
        (i128::from(self.num) * i128::from(other.den)).cmp(&(i128::from(other.num) * i128::from(self.den)))
    }
}

impl fmt::Display for Rational {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 { write!(f, "{}", self.num) } else { write!(f, "{}/{}", self.num, self.den) }
    }
}

impl TryFrom<[i64; 2]> for Rational {
    type Error = TimeError;
    fn try_from([num, den]: [i64; 2]) -> Result<Self, Self::Error> {
        Self::new(num, den)
    }
}

impl From<Rational> for [i64; 2] {
    fn from(r: Rational) -> Self {
        [r.num, r.den]
    }
}

/// `round(n / d)` for `d > 0`, halves rounded away from zero.
fn div_round(n: i128, d: i128) -> i128 {
    let q = n.div_euclid(d);
    let r = n.rem_euclid(d);
    if 2 * r >= d { q + 1 } else { q }
}

/// The timing of a constant-frame-rate stream: its frame rate, the time base
/// of its timestamps and the pts of frame 0. (Variable-frame-rate streams are
/// addressed by their packet index in `argus-media`; this is the arithmetic
/// for the nominal rate.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FrameTime {
    rate: Rational,
    time_base: Rational,
    start_pts: i64,
}

impl FrameTime {
    /// `rate` in frames per second, `time_base` in seconds per tick.
    pub fn new(rate: Rational, time_base: Rational, start_pts: i64) -> Result<Self, TimeError> {
        if !rate.is_positive() {
            return Err(TimeError::NonPositiveRate(rate));
        }
        if !time_base.is_positive() {
            return Err(TimeError::NonPositiveTimeBase(time_base));
        }
        // Ticks per frame = 1 / (rate * time_base) must be >= 1.
        if i128::from(rate.num) * i128::from(time_base.num) > i128::from(rate.den) * i128::from(time_base.den) {
            return Err(TimeError::TimeBaseTooCoarse { rate, time_base });
        }
        Ok(Self { rate, time_base, start_pts })
    }

    pub fn rate(&self) -> Rational {
        self.rate
    }

    pub fn time_base(&self) -> Rational {
        self.time_base
    }

    pub fn start_pts(&self) -> i64 {
        self.start_pts
    }

    /// Ticks per frame as `(numerator, denominator)`.
    fn ticks_per_frame(&self) -> (i128, i128) {
        (
            i128::from(self.rate.den) * i128::from(self.time_base.den),
            i128::from(self.rate.num) * i128::from(self.time_base.num),
        )
    }

    /// The pts of `frame`, rounded to the nearest tick.
    pub fn pts_of(&self, frame: u64) -> Result<i64, TimeError> {
        let (n, d) = self.ticks_per_frame();
        let ticks = i128::from(frame).checked_mul(n).ok_or(TimeError::Overflow)?;
        let pts = div_round(ticks, d) + i128::from(self.start_pts);
        i64::try_from(pts).map_err(|_| TimeError::Overflow)
    }

    /// The frame whose nominal pts is nearest to `pts` (clamped at frame 0).
    /// This is the exact inverse of [`FrameTime::pts_of`].
    pub fn frame_at_pts(&self, pts: i64) -> Result<u64, TimeError> {
        let (n, d) = self.ticks_per_frame();
        let rel = i128::from(pts) - i128::from(self.start_pts);
        let frame = div_round(rel.checked_mul(d).ok_or(TimeError::Overflow)?, n).max(0);
        u64::try_from(frame).map_err(|_| TimeError::Overflow)
    }

    /// The exact presentation time of `frame` in seconds since frame 0.
    pub fn seconds_of(&self, frame: u64) -> Result<Rational, TimeError> {
        from_i128(i128::from(frame) * i128::from(self.rate.den), i128::from(self.rate.num))
    }

    /// The frame on screen at `seconds` (since frame 0): the last frame that
    /// starts at or before it. A tolerance of one microsecond absorbs float
    /// noise in times that came from a UI or a float-based file format.
    pub fn frame_at_seconds(&self, seconds: f64) -> Result<u64, TimeError> {
        if !seconds.is_finite() || seconds < 0.0 {
            return Err(TimeError::InvalidSeconds(seconds));
        }
        let micros = (seconds * 1e6).round();
        if micros > 9.0e15 {
            return Err(TimeError::Overflow);
        }
        let micros = micros as i128;
        // frame = floor((micros + 1) * rate / 1e6)
        let frame = ((micros + 1) * i128::from(self.rate.num)).div_euclid(1_000_000 * i128::from(self.rate.den));
        u64::try_from(frame).map_err(|_| TimeError::Overflow)
    }

    /// Number of whole frames in `seconds` of video (e.g. a header duration).
    pub fn frames_in(&self, duration: Rational) -> Result<u64, TimeError> {
        let f = duration.checked_mul(&self.rate)?;
        let frames = div_round(i128::from(f.num), i128::from(f.den)).max(0);
        u64::try_from(frames).map_err(|_| TimeError::Overflow)
    }

    /// `HH:MM:SS.mmm` of the start of `frame`, for display.
    pub fn timecode(&self, frame: u64) -> Result<String, TimeError> {
        let s = self.seconds_of(frame)?;
        let millis = div_round(i128::from(s.num) * 1000, i128::from(s.den));
        let (h, rem) = (millis / 3_600_000, millis % 3_600_000);
        let (m, rem) = (rem / 60_000, rem % 60_000);
        Ok(format!("{h:02}:{m:02}:{:02}.{:03}", rem / 1000, rem % 1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn r(n: i64, d: i64) -> Rational {
        Rational::new(n, d).expect("valid")
    }

    #[test]
    fn rationals_normalise_and_compare() {
        assert_eq!(r(60000, 2002), r(30000, 1001));
        assert_eq!(r(3, -6), r(-1, 2));
        assert_eq!(r(-1, 2).den(), 2);
        assert!(r(30000, 1001) < r(30, 1));
        assert!(Rational::new(1, 0).is_err());
        assert_eq!(r(30000, 1001).to_string(), "30000/1001");
        assert_eq!(serde_json::to_string(&r(30000, 1001)).expect("json"), "[30000,1001]");
        assert!(serde_json::from_str::<Rational>("[1,0]").is_err());
        assert_eq!(r(1, 2).checked_add(&r(1, 3)).expect("add"), r(5, 6));
    }

    #[test]
    fn ntsc_does_not_drift_over_ten_hours() {
        let ft = FrameTime::new(r(30000, 1001), r(1, 90000), 0).expect("valid");
        // 10 hours of 29.97 fps.
        let last = 1_078_920u64;
        assert_eq!(ft.pts_of(last).expect("pts"), 3_239_996_760);
        for f in [0, 1, 2, 1000, 107_892, last] {
            assert_eq!(ft.frame_at_pts(ft.pts_of(f).expect("pts")).expect("frame"), f);
            let secs = ft.seconds_of(f).expect("secs").to_f64();
            assert_eq!(ft.frame_at_seconds(secs).expect("frame"), f);
        }
        assert_eq!(ft.timecode(last).expect("tc"), "09:59:59.964");
        // A float accumulation of 1/29.97 drifts; exact arithmetic does not.
        assert_eq!(ft.frames_in(r(36_000, 1)).expect("frames"), 1_078_921);
    }

    #[test]
    fn start_pts_and_bad_input() {
        let ft = FrameTime::new(r(25, 1), r(1, 1000), 500).expect("valid");
        assert_eq!(ft.pts_of(0).expect("pts"), 500);
        assert_eq!(ft.pts_of(3).expect("pts"), 620);
        assert_eq!(ft.frame_at_pts(0).expect("clamped"), 0);
        assert!(matches!(FrameTime::new(r(0, 1), r(1, 1000), 0), Err(TimeError::NonPositiveRate(_))));
        assert!(matches!(FrameTime::new(r(30, 1), r(-1, 1000), 0), Err(TimeError::NonPositiveTimeBase(_))));
        assert!(matches!(FrameTime::new(r(30, 1), r(1, 10), 0), Err(TimeError::TimeBaseTooCoarse { .. })));
        assert!(ft.frame_at_seconds(f64::NAN).is_err());
        assert!(ft.frame_at_seconds(-1.0).is_err());
        assert!(ft.frame_at_seconds(1e300).is_err());
        assert!(ft.pts_of(u64::MAX).is_err());
    }

    proptest! {
        #[test]
        fn frame_pts_round_trip(
            rate_num in 1i64..240_000, rate_den in 1i64..1002,
            tb_den in 1i64..1_000_000, start in -1_000_000i64..1_000_000, frame in 0u64..50_000_000,
        ) {
            let rate = r(rate_num, rate_den);
            let tb = r(1, tb_den);
            prop_assume!(FrameTime::new(rate, tb, start).is_ok());
            let ft = FrameTime::new(rate, tb, start).expect("checked");
            let pts = ft.pts_of(frame).expect("pts");
            prop_assert_eq!(ft.frame_at_pts(pts).expect("frame"), frame);
            // pts are strictly increasing.
            prop_assert!(ft.pts_of(frame + 1).expect("pts") > pts);
        }

        #[test]
        fn seconds_round_trip(rate_num in 1i64..240, rate_den in prop::sample::select(vec![1i64, 1001]), frame in 0u64..10_000_000) {
            let rate = r(rate_num * if rate_den == 1001 { 1000 } else { 1 }, rate_den);
            let ft = FrameTime::new(rate, r(1, 90000), 0);
            prop_assume!(ft.is_ok());
            let ft = ft.expect("checked");
            let secs = ft.seconds_of(frame).expect("secs").to_f64();
            prop_assert_eq!(ft.frame_at_seconds(secs).expect("frame"), frame);
        }
    }
}

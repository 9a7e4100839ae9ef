//! Hybrid logical clocks for offline-first sync.
//!
//! Every change a client records gets an [`Hlc`] timestamp: physical time in
//! milliseconds, a logical counter that orders events within the same
//! millisecond (or while the wall clock runs behind a timestamp already
//! seen), and the id of the device that made it as the final tie-breaker. The
//! order is total, respects causality across devices (receiving a remote
//! timestamp moves the local clock past it), and stays close to wall time, so
//! "last writer wins" between two annotators editing the same shape offline
//! picks the later edit even when their clocks disagree a little.
//!
//! The clock takes the physical time as an argument instead of reading the
//! system clock, which keeps this crate free of I/O and the clock testable.

use std::{cmp::Ordering, fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::id::DeviceId;

/// A hybrid logical clock timestamp. Orders by `(wall_ms, counter, device)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Hlc {
    pub wall_ms: u64,
    pub counter: u32,
    pub device: DeviceId,
}

impl Ord for Hlc {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.wall_ms, self.counter, self.device).cmp(&(other.wall_ms, other.counter, other.device))
    }
}

impl PartialOrd for Hlc {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Fixed-width text form `{wall_ms:016x}-{counter:08x}-{device}` whose
/// lexicographic order equals the timestamp order, so it can be stored in a
/// TEXT column and compared by the database.
impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}-{:08x}-{}", self.wall_ms, self.counter, self.device)
    }
}

/// Why an HLC was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HlcError {
    #[error("'{0}' is not an HLC timestamp (expected 16 hex digits, '-', 8 hex digits, '-', a UUID)")]
    Malformed(String),
    #[error("remote timestamp is {ahead_ms} ms ahead of this clock, more than the {max_ms} ms allowed; check the system clock")]
    TooFarAhead { ahead_ms: u64, max_ms: u64 },
    #[error("the logical counter overflowed; the wall clock has not advanced for too long")]
    CounterOverflow,
}

impl FromStr for Hlc {
    type Err = HlcError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || HlcError::Malformed(s.to_owned());
        let (wall, rest) = s.split_once('-').ok_or_else(bad)?;
        let (counter, device) = rest.split_once('-').ok_or_else(bad)?;
        if wall.len() != 16 || counter.len() != 8 {
            return Err(bad());
        }
        Ok(Self {
            wall_ms: u64::from_str_radix(wall, 16).map_err(|_| bad())?,
            counter: u32::from_str_radix(counter, 16).map_err(|_| bad())?,
            device: device.parse().map_err(|_| bad())?,
        })
    }
}

/// The clock of one device.
#[derive(Debug, Clone)]
pub struct HlcClock {
    last: Hlc,
    max_drift_ms: u64,
}

impl HlcClock {
    /// Remote timestamps more than this far ahead of local wall time are
    /// refused rather than dragging the local clock into the future.
    pub const DEFAULT_MAX_DRIFT_MS: u64 = 5 * 60 * 1000;

    pub fn new(device: DeviceId) -> Self {
        Self { last: Hlc { wall_ms: 0, counter: 0, device }, max_drift_ms: Self::DEFAULT_MAX_DRIFT_MS }
    }

    /// Resumes from the last timestamp this device issued (e.g. read back
    /// from the local store after a restart), so time never goes backwards.
    pub fn resume(last: Hlc) -> Self {
        Self { last, max_drift_ms: Self::DEFAULT_MAX_DRIFT_MS }
    }

    pub fn with_max_drift_ms(mut self, ms: u64) -> Self {
        self.max_drift_ms = ms;
        self
    }

    pub fn last(&self) -> Hlc {
        self.last
    }

    /// A timestamp for a local event at physical time `now_ms`; strictly
    /// greater than every timestamp issued or received before.
    pub fn tick(&mut self, now_ms: u64) -> Result<Hlc, HlcError> {
        let next = if now_ms > self.last.wall_ms {
            Hlc { wall_ms: now_ms, counter: 0, device: self.last.device }
        } else {
            let counter = self.last.counter.checked_add(1).ok_or(HlcError::CounterOverflow)?;
            Hlc { wall_ms: self.last.wall_ms, counter, device: self.last.device }
        };
        self.last = next;
        Ok(next)
    }

    /// Merges a timestamp received from another device at physical time
    /// `now_ms`; the returned timestamp is greater than both.
    pub fn receive(&mut self, remote: Hlc, now_ms: u64) -> Result<Hlc, HlcError> {
        if remote.wall_ms > now_ms.saturating_add(self.max_drift_ms) {
            return Err(HlcError::TooFarAhead { ahead_ms: remote.wall_ms - now_ms, max_ms: self.max_drift_ms });
        }
        let wall = now_ms.max(self.last.wall_ms).max(remote.wall_ms);
        let counter = if wall == self.last.wall_ms && wall == remote.wall_ms {
            self.last.counter.max(remote.counter).checked_add(1)
        } else if wall == self.last.wall_ms {
            self.last.counter.checked_add(1)
        } else if wall == remote.wall_ms {
            remote.counter.checked_add(1)
        } else {
            Some(0)
        }
        .ok_or(HlcError::CounterOverflow)?;
        self.last = Hlc { wall_ms: wall, counter, device: self.last.device };
        Ok(self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ticks_are_monotonic_even_when_the_wall_clock_goes_back() {
        let mut c = HlcClock::new(DeviceId::new());
        let a = c.tick(1000).expect("tick");
        let b = c.tick(1000).expect("tick");
        let d = c.tick(400).expect("tick"); // clock stepped back
        let e = c.tick(2000).expect("tick");
        assert!(a < b && b < d && d < e);
        assert_eq!((d.wall_ms, d.counter), (1000, 2));
        assert_eq!((e.wall_ms, e.counter), (2000, 0));
    }

    #[test]
    fn receive_moves_past_remote_and_refuses_wild_clocks() {
        let mut local = HlcClock::new(DeviceId::new());
        let mut remote = HlcClock::new(DeviceId::new());
        let r = remote.tick(10_000).expect("tick");
        let l = local.receive(r, 9_000).expect("receive");
        assert!(l > r);
        let t = local.tick(9_500).expect("tick");
        assert!(t > l);
        let far = Hlc { wall_ms: 10_000_000, counter: 0, device: DeviceId::new() };
        assert!(matches!(local.receive(far, 9_000), Err(HlcError::TooFarAhead { .. })));
        assert_eq!(local.last(), t, "a refused timestamp changes nothing");
    }

    #[test]
    fn text_form_round_trips_and_sorts_like_the_timestamps() {
        let dev = DeviceId::new();
        let a = Hlc { wall_ms: 0x1234, counter: 2, device: dev };
        let b = Hlc { wall_ms: 0x1234, counter: 10, device: dev };
        assert_eq!(a.to_string().parse::<Hlc>().expect("parse"), a);
        assert!(a.to_string() < b.to_string());
        assert!("zz".parse::<Hlc>().is_err());
        assert!("0000000000001234-0000000g-00000000-0000-0000-0000-000000000000".parse::<Hlc>().is_err());
    }

    proptest! {
        #[test]
        fn any_interleaving_is_strictly_increasing(events in prop::collection::vec((0u64..5_000, any::<bool>(), 0u64..5_000), 1..200)) {
            let mut a = HlcClock::new(DeviceId::new());
            let mut b = HlcClock::new(DeviceId::new());
            let mut prev_a: Option<Hlc> = None;
            for (now, from_b, b_now) in events {
                let t = if from_b {
                    let remote = b.tick(b_now).expect("tick");
                    let t = a.receive(remote, now).expect("within drift");
                    prop_assert!(t > remote);
                    t
                } else {
                    a.tick(now).expect("tick")
                };
                if let Some(p) = prev_a { prop_assert!(t > p); }
                prev_a = Some(t);
                prop_assert_eq!(t.to_string().parse::<Hlc>().expect("parse"), t);
            }
        }
    }
}

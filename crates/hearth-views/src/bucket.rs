//! Fixed-width time buckets: which bucket a time falls in, and the buckets a set of times
//! touches.

use crate::ranges::Ranges;

/// Buckets of `width` microseconds whose starts are `offset` modulo `width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bucketing {
    width: i64,
    offset: i64,
}

impl Bucketing {
    /// Buckets of `width` µs (> 0) starting at `origin` and every `width` before and after.
    pub fn new(width: i64, origin: i64) -> Bucketing {
        assert!(width > 0, "bucket width must be positive");
        Bucketing {
            width,
            offset: origin.rem_euclid(width),
        }
    }

    /// The width in microseconds.
    pub fn width(&self) -> i64 {
        self.width
    }

    /// The start of the bucket holding `t` (clamped at the ends of the time line).
    pub fn start(&self, t: i64) -> i64 {
        let t128 = i128::from(t);
        let w = i128::from(self.width);
        let s = t128 - (t128 - i128::from(self.offset)).rem_euclid(w);
        i64::try_from(s).unwrap_or(i64::MIN)
    }

    /// The end (exclusive) of the bucket starting at `start`.
    pub fn end(&self, start: i64) -> i64 {
        start.saturating_add(self.width)
    }

    /// The smallest bucket start at or after `t`.
    pub fn start_at_or_after(&self, t: i64) -> i64 {
        let s = self.start(t);
        if s == t { s } else { self.end(s) }
    }

    /// `[lo, hi)` widened to whole buckets; unbounded ends stay unbounded.
    pub fn align(&self, lo: i64, hi: i64) -> (i64, i64) {
        let lo = if lo == i64::MIN { lo } else { self.start(lo) };
        let hi = if hi == i64::MAX {
            hi
        } else {
            self.end(self.start(hi.saturating_sub(1)))
        };
        (lo, hi)
    }

    /// Every range of `times` widened to whole buckets.
    pub fn align_all(&self, times: &Ranges) -> Ranges {
        let mut out = Ranges::new();
        for &(lo, hi) in times.intervals() {
            let (lo, hi) = self.align(lo, hi);
            out.insert(lo, hi);
        }
        out
    }

    /// The buckets holding `times`, as ranges.
    pub fn buckets_of(&self, times: impl IntoIterator<Item = i64>) -> Ranges {
        let mut starts: Vec<i64> = Vec::new();
        let mut last = None;
        for t in times {
            let s = self.start(t);
            if last != Some(s) {
                starts.push(s);
                last = Some(s);
            }
        }
        starts.sort_unstable();
        starts.dedup();
        let mut out = Ranges::new();
        for s in starts {
            out.insert(s, self.end(s));
        }
        out
    }

    /// How many buckets `ranges` (bucket-aligned) span, unbounded ends counted up to the
    /// time line's end.
    pub fn count(&self, ranges: &Ranges) -> u128 {
        ranges.len() / self.width as u128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000_000;

    #[test]
    fn starts_ends_and_alignment() {
        let b = Bucketing::new(MIN, 0);
        assert_eq!(b.start(0), 0);
        assert_eq!(b.start(MIN - 1), 0);
        assert_eq!(b.start(MIN), MIN);
        assert_eq!(b.start(-1), -MIN);
        assert_eq!(b.start_at_or_after(1), MIN);
        assert_eq!(b.start_at_or_after(MIN), MIN);
        assert_eq!(b.align(1, 2), (0, MIN));
        assert_eq!(b.align(0, MIN), (0, MIN));
        assert_eq!(b.align(0, MIN + 1), (0, 2 * MIN));
        assert_eq!(b.align(i64::MIN, 5), (i64::MIN, MIN));
        assert_eq!(b.align(5, i64::MAX), (0, i64::MAX));
        // Extremes do not overflow.
        assert!(b.start(i64::MIN) <= i64::MIN + MIN);
        assert!(b.start(i64::MAX) > i64::MAX - MIN);
        // An origin shifts the grid.
        let shifted = Bucketing::new(MIN, 15_000_000);
        assert_eq!(shifted.start(0), 15_000_000 - MIN);
        assert_eq!(shifted.start(15_000_000), 15_000_000);
    }

    #[test]
    fn buckets_of_times_are_merged_ranges() {
        let b = Bucketing::new(MIN, 0);
        let r = b.buckets_of([5, MIN + 1, 10, 5 * MIN, 2 * MIN - 1]);
        assert_eq!(r.intervals(), [(0, 2 * MIN), (5 * MIN, 6 * MIN)]);
        assert_eq!(b.count(&r), 3);
        let coarse = Bucketing::new(60 * MIN, 0);
        assert_eq!(coarse.align_all(&r).intervals(), [(0, 60 * MIN)]);
    }
}

//! Sets of time: sorted, disjoint, half-open intervals `[lo, hi)` of microseconds, such as a
//! view's pending buckets.

use serde::{Deserialize, Serialize};

/// A set of times as sorted, disjoint, non-adjacent half-open intervals `[lo, hi)`.
/// `i64::MIN` and `i64::MAX` stand for unbounded ends.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ranges(Vec<(i64, i64)>);

impl Ranges {
    /// The empty set.
    pub fn new() -> Ranges {
        Ranges(Vec::new())
    }

    /// All times.
    pub fn all() -> Ranges {
        Ranges(vec![(i64::MIN, i64::MAX)])
    }

    /// The set `[lo, hi)` (empty if `lo >= hi`).
    pub fn of(lo: i64, hi: i64) -> Ranges {
        let mut r = Ranges::new();
        r.insert(lo, hi);
        r
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The intervals, in order.
    pub fn intervals(&self) -> &[(i64, i64)] {
        &self.0
    }

    /// The first time in the set.
    pub fn first(&self) -> Option<i64> {
        self.0.first().map(|r| r.0)
    }

    /// The end of the last interval.
    pub fn end(&self) -> Option<i64> {
        self.0.last().map(|r| r.1)
    }

    /// Adds `[lo, hi)`.
    pub fn insert(&mut self, lo: i64, hi: i64) {
        if lo >= hi {
            return;
        }
        // The intervals that touch [lo, hi) (overlap or adjoin) merge with it.
        let first = self.0.partition_point(|&(_, h)| h < lo);
        let last = self.0.partition_point(|&(l, _)| l <= hi);
        if first == last {
            self.0.insert(first, (lo, hi));
            return;
        }
        let lo = lo.min(self.0[first].0);
        let hi = hi.max(self.0[last - 1].1);
        self.0.splice(first..last, [(lo, hi)]);
    }

    /// Adds every interval of `other`.
    pub fn extend(&mut self, other: &Ranges) {
        for &(lo, hi) in &other.0 {
            self.insert(lo, hi);
        }
    }

    /// Removes `[lo, hi)`.
    pub fn remove(&mut self, lo: i64, hi: i64) {
        if lo >= hi {
            return;
        }
        let mut out = Vec::with_capacity(self.0.len() + 1);
        for &(l, h) in &self.0 {
            if h <= lo || l >= hi {
                out.push((l, h));
                continue;
            }
            if l < lo {
                out.push((l, lo));
            }
            if h > hi {
                out.push((hi, h));
            }
        }
        self.0 = out;
    }

    /// Removes every interval of `other`.
    pub fn subtract(&mut self, other: &Ranges) {
        for &(lo, hi) in &other.0 {
            self.remove(lo, hi);
        }
    }

    /// The part of the set within `[lo, hi)`.
    pub fn clip(&self, lo: i64, hi: i64) -> Ranges {
        Ranges(
            self.0
                .iter()
                .filter(|&&(l, h)| l < hi && h > lo)
                .map(|&(l, h)| (l.max(lo), h.min(hi)))
                .collect(),
        )
    }

    /// Whether `t` is in the set.
    pub fn contains(&self, t: i64) -> bool {
        let i = self.0.partition_point(|&(_, h)| h <= t);
        self.0.get(i).is_some_and(|&(l, _)| l <= t)
    }

    /// Whether the set shares a time with `[lo, hi]` (both ends included).
    pub fn touches(&self, lo: i64, hi: i64) -> bool {
        let i = self.0.partition_point(|&(_, h)| h <= lo);
        self.0.get(i).is_some_and(|&(l, _)| l <= hi)
    }

    /// At most `max` intervals covering the set (the closest ones joined): for conditions that
    /// only narrow what is read.
    pub fn coarsened(&self, max: usize) -> Ranges {
        let mut out = self.0.clone();
        while out.len() > max.max(1) {
            let at = (1..out.len())
                .min_by_key(|&i| out[i].0.saturating_sub(out[i - 1].1))
                .expect("more than one interval");
            out[at - 1].1 = out[at].1;
            out.remove(at);
        }
        Ranges(out)
    }

    /// The total length of the set, counting unbounded ends as `i64::MAX`.
    pub fn len(&self) -> u128 {
        self.0
            .iter()
            .map(|&(l, h)| (i128::from(h) - i128::from(l)) as u128)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_merges_overlapping_and_adjacent_intervals() {
        let mut r = Ranges::new();
        r.insert(10, 20);
        r.insert(30, 40);
        assert_eq!(r.intervals(), [(10, 20), (30, 40)]);
        r.insert(20, 25);
        assert_eq!(r.intervals(), [(10, 25), (30, 40)]);
        r.insert(0, 5);
        r.insert(24, 31);
        assert_eq!(r.intervals(), [(0, 5), (10, 40)]);
        r.insert(5, 5);
        assert_eq!(r.intervals(), [(0, 5), (10, 40)]);
        r.insert(-100, 100);
        assert_eq!(r.intervals(), [(-100, 100)]);
    }

    #[test]
    fn remove_splits_and_subtract_undoes_insert() {
        let mut r = Ranges::of(0, 100);
        r.remove(10, 20);
        assert_eq!(r.intervals(), [(0, 10), (20, 100)]);
        r.remove(90, 200);
        r.remove(-5, 1);
        assert_eq!(r.intervals(), [(1, 10), (20, 90)]);
        let mut all = Ranges::all();
        all.subtract(&r);
        assert_eq!(all.intervals(), [(i64::MIN, 1), (10, 20), (90, i64::MAX)]);
        all.extend(&r);
        assert_eq!(all, Ranges::all());
    }

    #[test]
    fn queries() {
        let mut r = Ranges::of(0, 10);
        r.insert(20, 30);
        assert!(r.contains(0) && r.contains(9) && !r.contains(10) && r.contains(29));
        assert!(!r.contains(-1) && !r.contains(30));
        assert!(r.touches(10, 20) && r.touches(9, 9) && !r.touches(10, 19));
        assert_eq!(r.clip(5, 25).intervals(), [(5, 10), (20, 25)]);
        assert_eq!(r.len(), 20);
        r.insert(100, 110);
        assert_eq!(r.coarsened(2).intervals(), [(0, 30), (100, 110)]);
        assert_eq!(r.coarsened(1).intervals(), [(0, 110)]);
        assert_eq!(Ranges::all().len(), u128::from(u64::MAX));
    }

    #[test]
    fn random_operations_match_a_set_of_points() {
        let mut seed = 7u64;
        let mut next = |n: i64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as i64
        };
        let mut r = Ranges::new();
        let mut points = [false; 64];
        for _ in 0..2000 {
            let (a, b) = (next(64), next(64));
            let (lo, hi) = (a.min(b), a.max(b));
            if next(3) == 0 {
                r.remove(lo, hi);
                points[lo as usize..hi as usize].fill(false);
            } else {
                r.insert(lo, hi);
                points[lo as usize..hi as usize].fill(true);
            }
            for (t, &p) in points.iter().enumerate() {
                assert_eq!(r.contains(t as i64), p);
            }
            assert!(r.intervals().windows(2).all(|w| w[0].1 < w[1].0));
        }
    }
}

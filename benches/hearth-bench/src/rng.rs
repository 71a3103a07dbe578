//! A tiny, explicitly seeded PRNG (xorshift64 seeded through SplitMix64).
//!
//! It is the same generator as `hearth_benches::XorShift64`, so the
//! `cpu-only` data set here is byte-identical to `hearth_benches::cpu_lines`
//! for the same hosts, points and seed. Only integer arithmetic and the four
//! IEEE basic operations are used on top of it, so the output does not depend
//! on the platform's libm.

/// SplitMix64's finaliser: scrambles `z` into an unrelated 64-bit value.
pub fn splitmix64(z: u64) -> u64 {
    let mut z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for the `stream`-th independent generator derived from `seed`.
pub fn derive_seed(seed: u64, stream: u64) -> u64 {
    splitmix64(seed ^ splitmix64(stream.wrapping_mul(0xD1B5_4A32_D192_ED03)))
}

/// xorshift64: fast, identical on every platform. Not for anything but test data.
#[derive(Debug, Clone)]
pub struct XorShift64 {
    state: u64,
}

impl XorShift64 {
    /// A generator for `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Self {
        let z = splitmix64(seed);
        // xorshift never leaves the all-zero state, so avoid starting there.
        let state = if z == 0 { 0x9E37_79B9_7F4A_7C15 } else { z };
        Self { state }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }

    /// A value in `0..n`; 0 when `n == 0`.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// A value in `lo..=hi` (`lo` when the range is empty).
    pub fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = hi.abs_diff(lo).saturating_add(1);
        lo.wrapping_add_unsigned(self.below(span))
    }

    /// A value in `[0, 1)` with 53 random bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A value in `[lo, hi)`.
    pub fn range_f64(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// `true` with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One of `items` (which must not be empty).
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_determinism() {
        let mut a = XorShift64::new(7);
        let mut b = XorShift64::new(7);
        for _ in 0..1000 {
            assert_eq!(a.next_u64(), b.next_u64());
            let v = a.range_i64(-5, 5);
            assert!((-5..=5).contains(&v));
            let u = a.unit();
            assert!((0.0..1.0).contains(&u));
            let f = a.range_f64(2.0, 3.0);
            assert!((2.0..3.0).contains(&f));
            b.range_i64(-5, 5);
            b.unit();
            b.range_f64(2.0, 3.0);
        }
        assert_eq!(a.below(0), 0);
        assert_eq!(a.range_i64(3, 3), 3);
        assert_ne!(XorShift64::new(1).next_u64(), XorShift64::new(2).next_u64());
        assert_ne!(derive_seed(1, 0), derive_seed(1, 1));
        assert_ne!(derive_seed(1, 0), derive_seed(2, 0));
    }
}

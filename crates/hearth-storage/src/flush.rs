//! When to flush the buffer: a pure decision from sizes, ages and the configuration.

use std::time::{Duration, Instant};

use crate::buffer::BufferStats;

/// Flush thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    /// Flush when the live buffer holds this many bytes.
    pub max_bytes: usize,
    /// Flush when the oldest buffered row is this old.
    pub max_age: Duration,
}

impl Default for FlushPolicy {
    fn default() -> Self {
        FlushPolicy {
            max_bytes: 64 << 20,
            max_age: Duration::from_secs(60),
        }
    }
}

/// Why a flush is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushReason {
    /// The buffer reached its size threshold.
    Size,
    /// The oldest row reached its age threshold.
    Age,
    /// The server is stopping.
    Shutdown,
}

impl FlushPolicy {
    /// Whether the buffer described by `stats` should be flushed at `now`.
    pub fn decide(&self, stats: &BufferStats, now: Instant) -> Option<FlushReason> {
        if stats.rows == 0 {
            return None;
        }
        if stats.bytes >= self.max_bytes {
            return Some(FlushReason::Size);
        }
        match stats.oldest {
            Some(t) if now.saturating_duration_since(t) >= self.max_age => Some(FlushReason::Age),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flushes_on_size_or_age_never_when_empty() {
        let p = FlushPolicy {
            max_bytes: 100,
            max_age: Duration::from_secs(10),
        };
        let t0 = Instant::now();
        let mut s = BufferStats {
            rows: 1,
            bytes: 50,
            persisting_bytes: 0,
            oldest: Some(t0),
        };
        assert_eq!(p.decide(&s, t0 + Duration::from_secs(9)), None);
        assert_eq!(
            p.decide(&s, t0 + Duration::from_secs(10)),
            Some(FlushReason::Age)
        );
        s.bytes = 100;
        assert_eq!(p.decide(&s, t0), Some(FlushReason::Size));
        let empty = BufferStats::default();
        assert_eq!(p.decide(&empty, t0 + Duration::from_secs(3600)), None);
    }
}

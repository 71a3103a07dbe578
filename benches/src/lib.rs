//! Shared helpers for the benchmarks: TSBS-style `cpu` line protocol in memory, from the same
//! generator as `hearth-bench generate --use-case cpu-only` (so the criterion benches and the
//! load tool measure the same data), and random payloads.
//!
//! ```
//! let body = hearth_benches::cpu_lines(2, 3, 1);
//! assert_eq!(body.lines().count(), 6);
//! assert!(body.starts_with("cpu,hostname=host_0,region="));
//! assert_eq!(body, hearth_benches::cpu_lines(2, 3, 1));
//! ```

use hearth_bench::generate::{GenerateConfig, Sink, UseCase};
use hearth_bench::rng::XorShift64;

/// Timestamp of the first point: 2016-01-01T00:00:00Z in nanoseconds, the
/// default start of TSBS data sets.
pub const CPU_START_NS: i64 = 1_451_606_400_000_000_000;

/// Spacing of a host's points: 10 s in nanoseconds.
pub const CPU_INTERVAL_NS: i64 = 10_000_000_000;

/// TSBS-style `cpu` line protocol: `points_per_host` points for each of `hosts` hosts
/// (`host_0` ...), one newline-terminated line each, ordered by time then host; the output of
/// `hearth-bench generate --use-case cpu-only --scale HOSTS --seed SEED` for the time range of
/// `points_per_host` points, 10 s apart from 2016-01-01.
pub fn cpu_lines(hosts: usize, points_per_host: usize, seed: u64) -> String {
    let config = GenerateConfig {
        use_case: UseCase::CpuOnly,
        scale: hosts,
        start_ns: CPU_START_NS,
        duration_ns: CPU_INTERVAL_NS * points_per_host as i64,
        interval_ns: CPU_INTERVAL_NS,
        seed,
        dirty: false,
    };
    let mut out = Vec::new();
    hearth_bench::cpu::generate(&config, &mut Sink::new(&mut out, None))
        .expect("writing to memory cannot fail");
    String::from_utf8(out).expect("the generator writes UTF-8")
}

/// `len` random bytes from `seed`, e.g. a WAL payload.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift64::new(seed);
    let mut buf = vec![0; len];
    for chunk in buf.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next_u64().to_le_bytes()[..chunk.len()]);
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_per_seed() {
        assert_eq!(cpu_lines(5, 4, 7), cpu_lines(5, 4, 7));
        assert_ne!(cpu_lines(5, 4, 7), cpu_lines(5, 4, 8));
        assert_eq!(random_bytes(100, 3), random_bytes(100, 3));
        assert_ne!(random_bytes(100, 3), random_bytes(100, 4));
        assert_eq!(random_bytes(13, 3).len(), 13);
    }

    #[test]
    fn every_line_parses_with_ten_tags_and_fields() {
        let body = cpu_lines(20, 10, 42);
        let mut count = 0;
        for result in hearth_lineproto::parse_lines(&body) {
            let (n, line) = result.expect("generated line parses");
            assert_eq!(line.measurement, "cpu");
            assert_eq!(line.tags.len(), 10);
            assert_eq!(line.fields.len(), 10);
            let point = (n - 1) / 20;
            assert_eq!(
                line.timestamp,
                Some(CPU_START_NS + point as i64 * CPU_INTERVAL_NS)
            );
            count += 1;
        }
        assert_eq!(count, 200);
    }
}

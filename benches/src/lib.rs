//! Shared helpers for the benchmarks: a deterministic generator of
//! TSBS-style `cpu` line protocol and the small PRNG behind it.
//!
//! The data mimics the "cpu-only" use case of the Time Series Benchmark Suite:
//! one `cpu` line per host every 10 s, ten host tags and ten integer `usage_*`
//! fields (random walks in `0..=100`, written with the `i` suffix). The same
//! `(hosts, points_per_host, seed)` always yields byte-identical output, so
//! numbers from different runs and machines measure the same input.
//!
//! ```
//! let body = hearth_benches::cpu_lines(2, 3, 1);
//! assert_eq!(body.lines().count(), 6);
//! assert!(body.starts_with("cpu,hostname=host_0,region="));
//! assert_eq!(body, hearth_benches::cpu_lines(2, 3, 1));
//! ```

use std::fmt::Write as _;

/// Timestamp of the first point: 2016-01-01T00:00:00Z in nanoseconds, the
/// default start of TSBS data sets.
pub const CPU_START_NS: i64 = 1_451_606_400_000_000_000;

/// Spacing of a host's points: 10 s in nanoseconds.
pub const CPU_INTERVAL_NS: i64 = 10_000_000_000;

/// The field keys of every `cpu` line, in order.
pub const CPU_FIELDS: [&str; 10] = [
    "usage_user",
    "usage_system",
    "usage_idle",
    "usage_nice",
    "usage_iowait",
    "usage_irq",
    "usage_softirq",
    "usage_steal",
    "usage_guest",
    "usage_guest_nice",
];

/// TSBS regions and their datacenters.
const REGIONS: [(&str, &[&str]); 9] = [
    (
        "us-east-1",
        &["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1e"],
    ),
    ("us-west-1", &["us-west-1a", "us-west-1b"]),
    ("us-west-2", &["us-west-2a", "us-west-2b", "us-west-2c"]),
    ("eu-west-1", &["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
    ("eu-central-1", &["eu-central-1a", "eu-central-1b"]),
    ("ap-southeast-1", &["ap-southeast-1a", "ap-southeast-1b"]),
    ("ap-southeast-2", &["ap-southeast-2a", "ap-southeast-2b"]),
    ("ap-northeast-1", &["ap-northeast-1a", "ap-northeast-1c"]),
    ("sa-east-1", &["sa-east-1a", "sa-east-1b", "sa-east-1c"]),
];
const OSES: [&str; 3] = ["Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"];
const ARCHES: [&str; 2] = ["x64", "x86"];
const TEAMS: [&str; 4] = ["SF", "NYC", "LON", "CHI"];
const ENVIRONMENTS: [&str; 3] = ["production", "staging", "test"];

/// Largest step of a field's random walk per point.
const MAX_STEP: i64 = 5;

/// A tiny xorshift64 PRNG: fast, explicitly seeded and identical on every
/// platform. Not for anything but test data.
#[derive(Debug, Clone)]
pub struct XorShift64 {
    state: u64,
}

impl XorShift64 {
    /// A generator for `seed`. Any seed is fine (0 included): it is scrambled
    /// with SplitMix64 first, so nearby seeds give unrelated sequences.
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
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

    /// A value in `0..n` (`n > 0`; the modulo bias is negligible for the
    /// small ranges used here).
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "XorShift64::below(0)");
        self.next_u64() % n
    }

    /// A value in `lo..=hi` (`lo <= hi`).
    pub fn range_i64(&mut self, lo: i64, hi: i64) -> i64 {
        assert!(lo <= hi, "XorShift64::range_i64: empty range");
        let span = hi.abs_diff(lo).saturating_add(1);
        lo.wrapping_add_unsigned(self.below(span))
    }

    /// Fills `buf` with random bytes.
    pub fn fill_bytes(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// `len` random bytes from `seed`, e.g. a WAL payload.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut buf = vec![0; len];
    XorShift64::new(seed).fill_bytes(&mut buf);
    buf
}

/// One simulated host: its series key and the current value of each field.
struct Host {
    key: String,
    values: [i64; CPU_FIELDS.len()],
}

impl Host {
    fn new(index: usize, rng: &mut XorShift64) -> Self {
        let (region, datacenters) = REGIONS[rng.below(REGIONS.len() as u64) as usize];
        let datacenter = rng.pick(datacenters);
        let rack = rng.below(100);
        let os = rng.pick(&OSES);
        let arch = rng.pick(&ARCHES);
        let team = rng.pick(&TEAMS);
        let service = rng.below(20);
        let service_version = rng.below(2);
        let environment = rng.pick(&ENVIRONMENTS);
        let key = format!(
            "cpu,hostname=host_{index},region={region},datacenter={datacenter},rack={rack},\
             os={os},arch={arch},team={team},service={service},\
             service_version={service_version},service_environment={environment}"
        );
        let values = std::array::from_fn(|_| rng.range_i64(0, 100));
        Self { key, values }
    }

    fn step(&mut self, rng: &mut XorShift64) {
        for value in &mut self.values {
            *value = (*value + rng.range_i64(-MAX_STEP, MAX_STEP)).clamp(0, 100);
        }
    }
}

/// TSBS-style `cpu` line protocol: `points_per_host` points for each of
/// `hosts` hosts (`host_0` ...), one line each, newline-terminated.
///
/// Lines are ordered by time, then host, as TSBS writes them; timestamps are
/// nanoseconds from [`CPU_START_NS`], [`CPU_INTERVAL_NS`] apart. Tags are
/// drawn once per host and field values follow a per-host random walk in
/// `0..=100`, all from `seed`: the output is a pure function of the
/// arguments.
///
/// ```text
/// cpu,hostname=host_0,region=eu-west-1,datacenter=eu-west-1b,rack=41,os=Ubuntu16.04LTS,arch=x64,team=LON,service=7,service_version=1,service_environment=staging usage_user=58i,usage_system=2i,...,usage_guest_nice=63i 1451606400000000000
/// ```
pub fn cpu_lines(hosts: usize, points_per_host: usize, seed: u64) -> String {
    let mut rng = XorShift64::new(seed);
    let mut fleet: Vec<Host> = (0..hosts).map(|i| Host::new(i, &mut rng)).collect();
    let line_len_estimate = fleet.first().map_or(0, |h| h.key.len()) + 200;
    let mut out = String::with_capacity(hosts * points_per_host * line_len_estimate);
    let mut timestamp = CPU_START_NS;
    for point in 0..points_per_host {
        for host in &mut fleet {
            if point > 0 {
                host.step(&mut rng);
            }
            out.push_str(&host.key);
            for (i, (field, value)) in CPU_FIELDS.iter().zip(host.values).enumerate() {
                out.push(if i == 0 { ' ' } else { ',' });
                // Writing to a String cannot fail.
                let _ = write!(out, "{field}={value}i");
            }
            let _ = writeln!(out, " {timestamp}");
        }
        timestamp += CPU_INTERVAL_NS;
    }
    out
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
    }

    #[test]
    fn shape_of_the_lines() {
        let body = cpu_lines(3, 2, 0);
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), 6);
        assert!(body.ends_with('\n'));
        for (n, line) in lines.iter().enumerate() {
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(parts.len(), 3, "{line}");
            let host = n % 3;
            assert!(parts[0].starts_with(&format!("cpu,hostname=host_{host},region=")));
            assert_eq!(parts[0].split(',').count(), 11);
            let fields: Vec<&str> = parts[1].split(',').collect();
            assert_eq!(fields.len(), CPU_FIELDS.len());
            for (field, key) in fields.iter().zip(CPU_FIELDS) {
                let value = field
                    .strip_prefix(key)
                    .and_then(|v| v.strip_prefix('='))
                    .and_then(|v| v.strip_suffix('i'))
                    .expect(field);
                let value: i64 = value.parse().expect(field);
                assert!((0..=100).contains(&value), "{field}");
            }
            let ts: i64 = parts[2].parse().unwrap();
            assert_eq!(ts, CPU_START_NS + (n / 3) as i64 * CPU_INTERVAL_NS);
        }
        assert!(cpu_lines(0, 10, 1).is_empty());
        assert!(cpu_lines(10, 0, 1).is_empty());
    }

    #[test]
    fn every_line_parses() {
        let body = cpu_lines(20, 10, 42);
        let mut count = 0;
        for result in hearth_lineproto::parse_lines(&body) {
            let (_, line) = result.expect("generated line parses");
            assert_eq!(line.measurement, "cpu");
            assert_eq!(line.tags.len(), 10);
            assert_eq!(line.fields.len(), 10);
            count += 1;
        }
        assert_eq!(count, 200);
    }

    #[test]
    fn rng_ranges() {
        let mut rng = XorShift64::new(0);
        for _ in 0..1000 {
            let v = rng.range_i64(-5, 5);
            assert!((-5..=5).contains(&v));
            assert!(rng.below(3) < 3);
        }
        let mut buf = [0u8; 13];
        rng.fill_bytes(&mut buf);
        assert!(buf.iter().any(|&b| b != 0));
    }
}

//! TSBS devops "cpu-only": `scale` hosts with ten tags each and ten integer
//! `usage_*` fields, one point per host and interval, ordered by time then host.
//!
//! The draws are those of `hearth_benches::cpu_lines`, so with a 10 s interval
//! and the 2016-01-01 start the output is byte-identical to it for the same
//! hosts, points and seed.

use std::fmt::Write as _;
use std::io;

use crate::generate::{GenerateConfig, Sink};
use crate::rng::XorShift64;

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

/// The tag keys of every `cpu` line, in order.
pub const CPU_TAGS: [&str; 10] = [
    "hostname",
    "region",
    "datacenter",
    "rack",
    "os",
    "arch",
    "team",
    "service",
    "service_version",
    "service_environment",
];

/// TSBS regions and their datacenters (`pkg/data/usecases/devops/host.go`).
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

/// Number of points per host: the timestamps `start + k * interval` below the end.
pub fn points_per_host(config: &GenerateConfig) -> u64 {
    let duration = config.duration_ns.max(0) as u64;
    let interval = config.interval_ns.max(1) as u64;
    duration.div_ceil(interval)
}

/// Writes the data set into `sink`.
pub fn generate(config: &GenerateConfig, sink: &mut Sink<'_>) -> io::Result<()> {
    let mut rng = XorShift64::new(config.seed);
    let mut fleet: Vec<Host> = (0..config.scale).map(|i| Host::new(i, &mut rng)).collect();
    let mut line = String::with_capacity(512);
    let mut timestamp = config.start_ns;
    for point in 0..points_per_host(config) {
        for host in &mut fleet {
            if point > 0 {
                host.step(&mut rng);
            }
            line.clear();
            line.push_str(&host.key);
            for (i, (field, value)) in CPU_FIELDS.iter().zip(host.values).enumerate() {
                line.push(if i == 0 { ' ' } else { ',' });
                // Writing to a String cannot fail.
                let _ = write!(line, "{field}={value}i");
            }
            let _ = write!(line, " {timestamp}");
            sink.point(timestamp, &line)?;
        }
        timestamp = timestamp.saturating_add(config.interval_ns);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::UseCase;
    use crate::generate::tests::{START, config, run};
    use crate::units::{HOUR_NS, SECOND_NS};

    #[test]
    fn line_format() {
        let hosts = 3;
        let (body, summary) = run(&config(UseCase::CpuOnly, hosts, 60 * SECOND_NS, 0));
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), hosts * 6);
        assert_eq!(summary.dirt, Default::default());
        assert!(body.ends_with('\n'));
        for (n, line) in lines.iter().enumerate() {
            let parts: Vec<&str> = line.split(' ').collect();
            assert_eq!(parts.len(), 3, "{line}");
            let tags: Vec<&str> = parts[0].split(',').collect();
            assert_eq!(tags[0], "cpu");
            assert_eq!(tags.len(), 1 + CPU_TAGS.len());
            for (tag, key) in tags[1..].iter().zip(CPU_TAGS) {
                let (k, v) = tag.split_once('=').expect(tag);
                assert_eq!(k, key);
                assert!(!v.is_empty());
            }
            assert_eq!(tags[1], format!("hostname=host_{}", n % hosts));
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
            let ts: i64 = parts[2].parse().expect("timestamp");
            assert_eq!(ts, START + (n / hosts) as i64 * 10 * SECOND_NS);
        }
        // A host's tags never change.
        assert_eq!(lines[0].split(' ').next(), lines[hosts].split(' ').next());
    }

    #[test]
    fn sizes_and_intervals() {
        let mut c = config(UseCase::CpuOnly, 100, HOUR_NS, 1);
        assert_eq!(points_per_host(&c), 360);
        let (body, _) = run(&c);
        assert_eq!(body.lines().count(), 36_000);
        let avg = body.len() / 36_000;
        assert!((300..400).contains(&avg), "average line length {avg}");
        c.interval_ns = 7 * SECOND_NS;
        c.duration_ns = 20 * SECOND_NS;
        c.scale = 1;
        let (body, _) = run(&c);
        let ts: Vec<i64> = body
            .lines()
            .map(|l| l.rsplit(' ').next().and_then(|t| t.parse().ok()).expect(l))
            .collect();
        assert_eq!(ts, [START, START + 7 * SECOND_NS, START + 14 * SECOND_NS]);
        c.scale = 0;
        assert!(run(&c).0.is_empty());
    }
}

//! `hearth-bench generate`: deterministic line protocol for the two use cases.

use std::io::{self, Write};

use crate::rng::{XorShift64, derive_seed};
use crate::units::format_timestamp;
use crate::{cpu, smart_home};

/// Which data set to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UseCase {
    /// TSBS devops "cpu-only": one `cpu` line per host and interval.
    CpuOnly,
    /// The smart-home reference data set (energy, climate, motion, device_status).
    SmartHome,
}

/// Everything that determines the output; equal configs give equal bytes.
#[derive(Debug, Clone)]
pub struct GenerateConfig {
    /// The data set.
    pub use_case: UseCase,
    /// Hosts (cpu-only) or households (smart-home).
    pub scale: usize,
    /// First timestamp, nanoseconds since the epoch.
    pub start_ns: i64,
    /// Length of the time range: points have `start <= t < start + duration`.
    pub duration_ns: i64,
    /// cpu-only: spacing of a host's points; smart-home: spacing of `energy` readings.
    pub interval_ns: i64,
    /// The seed: the only source of randomness.
    pub seed: u64,
    /// smart-home only: include the realistic dirt.
    pub dirty: bool,
}

impl GenerateConfig {
    /// The exclusive end of the time range.
    pub fn end_ns(&self) -> i64 {
        self.start_ns.saturating_add(self.duration_ns)
    }
}

/// Counts of the dirt that made it into a smart-home data set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dirt {
    /// Gateway outages (each ends with a reconnect that sends late points and duplicates).
    pub outages: u64,
    /// Lines buffered during an outage and written out of order at the reconnect.
    pub late: u64,
    /// Lines re-sent at a reconnect (exact copies of lines written before).
    pub duplicates: u64,
    /// Meter replacements whose counter restarted from 0 inside the time range.
    pub counter_resets: u64,
    /// Offline gaps of devices (including the gap of a meter replacement).
    pub offline_gaps: u64,
    /// Households whose thermostats got the firmware update (and the `valve_pct` field).
    pub firmware_updates: u64,
    /// Malformed lines.
    pub malformed: u64,
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Lines written, malformed ones included.
    pub lines: u64,
    /// Bytes written.
    pub bytes: u64,
    /// Well-formed lines (points, duplicates included).
    pub points: u64,
    /// Smallest point timestamp.
    pub min_ts: Option<i64>,
    /// Largest point timestamp.
    pub max_ts: Option<i64>,
    /// smart-home dirt.
    pub dirt: Dirt,
}

impl Summary {
    /// The end-of-run report printed on stderr.
    pub fn report(&self, use_case: UseCase) -> String {
        let range = match (self.min_ts, self.max_ts) {
            (Some(lo), Some(hi)) => format!(
                "timestamps {} .. {} ({lo} .. {hi} ns)",
                format_timestamp(lo),
                format_timestamp(hi)
            ),
            _ => "no points".to_owned(),
        };
        let mut text = format!(
            "hearth-bench: wrote {} lines, {} bytes ({:.1} MiB), {range}",
            self.lines,
            self.bytes,
            self.bytes as f64 / (1024.0 * 1024.0)
        );
        if use_case == UseCase::SmartHome {
            let d = &self.dirt;
            let pct = |n: u64| 100.0 * n as f64 / self.lines.max(1) as f64;
            text.push_str(&format!(
                "\nhearth-bench: dirt: {} gateway outages, {} late lines ({:.3}%), {} duplicate \
                 lines ({:.3}%), {} counter resets, {} offline gaps, {} firmware updates, {} \
                 malformed lines ({:.4}%)",
                d.outages,
                d.late,
                pct(d.late),
                d.duplicates,
                pct(d.duplicates),
                d.counter_resets,
                d.offline_gaps,
                d.firmware_updates,
                d.malformed,
                pct(d.malformed)
            ));
        }
        text
    }
}

/// Generates the data set of `config` into `out` (flushed at the end).
pub fn generate(config: &GenerateConfig, out: &mut dyn Write) -> io::Result<Summary> {
    let summary = match config.use_case {
        UseCase::CpuOnly => {
            let mut sink = Sink::new(out, None);
            cpu::generate(config, &mut sink)?;
            sink.summary
        }
        UseCase::SmartHome => {
            let malformed = config
                .dirty
                .then(|| Malformed::new(derive_seed(config.seed, u64::MAX)));
            let mut sink = Sink::new(out, malformed);
            let dirt = smart_home::generate(config, &mut sink)?;
            let malformed = sink.summary.dirt.malformed;
            sink.summary.dirt = Dirt { malformed, ..dirt };
            sink.summary
        }
    };
    out.flush()?;
    Ok(summary)
}

/// Smallest and largest gap, in well-formed lines, between two malformed lines.
pub const MALFORMED_GAP: (u64, u64) = (5_000, 15_000);
/// Range of the number of well-formed lines before the first malformed line.
pub const MALFORMED_FIRST: (u64, u64) = (50, 150);

/// Inserts a corrupted copy of a line now and then.
#[derive(Debug)]
pub struct Malformed {
    rng: XorShift64,
    /// Insert before the well-formed line with this 0-based index.
    next_at: u64,
}

impl Malformed {
    fn new(seed: u64) -> Self {
        let mut rng = XorShift64::new(seed);
        let next_at = rng.range_i64(MALFORMED_FIRST.0 as i64, MALFORMED_FIRST.1 as i64 - 1) as u64;
        Self { rng, next_at }
    }

    /// A line that no line protocol parser accepts, made from `line`.
    fn corrupt(&mut self, line: &str) -> String {
        let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
        let (fields, timestamp) = rest.rsplit_once(' ').unwrap_or((rest, ""));
        match self.rng.below(4) {
            // Cut inside the series key: no field set.
            0 => {
                let cut = 1 + self.rng.below(key.len().saturating_sub(1) as u64) as usize;
                key.get(..cut).unwrap_or(key).to_owned()
            }
            // First field value is neither a number, a boolean nor a string.
            1 => {
                let (name, _) = fields.split_once('=').unwrap_or((fields, ""));
                let after = fields.find(',').map_or("", |i| &fields[i..]);
                format!("{key} {name}=oops{after} {timestamp}")
            }
            // Trailing garbage in the timestamp.
            2 => format!("{line}x"),
            // The field set is missing.
            _ => format!("{key} {timestamp}"),
        }
    }
}

/// Where generated lines go: counts them and injects malformed lines.
pub struct Sink<'a> {
    out: &'a mut dyn Write,
    /// What was written so far.
    pub summary: Summary,
    malformed: Option<Malformed>,
}

impl<'a> Sink<'a> {
    /// A sink writing to `out`, with malformed lines if `malformed` is given.
    pub fn new(out: &'a mut dyn Write, malformed: Option<Malformed>) -> Self {
        Self {
            out,
            summary: Summary::default(),
            malformed,
        }
    }

    /// Writes one point: `text` is a line without its newline, `ts` its timestamp.
    pub fn point(&mut self, ts: i64, text: &str) -> io::Result<()> {
        if let Some(m) = &mut self.malformed
            && self.summary.points == m.next_at
        {
            let bad = m.corrupt(text);
            m.next_at += m
                .rng
                .range_i64(MALFORMED_GAP.0 as i64, MALFORMED_GAP.1 as i64 - 1)
                as u64;
            self.raw(&bad)?;
            self.summary.dirt.malformed += 1;
        }
        self.raw(text)?;
        self.summary.points += 1;
        self.summary.min_ts = Some(self.summary.min_ts.map_or(ts, |m| m.min(ts)));
        self.summary.max_ts = Some(self.summary.max_ts.map_or(ts, |m| m.max(ts)));
        Ok(())
    }

    fn raw(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.summary.lines += 1;
        self.summary.bytes += text.len() as u64 + 1;
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::units::{DAY_NS, HOUR_NS, SECOND_NS};

    pub(crate) const START: i64 = 1_451_606_400_000_000_000;

    pub(crate) fn config(
        use_case: UseCase,
        scale: usize,
        duration_ns: i64,
        seed: u64,
    ) -> GenerateConfig {
        GenerateConfig {
            use_case,
            scale,
            start_ns: START,
            duration_ns,
            interval_ns: 10 * SECOND_NS,
            seed,
            dirty: true,
        }
    }

    pub(crate) fn run(config: &GenerateConfig) -> (String, Summary) {
        let mut out = Vec::new();
        let summary = generate(config, &mut out).expect("write to a Vec");
        (String::from_utf8(out).expect("ASCII output"), summary)
    }

    #[test]
    fn deterministic_per_seed() {
        for use_case in [UseCase::CpuOnly, UseCase::SmartHome] {
            let (a, sa) = run(&config(use_case, 3, 2 * HOUR_NS, 7));
            let (b, sb) = run(&config(use_case, 3, 2 * HOUR_NS, 7));
            let (c, _) = run(&config(use_case, 3, 2 * HOUR_NS, 8));
            assert!(!a.is_empty());
            assert_eq!(a, b, "{use_case:?}");
            assert_eq!(sa, sb);
            assert_ne!(a, c, "{use_case:?}");
            assert_eq!(sa.bytes, a.len() as u64);
            assert_eq!(sa.lines, a.lines().count() as u64);
        }
    }

    #[test]
    fn summary_report_mentions_the_range() {
        let (_, summary) = run(&config(UseCase::CpuOnly, 2, 30 * SECOND_NS, 1));
        assert_eq!(summary.lines, 6);
        assert_eq!(summary.min_ts, Some(START));
        assert_eq!(summary.max_ts, Some(START + 20 * SECOND_NS));
        let report = summary.report(UseCase::CpuOnly);
        assert!(report.contains("wrote 6 lines"), "{report}");
        assert!(
            report.contains("2016-01-01T00:00:00Z .. 2016-01-01T00:00:20Z"),
            "{report}"
        );
        let (_, summary) = run(&config(UseCase::SmartHome, 2, DAY_NS, 1));
        assert!(summary.report(UseCase::SmartHome).contains("dirt:"));
    }

    #[test]
    fn corrupted_lines_are_malformed() {
        let line =
            "energy,household=h00001,meter=m1 import_kwh=1.5,power_w=2.0 1451606400000000000";
        let mut m = Malformed::new(3);
        let mut kinds = std::collections::HashSet::new();
        for _ in 0..200 {
            let bad = m.corrupt(line);
            assert_ne!(bad, line);
            let parts: Vec<&str> = bad.split(' ').collect();
            let broken = parts.len() < 3
                || !parts[1].contains('=')
                || parts[1].contains("=oops")
                || parts[2].parse::<i64>().is_err();
            assert!(broken, "{bad}");
            kinds.insert(if parts.len() < 2 { 0 } else { parts.len() });
        }
        assert!(kinds.len() >= 2);
    }
}

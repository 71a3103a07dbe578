//! Ingest hot paths: line-protocol parsing and WAL appends.
//!
//! Run with `cargo bench -p hearth-benches` (see `benches/README.md`).
//!
//! * `parse/cpu_10k_lines`: [`hearth_lineproto::parse_lines`] over 10 000
//!   TSBS-style `cpu` lines (100 hosts x 100 points); reports lines/s and
//!   bytes/s.
//! * `parse/cpu_10k_lines_reused`: the same through `Lines::next_into` with one reused line
//!   and without the key-uniqueness checks, as the server parses.
//! * `buffer_append/*`: a 5 000-line body through `validate` (parse, check, build Arrow
//!   columns), the WAL payload `encode`, and `Buffer::apply`.
//! * `wal_append/sync_64KiB`: one thread, [`Wal::append_blocking`] of 64 KiB
//!   payloads with `sync = true`, i.e. one write + fdatasync per record.
//! * `wal_append/group_commit_16x64KiB`: 16 threads doing the same
//!   concurrently; time is per record, so the gain of group commit (many
//!   records per fdatasync) shows directly against `sync_64KiB`.
//!
//! The WAL lives in a temporary directory under `$TMPDIR` (default `/tmp`):
//! point `TMPDIR` at the disk you want to measure (a tmpfs makes fdatasync
//! free).

use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hearth_benches::{cpu_lines, random_bytes};
use hearth_wal::{Wal, WalConfig};
use tempfile::TempDir;

/// Lines in the parse input: 100 hosts x 100 points.
const PARSE_HOSTS: usize = 100;
const PARSE_POINTS: usize = 100;
const PARSE_LINES: usize = PARSE_HOSTS * PARSE_POINTS;

/// Payload of every WAL record.
const PAYLOAD_BYTES: usize = 64 * 1024;
/// Appending threads in the group-commit variant.
const WRITERS: usize = 16;
/// Records appended between two truncations of the WAL, so a run keeps at
/// most this many records (16 MiB at 64 KiB) plus one segment on disk.
/// Truncation happens outside the measured time.
const TRUNCATE_EVERY: u64 = 256;

fn parse(c: &mut Criterion) {
    let body = cpu_lines(PARSE_HOSTS, PARSE_POINTS, 42);
    // Check the input once, outside the measurement: every line must parse.
    let mut lines = 0;
    for result in hearth_lineproto::parse_lines(&body) {
        if let Err(err) = result {
            panic!("generated line does not parse: {err}");
        }
        lines += 1;
    }
    assert_eq!(lines, PARSE_LINES);

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::ElementsAndBytes {
        elements: PARSE_LINES as u64,
        bytes: body.len() as u64,
    });
    group.bench_function("cpu_10k_lines", |b| {
        b.iter(|| {
            let mut fields = 0usize;
            // Every line is valid (checked above): only the Ok path is timed.
            for (_, line) in hearth_lineproto::parse_lines(black_box(&body)).flatten() {
                fields += line.fields.len();
            }
            black_box(fields)
        });
    });
    // The server's path: one reused line, key uniqueness left to the column mapping.
    group.bench_function("cpu_10k_lines_reused", |b| {
        let mut line = hearth_lineproto::ParsedLine::empty();
        b.iter(|| {
            let mut fields = 0usize;
            let mut lines = hearth_lineproto::parse_lines(black_box(&body)).skip_key_checks();
            while let Some(result) = lines.next_into(&mut line) {
                if result.is_ok() {
                    fields += line.fields.len();
                }
            }
            black_box(fields)
        });
    });
    group.finish();
}

/// A WAL in a temporary directory. Field order matters: the WAL is closed
/// (dropped) before its directory is removed.
struct WalFixture {
    wal: Wal,
    _dir: TempDir,
}

impl WalFixture {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("hearth-bench-wal-")
            .tempdir()
            .expect("create a temporary directory for the WAL");
        let (wal, replayed) =
            Wal::open(WalConfig::new(dir.path().join("wal"))).expect("open the WAL");
        assert!(replayed.is_empty());
        Self { wal, _dir: dir }
    }

    /// Appends one record with `sync = true`.
    fn append_synced(&self, payload: &[u8]) {
        self.wal
            .append_blocking(payload.to_vec(), true, Box::new(|_seq| {}))
            .expect("WAL append");
    }

    /// Deletes every record written so far (not measured).
    fn truncate_all(&self) {
        self.wal
            .truncate_through(self.wal.last_seq())
            .expect("WAL truncate");
    }

    fn report(&self, bench: &str) {
        let stats = self.wal.stats();
        if stats.groups > 0 && stats.syncs > 0 {
            println!(
                "{bench}: {} records in {} write groups, {} fdatasyncs \
                 ({:.1} records per fdatasync)",
                stats.appends,
                stats.groups,
                stats.syncs,
                stats.appends as f64 / stats.syncs as f64
            );
        }
    }
}

/// Splits `iters` records into rounds of at most [`TRUNCATE_EVERY`].
fn rounds(iters: u64) -> impl Iterator<Item = u64> {
    let full = iters / TRUNCATE_EVERY;
    let rest = iters % TRUNCATE_EVERY;
    (0..full)
        .map(|_| TRUNCATE_EVERY)
        .chain((rest > 0).then_some(rest))
}

/// Records thread `writer` of [`WRITERS`] appends in a round of `records`.
fn share(records: u64, writer: usize) -> u64 {
    let writers = WRITERS as u64;
    records / writers + u64::from((writer as u64) < records % writers)
}

fn wal_append(c: &mut Criterion) {
    let payload = random_bytes(PAYLOAD_BYTES, 7);
    let mut group = c.benchmark_group("wal_append");
    // Each record costs an fdatasync (or a share of one): keep the sample
    // count low so a run takes seconds, not minutes, on slow disks.
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes(PAYLOAD_BYTES as u64));

    // Opened lazily so that a filtered-out benchmark touches no disk.
    let mut single: Option<WalFixture> = None;
    group.bench_function("sync_64KiB", |b| {
        let fixture = single.get_or_insert_with(WalFixture::new);
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for records in rounds(iters) {
                let start = Instant::now();
                for _ in 0..records {
                    fixture.append_synced(&payload);
                }
                elapsed += start.elapsed();
                fixture.truncate_all();
            }
            elapsed
        });
    });

    let mut shared: Option<WalFixture> = None;
    group.bench_function("group_commit_16x64KiB", |b| {
        let fixture = shared.get_or_insert_with(WalFixture::new);
        b.iter_custom(|iters| group_commit(fixture, &payload, iters));
    });
    group.finish();

    if let Some(fixture) = &single {
        fixture.report("wal_append/sync_64KiB");
    }
    if let Some(fixture) = &shared {
        fixture.report("wal_append/group_commit_16x64KiB");
    }
}

/// Appends `iters` records from [`WRITERS`] threads at once and returns the
/// wall time of the appends alone (thread start-up and truncation between
/// rounds are not measured). Criterion divides by `iters`: time per record.
fn group_commit(fixture: &WalFixture, payload: &[u8], iters: u64) -> Duration {
    // Two barrier waits per round: one to start the round together, one when
    // every writer is done. The main thread takes part in both.
    let barrier = Barrier::new(WRITERS + 1);
    thread::scope(|scope| {
        for writer in 0..WRITERS {
            let barrier = &barrier;
            scope.spawn(move || {
                for records in rounds(iters) {
                    barrier.wait();
                    for _ in 0..share(records, writer) {
                        fixture.append_synced(payload);
                    }
                    barrier.wait();
                }
            });
        }
        let mut elapsed = Duration::ZERO;
        for _ in rounds(iters) {
            barrier.wait();
            let start = Instant::now();
            barrier.wait();
            elapsed += start.elapsed();
            fixture.truncate_all();
        }
        elapsed
    })
}

/// The write path between the parser and the WAL: a 5 000-line request body (TSBS cpu) turned
/// into Arrow columns and checked against the table schema (`validate`), the WAL payload encoded
/// from it (`encode`), and the batch appended to the write buffer (`apply`).
fn buffer_append(c: &mut Criterion) {
    use hearth_catalog::catalog::Catalog;
    use hearth_lineproto::Precision;
    use hearth_storage::buffer::Buffer;
    use hearth_storage::validate::validate;

    let body = cpu_lines(100, 50, 7);
    let lines = 5_000u64;
    let catalog = Catalog::new();
    let db = catalog.database_or_create("bench").unwrap();
    let first = validate(&db, body.as_bytes(), Precision::Nanosecond, 0, true).unwrap();
    assert!(first.errors.is_empty());
    assert_eq!(first.batch.rows() as u64, lines);
    let payload = first.batch.encode().unwrap();

    let mut group = c.benchmark_group("buffer_append");
    group.throughput(Throughput::ElementsAndBytes {
        elements: lines,
        bytes: body.len() as u64,
    });
    group.bench_function("validate_5k_lines", |b| {
        b.iter(|| {
            let v = validate(
                &db,
                black_box(body.as_bytes()),
                Precision::Nanosecond,
                0,
                true,
            );
            black_box(v.unwrap().batch.rows())
        });
    });
    group.throughput(Throughput::ElementsAndBytes {
        elements: lines,
        bytes: payload.len() as u64,
    });
    group.bench_function("encode_5k_rows", |b| {
        b.iter(|| black_box(first.batch.encode().unwrap().len()));
    });
    group.bench_function("apply_5k_rows", |b| {
        let buffer = Buffer::new();
        let mut seq = 0;
        b.iter(|| {
            seq += 1;
            buffer.apply(seq, black_box(&first.batch), |_| true);
            if seq % 1000 == 0 {
                // Keep the buffer from growing without bound (outside the common case).
                if let Some(snap) = buffer.take_snapshot() {
                    buffer.finish_snapshot(&snap);
                }
            }
        });
    });
    // With the latest-row cache of the table switched on (a lastpoint query ran), every applied
    // write is also folded into it.
    group.bench_function("last_observe_5k_rows", |b| {
        let cache = hearth_storage::last::LastCache::default();
        let _ = cache.table("bench", "cpu");
        let schema = db.table("cpu").unwrap().schema();
        let mut seq = 0;
        b.iter(|| {
            seq += 1;
            cache.observe_write(seq, "bench", black_box(&first.batch.tables), |_| {
                Some(schema.clone())
            });
        });
    });
    group.finish();
    println!(
        "WAL payload of 5 000 cpu rows: {} bytes ({} bytes of line protocol)",
        payload.len(),
        body.len()
    );
}

criterion_group!(benches, parse, buffer_append, wal_append);
criterion_main!(benches);

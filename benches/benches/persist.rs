//! Persist hot path: merging a table's buffered chunks into one sorted, deduplicated batch
//! (`hearth_storage::persist::merge_chunks`), encoding it as Parquet, and as Parquet with the
//! file's Delta statistics (`encode_file`, what a flush does with each day).
//!
//! Input: TSBS cpu rows (10 tags, 10 integer fields) as the write path builds them, in 20 chunks;
//! half the rows are re-sent duplicates, as gateways do after a reconnect.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hearth_catalog::catalog::Catalog;
use hearth_lineproto::Precision;
use hearth_storage::persist::{encode_file, merge_chunks, write_parquet};
use hearth_storage::validate::validate;

fn persist(c: &mut Criterion) {
    let catalog = Catalog::new();
    let db = catalog.database_or_create("bench").unwrap();
    // 100 hosts x 1000 points = 100 k distinct rows; every chunk is sent twice.
    let mut chunks = Vec::new();
    let mut seq = 0;
    for part in 0..10 {
        let lines = hearth_benches::cpu_lines(100, 100, 1000 + part);
        let v = validate(&db, lines.as_bytes(), Precision::Nanosecond, 0, true).unwrap();
        assert!(v.errors.is_empty());
        let batch = v.batch.tables[0].1.clone();
        for _ in 0..2 {
            seq += 1;
            chunks.push((seq, batch.clone()));
        }
    }
    let table = db.table("cpu").unwrap().schema();
    let schema = table.arrow_schema();
    let tags = table.tag_indices();
    let rows: usize = chunks.iter().map(|(_, b)| b.num_rows()).sum();
    let merged = merge_chunks(&chunks, &schema, &tags, false).unwrap();

    let mut group = c.benchmark_group("persist");
    group.sample_size(10);
    group.throughput(Throughput::Elements(rows as u64));
    group.bench_function("merge_chunks_200k_rows", |b| {
        b.iter(|| black_box(merge_chunks(&chunks, &schema, &tags, false).unwrap()))
    });
    group.throughput(Throughput::Elements(merged.num_rows() as u64));
    group.bench_function("write_parquet_100k_rows", |b| {
        b.iter(|| black_box(write_parquet(&merged, &tags).unwrap()))
    });
    group.bench_function("encode_file_100k_rows", |b| {
        b.iter(|| black_box(encode_file(&merged, &tags).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, persist);
criterion_main!(benches);

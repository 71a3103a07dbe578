//! Tests of [`Storage`]'s WAL replay and write admission.

use super::*;

fn options() -> WriteOptions {
    WriteOptions {
        precision: Precision::Second,
        accept_partial: false,
        no_sync: false,
    }
}

#[tokio::test]
async fn a_replay_skips_records_of_a_table_dropped_after_them() {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::open(StorageConfig::in_dir(dir.path()))
        .await
        .unwrap();
    storage
        .write_lp("home", b"t v=1 1764000000\nu v=1 1764000000", options())
        .await
        .unwrap();
    // As a drop racing with that write leaves it: its record still in the WAL, the drop's
    // position in the database's settings.
    let seq = storage.wal.last_seq();
    let db = storage.catalog().database("home").unwrap();
    db.note_dropped("t", seq);
    storage.store().save_database_settings(&db).await.unwrap();
    storage.wal.close();
    drop(storage);

    let storage = Storage::open(StorageConfig::in_dir(dir.path()))
        .await
        .unwrap();
    let db = storage.catalog().database("home").unwrap();
    assert!(
        db.table("t").is_none(),
        "the dropped table's record was replayed"
    );
    assert!(db.table("u").is_some());
    assert_eq!(db.dropped_through("t"), seq);
    // A table of that name written again is a new table whose records replay.
    let written = storage
        .write_lp("home", b"t v=2 1764000001", options())
        .await
        .unwrap();
    assert!(written.seq.unwrap() > seq);
    storage.wal.close();
    drop(storage);
    let storage = Storage::open(StorageConfig::in_dir(dir.path()))
        .await
        .unwrap();
    let chunks = storage.buffer().table_chunks("home", "t");
    assert_eq!(chunks.iter().map(|(_, b)| b.num_rows()).sum::<usize>(), 1);
}

/// `rows` lines of `host` from `start` (seconds), one per second, ten fields each.
fn lines(host: usize, start: i64, rows: i64) -> String {
    (0..rows)
        .map(|i| {
            format!(
                "cpu,host=h{host} a={i}i,b={i}i,c={i}i,d={i}i,e={i}i,f=1.5,g=2.5,h=3.5,j=4.5,k=5.5 {}\n",
                start + i
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_wait_for_the_persister_past_the_backlog_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StorageConfig::in_dir(dir.path());
    config.flush.max_bytes = 64 << 10;
    config.write_backlog = Some(256 << 10);
    let storage = Storage::open(config).await.unwrap();
    assert_eq!(storage.backlog_bound(), 256 << 10);
    let (stop, stopped) = watch::channel(false);
    let flusher = tokio::spawn(storage.clone().run_flusher(stopped));
    // Eight writers of 1 000 rows a request, 12 requests each: far more than the bound.
    let (writers, requests, rows) = (8, 12, 1_000);
    let peak = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (storage, peak) = (storage.clone(), peak.clone());
        tasks.push(tokio::spawn(async move {
            let mut largest = 0;
            for r in 0..requests {
                let body = lines(w, 1_764_000_000 + r * rows, rows);
                let before = storage.buffer().stats().bytes;
                storage
                    .write_lp("db", body.as_bytes(), options())
                    .await
                    .unwrap();
                let stats = storage.buffer().stats();
                largest = largest.max(stats.bytes.saturating_sub(before));
                peak.fetch_max(
                    stats.bytes + stats.persisting_bytes,
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            largest
        }));
    }
    let mut one_write = 0;
    for t in tasks {
        one_write = one_write.max(t.await.unwrap());
    }
    let waits = storage.backlog_stats();
    assert!(waits.waits > 0 && waits.wait_seconds > 0.0, "{waits:?}");
    // A write is admitted only below the bound; the ones admitted together add theirs.
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        peak <= storage.backlog_bound() + writers * one_write,
        "backlog reached {peak} bytes, bound {} + {writers} writes of {one_write}",
        storage.backlog_bound()
    );
    stop.send(true).unwrap();
    flusher.await.unwrap();
    let db = storage.catalog().database("db").unwrap();
    let persisted: u64 = db
        .table("cpu")
        .unwrap()
        .state()
        .files
        .iter()
        .map(|f| f.rows)
        .sum();
    assert_eq!(
        persisted,
        (writers * requests as usize * rows as usize) as u64
    );

    // Without a flusher to wait for, nothing waits, however large the backlog.
    let dir = tempfile::tempdir().unwrap();
    let mut config = StorageConfig::in_dir(dir.path());
    config.write_backlog = Some(1);
    let storage = Storage::open(config).await.unwrap();
    for r in 0..3 {
        let body = lines(0, 1_764_000_000 + r * 10, 10);
        storage
            .write_lp("db", body.as_bytes(), options())
            .await
            .unwrap();
    }
    assert_eq!(storage.backlog_stats().waits, 0);
}

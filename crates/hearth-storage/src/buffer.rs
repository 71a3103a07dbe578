//! The in-memory write buffer: acknowledged rows not yet in a Delta commit.
//!
//! Rows are applied in WAL order by the WAL's writer thread right after their record is durable
//! (see `hearth_wal::Wal::append`), so the buffer always holds exactly the acknowledged writes
//! with sequence numbers up to [`Buffer::applied_seq`]. Each applied write of a table is one
//! chunk tagged with its sequence number, which is the rank used to merge duplicates.
//!
//! A flush takes a [`Snapshot`] of the oldest buffered writes, all writes up to some sequence
//! number and at most a given size (so the persister's memory stays bounded however far behind
//! it is). The snapshot stays readable (queries see its rows) until the persister has committed
//! it and calls [`Buffer::finish_snapshot`], so rows never disappear between the buffer and the
//! Delta table.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::record_batch::RecordBatch;
use parking_lot::Mutex;

use crate::codec::WriteBatch;

/// Identifies a table: (database, table).
pub type TableKey = (String, String);

/// The buffered writes of one table.
#[derive(Debug, Clone, Default)]
pub struct TableChunks {
    /// `(seq, rows)` in seq order.
    pub chunks: Vec<(u64, RecordBatch)>,
    /// Total rows.
    pub rows: usize,
    /// Approximate memory in bytes.
    pub bytes: usize,
}

/// A frozen set of buffered writes being persisted.
#[derive(Debug)]
pub struct Snapshot {
    /// Every write with a sequence number up to this one is in the snapshot (or was persisted
    /// before).
    pub seq: u64,
    /// The buffered writes per table.
    pub tables: HashMap<TableKey, TableChunks>,
}

/// Sizes of the buffer, for flush decisions and back-pressure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BufferStats {
    /// Rows in the live buffer (not yet in a snapshot).
    pub rows: usize,
    /// Bytes in the live buffer.
    pub bytes: usize,
    /// Bytes in snapshots still being persisted.
    pub persisting_bytes: usize,
    /// When the oldest row of the live buffer arrived.
    pub oldest: Option<Instant>,
}

#[derive(Debug, Default)]
struct Inner {
    live: HashMap<TableKey, TableChunks>,
    applied_seq: u64,
    persisting: Vec<Arc<Snapshot>>,
    rows: usize,
    bytes: usize,
    oldest: Option<Instant>,
}

/// The write buffer of all tables.
#[derive(Debug, Default)]
pub struct Buffer {
    inner: Mutex<Inner>,
}

impl Buffer {
    /// An empty buffer.
    pub fn new() -> Buffer {
        Buffer::default()
    }

    /// Applies the rows of the write with sequence number `seq`. `keep` decides per table
    /// whether its rows are applied (replay skips tables that already persisted `seq`).
    pub fn apply(&self, seq: u64, write: &WriteBatch, keep: impl Fn(&str) -> bool) {
        let mut inner = self.inner.lock();
        for (table, batch) in &write.tables {
            if batch.num_rows() == 0 || !keep(table) {
                continue;
            }
            let bytes = batch.get_array_memory_size();
            let entry = inner
                .live
                .entry((write.db.clone(), table.clone()))
                .or_default();
            entry.chunks.push((seq, batch.clone()));
            entry.rows += batch.num_rows();
            entry.bytes += bytes;
            inner.rows += batch.num_rows();
            inner.bytes += bytes;
            inner.oldest.get_or_insert_with(Instant::now);
        }
        inner.applied_seq = inner.applied_seq.max(seq);
    }

    /// Drops the live rows of table `db.table` (a dropped table).
    pub fn drop_table(&self, db: &str, table: &str) {
        let mut inner = self.inner.lock();
        if let Some(gone) = inner.live.remove(&(db.to_string(), table.to_string())) {
            inner.rows -= gone.rows;
            inner.bytes -= gone.bytes;
            if inner.live.is_empty() {
                inner.oldest = None;
            }
        }
    }

    /// Raises the applied sequence number without rows (replay of fully persisted records).
    pub fn note_seq(&self, seq: u64) {
        let mut inner = self.inner.lock();
        inner.applied_seq = inner.applied_seq.max(seq);
    }

    /// Highest sequence number applied.
    pub fn applied_seq(&self) -> u64 {
        self.inner.lock().applied_seq
    }

    /// Every buffered chunk of a table, in snapshots being persisted and live.
    pub fn table_chunks(&self, db: &str, table: &str) -> Vec<(u64, RecordBatch)> {
        let inner = self.inner.lock();
        let key = (db.to_string(), table.to_string());
        let mut out = Vec::new();
        for snap in &inner.persisting {
            if let Some(t) = snap.tables.get(&key) {
                out.extend(t.chunks.iter().cloned());
            }
        }
        if let Some(t) = inner.live.get(&key) {
            out.extend(t.chunks.iter().cloned());
        }
        out
    }

    /// Sizes of the buffer.
    pub fn stats(&self) -> BufferStats {
        let inner = self.inner.lock();
        BufferStats {
            rows: inner.rows,
            bytes: inner.bytes,
            persisting_bytes: inner
                .persisting
                .iter()
                .flat_map(|s| s.tables.values())
                .map(|t| t.bytes)
                .sum(),
            oldest: inner.oldest,
        }
    }

    /// Moves everything live into a new snapshot, or returns `None` when nothing is buffered.
    pub fn take_snapshot(&self) -> Option<Arc<Snapshot>> {
        self.take_snapshot_bounded(usize::MAX)
    }

    /// Moves the oldest live writes into a new snapshot: every write up to a sequence number
    /// `S`, with `S` as high as `max_bytes` allows (but at least the oldest write). Returns
    /// `None` when nothing is buffered. The snapshot's `seq` is `S`, or the applied sequence
    /// number when it takes everything.
    pub fn take_snapshot_bounded(&self, max_bytes: usize) -> Option<Arc<Snapshot>> {
        let mut inner = self.inner.lock();
        if inner.live.is_empty() {
            return None;
        }
        let tables = if inner.bytes <= max_bytes {
            inner.rows = 0;
            inner.bytes = 0;
            inner.oldest = None;
            let seq = inner.applied_seq;
            (seq, std::mem::take(&mut inner.live))
        } else {
            let mut sizes: Vec<(u64, usize)> = inner
                .live
                .values()
                .flat_map(|t| t.chunks.iter())
                .map(|(seq, batch)| (*seq, batch.get_array_memory_size()))
                .collect();
            sizes.sort_unstable();
            let mut total = 0;
            let mut through = sizes[0].0;
            for (seq, bytes) in sizes {
                if seq != through && total + bytes > max_bytes {
                    break;
                }
                total += bytes;
                through = seq;
            }
            let mut taken = HashMap::new();
            for (key, table) in inner.live.iter_mut() {
                let split = table.chunks.partition_point(|(seq, _)| *seq <= through);
                if split == 0 {
                    continue;
                }
                let rest = table.chunks.split_off(split);
                let chunks = std::mem::replace(&mut table.chunks, rest);
                let rows: usize = chunks.iter().map(|(_, b)| b.num_rows()).sum();
                let bytes: usize = chunks.iter().map(|(_, b)| b.get_array_memory_size()).sum();
                table.rows -= rows;
                table.bytes -= bytes;
                taken.insert(
                    key.clone(),
                    TableChunks {
                        chunks,
                        rows,
                        bytes,
                    },
                );
            }
            inner.live.retain(|_, t| !t.chunks.is_empty());
            let (rows, bytes) = taken
                .values()
                .fold((0, 0), |(r, b), t| (r + t.rows, b + t.bytes));
            inner.rows -= rows;
            inner.bytes -= bytes;
            // The age of what is left is not known per chunk: count it from now.
            inner.oldest = (!inner.live.is_empty()).then(Instant::now);
            (through, taken)
        };
        let snap = Arc::new(Snapshot {
            seq: tables.0,
            tables: tables.1,
        });
        inner.persisting.push(snap.clone());
        Some(snap)
    }

    /// Snapshots taken but not yet committed (a flush failed), oldest first.
    pub fn pending_snapshots(&self) -> Vec<Arc<Snapshot>> {
        self.inner.lock().persisting.clone()
    }

    /// Drops a snapshot once it is committed; its rows are then read from the Delta table.
    pub fn finish_snapshot(&self, snap: &Arc<Snapshot>) {
        self.inner
            .lock()
            .persisting
            .retain(|s| !Arc::ptr_eq(s, snap));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BatchBuilder, Value};
    use hearth_catalog::schema::FieldType;

    fn write(table: &str, v: f64) -> WriteBatch {
        let mut b = BatchBuilder::new();
        b.push_row([], [("v", FieldType::Float, Value::F64(v))], 1);
        WriteBatch {
            db: "home".into(),
            tables: vec![(table.into(), b.finish())],
            idempotency: None,
        }
    }

    #[test]
    fn snapshot_rows_stay_visible_until_finished() {
        let buf = Buffer::new();
        buf.apply(1, &write("a", 1.0), |_| true);
        buf.apply(2, &write("b", 2.0), |t| t != "b");
        assert_eq!(buf.applied_seq(), 2);
        assert_eq!(buf.stats().rows, 1);
        let snap = buf.take_snapshot().unwrap();
        assert_eq!(snap.seq, 2);
        assert!(buf.take_snapshot().is_none());
        buf.apply(3, &write("a", 3.0), |_| true);
        let seqs: Vec<u64> = buf.table_chunks("home", "a").iter().map(|c| c.0).collect();
        assert_eq!(seqs, [1, 3]);
        buf.finish_snapshot(&snap);
        let seqs: Vec<u64> = buf.table_chunks("home", "a").iter().map(|c| c.0).collect();
        assert_eq!(seqs, [3]);
        assert!(buf.table_chunks("home", "b").is_empty());
    }

    #[test]
    fn bounded_snapshots_take_the_oldest_writes_of_every_table() {
        let buf = Buffer::new();
        let one = write("a", 0.0).tables[0].1.get_array_memory_size();
        for (seq, table) in [(1, "a"), (2, "b"), (3, "a"), (4, "c"), (5, "b")] {
            buf.apply(seq, &write(table, seq as f64), |_| true);
        }
        buf.note_seq(6);
        assert_eq!(buf.stats().bytes, 5 * one);
        // Room for two and a half writes: writes 1 and 2.
        let snap = buf.take_snapshot_bounded(one * 5 / 2).unwrap();
        assert_eq!(snap.seq, 2);
        let mut tables: Vec<_> = snap
            .tables
            .iter()
            .map(|(k, t)| (k.1.clone(), t.rows))
            .collect();
        tables.sort();
        assert_eq!(tables, [("a".to_string(), 1), ("b".to_string(), 1)]);
        let stats = buf.stats();
        assert_eq!((stats.rows, stats.bytes), (3, 3 * one));
        assert_eq!(stats.persisting_bytes, 2 * one);
        // Snapshotted rows stay readable with the live ones.
        let seqs: Vec<u64> = buf.table_chunks("home", "a").iter().map(|c| c.0).collect();
        assert_eq!(seqs, [1, 3]);
        // A bound smaller than one write still takes the oldest write.
        let snap2 = buf.take_snapshot_bounded(1).unwrap();
        assert_eq!(snap2.seq, 3);
        assert_eq!(snap2.tables.len(), 1);
        // Taking the rest gives the applied sequence number, beyond the last write.
        let snap3 = buf.take_snapshot_bounded(usize::MAX).unwrap();
        assert_eq!(snap3.seq, 6);
        assert_eq!(snap3.tables.len(), 2);
        assert_eq!(buf.stats().rows, 0);
        assert!(buf.take_snapshot_bounded(usize::MAX).is_none());
        for s in [&snap, &snap2, &snap3] {
            buf.finish_snapshot(s);
        }
        assert_eq!(buf.stats().persisting_bytes, 0);
    }
}

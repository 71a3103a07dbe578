//! The payload of a WAL record: one acknowledged write, frozen as bytes.
//!
//! Layout (little endian):
//! `u8 version`, `u32 db_len`, db name, `u32 table_count`, then per table `u32 name_len`,
//! table name, `u32 ipc_len`, and an Arrow IPC stream holding that table's rows as one record
//! batch (schema metadata included, so tag columns stay marked). Version 2 appends the
//! idempotency key of the write: `u32 key_len` (0: none), the key, `i64 applied_at_ms`.
//! The Arrow IPC format is itself versioned and stable, which keeps old WAL records readable.
//! `testdata/wal/` holds golden payloads of each version; a change of layout must bump the
//! version and keep reading the older ones.

use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::StorageError;

const VERSION: u8 = 2;

/// The rows of one write request, per table, as they go into the WAL and the buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteBatch {
    /// Database the write went to.
    pub db: String,
    /// `(table, rows)`; one batch per table.
    pub tables: Vec<(String, RecordBatch)>,
    /// The idempotency key of the request and when it was applied (ms since the epoch).
    pub idempotency: Option<(String, i64)>,
}

impl WriteBatch {
    /// Total number of rows.
    pub fn rows(&self) -> usize {
        self.tables.iter().map(|(_, b)| b.num_rows()).sum()
    }

    /// Encodes the batch as a WAL payload.
    pub fn encode(&self) -> Result<Vec<u8>, StorageError> {
        self.encode_into(Vec::new())
    }

    /// [`WriteBatch::encode`] into `out`, which is cleared first (a buffer used again).
    pub fn encode_into(&self, mut out: Vec<u8>) -> Result<Vec<u8>, StorageError> {
        // Room for the whole payload up front (IPC adds little to the columns' own bytes), and
        // each table's IPC stream is written in place after its length: the payload is a few
        // megabytes per large request, which growing and copying would otherwise fault in and
        // move two or three times.
        let columns: usize = self
            .tables
            .iter()
            .map(|(_, b)| b.get_array_memory_size())
            .sum();
        out.clear();
        out.reserve(4096 + columns + columns / 8);
        out.push(VERSION);
        put_str(&mut out, &self.db);
        out.extend_from_slice(&(self.tables.len() as u32).to_le_bytes());
        for (name, batch) in &self.tables {
            put_str(&mut out, name);
            let at = out.len();
            out.extend_from_slice(&0u32.to_le_bytes());
            {
                let mut w = StreamWriter::try_new(&mut out, &batch.schema())?;
                w.write(batch)?;
                w.finish()?;
            }
            let len = u32::try_from(out.len() - at - 4)
                .map_err(|_| StorageError::Payload("a table's rows exceed 4 GiB".into()))?;
            out[at..at + 4].copy_from_slice(&len.to_le_bytes());
        }
        match &self.idempotency {
            Some((key, at)) => {
                put_str(&mut out, key);
                out.extend_from_slice(&at.to_le_bytes());
            }
            None => out.extend_from_slice(&0u32.to_le_bytes()),
        }
        Ok(out)
    }

    /// Decodes a WAL payload written by [`WriteBatch::encode`].
    pub fn decode(bytes: &[u8]) -> Result<WriteBatch, StorageError> {
        let mut r = Reader { bytes, pos: 0 };
        let version = r.take(1)?[0];
        if version != 1 && version != 2 {
            return Err(StorageError::Payload(format!(
                "unsupported WAL payload version {version}"
            )));
        }
        let db = r.string()?;
        let count = r.u32()? as usize;
        let mut tables = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            let name = r.string()?;
            let len = r.u32()? as usize;
            let ipc = r.take(len)?;
            let reader = StreamReader::try_new(ipc, None)?;
            for batch in reader {
                tables.push((name.clone(), batch?));
            }
        }
        let mut idempotency = None;
        if version >= 2 {
            let key = r.string()?;
            if !key.is_empty() {
                let at = r.take(8)?;
                let at = i64::from_le_bytes(at.try_into().expect("8 bytes"));
                idempotency = Some((key, at));
            }
        }
        Ok(WriteBatch {
            db,
            tables,
            idempotency,
        })
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], StorageError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| {
            StorageError::Payload(format!("WAL payload truncated at byte {}", self.pos))
        })?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, StorageError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self) -> Result<String, StorageError> {
        let len = self.u32()? as usize;
        let b = self.take(len)?;
        String::from_utf8(b.to_vec())
            .map_err(|_| StorageError::Payload("WAL payload name is not UTF-8".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{BatchBuilder, Value, is_tag};
    use hearth_catalog::schema::FieldType;

    fn sample() -> WriteBatch {
        let mut b = BatchBuilder::new();
        b.push_row(
            [("household", "h1")],
            [("power_w", FieldType::Float, Value::F64(230.0))],
            1_764_000_000_000_000,
        );
        WriteBatch {
            db: "home".into(),
            tables: vec![("energy".into(), b.finish())],
            idempotency: None,
        }
    }

    #[test]
    fn round_trip_keeps_rows_and_tag_marks() {
        let w = sample();
        let back = WriteBatch::decode(&w.encode().unwrap()).unwrap();
        assert_eq!(back, w);
        assert!(is_tag(back.tables[0].1.schema().field(0)));
    }

    #[test]
    fn truncated_payload_is_an_error_not_a_panic() {
        let bytes = sample().encode().unwrap();
        for cut in 0..bytes.len() {
            assert!(WriteBatch::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn idempotency_key_round_trips() {
        let mut w = sample();
        w.idempotency = Some(("gateway-7:batch-42".into(), 1_764_000_000_123));
        assert_eq!(WriteBatch::decode(&w.encode().unwrap()).unwrap(), w);
    }

    fn sample_v2() -> WriteBatch {
        let mut w = sample();
        w.idempotency = Some(("gateway-7:batch-42".into(), 1_764_000_000_123));
        w
    }

    /// A file under `testdata/wal/`, found from the crate directory at run time (see
    /// `hearth-wal`'s `golden_path`).
    fn testdata(name: &str) -> std::path::PathBuf {
        let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        std::path::Path::new(&dir)
            .join("../../testdata/wal")
            .join(name)
    }

    #[test]
    fn golden_v2_payload_decodes_and_encodes_the_same() {
        let path = testdata("payload-v2.bin");
        if std::env::var_os("HEARTH_WRITE_GOLDEN").is_some() {
            std::fs::write(&path, sample_v2().encode().unwrap()).unwrap();
        }
        let golden = std::fs::read(&path).expect("golden payload is checked in");
        assert_eq!(WriteBatch::decode(&golden).unwrap(), sample_v2());
        assert_eq!(golden[0], 2);
    }

    #[test]
    fn golden_payload_still_decodes() {
        let path = testdata("payload-v1.bin");
        let golden = std::fs::read(&path).expect("golden payload is checked in");
        assert_eq!(WriteBatch::decode(&golden).unwrap(), sample());
    }
}

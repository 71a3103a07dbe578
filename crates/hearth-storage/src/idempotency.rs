//! Idempotent retries: a write that carries an idempotency key is applied at most once within
//! the retention window; a repeat gets the first attempt's answer without writing again.
//!
//! Keys live in memory, in the WAL payload of the write (so a crash before the next flush keeps
//! them), and in a small file beside the WAL (`idempotency.json`), written with fsync before the
//! WAL is truncated (so a flush followed by a restart keeps them too). Concurrent requests with
//! one key are serialised: the second waits for the first and then answers like a repeat, or
//! applies the write itself if the first failed.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hearth_lineproto::LineError;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Longest accepted key, in bytes.
pub const MAX_KEY_LEN: usize = 256;
const FILE: &str = "idempotency.json";

/// The answer a repeat of an applied key gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Rows the first attempt wrote.
    pub rows: usize,
    /// Line errors of the first attempt (empty when unknown, after a restart).
    pub errors: Vec<LineError>,
}

#[derive(Debug)]
enum Entry {
    InFlight(watch::Receiver<bool>),
    Applied { at_ms: i64, answer: Applied },
}

#[derive(Serialize, Deserialize)]
struct Saved {
    version: u32,
    keys: Vec<SavedKey>,
}

#[derive(Serialize, Deserialize)]
struct SavedKey {
    db: String,
    key: String,
    applied_at_ms: i64,
}

/// The keys seen within the window.
#[derive(Debug)]
pub struct Idempotency {
    window: Duration,
    path: PathBuf,
    entries: Mutex<HashMap<(String, String), Entry>>,
}

/// The outcome of [`Idempotency::claim`].
#[derive(Debug)]
pub enum Claim {
    /// The key is new: write, then call [`Idempotency::finish`] (dropping the claim without
    /// finishing releases the key).
    Fresh(ClaimGuard),
    /// The key was applied already: answer this without writing.
    Repeat(Applied),
}

/// Holds a key in flight; releases it on drop unless finished.
#[derive(Debug)]
pub struct ClaimGuard {
    owner: Arc<Idempotency>,
    key: (String, String),
    done: watch::Sender<bool>,
    finished: bool,
}

impl ClaimGuard {
    /// Records the key as applied with `answer` at `at_ms`.
    pub fn finish(mut self, at_ms: i64, answer: Applied) {
        self.owner
            .entries
            .lock()
            .insert(self.key.clone(), Entry::Applied { at_ms, answer });
        self.finished = true;
        let _ = self.done.send(true);
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.owner.entries.lock().remove(&self.key);
            let _ = self.done.send(true);
        }
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Idempotency {
    /// Loads the saved keys from `dir` (missing or unreadable file: none, with a warning).
    pub fn load(dir: &std::path::Path, window: Duration) -> Idempotency {
        let path = dir.join(FILE);
        let mut entries = HashMap::new();
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice::<Saved>(&bytes) {
                Ok(saved) => {
                    for k in saved.keys {
                        entries.insert(
                            (k.db, k.key),
                            Entry::Applied {
                                at_ms: k.applied_at_ms,
                                answer: Applied::default(),
                            },
                        );
                    }
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "ignoring unreadable idempotency keys")
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot read idempotency keys")
            }
        }
        let this = Idempotency {
            window,
            path,
            entries: Mutex::new(entries),
        };
        this.expire(now_ms());
        this
    }

    fn window_ms(&self) -> i64 {
        i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX)
    }

    fn expire(&self, now: i64) {
        let window = self.window_ms();
        self.entries.lock().retain(|_, e| match e {
            Entry::InFlight(_) => true,
            Entry::Applied { at_ms, .. } => now.saturating_sub(*at_ms) < window,
        });
    }

    /// Notes a key found in a replayed WAL record.
    pub fn note_replayed(&self, db: &str, key: &str, at_ms: i64) {
        if now_ms().saturating_sub(at_ms) < self.window_ms() {
            self.entries.lock().insert(
                (db.to_string(), key.to_string()),
                Entry::Applied {
                    at_ms,
                    answer: Applied::default(),
                },
            );
        }
    }

    /// Claims `key` in `db` for a write, waiting while another request holds it.
    pub async fn claim(self: &Arc<Self>, db: &str, key: &str) -> Claim {
        let id = (db.to_string(), key.to_string());
        loop {
            let mut waiting = {
                let mut entries = self.entries.lock();
                if entries.len() > 100_000 {
                    drop(entries);
                    self.expire(now_ms());
                    entries = self.entries.lock();
                }
                match entries.get(&id) {
                    Some(Entry::Applied { at_ms, answer })
                        if now_ms().saturating_sub(*at_ms) < self.window_ms() =>
                    {
                        return Claim::Repeat(answer.clone());
                    }
                    Some(Entry::InFlight(rx)) => rx.clone(),
                    _ => {
                        let (tx, rx) = watch::channel(false);
                        entries.insert(id.clone(), Entry::InFlight(rx));
                        return Claim::Fresh(ClaimGuard {
                            owner: self.clone(),
                            key: id,
                            done: tx,
                            finished: false,
                        });
                    }
                }
            };
            // The holder finishes or gives up (its sender then drops): look again.
            let _ = waiting.wait_for(|done| *done).await;
        }
    }

    /// Writes the applied keys of the window to the file beside the WAL, durably.
    pub fn save(&self) -> std::io::Result<()> {
        let now = now_ms();
        self.expire(now);
        let keys: Vec<SavedKey> = self
            .entries
            .lock()
            .iter()
            .filter_map(|((db, key), e)| match e {
                Entry::Applied { at_ms, .. } => Some(SavedKey {
                    db: db.clone(),
                    key: key.clone(),
                    applied_at_ms: *at_ms,
                }),
                Entry::InFlight(_) => None,
            })
            .collect();
        let bytes =
            serde_json::to_vec(&Saved { version: 1, keys }).map_err(std::io::Error::other)?;
        let tmp = self.path.with_extension("json.tmp");
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_applied_once_and_survives_a_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let idem = Arc::new(Idempotency::load(dir.path(), Duration::from_secs(3600)));
        let Claim::Fresh(guard) = idem.claim("home", "k1").await else {
            panic!("a new key is fresh")
        };
        guard.finish(
            now_ms(),
            Applied {
                rows: 3,
                errors: vec![],
            },
        );
        match idem.claim("home", "k1").await {
            Claim::Repeat(a) => assert_eq!(a.rows, 3),
            Claim::Fresh(_) => panic!("repeat applied twice"),
        }
        // Same key in another database is another key.
        assert!(matches!(idem.claim("work", "k1").await, Claim::Fresh(_)));
        idem.save().unwrap();
        let reloaded = Arc::new(Idempotency::load(dir.path(), Duration::from_secs(3600)));
        assert!(matches!(
            reloaded.claim("home", "k1").await,
            Claim::Repeat(_)
        ));
        assert!(matches!(
            reloaded.claim("work", "k1").await,
            Claim::Fresh(_)
        ));
    }

    #[tokio::test]
    async fn a_failed_attempt_releases_the_key_and_old_keys_expire() {
        let dir = tempfile::tempdir().unwrap();
        let idem = Arc::new(Idempotency::load(dir.path(), Duration::from_secs(60)));
        match idem.claim("home", "k").await {
            Claim::Fresh(guard) => drop(guard),
            Claim::Repeat(_) => panic!(),
        }
        assert!(matches!(idem.claim("home", "k").await, Claim::Fresh(_)));
        idem.note_replayed("home", "old", now_ms() - 61_000);
        assert!(matches!(idem.claim("home", "old").await, Claim::Fresh(_)));
        idem.note_replayed("home", "recent", now_ms() - 1_000);
        assert!(matches!(
            idem.claim("home", "recent").await,
            Claim::Repeat(_)
        ));
    }

    #[tokio::test]
    async fn a_concurrent_repeat_waits_for_the_first_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let idem = Arc::new(Idempotency::load(dir.path(), Duration::from_secs(60)));
        let Claim::Fresh(guard) = idem.claim("home", "k").await else {
            panic!()
        };
        let other = idem.clone();
        let waiter = tokio::spawn(async move { other.claim("home", "k").await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiter.is_finished(),
            "the repeat must wait while the first is in flight"
        );
        guard.finish(
            now_ms(),
            Applied {
                rows: 1,
                errors: vec![],
            },
        );
        assert!(matches!(waiter.await.unwrap(), Claim::Repeat(a) if a.rows == 1));
    }
}

//! Large byte buffers kept for reuse.
//!
//! The write path builds megabytes per request (the request body, the WAL payload). A fresh
//! buffer each time means fresh pages from the kernel, zeroed, each time: glibc gives large
//! blocks and emptied per-thread heaps back when they are freed. A pool keeps a few spent
//! buffers instead, bounded in number and in bytes, so an occasional huge one is not held on to.

use std::sync::{Mutex, PoisonError};

/// At most this many buffers are kept...
const KEEP_BUFFERS: usize = 8;
/// ...holding at most this many bytes together.
const KEEP_BYTES: usize = 32 << 20;

/// Spent buffers, for the next users.
#[derive(Debug, Default)]
pub struct BufferPool {
    free: Mutex<Vec<Vec<u8>>>,
}

impl BufferPool {
    /// An empty buffer: the smallest kept one with room for `expected` bytes, or the largest
    /// if none has room or the length is not known (0); a new one if none is kept.
    pub fn take(&self, expected: usize) -> Vec<u8> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        let fits = free
            .iter()
            .enumerate()
            .filter(|(_, b)| expected > 0 && b.capacity() >= expected)
            .min_by_key(|(_, b)| b.capacity());
        let pick = fits
            .or_else(|| free.iter().enumerate().max_by_key(|(_, b)| b.capacity()))
            .map(|(i, _)| i);
        pick.map(|i| free.swap_remove(i)).unwrap_or_default()
    }

    /// Keeps `buffer` for a later [`take`](BufferPool::take), if the pool has room for it.
    pub fn give_back(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        if buffer.capacity() == 0 {
            return;
        }
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        let held: usize = free.iter().map(Vec::capacity).sum();
        if free.len() < KEEP_BUFFERS && held + buffer.capacity() <= KEEP_BYTES {
            free.push(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_empty_chosen_by_size_and_bounded() {
        let pool = BufferPool::default();
        assert_eq!(pool.take(10).capacity(), 0, "none kept yet");
        let mut small = pool.take(0);
        small.extend_from_slice(b"abc");
        small.reserve(16);
        let mut large = Vec::with_capacity(4096);
        large.push(1);
        let (small_cap, large_cap) = (small.capacity(), large.capacity());
        pool.give_back(small);
        pool.give_back(large);
        // A known length gets the smallest buffer with room; an unknown or larger one the
        // largest. Either comes back empty.
        let b = pool.take(10);
        assert_eq!((b.len(), b.capacity()), (0, small_cap));
        pool.give_back(b);
        let b = pool.take(0);
        assert_eq!((b.len(), b.capacity()), (0, large_cap));
        pool.give_back(b);
        assert_eq!(pool.take(1 << 20).capacity(), large_cap);
        assert_eq!(pool.take(0).capacity(), small_cap);
        assert_eq!(pool.take(0).capacity(), 0, "all taken");
        // Never more buffers, nor more bytes, than the bounds.
        for _ in 0..KEEP_BUFFERS + 3 {
            pool.give_back(Vec::with_capacity(16));
        }
        assert_eq!(pool.free.lock().unwrap().len(), KEEP_BUFFERS);
        pool.free.lock().unwrap().clear();
        pool.give_back(Vec::with_capacity(KEEP_BYTES / 2 + 1));
        pool.give_back(Vec::with_capacity(KEEP_BYTES / 2 + 1));
        assert_eq!(pool.free.lock().unwrap().len(), 1);
    }
}

//! Request bodies read into buffers that are used again.
//!
//! A write body is copied out of the connection's frames into one contiguous buffer for the
//! parser. A fresh buffer per request meant fresh pages from the kernel for every body (the
//! allocator hands large blocks back to it when they are freed), and zeroing those pages cost
//! more than the copy itself. Buffers go back to a small pool when the request is done; the
//! pool keeps a bounded number of bytes, so an occasional huge body is not held on to.

use std::ops::Deref;

use axum::body::Body;
use futures::StreamExt;
use parking_lot::Mutex;

/// Free buffers, for the next bodies.
#[derive(Debug, Default)]
pub struct BodyPool {
    free: Mutex<Vec<Vec<u8>>>,
}

/// At most this many buffers are kept...
const KEEP_BUFFERS: usize = 8;
/// ...holding at most this many bytes together.
const KEEP_BYTES: usize = 32 << 20;

impl BodyPool {
    /// An empty buffer: the smallest with room for `expected` bytes, or the largest if none
    /// has room or the length is not known (0).
    fn take(&self, expected: usize) -> Vec<u8> {
        let mut free = self.free.lock();
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

    /// Puts a buffer back, if the pool keeps it.
    fn give_back(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        if buffer.capacity() == 0 {
            return;
        }
        let mut free = self.free.lock();
        let held: usize = free.iter().map(Vec::capacity).sum();
        if free.len() < KEEP_BUFFERS && held + buffer.capacity() <= KEEP_BYTES {
            free.push(buffer);
        }
    }

    /// An empty buffer of the pool (chosen as by [`BodyPool::take`]).
    pub(crate) fn empty(&self, expected: usize) -> PooledBody<'_> {
        PooledBody {
            bytes: self.take(expected),
            pool: self,
        }
    }

    /// Reads `body` (of at most `limit` bytes) into a buffer of the pool; `expected` is its
    /// declared length, if any.
    pub(crate) async fn read(
        &self,
        body: Body,
        expected: Option<usize>,
        limit: usize,
    ) -> Result<PooledBody<'_>, ReadError> {
        if expected.is_some_and(|n| n > limit) {
            return Err(ReadError::TooLarge);
        }
        let mut out = self.empty(expected.unwrap_or(0));
        out.bytes.reserve(expected.unwrap_or(0));
        let mut frames = body.into_data_stream();
        while let Some(frame) = frames.next().await {
            let data = frame.map_err(|e| ReadError::Broken(e.to_string()))?;
            if out.bytes.len() + data.len() > limit {
                return Err(ReadError::TooLarge);
            }
            out.bytes.extend_from_slice(&data);
        }
        Ok(out)
    }
}

/// A request body in a buffer of the pool; the buffer goes back when this is dropped.
pub(crate) struct PooledBody<'p> {
    bytes: Vec<u8>,
    pool: &'p BodyPool,
}

impl PooledBody<'_> {
    /// Mutable access to the buffer (to decompress into it).
    pub(crate) fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }
}

impl Deref for PooledBody<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for PooledBody<'_> {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.bytes));
    }
}

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// It is longer than the limit.
    TooLarge,
    /// The connection failed while sending it.
    Broken(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_are_read_whole_within_the_limit_and_buffers_come_back() {
        let pool = BodyPool::default();
        let frames: Vec<Result<&'static str, std::io::Error>> = vec![Ok("abc"), Ok("defg")];
        let body = Body::from_stream(futures::stream::iter(frames));
        let read = pool.read(body, None, 7).await.unwrap();
        assert_eq!(&read[..], b"abcdefg");
        let capacity = read.bytes.capacity();
        drop(read);
        assert_eq!(pool.free.lock().len(), 1);
        // The next body gets that buffer, empty.
        let again = pool.read(Body::from("xy"), Some(2), 7).await.unwrap();
        assert_eq!(&again[..], b"xy");
        assert_eq!(again.bytes.capacity(), capacity);
        assert!(pool.free.lock().is_empty());
        drop(again);

        let long = Body::from_stream(futures::stream::iter(vec![
            Ok::<_, std::io::Error>("abcd"),
            Ok("efgh"),
        ]));
        assert!(matches!(
            pool.read(long, None, 7).await,
            Err(ReadError::TooLarge)
        ));
        assert!(matches!(
            pool.read(Body::from("x"), Some(8), 7).await,
            Err(ReadError::TooLarge)
        ));
        let broken = Body::from_stream(futures::stream::iter(vec![
            Ok("ab"),
            Err(std::io::Error::other("reset by peer")),
        ]));
        match pool.read(broken, None, 7).await {
            Err(ReadError::Broken(m)) => assert!(m.contains("reset by peer"), "{m}"),
            _ => panic!("a broken body is an error"),
        }
        assert_eq!(
            pool.free.lock().len(),
            1,
            "failed reads hand their buffers back"
        );

        // A declared length gets the smallest buffer with room; an unknown one the largest.
        let mut small = pool.empty(0);
        small.buffer().reserve(16);
        let mut large = pool.empty(0);
        large.buffer().reserve(4096);
        let (small_cap, large_cap) = (small.bytes.capacity(), large.bytes.capacity());
        drop((small, large));
        assert_eq!(pool.empty(10).bytes.capacity(), small_cap);
        assert_eq!(pool.empty(0).bytes.capacity(), large_cap);
        assert_eq!(pool.empty(1 << 20).bytes.capacity(), large_cap);
        let read = pool.read(Body::from("chunk"), None, 7).await.unwrap();
        assert_eq!(read.bytes.capacity(), large_cap);
        drop(read);

        // Never more than the pool keeps.
        assert_eq!(pool.free.lock().len(), 2);
        for _ in 0..KEEP_BUFFERS + 3 {
            pool.give_back(Vec::with_capacity(16));
        }
        assert_eq!(pool.free.lock().len(), KEEP_BUFFERS);
        pool.give_back(Vec::with_capacity(KEEP_BYTES));
        assert_eq!(pool.free.lock().len(), KEEP_BUFFERS);
    }
}

//! Request bodies read into buffers of a [`BufferPool`], used again by later requests.
//!
//! A write body is copied out of the connection's frames into one contiguous buffer for the
//! parser; a fresh buffer per request cost more in freshly zeroed pages than the copy itself.

use std::ops::Deref;

use axum::body::Body;
use futures::StreamExt;
use hearth_wal::BufferPool;

/// A request body in a buffer of the pool; the buffer goes back when this is dropped.
pub(crate) struct PooledBody<'p> {
    bytes: Vec<u8>,
    pool: &'p BufferPool,
}

impl<'p> PooledBody<'p> {
    /// An empty buffer of `pool` (chosen as by [`BufferPool::take`]).
    pub(crate) fn empty(pool: &'p BufferPool, expected: usize) -> Self {
        PooledBody {
            bytes: pool.take(expected),
            pool,
        }
    }

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

/// Reads `body` (of at most `limit` bytes) into a buffer of `pool`; `expected` is its declared
/// length, if any.
pub(crate) async fn read<'p>(
    pool: &'p BufferPool,
    body: Body,
    expected: Option<usize>,
    limit: usize,
) -> Result<PooledBody<'p>, ReadError> {
    if expected.is_some_and(|n| n > limit) {
        return Err(ReadError::TooLarge);
    }
    let mut out = PooledBody::empty(pool, expected.unwrap_or(0));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(frames: Vec<Result<&'static str, std::io::Error>>) -> Body {
        Body::from_stream(futures::stream::iter(frames))
    }

    #[tokio::test]
    async fn bodies_are_read_whole_within_the_limit_and_buffers_come_back() {
        let pool = BufferPool::default();
        let whole = read(&pool, stream(vec![Ok("abc"), Ok("defg")]), None, 7)
            .await
            .unwrap();
        assert_eq!(&whole[..], b"abcdefg");
        let capacity = whole.bytes.capacity();
        drop(whole);
        // The next body gets that buffer, empty.
        let again = read(&pool, Body::from("xy"), Some(2), 7).await.unwrap();
        assert_eq!(&again[..], b"xy");
        assert_eq!(again.bytes.capacity(), capacity);
        drop(again);

        let long = stream(vec![Ok("abcd"), Ok("efgh")]);
        assert!(matches!(
            read(&pool, long, None, 7).await,
            Err(ReadError::TooLarge)
        ));
        assert!(matches!(
            read(&pool, Body::from("x"), Some(8), 7).await,
            Err(ReadError::TooLarge)
        ));
        let broken = stream(vec![Ok("ab"), Err(std::io::Error::other("reset by peer"))]);
        match read(&pool, broken, None, 7).await {
            Err(ReadError::Broken(m)) => assert!(m.contains("reset by peer"), "{m}"),
            _ => panic!("a broken body is an error"),
        }
        // Failed reads handed their buffer back too.
        assert_eq!(pool.take(0).capacity(), capacity);
    }
}

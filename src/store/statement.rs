//! Reading in-toto statements as they stream, from a registry or a layout file: the parse runs
//! on a blocking thread fed a few chunks at a time, and the digest is checked as the bytes pass,
//! so memory per statement stays a small buffer however large the predicate is.

use super::{files, StoreError};
use crate::model::digest::Digest;
use crate::model::statement::{ReadError, Statement, StatementError};
use crate::transport::error::RegistryError;
use crate::transport::BlobBody;
use bytes::Bytes;
use std::io::Read;
use std::path::Path;
use tokio::sync::mpsc;

/// Chunks in flight between the network and the parser.
const CHUNKS_IN_FLIGHT: usize = 2;

/// A statement read: the store failed (outer), or the bytes are not a statement (inner).
pub type StatementRead = Result<Result<Statement, StatementError>, StoreError>;

/// Reads a statement from a registry blob body, at most `limit` bytes, checking `digest`.
pub(super) async fn from_body(
    mut body: BlobBody,
    digest: &Digest,
    limit: usize,
) -> Result<Result<Statement, StatementError>, RegistryError> {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(CHUNKS_IN_FLIGHT);
    let parse = tokio::task::spawn_blocking(move || Statement::read(ChannelReader::new(rx)));
    let fed = feed(&mut body, digest, limit, tx).await;
    let parsed = parse.await;
    fed?;
    match parsed {
        Ok(Ok(s)) => Ok(Ok(s)),
        Ok(Err(ReadError::Statement(e))) => Ok(Err(e)),
        Ok(Err(ReadError::Io(e))) => Err(RegistryError::Protocol {
            request: body.request().clone(),
            reason: e.to_string(),
        }),
        Err(e) => Err(RegistryError::Protocol {
            request: body.request().clone(),
            reason: format!("internal: the statement parser stopped: {e}"),
        }),
    }
}

/// Passes the body to the parser chunk by chunk, hashing it; fails on a broken body, a body
/// over `limit`, or bytes that do not hash to `digest` (the parser is then told so too).
async fn feed(
    body: &mut BlobBody,
    digest: &Digest,
    limit: usize,
    tx: mpsc::Sender<std::io::Result<Bytes>>,
) -> Result<(), RegistryError> {
    let mut hash = digest.verifier();
    let mut total = 0usize;
    let stop = |tx: &mpsc::Sender<_>, why: &str| {
        let _ = tx.try_send(Err(std::io::Error::other(why.to_string())));
    };
    loop {
        let chunk = match body.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => {
                stop(&tx, "the body broke off");
                return Err(e);
            }
        };
        total += chunk.len();
        if total > limit {
            stop(&tx, "too large");
            return Err(RegistryError::TooLarge {
                request: body.request().clone(),
                limit,
            });
        }
        hash.update(&chunk);
        if tx.send(Ok(chunk)).await.is_err() {
            // The parser stopped (the bytes are not a statement): its error is the answer.
            return Ok(());
        }
    }
    if let Err(actual) = hash.finish() {
        stop(&tx, "digest mismatch");
        return Err(RegistryError::DigestMismatch {
            request: body.request().clone(),
            expected: digest.to_string(),
            actual,
        });
    }
    Ok(())
}

/// A blocking reader over the chunks the feeder sends.
struct ChannelReader {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
    current: Bytes,
}

impl ChannelReader {
    fn new(rx: mpsc::Receiver<std::io::Result<Bytes>>) -> ChannelReader {
        ChannelReader {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(c)) => self.current = c,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Reads a statement from a layout blob file, at most `limit` bytes, checking `digest`.
pub(super) async fn from_file(path: &Path, digest: &Digest, limit: usize) -> StatementRead {
    // Opening never blocks (a FIFO is refused here); the reading and parsing do.
    let file = files::open_regular(path)?;
    let verifier = digest.verifier();
    let read = tokio::task::spawn_blocking(move || {
        let mut r = Hashing {
            inner: file.take(limit as u64 + 1),
            hash: verifier,
            total: 0,
        };
        let parsed = Statement::read(&mut r);
        (parsed, r.total, r.hash.finish())
    })
    .await;
    let (parsed, total, matches) = match read {
        Ok(x) => x,
        Err(e) => return Err(files::err(path, format!("internal: {e}"))),
    };
    if total > limit {
        return Err(files::err(
            path,
            format!("larger than the {limit}-byte limit"),
        ));
    }
    match (parsed, matches) {
        (Ok(s), Ok(())) => Ok(Ok(s)),
        (Ok(_), Err(actual)) => Err(files::err(
            path,
            format!("content does not match digest {digest} (it hashes to {actual})"),
        )),
        (Err(ReadError::Statement(e)), _) => Ok(Err(e)),
        (Err(ReadError::Io(e)), _) => Err(files::io_err(path, e)),
    }
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    hash: crate::model::digest::Verifier,
    total: usize,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.total += n;
        Ok(n)
    }
}

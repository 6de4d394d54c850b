//! The data stream: blobs served by content hash on their own libp2p stream, `/quorate/data/1`.
//!
//! Bulk bytes never pass through the event loop and are never framed per chunk. A fetcher opens
//! a stream to a provider and sends one [`DataRequest`]; the provider answers with one frame and,
//! when it holds the blob, the requested bytes straight after it:
//!
//! ```text
//! fetcher ── frame(DataRequest{hash, offset, len}) ──▶ provider
//! fetcher ◀── frame(DataHeader{hash, total, piece hashes}) ── raw bytes [offset, end) ── close
//!        or ◀── frame(DataUnavailable{hash}) / frame(Refused{reason})
//! ```
//!
//! The header carries the blob's [`Outline`]: the fetcher checks that it merges to the content
//! hash it asked for, then checks each 1 MiB piece the moment it arrives ([`crate::fetch`]), so a
//! corrupted piece is blamed on the provider that sent it and everything before it is kept.
//!
//! The event loop admits each inbound stream as it would a request (the peer must have proven
//! its identity, pass the rate limit and not be banned); a serving task then reads the request,
//! with a deadline, from the shared [`Store`] and writes the bytes from the stored buffer
//! without copying them. At most [`crate::Config::max_data_streams`] streams are served at once;
//! a peer that sends a malformed request is scored like any other offender.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use futures::AsyncWriteExt;
use libp2p::{PeerId, Stream, StreamProtocol};
use quorate_primitives::{ContentHash, Outline, PIECE_LEN};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tracing::debug;

use crate::{
    Error,
    guard::Offence,
    protocol::{read_message, write_frame},
    wire::{DataHeader, DataRequest, MAX_PIECES, Message},
};

/// The data stream's protocol id.
pub const DATA_PROTOCOL: StreamProtocol = StreamProtocol::new("/quorate/data/1");

/// Bytes written per call while serving, so a stalled reader is noticed within one deadline.
const WRITE_SLICE: usize = 256 * 1024;

/// One blob held for serving, with its piece hashes computed once.
#[derive(Debug)]
pub(crate) struct Blob {
    pub(crate) bytes: Vec<u8>,
    pub(crate) outline: Outline,
}

impl Blob {
    pub(crate) fn new(bytes: Vec<u8>) -> Self {
        let outline = Outline::of(&bytes);
        Self { bytes, outline }
    }
}

#[derive(Debug, Default)]
struct Blobs {
    by_hash: HashMap<ContentHash, Arc<Blob>>,
    bytes: u64,
}

/// The blobs this node serves, shared by its [`crate::Client`]s and the serving tasks.
#[derive(Debug, Clone, Default)]
pub(crate) struct Store {
    inner: Arc<RwLock<Blobs>>,
}

impl Store {
    /// Adds a blob unless that would hold more than `max_bytes` in all.
    pub(crate) fn put(&self, blob: Blob, max_bytes: u64) -> Result<ContentHash, Error> {
        let hash = blob.outline.root();
        let size = blob.bytes.len() as u64;
        if blob.outline.pieces().len() > MAX_PIECES {
            return Err(Error::ContentTooLarge { size, max: (MAX_PIECES * PIECE_LEN) as u64 });
        }
        let mut blobs = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if blobs.by_hash.contains_key(&hash) {
            return Ok(hash);
        }
        let total = blobs.bytes.saturating_add(size);
        if total > max_bytes {
            return Err(Error::ContentTooLarge { size, max: max_bytes });
        }
        blobs.bytes = total;
        blobs.by_hash.insert(hash, Arc::new(blob));
        Ok(hash)
    }

    pub(crate) fn remove(&self, hash: &ContentHash) {
        let mut blobs = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(blob) = blobs.by_hash.remove(hash) {
            blobs.bytes = blobs.bytes.saturating_sub(blob.bytes.len() as u64);
        }
    }

    pub(crate) fn get(&self, hash: &ContentHash) -> Option<Arc<Blob>> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner).by_hash.get(hash).cloned()
    }
}

/// What a serving task needs besides its stream.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    pub(crate) store: Store,
    /// Where offences go (the event loop); weak, so serving never keeps the loop alive.
    pub(crate) offences: mpsc::WeakSender<(PeerId, Offence)>,
    /// Longest wait for the request, and for each write to drain.
    pub(crate) deadline: Duration,
}

impl Server {
    /// Serves one admitted stream to its end; `permit` counts it against the concurrency cap.
    pub(crate) async fn serve(
        self,
        peer: PeerId,
        mut stream: Stream,
        permit: OwnedSemaphorePermit,
    ) {
        let request = match tokio::time::timeout(self.deadline, read_message(&mut stream)).await {
            Ok(Ok(Message::DataRequest(request))) => request,
            Ok(Ok(other)) => {
                debug!(target: "quorate::p2p", %peer, kind = other.kind().name(), "not a data request");
                self.report(peer, Offence::ProtocolViolation).await;
                return;
            }
            Ok(Err(e)) => {
                if let Some(offence) = crate::protocol::decode_failure(&e).and_then(Offence::of) {
                    self.report(peer, offence).await;
                }
                return;
            }
            Err(_) => return,
        };
        if let Err(e) = self.answer(&mut stream, &request).await {
            debug!(target: "quorate::p2p", %peer, hash = %request.hash, "data stream ended: {e}");
        }
        drop(permit);
    }

    async fn answer(&self, stream: &mut Stream, request: &DataRequest) -> std::io::Result<()> {
        let Some(blob) = self.store.get(&request.hash) else {
            return self.send(stream, &Message::DataUnavailable { hash: request.hash }).await;
        };
        let total = blob.bytes.len() as u64;
        if !request.offset.is_multiple_of(PIECE_LEN as u64) || request.offset > total {
            let reason = "offset is not a piece boundary inside the blob".to_string();
            return self.send(stream, &Message::Refused { reason }).await;
        }
        let header =
            DataHeader { hash: request.hash, total, pieces: blob.outline.pieces().to_vec() };
        self.send(stream, &Message::DataHeader(header)).await?;
        let start = usize::try_from(request.offset).unwrap_or(usize::MAX);
        let end = usize::try_from(request.offset.saturating_add(request.len).min(total))
            .unwrap_or(usize::MAX);
        for slice in blob.bytes.get(start..end).unwrap_or_default().chunks(WRITE_SLICE) {
            self.within(stream.write_all(slice)).await?;
        }
        self.within(stream.close()).await
    }

    async fn send(&self, stream: &mut Stream, message: &Message) -> std::io::Result<()> {
        self.within(write_frame(stream, message)).await
    }

    async fn within(&self, io: impl Future<Output = std::io::Result<()>>) -> std::io::Result<()> {
        tokio::time::timeout(self.deadline, io).await.unwrap_or_else(|_| {
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "reader stalled"))
        })
    }

    async fn report(&self, peer: PeerId, offence: Offence) {
        if let Some(offences) = self.offences.upgrade() {
            let _ = offences.send((peer, offence)).await;
        }
    }
}

/// Writes a refusal on a stream the event loop did not admit, then closes it.
pub(crate) async fn refuse(mut stream: Stream, reason: &str, deadline: Duration) {
    let refusal = Message::Refused { reason: reason.into() };
    let _ = tokio::time::timeout(deadline, async {
        write_frame(&mut stream, &refusal).await?;
        stream.close().await
    })
    .await;
}

//! Data fetch by content hash: streamed, verified piece by piece, resumable.
//!
//! A fetch opens one data stream ([`crate::data`]) to a provider and asks for the blob from the
//! first piece it lacks. The provider's header gives the blob's length and piece hashes; the
//! fetcher checks that they merge to the content hash it asked for, then reads the bytes straight
//! into the result buffer and checks each 1 MiB piece as it completes. So:
//!
//! - a provider that sends a wrong outline or a corrupted piece is caught at once, reported
//!   ([`Offence::BadContent`]) and the fetch goes on from the next provider, keeping every piece
//!   already checked;
//! - a failure that is nobody's fault (a timeout, a provider restarting, a closed connection)
//!   keeps what arrived too: after a backoff the fetch asks again from the first missing piece,
//!   from the next provider in turn.

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::PeerId;
use quorate_primitives::{ContentHash, Outline};
use tracing::debug;

use crate::{
    Error,
    guard::Offence,
    protocol::{read_message, write_frame},
    service::Client,
    wire::{DataRequest, Message},
};

/// How a fetch proceeds, with its defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// Largest blob accepted. Default: 1 GiB.
    pub max_size: u64,
    /// Longest wait for the provider's header or for the next piece. Default: 10 s.
    pub stall: Duration,
    /// Tries in a row that make no progress before giving up. Default: 6.
    pub attempts: u32,
    /// First wait after a failure; doubled each time. Default: 200 ms.
    pub retry_initial: Duration,
    /// Longest wait. Default: 5 s.
    pub retry_max: Duration,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            max_size: 1 << 30,
            stall: Duration::from_secs(10),
            attempts: 6,
            retry_initial: Duration::from_millis(200),
            retry_max: Duration::from_secs(5),
        }
    }
}

/// What has arrived so far: the checked outline, the buffer, and how many pieces are verified.
struct Progress {
    outline: Outline,
    buf: Vec<u8>,
    verified: u64,
}

impl Progress {
    fn pieces(&self) -> u64 {
        self.outline.pieces().len() as u64
    }

    fn complete(&self) -> bool {
        self.verified >= self.pieces()
    }
}

/// Fetches the blob `hash` from `providers` (tried in turn) through `client`.
pub async fn fetch(
    client: &Client,
    providers: &[PeerId],
    hash: ContentHash,
    config: &FetchConfig,
) -> Result<Vec<u8>, Error> {
    if providers.is_empty() {
        return Err(Error::ContentUnavailable { hash, reason: "no provider to ask".into() });
    }
    let mut progress: Option<Progress> = None;
    let mut turn = 0usize;
    let mut failures = 0u32;
    let mut backoff = config.retry_initial;
    loop {
        let provider = providers[turn % providers.len()];
        let before = progress.as_ref().map_or(0, |p| p.verified);
        let step = from_provider(client, provider, hash, config, &mut progress).await;
        if let Some(p) = progress.take_if(|p| p.complete()) {
            return Ok(p.buf);
        }
        let error = match step {
            Ok(()) => Error::ContentUnavailable { hash, reason: "the stream ended early".into() },
            Err(e) => e,
        };
        debug!(target: "quorate::p2p", %provider, %hash, "fetch step failed: {error}");
        if progress.as_ref().map_or(0, |p| p.verified) > before {
            failures = 0;
            backoff = config.retry_initial;
        }
        if error.is_bad_peer() {
            let offence = Offence::of(&error).unwrap_or(Offence::ProtocolViolation);
            let _ = client.report(provider, offence).await;
            if providers.len() == 1 {
                return Err(error);
            }
        }
        failures = failures.saturating_add(1);
        if failures >= config.attempts {
            return Err(match error {
                Error::ContentUnavailable { .. } | Error::ContentMismatch { .. } => error,
                other => Error::ContentUnavailable { hash, reason: other.to_string() },
            });
        }
        turn = turn.wrapping_add(1);
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2).min(config.retry_max);
    }
}

/// One attempt: asks `provider` for everything from the first unverified piece and reads until
/// the blob is complete or something fails.
async fn from_provider(
    client: &Client,
    provider: PeerId,
    hash: ContentHash,
    config: &FetchConfig,
    progress: &mut Option<Progress>,
) -> Result<(), Error> {
    let stalled = || Error::ContentUnavailable { hash, reason: "provider stalled".into() };
    let io = |e: std::io::Error| match crate::protocol::decode_failure(&e) {
        Some(error) => error.clone(),
        None => Error::ContentUnavailable { hash, reason: e.to_string() },
    };
    tokio::time::timeout(config.stall, client.ready(provider)).await.map_err(|_| stalled())??;
    let mut stream = tokio::time::timeout(config.stall, client.open_data_stream(provider))
        .await
        .map_err(|_| stalled())??;
    let first = progress.as_ref().map_or(0, |p| p.verified);
    let offset =
        progress.as_ref().and_then(|p| p.outline.piece_range(first)).map_or(0, |(start, _)| start);
    let request = DataRequest { hash, offset, len: u64::MAX };
    tokio::time::timeout(config.stall, write_frame(&mut stream, &Message::DataRequest(request)))
        .await
        .map_err(|_| stalled())?
        .map_err(io)?;
    let header = tokio::time::timeout(config.stall, read_message(&mut stream))
        .await
        .map_err(|_| stalled())?
        .map_err(io)?;
    let header = match header {
        Message::DataHeader(header) => header,
        Message::DataUnavailable { .. } => {
            return Err(Error::ContentUnavailable {
                hash,
                reason: "provider does not hold it".into(),
            });
        }
        Message::Refused { reason } => return Err(Error::Refused { reason }),
        _ => {
            return Err(Error::ProtocolViolation {
                reason: "data request answered with another kind",
            });
        }
    };
    if header.hash != hash {
        return Err(Error::ProtocolViolation { reason: "data header names another blob" });
    }
    if header.total > config.max_size {
        return Err(Error::ContentTooLarge { size: header.total, max: config.max_size });
    }
    let outline = Outline::from_parts(header.total, header.pieces)
        .map_err(|_| Error::ContentMismatch { expected: hash })?;
    if outline.root() != hash {
        return Err(Error::ContentMismatch { expected: hash });
    }
    let p = match progress {
        Some(p) => p,
        None => {
            let size = usize::try_from(outline.len()).map_err(|_| Error::ContentTooLarge {
                size: outline.len(),
                max: config.max_size,
            })?;
            progress.insert(Progress { outline, buf: vec![0u8; size], verified: 0 })
        }
    };
    while !p.complete() {
        let index = p.verified;
        let (start, end) = p
            .outline
            .piece_range(index)
            .ok_or(Error::ProtocolViolation { reason: "piece beyond the blob" })?;
        let range = usize::try_from(start).unwrap_or(usize::MAX)
            ..usize::try_from(end).unwrap_or(usize::MAX);
        let piece = p
            .buf
            .get_mut(range)
            .ok_or(Error::ProtocolViolation { reason: "piece beyond the blob" })?;
        tokio::time::timeout(config.stall, stream.read_exact(piece))
            .await
            .map_err(|_| stalled())?
            .map_err(io)?;
        if !p.outline.verifies_piece(index, piece) {
            return Err(Error::ContentMismatch { expected: hash });
        }
        p.verified = index.saturating_add(1);
    }
    let _ = stream.close().await;
    Ok(())
}

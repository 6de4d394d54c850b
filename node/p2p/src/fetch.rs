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
//!
//! When the provider offers its direct port in the header ([`crate::direct`]), the bytes come on
//! a direct TLS connection instead, read on a blocking thread with the same piece checks; if that
//! connection cannot be made, the next attempt asks for the bytes on the libp2p stream.

use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::PeerId;
use quorate_primitives::{ContentHash, Outline};
use tracing::debug;

use crate::{
    Error, direct,
    guard::Offence,
    protocol::{read_message, write_frame},
    service::Client,
    wire::{DataHeader, DataRequest, Message},
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
    /// Take the bytes on a provider's direct connection when it offers one. Default: true.
    pub direct: bool,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            max_size: 1 << 30,
            stall: Duration::from_secs(10),
            attempts: 6,
            retry_initial: Duration::from_millis(200),
            retry_max: Duration::from_secs(5),
            direct: true,
        }
    }
}

/// Where piece `index` of `outline` lies in the blob's buffer.
fn piece_bytes(outline: &Outline, index: u64) -> Option<std::ops::Range<usize>> {
    let (start, end) = outline.piece_range(index)?;
    Some(usize::try_from(start).ok()?..usize::try_from(end).ok()?)
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

    /// The first piece not verified yet: its index and where its bytes go.
    fn next_piece(&mut self) -> Result<(u64, &mut [u8]), Error> {
        let index = self.verified;
        piece_bytes(&self.outline, index)
            .and_then(|range| self.buf.get_mut(range))
            .map(|piece| (index, piece))
            .ok_or(Error::ProtocolViolation { reason: "piece beyond the blob" })
    }

    /// Checks the piece just read into [`Progress::next_piece`]'s slice.
    fn check_piece(&mut self, index: u64, hash: ContentHash) -> Result<(), Error> {
        match piece_bytes(&self.outline, index).and_then(|range| self.buf.get(range)) {
            Some(piece) if self.outline.verifies_piece(index, piece) => {
                self.verified = index.saturating_add(1);
                Ok(())
            }
            _ => Err(Error::ContentMismatch { expected: hash }),
        }
    }

    /// Progress under `outline`, keeping the verified pieces of `old` that `outline` agrees with
    /// (same hash, same byte range); a differing outline is never held against anyone.
    fn adopt(
        old: Option<Progress>,
        outline: Outline,
    ) -> Result<Progress, std::num::TryFromIntError> {
        let size = usize::try_from(outline.len())?;
        let Some(old) = old else {
            return Ok(Progress { outline, buf: vec![0u8; size], verified: 0 });
        };
        if old.outline == outline {
            return Ok(old);
        }
        let keep = (0..old.verified)
            .take_while(|&i| {
                old.outline.pieces().get(i as usize) == outline.pieces().get(i as usize)
                    && old.outline.piece_range(i) == outline.piece_range(i)
            })
            .count() as u64;
        let kept = old.outline.piece_range(keep).map_or(0, |(start, _)| start);
        let kept = usize::try_from(kept).unwrap_or(0).min(size).min(old.buf.len());
        let mut buf = old.buf;
        buf.truncate(kept);
        buf.resize(size, 0);
        Ok(Progress { outline, buf, verified: keep })
    }

    /// The byte offset of the first piece not verified yet.
    fn resume_offset(&self) -> u64 {
        self.outline.piece_range(self.verified).map_or(0, |(start, _)| start)
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
        let direct = config.direct && !client.direct_failed_recently(provider);
        let step = from_provider(client, provider, hash, config, direct, &mut progress).await;
        if let Some(p) = progress.take_if(|p| p.complete()) {
            return Ok(p.buf);
        }
        let error = match step {
            Ok(()) => Error::ContentUnavailable { hash, reason: "the stream ended early".into() },
            Err(e) => e,
        };
        debug!(target: "quorate::p2p", %provider, %hash, "fetch step failed: {error}");
        if direct && matches!(error, Error::Transport { .. }) {
            // Asked on the libp2p stream from now on, for a while (a firewalled port).
            client.direct_failed(provider);
        }
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
    direct: bool,
    progress: &mut Option<Progress>,
) -> Result<(), Error> {
    let stalled = || Error::ContentUnavailable { hash, reason: "provider stalled".into() };
    let io = |e: std::io::Error| match crate::protocol::decode_failure(&e) {
        Some(error) => error.clone(),
        None => Error::ContentUnavailable { hash, reason: e.to_string() },
    };
    client.pace(provider).await;
    let ip = tokio::time::timeout(config.stall, client.ready(provider))
        .await
        .map_err(|_| stalled())??;
    let mut stream = tokio::time::timeout(config.stall, client.open_data_stream(provider))
        .await
        .map_err(|_| stalled())??;
    let offset = progress.as_ref().map_or(0, Progress::resume_offset);
    let direct = direct && ip.is_some();
    let request = DataRequest { hash, offset, len: u64::MAX, direct };
    tokio::time::timeout(config.stall, write_frame(&mut stream, &Message::DataRequest(request)))
        .await
        .map_err(|_| stalled())?
        .map_err(io)?;
    let header = tokio::time::timeout(config.stall, read_message(&mut stream))
        .await
        .map_err(|_| stalled())?
        .map_err(io)?;
    let header = header_of(header, hash)?;
    if header.total > config.max_size {
        return Err(Error::ContentTooLarge { size: header.total, max: config.max_size });
    }
    let outline = Outline::from_parts(header.total, header.pieces)
        .map_err(|_| Error::ContentMismatch { expected: hash })?;
    if outline.root() != hash {
        return Err(Error::ContentMismatch { expected: hash });
    }
    // This provider's bytes are checked against this provider's own outline, so a mismatch is
    // always its own fault. (An outline is only fully pinned once its last piece verifies: a
    // liar can pair the true piece hashes with another length.)
    let mut p = Progress::adopt(progress.take(), outline)
        .map_err(|_| Error::ContentTooLarge { size: header.total, max: config.max_size })?;
    let result = match (header.direct_port, ip) {
        (0, _) => {
            let mut result = Ok(());
            while !p.complete() && result.is_ok() {
                result = match p.next_piece() {
                    Ok((index, piece)) => {
                        match tokio::time::timeout(config.stall, stream.read_exact(piece)).await {
                            Ok(Ok(())) => p.check_piece(index, hash),
                            Ok(Err(e)) => Err(io(e)),
                            Err(_) => Err(stalled()),
                        }
                    }
                    Err(e) => Err(e),
                };
            }
            let _ = stream.close().await;
            result
        }
        (port, Some(ip)) if direct => {
            drop(stream);
            let tls = client.direct_tls().clone();
            let stall = config.stall;
            let (back, result) = tokio::task::spawn_blocking(move || {
                let result = from_direct(&tls, provider, ip, port, hash, stall, &mut p);
                (p, result)
            })
            .await
            .map_err(|e| Error::Transport { reason: format!("direct fetch: {e}") })?;
            p = back;
            result
        }
        _ => Err(Error::ProtocolViolation { reason: "a direct port offered unasked" }),
    };
    *progress = Some(p);
    result
}

/// The header a provider answers with, or the error its answer means.
fn header_of(answer: Message, hash: ContentHash) -> Result<DataHeader, Error> {
    match answer {
        Message::DataHeader(header) if header.hash == hash => Ok(header),
        Message::DataHeader(_) => {
            Err(Error::ProtocolViolation { reason: "data header names another blob" })
        }
        Message::DataUnavailable { .. } => {
            Err(Error::ContentUnavailable { hash, reason: "provider does not hold it".into() })
        }
        Message::Refused { reason } => Err(Error::Refused { reason }),
        _ => Err(Error::ProtocolViolation { reason: "data request answered with another kind" }),
    }
}

/// Reads the missing pieces on the provider's direct connection. Blocking. A failure to connect
/// or to complete the handshake is a [`Error::Transport`], after which the fetch falls back to
/// the libp2p stream.
fn from_direct(
    tls: &direct::DirectTls,
    provider: PeerId,
    ip: std::net::IpAddr,
    port: u16,
    hash: ContentHash,
    stall: Duration,
    p: &mut Progress,
) -> Result<(), Error> {
    let mut session = direct::connect(tls, provider, ip, port, stall)?;
    let request = DataRequest { hash, offset: p.resume_offset(), len: u64::MAX, direct: false };
    direct::write_frame(&mut session, &Message::DataRequest(request))?;
    let header = header_of(direct::read_frame(&mut session)?, hash)?;
    if header.total != p.outline.len() || header.pieces != p.outline.pieces() {
        return Err(Error::ContentMismatch { expected: hash });
    }
    // Read on this thread, check on another: hashing overlaps the transfer instead of
    // following each piece.
    let Progress { outline, buf, verified } = p;
    let start = *verified;
    let count = outline.pieces().len() as u64;
    let first = piece_bytes(outline, start).map_or(usize::MAX, |range| range.start);
    let mut rest = buf.get_mut(first..).unwrap_or_default();
    let (checked, read) = std::thread::scope(|scope| {
        let (pieces, arrived) = std::sync::mpsc::sync_channel::<(u64, &[u8])>(8);
        let outline = &*outline;
        let checker = scope.spawn(move || {
            let mut checked = start;
            for (index, piece) in arrived {
                if !outline.verifies_piece(index, piece) {
                    return (checked, Err(Error::ContentMismatch { expected: hash }));
                }
                checked = index.saturating_add(1);
            }
            (checked, Ok(()))
        });
        let mut read = Ok(());
        for index in start..count {
            // Every piece, the empty blob's one empty piece included.
            let len = piece_bytes(outline, index).map_or(0, |range| range.len()).min(rest.len());
            let (piece, tail) = std::mem::take(&mut rest).split_at_mut(len);
            rest = tail;
            if let Err(e) = direct::read_within(&mut session, piece, stall) {
                read = Err(Error::ContentUnavailable { hash, reason: format!("direct read: {e}") });
                break;
            }
            if pieces.send((index, piece)).is_err() {
                break; // the checker stopped at a bad piece
            }
        }
        drop(pieces);
        let checked = checker
            .join()
            .unwrap_or_else(|_| (start, Err(Error::Transport { reason: "checker".into() })));
        (checked, read)
    });
    let (count, check) = checked;
    *verified = count;
    check.and(read)
}

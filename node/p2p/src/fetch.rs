//! Data fetch by content hash: chunked, pipelined, resumable, verified.
//!
//! The first chunk tells the blob's size; the rest are asked for with up to
//! [`FetchConfig::window`] requests in flight. A failed request (timeout, peer restarting,
//! connection closed) does not lose what arrived: after a backoff the fetch asks again for the
//! missing chunks only, from the next provider in turn. Each chunk is checked against what was
//! asked (hash, offset, total, length) and the whole blob against its content hash; a provider
//! that sent bytes failing the check is reported ([`Offence::BadContent`]) and the fetch starts
//! over from another provider.

use std::time::Duration;

use alloy_primitives::Keccak256;
use futures::{StreamExt, stream::FuturesUnordered};
use libp2p::PeerId;
use quorate_primitives::ContentHash;
use tracing::debug;

use crate::{
    Error,
    guard::Offence,
    service::Client,
    wire::{DataRequest, MAX_CHUNK, Message},
};

/// How a fetch proceeds, with its defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// Bytes per request. Default: [`MAX_CHUNK`] (1 MiB).
    pub chunk: u32,
    /// Requests in flight. Default: 8.
    pub window: usize,
    /// Largest blob accepted. Default: 1 GiB.
    pub max_size: u64,
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
            chunk: MAX_CHUNK as u32,
            window: 8,
            max_size: 1 << 30,
            attempts: 6,
            retry_initial: Duration::from_millis(200),
            retry_max: Duration::from_secs(5),
        }
    }
}

/// The progress of one fetch: what has arrived and from whom.
struct Progress {
    total: u64,
    chunk: usize,
    buf: Vec<u8>,
    /// Per chunk: the provider that delivered it.
    done: Vec<Option<PeerId>>,
    /// Keccak over the contiguous prefix that has arrived, so verifying overlaps the transfer.
    hasher: Keccak256,
    /// Chunks hashed so far.
    hashed: usize,
}

impl Progress {
    fn missing(&self) -> impl Iterator<Item = usize> + '_ {
        self.done.iter().enumerate().filter(|(_, d)| d.is_none()).map(|(i, _)| i)
    }

    /// Hashes the chunks that now extend the contiguous prefix.
    fn advance_hash(&mut self) {
        while self.done.get(self.hashed).is_some_and(Option::is_some) {
            let start = self.hashed.saturating_mul(self.chunk);
            let end = start.saturating_add(self.chunk).min(self.buf.len());
            if let Some(bytes) = self.buf.get(start..end) {
                self.hasher.update(bytes);
            }
            self.hashed = self.hashed.saturating_add(1);
        }
    }

    /// True when every chunk arrived and the bytes hash to `hash`.
    fn verifies(&mut self, hash: ContentHash) -> bool {
        self.advance_hash();
        self.hashed == self.done.len() && std::mem::take(&mut self.hasher).finalize() == hash.0
    }
}

/// Fetches the blob `hash` from `providers` (tried in turn) through `client`.
pub async fn fetch(
    client: &Client,
    providers: &[PeerId],
    hash: ContentHash,
    config: &FetchConfig,
) -> Result<Vec<u8>, Error> {
    if providers.is_empty() || config.chunk == 0 || config.window == 0 {
        return Err(Error::ContentUnavailable { hash, reason: "no provider to ask".into() });
    }
    let chunk = u64::from(config.chunk.min(MAX_CHUNK as u32));
    let mut progress: Option<Progress> = None;
    let mut turn = 0usize;
    let mut failures = 0u32;
    let mut backoff = config.retry_initial;
    let mut last_error = String::new();
    loop {
        if failures >= config.attempts {
            return Err(Error::ContentUnavailable { hash, reason: last_error });
        }
        let provider = providers[turn % providers.len()];
        let step = match progress.as_mut() {
            None => first_chunk(client, provider, hash, chunk, config.max_size).await.map(|p| {
                progress = Some(p);
                true
            }),
            Some(p) => rest(client, provider, hash, chunk, config.window, p).await,
        };
        match step {
            Ok(made_progress) => {
                if made_progress {
                    failures = 0;
                    backoff = config.retry_initial;
                }
            }
            Err(e) => {
                debug!(target: "quorate::p2p", %provider, %hash, "fetch step failed: {e}");
                if e.is_bad_peer() {
                    let _ = client
                        .report(provider, Offence::of(&e).unwrap_or(Offence::ProtocolViolation))
                        .await;
                }
                last_error = e.to_string();
                failures = failures.saturating_add(1);
                turn = turn.wrapping_add(1);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(config.retry_max);
                continue;
            }
        }
        let Some(p) = progress.as_mut() else { continue };
        if p.missing().next().is_some() {
            continue;
        }
        if p.verifies(hash) {
            return progress.map(|p| p.buf).ok_or(Error::ContentMismatch { expected: hash });
        }
        // Some provider lied. Report every one that contributed and start over elsewhere.
        let mut liars: Vec<PeerId> = p.done.iter().flatten().copied().collect();
        liars.sort();
        liars.dedup();
        for liar in liars {
            let _ = client.report(liar, Offence::BadContent).await;
        }
        last_error = Error::ContentMismatch { expected: hash }.to_string();
        if providers.len() == 1 {
            return Err(Error::ContentMismatch { expected: hash });
        }
        progress = None;
        failures = failures.saturating_add(1);
        turn = turn.wrapping_add(1);
    }
}

fn check_chunk(
    answer: Message,
    hash: ContentHash,
    offset: u64,
    expected_total: Option<u64>,
    chunk: u64,
) -> Result<(u64, Vec<u8>), Error> {
    let c = match answer {
        Message::DataChunk(c) => c,
        Message::DataUnavailable { .. } => {
            return Err(Error::ContentUnavailable {
                hash,
                reason: "provider does not hold it".into(),
            });
        }
        _ => {
            return Err(Error::ProtocolViolation {
                reason: "data request answered with another kind",
            });
        }
    };
    let total = expected_total.unwrap_or(c.total);
    let want = total.saturating_sub(offset).min(chunk);
    if c.hash != hash || c.offset != offset || c.total != total || c.bytes.len() as u64 != want {
        return Err(Error::ProtocolViolation { reason: "data chunk does not match its request" });
    }
    Ok((total, c.bytes))
}

async fn first_chunk(
    client: &Client,
    provider: PeerId,
    hash: ContentHash,
    chunk: u64,
    max_size: u64,
) -> Result<Progress, Error> {
    let request = DataRequest { hash, offset: 0, len: chunk as u32 };
    let answer = client.request(provider, Message::DataRequest(request)).await?;
    let (total, bytes) = check_chunk(answer, hash, 0, None, chunk)?;
    if total > max_size {
        return Err(Error::ContentTooLarge { size: total, max: max_size });
    }
    let size = usize::try_from(total)
        .map_err(|_| Error::ContentTooLarge { size: total, max: max_size })?;
    let chunks = usize::try_from(total.div_ceil(chunk).max(1)).unwrap_or(usize::MAX);
    let mut buf = vec![0u8; size];
    if let Some(dst) = buf.get_mut(..bytes.len()) {
        dst.copy_from_slice(&bytes);
    }
    let mut done = vec![None; chunks];
    if let Some(first) = done.first_mut() {
        *first = Some(provider);
    }
    let chunk = usize::try_from(chunk).unwrap_or(usize::MAX);
    let mut progress = Progress { total, chunk, buf, done, hasher: Keccak256::new(), hashed: 0 };
    progress.advance_hash();
    Ok(progress)
}

/// Asks for the missing chunks, `window` at a time; Ok(true) when some arrived.
async fn rest(
    client: &Client,
    provider: PeerId,
    hash: ContentHash,
    chunk: u64,
    window: usize,
    p: &mut Progress,
) -> Result<bool, Error> {
    let mut missing: Vec<usize> = p.missing().collect();
    missing.reverse();
    let mut in_flight = FuturesUnordered::new();
    let mut arrived = false;
    let ask = |index: usize| {
        let offset = (index as u64).saturating_mul(chunk);
        async move {
            let request = DataRequest { hash, offset, len: chunk as u32 };
            (index, offset, client.request(provider, Message::DataRequest(request)).await)
        }
    };
    while in_flight.len() < window {
        let Some(index) = missing.pop() else { break };
        in_flight.push(ask(index));
    }
    while let Some((index, offset, answer)) = in_flight.next().await {
        let (_, bytes) =
            match answer.and_then(|a| check_chunk(a, hash, offset, Some(p.total), chunk)) {
                Ok(ok) => ok,
                // Keep what arrived: the next step resumes from the missing chunks.
                Err(e) if arrived && !e.is_bad_peer() => return Ok(true),
                Err(e) => return Err(e),
            };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        let dst = p
            .buf
            .get_mut(start..start.saturating_add(bytes.len()))
            .ok_or(Error::ProtocolViolation { reason: "data chunk beyond the blob" })?;
        dst.copy_from_slice(&bytes);
        if let Some(slot) = p.done.get_mut(index) {
            *slot = Some(provider);
        }
        p.advance_hash();
        arrived = true;
        if let Some(next) = missing.pop() {
            in_flight.push(ask(next));
        }
    }
    Ok(arrived)
}

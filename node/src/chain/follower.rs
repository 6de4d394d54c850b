//! Following the Hub's events from a cursor.
//!
//! Events are handed over in batches of whole blocks, each with the cursor just after them.
//! The caller stores its own writes and that cursor in one commit, and after a crash starts a
//! new follower from the stored cursor: so no event is lost and none is handed over twice.
//! Only blocks `confirmations` deep are read; a cursor remembers its last block's hash, and a
//! reorg deeper than that is reported instead of silently skipped. Transport failures are
//! retried with backoff without moving the cursor.

use std::time::Duration;

use alloy::{
    eips::BlockNumberOrTag,
    primitives::{Address, B256},
    providers::{Provider, RootProvider},
    rpc::types::Filter,
    sol_types::SolEventInterface,
};
use quorate_contracts::bindings::Hub::HubEvents;
use serde::{Deserialize, Serialize};

use super::{ChainConfig, ChainError};

/// Where following resumes: the next block to read, and the hash of the block before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The first block not yet handed over.
    pub next_block: u64,
    /// The hash of block `next_block - 1` when it was read (`None` before the first batch).
    pub last_hash: Option<B256>,
}

impl Cursor {
    /// Starts at `block` (e.g. the Hub's deployment block), trusting nothing before it.
    pub fn at(block: u64) -> Self {
        Self { next_block: block, last_hash: None }
    }
}

/// One decoded Hub event and where it happened.
#[derive(Debug, Clone)]
pub struct HubLog {
    /// Its block.
    pub block: u64,
    /// Its block's timestamp (unix seconds): the time the chain applied it at, which deadlines
    /// count from.
    pub time: u64,
    /// Its index within the block.
    pub log_index: u64,
    /// The transaction that emitted it.
    pub tx: B256,
    /// The event.
    pub event: HubEvents,
}

/// The events of a run of whole blocks, in chain order, and the cursor after them.
#[derive(Debug, Clone)]
pub struct EventBatch {
    /// The events.
    pub events: Vec<HubLog>,
    /// Where the next batch starts: persist it with whatever the events changed.
    pub cursor: Cursor,
    /// The timestamp of the batch's last block: the chain's time once the batch is applied.
    pub time: u64,
    /// Logs at the Hub's address that no known event decodes (a newer Hub's), skipped.
    pub skipped: usize,
}

/// Longest wait between retries of a failed RPC call.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Reads the Hub's events from a cursor.
#[derive(Debug)]
pub struct Follower {
    provider: RootProvider,
    hub: Address,
    cursor: Cursor,
    confirmations: u64,
    range: u64,
    poll: Duration,
    url: String,
}

impl Follower {
    /// A follower of `hub` starting at `cursor`.
    pub fn new(provider: RootProvider, hub: Address, cursor: Cursor, config: &ChainConfig) -> Self {
        Self {
            provider,
            hub,
            cursor,
            confirmations: config.confirmations,
            range: config.log_block_range.max(1),
            poll: config.poll_interval,
            url: super::redact(&config.rpc_url),
        }
    }

    /// The cursor after the last batch handed over.
    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// Waits for at least one new confirmed block and returns its events (possibly none) with
    /// the cursor after them. Retries an unreachable node with backoff, forever.
    pub async fn next(&mut self) -> Result<EventBatch, ChainError> {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.try_next().await {
                Ok(Some(batch)) => return Ok(batch),
                Ok(None) => tokio::time::sleep(self.poll).await,
                Err(e) if e.is_transient() => {
                    tracing::warn!(target: "quorate::chain", error = %e, "chain unreachable; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One attempt: `None` when no new block is confirmed yet.
    async fn try_next(&mut self) -> Result<Option<EventBatch>, ChainError> {
        let rpc = |op: &'static str, url: &str| {
            let url = url.to_owned();
            move |e| ChainError::from_rpc(op, &url, &e)
        };
        let head =
            self.provider.get_block_number().await.map_err(rpc("eth_blockNumber", &self.url))?;
        let Some(confirmed) = head.checked_sub(self.confirmations) else { return Ok(None) };
        let from = self.cursor.next_block;
        if confirmed < from {
            if head.saturating_add(1) < from {
                tracing::warn!(target: "quorate::chain", head, cursor = from, "the node is behind the cursor; waiting for it");
            }
            return Ok(None);
        }
        let to = confirmed.min(from.saturating_add(self.range - 1));

        if let (Some(expected), Some(before)) = (self.cursor.last_hash, from.checked_sub(1)) {
            match self.block_hash(before).await? {
                Some(actual) if actual == expected => {}
                Some(_) => {
                    return Err(ChainError::Reorg {
                        block: before,
                        confirmations: self.confirmations,
                    });
                }
                None => return Err(self.behind(before)),
            }
        }
        // The last block's hash is read before its logs, and every log of it must carry that
        // hash: logs of a fork replaced in between are never paired with the new fork's hash.
        let (last_hash, last_time) = self.block_header(to).await?.ok_or_else(|| self.behind(to))?;

        let filter = Filter::new().address(self.hub).from_block(from).to_block(to);
        let logs = self.provider.get_logs(&filter).await.map_err(rpc("eth_getLogs", &self.url))?;
        let mut events = Vec::with_capacity(logs.len());
        let mut skipped = 0;
        for log in logs {
            let block =
                log.block_number.ok_or_else(|| self.malformed("a log without a block number"))?;
            if log.removed
                || block < from
                || block > to
                || (block == to && log.block_hash != Some(last_hash))
            {
                // The node's view moved while it answered: read the range again.
                return Err(self.behind(block));
            }
            let known = log.topic0().is_some_and(|t| HubEvents::SELECTORS.contains(&t.0));
            match HubEvents::decode_log(&log.inner) {
                Ok(decoded) => events.push(HubLog {
                    block,
                    // Filled below, one header per block that has events.
                    time: 0,
                    log_index: log.log_index.unwrap_or_default(),
                    tx: log.transaction_hash.unwrap_or_default(),
                    event: decoded.data,
                }),
                Err(e) if known => {
                    return Err(self.malformed(&format!("a Hub event that does not decode: {e}")));
                }
                Err(_) => skipped += 1,
            }
        }
        self.stamp(&mut events, to, last_time).await?;
        self.cursor = Cursor { next_block: to.saturating_add(1), last_hash: Some(last_hash) };
        Ok(Some(EventBatch { events, cursor: self.cursor, time: last_time, skipped }))
    }

    /// The node does not (or no longer) serve `block` as it did: a lagging node behind a load
    /// balancer, or a view that moved mid-answer. Retried.
    fn behind(&self, block: u64) -> ChainError {
        ChainError::Unreachable {
            url: self.url.clone(),
            reason: format!("the node does not serve block {block} consistently yet"),
        }
    }

    fn malformed(&self, what: &str) -> ChainError {
        ChainError::Rpc { op: "eth_getLogs", reason: format!("{} returned {what}", self.url) }
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>, ChainError> {
        Ok(self.block_header(number).await?.map(|(hash, _)| hash))
    }

    /// A block's hash and timestamp.
    async fn block_header(&self, number: u64) -> Result<Option<(B256, u64)>, ChainError> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await
            .map_err(|e| ChainError::from_rpc("eth_getBlockByNumber", &self.url, &e))?;
        Ok(block.map(|b| (b.header.hash, b.header.timestamp)))
    }

    /// Gives every event its block's timestamp: one header per block with events, read at
    /// once (`last` is block `last_block`'s, already read).
    async fn stamp(
        &self,
        events: &mut [HubLog],
        last_block: u64,
        last: u64,
    ) -> Result<(), ChainError> {
        let mut blocks: Vec<u64> =
            events.iter().map(|e| e.block).filter(|b| *b != last_block).collect();
        blocks.dedup();
        let headers =
            futures::future::try_join_all(blocks.iter().map(|b| self.block_header(*b))).await?;
        let mut times = std::collections::HashMap::with_capacity(blocks.len().saturating_add(1));
        times.insert(last_block, last);
        for (block, header) in blocks.into_iter().zip(headers) {
            let (_, time) = header.ok_or_else(|| self.behind(block))?;
            times.insert(block, time);
        }
        for event in events {
            event.time = times.get(&event.block).copied().unwrap_or(last);
        }
        Ok(())
    }
}

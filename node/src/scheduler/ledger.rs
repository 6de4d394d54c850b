//! A pool's record on chain, as `quorate scheduler status` shows it: its deals with their tasks
//! by state, the workers that voted on its tasks, and what the owner earned, all from the Hub's
//! views and events (nothing of the running scheduler's store, which it holds locked).

use std::collections::BTreeMap;

use alloy::{
    primitives::{Address, B256, U256},
    providers::{Provider, RootProvider},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use quorate_contracts::bindings::Hub;

use crate::{
    chain::ChainError,
    client::{
        deals::{self, Bought, By},
        report::{self, DealReport},
    },
};

/// What the chain holds of one pool.
#[derive(Debug, Clone)]
pub struct Ledger {
    /// Its deals, oldest first, each with its tasks' states.
    pub deals: Vec<(Bought, DealReport)>,
    /// Every worker that voted on one of its tasks, with how many votes.
    pub workers: BTreeMap<Address, u64>,
    /// The owner's rewards from its tasks (its share, and what losers' stakes added), wei.
    pub earned: U256,
}

/// Reads pool `pool`'s deals (from block `since` on), its workers and the earnings of `owner`
/// from the Hub at `hub`, `range` blocks per log query.
pub async fn read(
    provider: &RootProvider,
    hub: Address,
    pool: u64,
    owner: Address,
    since: u64,
    range: u64,
) -> Result<Ledger, ChainError> {
    let bought = deals::created(provider, hub, By::Pool(pool), since, range).await?;
    let latest = provider
        .get_block_number()
        .await
        .map_err(|e| ChainError::Rpc { op: "eth_blockNumber", reason: e.to_string() })?;
    let mut deals = Vec::with_capacity(bought.len());
    let mut workers: BTreeMap<Address, u64> = BTreeMap::new();
    let mut earned = U256::ZERO;
    for deal in bought {
        let report = report::read(provider, hub, deal.deal).await?;
        let tasks: Vec<B256> = report.tasks.iter().map(|t| t.id.0).collect();
        // A deal's votes and rewards come after its purchase: searched from its block on,
        // one `range` window per query.
        for (from, to) in crate::chain::log_windows(deal.block, latest, range) {
            for chunk in tasks.chunks(100) {
                let votes = Filter::new()
                    .address(hub)
                    .event_signature(Hub::TaskContributed::SIGNATURE_HASH)
                    .topic1(chunk.to_vec())
                    .from_block(from)
                    .to_block(to);
                for log in logs(provider, &votes).await? {
                    if let Ok(event) = Hub::TaskContributed::decode_log(&log.inner) {
                        let votes = workers.entry(event.worker).or_default();
                        *votes = votes.saturating_add(1);
                    }
                }
                let rewards = Filter::new()
                    .address(hub)
                    .event_signature(Hub::Rewarded::SIGNATURE_HASH)
                    .topic1(owner.into_word())
                    .topic2(chunk.to_vec())
                    .from_block(from)
                    .to_block(to);
                for log in logs(provider, &rewards).await? {
                    if let Ok(event) = Hub::Rewarded::decode_log(&log.inner) {
                        earned = earned.saturating_add(event.amount);
                    }
                }
            }
        }
        deals.push((deal, report));
    }
    Ok(Ledger { deals, workers, earned })
}

async fn logs(
    provider: &RootProvider,
    filter: &Filter,
) -> Result<Vec<alloy::rpc::types::Log>, ChainError> {
    provider
        .get_logs(filter)
        .await
        .map_err(|e| ChainError::Rpc { op: "eth_getLogs", reason: e.to_string() })
}

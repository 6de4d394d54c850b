//! The deals a wallet bought, from the Hub's `DealCreated` events (indexed by client): what
//! `quorate job list` shows on any machine, with no store of its own.

use alloy::{
    primitives::{Address, U256},
    providers::{Provider, RootProvider},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use quorate_contracts::bindings::Hub;
use quorate_primitives::{ContentHash, DealId, JobHash};

use crate::chain::{ChainError, block_at_or_after};

/// A deal as its `DealCreated` event tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bought {
    /// The deal.
    pub deal: DealId,
    /// Its pool.
    pub pool: u64,
    /// The job.
    pub job: JobHash,
    /// Its tasks.
    pub tasks: u32,
    /// Price per task, in wei of QCR.
    pub price: U256,
    /// The trust level.
    pub trust: u32,
    /// The block it was bought in.
    pub block: u64,
}

/// Whose deals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    /// Bought by this client.
    Client(Address),
    /// Sold by this pool.
    Pool(u64),
}

/// The deals `client` bought on the Hub at `hub` since chain time `since`, oldest first,
/// searched `range` blocks per query (the node's `eth_getLogs` limit).
pub async fn bought_by(
    provider: &RootProvider,
    hub: Address,
    client: Address,
    since: u64,
    range: u64,
) -> Result<Vec<Bought>, ChainError> {
    let from = block_at_or_after(provider, since).await?;
    created(provider, hub, By::Client(client), from, range).await
}

/// The deals `by` names on the Hub at `hub` from block `from` on, oldest first, searched
/// `range` blocks per query.
pub async fn created(
    provider: &RootProvider,
    hub: Address,
    by: By,
    from: u64,
    range: u64,
) -> Result<Vec<Bought>, ChainError> {
    let rpc = |op: &'static str| {
        move |e: alloy::transports::TransportError| ChainError::Rpc { op, reason: e.to_string() }
    };
    let latest = provider.get_block_number().await.map_err(rpc("eth_blockNumber"))?;
    let mut out = Vec::new();
    for (from, to) in crate::chain::log_windows(from, latest, range) {
        let filter = Filter::new()
            .address(hub)
            .event_signature(Hub::DealCreated::SIGNATURE_HASH)
            .from_block(from)
            .to_block(to);
        let filter = match by {
            By::Client(client) => filter.topic3(client.into_word()),
            By::Pool(pool) => filter.topic2(U256::from(pool)),
        };
        for log in provider.get_logs(&filter).await.map_err(rpc("eth_getLogs"))? {
            let Ok(event) = Hub::DealCreated::decode_log(&log.inner) else { continue };
            out.push(Bought {
                deal: DealId(event.dealId),
                pool: event.pool,
                job: ContentHash(event.request.jobHash),
                tasks: event.request.taskCount,
                price: U256::from(event.price),
                trust: event.request.trust,
                block: log.block_number.unwrap_or(to),
            });
        }
    }
    Ok(out)
}

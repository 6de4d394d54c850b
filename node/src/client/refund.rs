//! Settling what a deal left unfinished after its final deadline, as its client (or anyone):
//! tasks never initialized are initialized, tasks with a revealed result are finalized (the
//! workers who revealed are paid and the client gets the result), and the rest are claimed in
//! batches (`claimMany`): the client is refunded the price and compensated with the pool's
//! stake.

use alloy::{
    primitives::{Address, Bytes},
    rpc::types::TransactionRequest,
    sol_types::SolCall,
};
use quorate_contracts::bindings::Hub;
use quorate_primitives::DealId;

use super::report::{self, DealReport, TaskOnChain};
use crate::chain::{Chain, ChainError};

/// Tasks claimed per transaction (about 28,000 gas each).
const CLAIMS_PER_TX: usize = 100;

/// Tasks initialized per transaction (about 25,000 gas each).
const INITS_PER_TX: usize = 100;

/// What settling did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    /// Tasks initialized so that they could be claimed.
    pub initialized: usize,
    /// Tasks finalized (a result was revealed).
    pub finalized: Vec<u32>,
    /// Tasks claimed (refunded).
    pub claimed: Vec<u32>,
}

/// Why nothing was settled.
#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    /// The final deadline has not passed: the pool may still finish the tasks.
    #[error(
        "deal {deal}'s unfinished tasks can be claimed from its final deadline (unix time {final_deadline}, in {wait} s): try again then"
    )]
    TooEarly {
        /// The deal.
        deal: DealId,
        /// Its final deadline.
        final_deadline: u64,
        /// Seconds left.
        wait: u64,
    },
    /// The chain refused or could not be reached.
    #[error(transparent)]
    Chain(#[from] ChainError),
}

/// Settles every unfinished task of `deal` on the Hub at `hub`; `now` is the chain's time.
pub async fn settle(
    chain: &Chain,
    hub: Address,
    deal: DealId,
    now: u64,
) -> Result<Settled, RefundError> {
    let before = report::read(chain.provider(), hub, deal).await?;
    if before.tasks.iter().all(|t| t.state.is_final()) {
        return Ok(Settled::default());
    }
    if now < before.final_deadline {
        return Err(RefundError::TooEarly {
            deal,
            final_deadline: before.final_deadline,
            wait: before.final_deadline.saturating_sub(now),
        });
    }
    let mut settled = Settled::default();
    // Tasks never initialized cannot be claimed: open them first, in runs of indices.
    let unset: Vec<u32> =
        before.tasks.iter().filter(|t| t.state == TaskOnChain::Unset).map(|t| t.index).collect();
    let inits = runs(&unset, INITS_PER_TX).into_iter().map(|(from, count)| {
        let input = Hub::initializeRangeCall {
            dealId: deal.0,
            from: alloy::primitives::U256::from(from),
            count: alloy::primitives::U256::from(count),
        };
        send(chain, hub, input.abi_encode())
    });
    futures::future::try_join_all(inits).await?;
    settled.initialized = unset.len();

    let report: DealReport =
        if unset.is_empty() { before } else { report::read(chain.provider(), hub, deal).await? };
    let (finalize, claim): (Vec<_>, Vec<_>) = report
        .tasks
        .iter()
        .filter(|t| !t.state.is_final())
        .partition(|t| t.state == TaskOnChain::Revealing && t.reveals > 0);
    let finals = finalize.iter().map(|t| {
        let input = Hub::finalizeCall { taskId: t.id.0, resultsRef: Bytes::new() };
        send(chain, hub, input.abi_encode())
    });
    futures::future::try_join_all(finals).await?;
    settled.finalized = finalize.iter().map(|t| t.index).collect();
    let claims = claim.chunks(CLAIMS_PER_TX).map(|chunk| {
        let ids: Vec<_> = chunk.iter().map(|t: &&report::TaskReport| t.id.0).collect();
        send(chain, hub, Hub::claimManyCall { taskIds: ids }.abi_encode())
    });
    futures::future::try_join_all(claims).await?;
    settled.claimed = claim.iter().map(|t| t.index).collect();
    Ok(settled)
}

async fn send(chain: &Chain, hub: Address, input: Vec<u8>) -> Result<(), ChainError> {
    chain.send(TransactionRequest::default().to(hub).input(input.into())).await.map(drop)
}

/// Sorted indices as runs `(first, length)` of consecutive indices, each at most `max` long.
fn runs(indices: &[u32], max: usize) -> Vec<(u32, u32)> {
    let max = u32::try_from(max.max(1)).unwrap_or(u32::MAX);
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &index in indices {
        match out.last_mut() {
            Some((first, len)) if first.saturating_add(*len) == index && *len < max => {
                *len = len.saturating_add(1);
            }
            _ => out.push((index, 1)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::runs;

    #[test]
    fn indices_group_into_bounded_runs() {
        assert_eq!(runs(&[0, 1, 2, 5, 6, 9], 100), [(0, 3), (5, 2), (9, 1)]);
        assert_eq!(runs(&[0, 1, 2, 3, 4], 2), [(0, 2), (2, 2), (4, 1)]);
        assert!(runs(&[], 3).is_empty());
    }
}

//! A deal as the chain sees it: its terms and every task's state, read from the Hub's views by
//! anyone who knows the deal id (no scheduler needed).

use alloy::{
    primitives::{Address, B256, U256},
    providers::RootProvider,
};
use futures::{StreamExt, stream};
use quorate_contracts::bindings::{
    Hub,
    IHub::{DealView, TaskView},
};
use quorate_poco::task::{CONTRIBUTION_WINDOW, FINAL_WINDOW};
use quorate_primitives::{DealId, TaskId};

use crate::chain::ChainError;

/// Task views read at once.
const READS_AT_ONCE: usize = 32;

/// A task's state on the Hub (`TaskStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskOnChain {
    /// Not initialized yet.
    Unset,
    /// Taking contributions.
    Active,
    /// A consensus stands; its voters reveal.
    Revealing,
    /// Finalized: the result is agreed and the workers paid.
    Completed,
    /// Claimed: the client was refunded.
    Failed,
}

impl TaskOnChain {
    fn of(status: u8) -> Self {
        match status {
            1 => Self::Active,
            2 => Self::Revealing,
            3 => Self::Completed,
            4 => Self::Failed,
            _ => Self::Unset,
        }
    }

    /// Its name, as the CLI prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unset => "waiting",
            Self::Active => "running",
            Self::Revealing => "revealing",
            Self::Completed => "completed",
            Self::Failed => "refunded",
        }
    }

    /// True once nothing more can happen to the task.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }
}

/// One task of a deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskReport {
    /// Its index in the deal (its input's index).
    pub index: u32,
    /// Its id.
    pub id: TaskId,
    /// Its state.
    pub state: TaskOnChain,
    /// Workers that voted.
    pub contributors: u64,
    /// Voters of the standing consensus, and how many of them revealed.
    pub winners: u64,
    /// See `winners`.
    pub reveals: u64,
    /// When its reveals are due (0 while no consensus stands).
    pub reveal_deadline: u64,
}

/// A deal and its tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealReport {
    /// The deal.
    pub id: DealId,
    /// Its pool.
    pub pool: u64,
    /// Its pool's owner.
    pub pool_owner: Address,
    /// The client that bought it.
    pub client: Address,
    /// Price per task, in wei of QCR.
    pub price: U256,
    /// The trust level bought.
    pub trust: u32,
    /// When it was matched (unix seconds).
    pub start: u64,
    /// Contributions close at this time (start + 7t).
    pub contribution_deadline: u64,
    /// From this time an unfinished task can be claimed (start + 10t).
    pub final_deadline: u64,
    /// Every task, in index order.
    pub tasks: Vec<TaskReport>,
}

impl DealReport {
    /// How many tasks are in `state`.
    pub fn count(&self, state: TaskOnChain) -> usize {
        self.tasks.iter().filter(|t| t.state == state).count()
    }
}

/// A deal's terms, without its tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealTerms {
    /// The deal.
    pub id: DealId,
    /// Its pool.
    pub pool: u64,
    /// The pool's owner when the deal was made.
    pub pool_owner: Address,
    /// The client who bought it.
    pub client: Address,
    /// Price per task, in wei of QCR.
    pub price: U256,
    /// The trust level.
    pub trust: u32,
    /// Its tasks.
    pub task_count: u32,
    /// Chain time it was made.
    pub start: u64,
    /// Contributions close at this time (start + 7t).
    pub contribution_deadline: u64,
    /// From this time an unfinished task can be claimed (start + 10t).
    pub final_deadline: u64,
}

/// Reads deal `deal`'s terms from the Hub at `hub`.
pub async fn terms(
    provider: &RootProvider,
    hub: Address,
    deal: DealId,
) -> Result<DealTerms, ChainError> {
    let contract = Hub::new(hub, provider.clone());
    let view: DealView = contract.deal(deal.0).call().await.map_err(|e| read_error("deal", &e))?;
    if view.dealId == B256::ZERO {
        return Err(ChainError::Rpc {
            op: "deal",
            reason: format!("the Hub {hub} has no deal {deal}: check the deal id and chain.hub"),
        });
    }
    let start = view.start.to::<u64>();
    let time_ref = u64::from(view.timeRef);
    Ok(DealTerms {
        id: deal,
        pool: view.pool,
        pool_owner: view.poolOwner,
        client: view.client,
        price: U256::from(view.price),
        trust: view.trust,
        task_count: view.taskCount,
        start,
        contribution_deadline: start.saturating_add(time_ref.saturating_mul(CONTRIBUTION_WINDOW)),
        final_deadline: start.saturating_add(time_ref.saturating_mul(FINAL_WINDOW)),
    })
}

/// Reads deal `deal` and each of its tasks from the Hub at `hub`.
pub async fn read(
    provider: &RootProvider,
    hub: Address,
    deal: DealId,
) -> Result<DealReport, ChainError> {
    let terms = terms(provider, hub, deal).await?;
    let contract = Hub::new(hub, provider.clone());
    let tasks: Vec<Result<TaskReport, ChainError>> = stream::iter(0..terms.task_count)
        .map(|index| {
            let contract = contract.clone();
            async move {
                let id = TaskId::derive(deal, u64::from(index));
                let task: TaskView =
                    contract.task(id.0).call().await.map_err(|e| read_error("task", &e))?;
                Ok(TaskReport {
                    index,
                    id,
                    state: TaskOnChain::of(task.status),
                    contributors: task.contributorCount.saturating_to(),
                    winners: task.winnerCount.saturating_to(),
                    reveals: task.revealCount.saturating_to(),
                    reveal_deadline: task.revealDeadline.saturating_to(),
                })
            }
        })
        .buffered(READS_AT_ONCE)
        .collect()
        .await;
    Ok(DealReport {
        id: deal,
        pool: terms.pool,
        pool_owner: terms.pool_owner,
        client: terms.client,
        price: terms.price,
        trust: terms.trust,
        start: terms.start,
        contribution_deadline: terms.contribution_deadline,
        final_deadline: terms.final_deadline,
        tasks: tasks.into_iter().collect::<Result<_, _>>()?,
    })
}

fn read_error(op: &'static str, e: &alloy::contract::Error) -> ChainError {
    ChainError::Rpc { op, reason: e.to_string() }
}

/// Why task `index` of `deal` failed, when it has on chain: its replicas' distinct results
/// (each vote's ordinal names its result), before the final deadline (the pool gave it up at
/// its replica cap) or at it. `None` while the task has not failed.
pub async fn failure(
    provider: &RootProvider,
    hub: Address,
    deal: DealId,
    index: u32,
    final_deadline: u64,
) -> Result<Option<String>, ChainError> {
    use alloy::providers::Provider as _;
    let contract = Hub::new(hub, provider.clone());
    let id = TaskId::derive(deal, u64::from(index));
    let task: TaskView = contract.task(id.0).call().await.map_err(|e| read_error("task", &e))?;
    if TaskOnChain::of(task.status) != TaskOnChain::Failed {
        return Ok(None);
    }
    let voters =
        contract.contributors(id.0).call().await.map_err(|e| read_error("contributors", &e))?;
    let mut results = std::collections::BTreeSet::new();
    for voter in voters {
        let vote = contract
            .contribution(id.0, voter)
            .call()
            .await
            .map_err(|e| read_error("contribution", &e))?;
        results.insert(vote.ordinal);
    }
    let now = provider
        .get_block(alloy::eips::BlockId::latest())
        .await
        .ok()
        .flatten()
        .map_or(u64::MAX, |b| b.header.timestamp);
    let refunded = "its price was refunded";
    Ok(Some(match results.len() {
        n if n >= 2 => format!("replicas disagreed across {n} results; {refunded}"),
        _ if now < final_deadline => format!("the pool gave it up; {refunded}"),
        0 => format!("no worker answered before the final deadline; {refunded}"),
        _ => format!("no consensus before the final deadline; {refunded}"),
    }))
}

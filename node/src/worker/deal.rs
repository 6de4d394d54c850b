//! What the chain says of an assigned task, checked before it runs: the task's deal, its index
//! in the deal (from the Hub's `TaskInitialized` event), and the deal's job, task count and
//! start (from its `DealCreated` event and the Hub's view). A scheduler that assigns a task
//! with another job, or with an input that is not the task's own, is refused here: the task is
//! reported failed (the assignment's fault), never voted.

use alloy::{providers::Provider, rpc::types::Filter, sol_types::SolEvent};
use quorate_contracts::bindings::Hub;
use quorate_primitives::{ContentHash, DealId, JobManifest, TaskId};

use super::{run::Runner, task::Assignment};
use crate::job::local::LocalOutcome;

/// A deal's terms the worker checks assignments against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DealFacts {
    /// The job its client bought (the request's job hash).
    pub(super) job: ContentHash,
    /// Its tasks.
    pub(super) task_count: u32,
    /// Its start (unix seconds): what `Date.now()` returns in its tasks.
    pub(super) start: u64,
}

fn bad(message: String) -> LocalOutcome {
    LocalOutcome::Failed { kind: "bad_assignment".into(), message }
}

fn chain(message: String) -> LocalOutcome {
    LocalOutcome::Failed { kind: "chain".into(), message }
}

impl Runner {
    /// Checks `assignment` against the chain and `manifest` (its job's); returns the deal's
    /// start (unix seconds).
    pub(super) async fn check_on_chain(
        &self,
        assignment: &Assignment,
        manifest: &JobManifest,
    ) -> Result<u64, LocalOutcome> {
        let task = assignment.task;
        let hub = Hub::new(self.hub, self.provider.clone());
        let view = hub
            .task(task.0)
            .call()
            .await
            .map_err(|e| chain(format!("cannot read task {task}: {e}")))?;
        if view.status == 0 {
            return Err(chain(format!("task {task} is not initialized on the Hub")));
        }
        let deal = DealId(view.dealId);
        let facts = self.deal_facts(deal).await?;
        if facts.job != assignment.job {
            return Err(bad(format!(
                "the assignment names job {}, but deal {deal} bought job {}",
                assignment.job, facts.job
            )));
        }
        if manifest.task_count() != facts.task_count {
            return Err(bad(format!(
                "the job has {} tasks, but deal {deal} has {}",
                manifest.task_count(),
                facts.task_count
            )));
        }
        let index = self.task_index(task, deal).await?;
        let input = usize::try_from(index)
            .ok()
            .filter(|_| index < u64::from(facts.task_count))
            .and_then(|i| manifest.inputs.get(i))
            .ok_or_else(|| {
                bad(format!(
                    "task {task} is index {index}, past the deal's {} tasks",
                    facts.task_count
                ))
            })?;
        if *input != assignment.input.hash() {
            return Err(bad(format!(
                "the assignment's input {} is not input {index} of the job ({input})",
                assignment.input.hash()
            )));
        }
        Ok(facts.start)
    }

    /// The deal's job, task count and start, read once per deal.
    async fn deal_facts(&self, deal: DealId) -> Result<DealFacts, LocalOutcome> {
        if let Some(facts) = self.deals.lock().await.get(&deal) {
            return Ok(*facts);
        }
        let hub = Hub::new(self.hub, self.provider.clone());
        let view = hub
            .deal(deal.0)
            .call()
            .await
            .map_err(|e| chain(format!("cannot read deal {deal}: {e}")))?;
        let filter = Filter::new()
            .address(self.hub)
            .event_signature(Hub::DealCreated::SIGNATURE_HASH)
            .topic1(deal.0)
            .from_block(0);
        let logs = self
            .provider
            .get_logs(&filter)
            .await
            .map_err(|e| chain(format!("cannot read the creation of deal {deal}: {e}")))?;
        let job = logs
            .iter()
            .find_map(|log| Hub::DealCreated::decode_log(&log.inner).ok())
            .map(|event| ContentHash(event.request.jobHash))
            .ok_or_else(|| chain(format!("no DealCreated event for deal {deal}")))?;
        let facts = DealFacts { job, task_count: view.taskCount, start: view.start.to::<u64>() };
        let mut deals = self.deals.lock().await;
        if deals.len() >= DEALS_IN_MEMORY {
            deals.clear();
        }
        deals.insert(deal, facts);
        Ok(facts)
    }

    /// The task's index in its deal, from its `TaskInitialized` event.
    async fn task_index(&self, task: TaskId, deal: DealId) -> Result<u64, LocalOutcome> {
        let filter = Filter::new()
            .address(self.hub)
            .event_signature(Hub::TaskInitialized::SIGNATURE_HASH)
            .topic1(task.0)
            .from_block(0);
        let logs = self
            .provider
            .get_logs(&filter)
            .await
            .map_err(|e| chain(format!("cannot read the opening of task {task}: {e}")))?;
        logs.iter()
            .filter_map(|log| Hub::TaskInitialized::decode_log(&log.inner).ok())
            .find(|event| event.dealId == deal.0)
            .map(|event| u64::try_from(event.index).unwrap_or(u64::MAX))
            .filter(|index| TaskId::derive(deal, *index) == task)
            .ok_or_else(|| chain(format!("no TaskInitialized event for task {task}")))
    }
}

/// Deals whose terms are kept in memory (cleared when full).
const DEALS_IN_MEMORY: usize = 64;

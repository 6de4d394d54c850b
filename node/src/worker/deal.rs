//! What the chain says of an assigned task, checked before it runs: the task's deal (from the
//! Hub), its index in the deal (the index whose derived id is the task's), and the deal's job,
//! task count and start (from its `DealCreated` event and the Hub's view). A scheduler that assigns a task
//! with another job, or with an input that is not the task's own, is refused here: the task is
//! reported failed (the assignment's fault), never voted.

use std::collections::HashMap;

use alloy::{providers::Provider, rpc::types::Filter, sol_types::SolEvent};
use quorate_contracts::bindings::Hub;
use quorate_primitives::{ContentHash, DealId, JobManifest, TaskId};

use super::{run::Runner, task::Assignment};
use crate::{chain::block_at_or_after, job::local::LocalOutcome};

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
    /// start (unix seconds). In the steady state this reads nothing from the chain: a deal's
    /// terms are read once, and its tasks' ids are derived here from the deal and their index.
    pub(super) async fn check_on_chain(
        &self,
        assignment: &Assignment,
        manifest: &JobManifest,
    ) -> Result<u64, LocalOutcome> {
        let task = assignment.task;
        let (deal, facts, index) = self.locate(task).await?;
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
        let input = usize::try_from(index)
            .ok()
            .and_then(|i| manifest.inputs.get(i))
            .ok_or_else(|| bad(format!("task {task} is index {index}, past the job's inputs")))?;
        if *input != assignment.input.hash() {
            return Err(bad(format!(
                "the assignment's input {} is not input {index} of the job ({input})",
                assignment.input.hash()
            )));
        }
        Ok(facts.start)
    }

    /// The deal of `task`, its terms and the task's index: from the ids derived for deals
    /// already seen, else from the Hub's record of the task (which must be opened) and its
    /// deal's ids derived up to it.
    async fn locate(&self, task: TaskId) -> Result<(DealId, DealFacts, u32), LocalOutcome> {
        if let Some(found) = self.derived(task).await? {
            return Ok(found);
        }
        // One lookup at a time: tasks of a new deal come in a burst, and the first one's
        // derives the others' ids.
        let _one = self.locating.lock().await;
        if let Some(found) = self.derived(task).await? {
            return Ok(found);
        }
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
        let index =
            self.task_ids.lock().await.derive_until(deal, facts.task_count, task).ok_or_else(
                || bad(format!("task {task} is none of deal {deal}'s {} tasks", facts.task_count)),
            )?;
        Ok((deal, facts, index))
    }

    /// The deal, terms and index of `task` when its id was derived already.
    async fn derived(
        &self,
        task: TaskId,
    ) -> Result<Option<(DealId, DealFacts, u32)>, LocalOutcome> {
        let known = self.task_ids.lock().await.find(task);
        match known {
            Some((deal, index)) => Ok(Some((deal, self.deal_facts(deal).await?, index))),
            None => Ok(None),
        }
    }

    /// The deal's job, task count and start, read once per deal: its view from the Hub, and
    /// its job from its `DealCreated` event, looked for in the latest blocks, then from the
    /// block of its start on (each one `chain.log_block_range` window, as public nodes
    /// require).
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
        let start = view.start.to::<u64>();
        let job = match self.deal_job(deal, None).await? {
            Some(job) => job,
            None => {
                let from = block_at_or_after(&self.provider, start)
                    .await
                    .map_err(|e| chain(format!("cannot find the block of deal {deal}: {e}")))?;
                self.deal_job(deal, Some(from))
                    .await?
                    .ok_or_else(|| chain(format!("no DealCreated event for deal {deal}")))?
            }
        };
        let facts = DealFacts { job, task_count: view.taskCount, start };
        let mut deals = self.deals.lock().await;
        if deals.len() >= DEALS_IN_MEMORY {
            deals.clear();
        }
        deals.insert(deal, facts);
        Ok(facts)
    }

    /// The job of `deal` from its `DealCreated` event, searched in one `chain.log_block_range`
    /// window: from `from` on, or (`None`) the latest blocks, where a deal whose tasks are
    /// being handed out usually is.
    async fn deal_job(
        &self,
        deal: DealId,
        from: Option<u64>,
    ) -> Result<Option<ContentHash>, LocalOutcome> {
        let span = self.log_block_range.saturating_sub(1);
        let (from, to) = match from {
            Some(from) => (from, from.saturating_add(span)),
            None => {
                let head = self
                    .provider
                    .get_block_number()
                    .await
                    .map_err(|e| chain(format!("cannot read the chain's head: {e}")))?;
                (head.saturating_sub(span), head)
            }
        };
        let filter = Filter::new()
            .address(self.hub)
            .event_signature(Hub::DealCreated::SIGNATURE_HASH)
            .topic1(deal.0)
            .from_block(from)
            .to_block(to);
        let logs = self
            .provider
            .get_logs(&filter)
            .await
            .map_err(|e| chain(format!("cannot read the creation of deal {deal}: {e}")))?;
        Ok(logs
            .iter()
            .find_map(|log| Hub::DealCreated::decode_log(&log.inner).ok())
            .map(|event| ContentHash(event.request.jobHash)))
    }
}

/// Deals whose terms are kept in memory (cleared when full).
const DEALS_IN_MEMORY: usize = 64;
/// Task ids derived and kept, across deals (about 50 bytes each); all go when more are needed.
const TASK_IDS_IN_MEMORY: usize = 250_000;
/// Ids derived past the one looked for: the next assignments of the deal are then found
/// without asking the chain.
const DERIVE_AHEAD: u32 = 256;

/// Task ids derived from their deal and index (`TaskId::derive`), per deal, in index order
/// from 0: what tells a task's deal and index without reading the chain.
#[derive(Debug, Default)]
pub(super) struct TaskIds {
    deals: HashMap<DealId, DerivedIds>,
    total: usize,
}

#[derive(Debug, Default)]
struct DerivedIds {
    /// The next index to derive.
    next: u32,
    ids: HashMap<TaskId, u32>,
}

impl TaskIds {
    /// The deal and index of `task`, if derived already.
    fn find(&self, task: TaskId) -> Option<(DealId, u32)> {
        self.deals
            .iter()
            .find_map(|(deal, derived)| derived.ids.get(&task).map(|index| (*deal, *index)))
    }

    /// Derives the ids of `deal` (of `count` tasks) until `task`'s, and a few more; its index,
    /// or `None` when no index of the deal gives it.
    fn derive_until(&mut self, deal: DealId, count: u32, task: TaskId) -> Option<u32> {
        if self.total >= TASK_IDS_IN_MEMORY {
            self.deals.clear();
            self.total = 0;
        }
        let derived = self.deals.entry(deal).or_default();
        let mut found = derived.ids.get(&task).copied();
        let mut until = count;
        while derived.next < until {
            let index = derived.next;
            let id = TaskId::derive(deal, u64::from(index));
            derived.ids.insert(id, index);
            self.total = self.total.saturating_add(1);
            derived.next = index.saturating_add(1);
            if found.is_none() && id == task {
                found = Some(index);
                until = until.min(index.saturating_add(DERIVE_AHEAD));
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::B256;

    use super::*;

    #[test]
    fn a_task_is_found_by_its_derived_id_and_a_stranger_is_not() {
        let mut ids = TaskIds::default();
        let deal = DealId(B256::repeat_byte(1));
        let task = |i: u64| TaskId::derive(deal, i);
        assert_eq!(ids.find(task(10)), None);
        assert_eq!(ids.derive_until(deal, 1000, task(10)), Some(10));
        // Derived ahead: the next tasks are found without the chain.
        assert_eq!(ids.find(task(11)), Some((deal, 11)));
        assert_eq!(ids.find(task(265)), Some((deal, 265)));
        assert_eq!(ids.find(task(266)), None);
        assert_eq!(ids.derive_until(deal, 1000, task(900)), Some(900));
        // An id of another deal, or past the deal's count, is none of its tasks.
        let other = TaskId::derive(DealId(B256::repeat_byte(2)), 3);
        assert_eq!(ids.derive_until(deal, 1000, other), None);
        assert_eq!(ids.derive_until(deal, 1000, task(1000)), None);
        assert_eq!(ids.total, 1000);
    }
}

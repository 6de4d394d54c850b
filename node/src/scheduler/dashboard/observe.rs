//! What the dashboard counts over time, from the Hub's events on the pool's tasks and from the
//! scheduler's own doings: totals, each worker's earnings and lost stakes, each deal's ended
//! tasks, the operator's earnings, an hour of one-minute buckets for the charts, and the last
//! failures with their reasons. Kept in the store with the follower's cursor (one commit), so a
//! restart neither loses nor counts an event twice. Rewards the Hub pays to a worker's payout
//! address count for the worker (`PayoutAddressSet`, and `payoutOf` read as it joins).

use std::collections::{BTreeMap, VecDeque};

use alloy::primitives::{Address, B256, U256};
use quorate_contracts::bindings::Hub::HubEvents;
use quorate_primitives::{DealId, TaskId};
use serde::{Deserialize, Serialize};

/// One-minute buckets kept.
pub const MINUTES: usize = 60;
/// Failures kept.
pub const FAILURES: usize = 100;
/// Payout addresses remembered at most (one per worker that ever set one).
const PAYOUTS: usize = 1 << 16;

/// Counts since the store began.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Totals {
    /// Replicas assigned.
    pub assignments: u64,
    /// Votes on chain.
    pub contributions: u64,
    /// Reveals on chain.
    pub reveals: u64,
    /// Tasks finalized.
    pub completed: u64,
    /// Tasks claimed after their final deadline (refunded).
    pub failed: u64,
    /// Contributions whose stake was seized: wrong results caught (and unrevealed votes).
    pub wrong: u64,
    /// Sum over finalized tasks of initialization to finalization, seconds.
    pub consensus_seconds: u64,
}

/// One minute of the pool.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Minute {
    /// Unix minute (seconds / 60).
    pub minute: u64,
    /// Tasks finalized.
    pub completed: u32,
    /// Tasks failed.
    pub failed: u32,
    /// Votes those finalized tasks took, summed (replicas per task = this / completed).
    pub replicas: u32,
    /// Wrong results caught (stakes seized).
    pub wrong: u32,
}

/// Something that went wrong, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Failure {
    /// When, unix seconds.
    pub at: u64,
    /// `replica`, `task`, `stake`, `offence`, `job`, `chain`.
    pub kind: String,
    /// What happened, in a sentence.
    pub reason: String,
    /// The task, if one.
    pub task: Option<TaskId>,
    /// Its deal, if known.
    pub deal: Option<DealId>,
    /// The worker, if one.
    pub worker: Option<Address>,
    /// The client, if one.
    pub client: Option<Address>,
}

/// A worker's money in this pool.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct WorkerTally {
    /// Rewards, wei.
    pub earned: U256,
    /// Stakes seized, wei.
    pub seized: U256,
    /// Votes on chain.
    pub contributions: u64,
}

/// A deal's ended tasks.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DealTally {
    /// Finalized.
    pub completed: u32,
    /// Claimed.
    pub failed: u32,
}

/// What the core knew of a task when an event about it came: when the chain initialized it
/// and the votes it took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TaskFacts {
    /// When the chain initialized it, unix seconds.
    pub since: u64,
    /// Votes on chain.
    pub votes: u32,
}

/// Everything counted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Observed {
    /// Totals.
    pub totals: Totals,
    /// Per worker.
    pub workers: BTreeMap<Address, WorkerTally>,
    /// Per deal.
    pub deals: BTreeMap<B256, DealTally>,
    /// The operator's rewards, wei.
    pub earned: U256,
    /// The operator's stakes seized (tasks claimed), wei.
    #[serde(default)]
    pub lost: U256,
    /// The last hour.
    pub minutes: VecDeque<Minute>,
    /// The last failures, newest last.
    pub failures: VecDeque<Failure>,
    /// Payout addresses, and whose.
    #[serde(default)]
    payouts: BTreeMap<Address, Address>,
    /// True when changed since last stored.
    #[serde(skip)]
    pub dirty: bool,
}

impl Observed {
    /// Remembers that `worker`'s rewards go to `payout`.
    pub fn payout(&mut self, worker: Address, payout: Address) {
        self.payouts.retain(|_, w| *w != worker);
        if payout != worker && self.payouts.len() < PAYOUTS {
            self.payouts.insert(payout, worker);
        }
        self.dirty = true;
    }

    /// Forgets a deal whose results expired.
    pub fn forget_deal(&mut self, deal: DealId) {
        if self.deals.remove(&deal.0).is_some() {
            self.dirty = true;
        }
    }

    /// Counts a Hub event at `time` about a task of `deal` (a task of this pool), as the core
    /// knew it (`facts`); `owner` is the operator, `client` the deal's client (whose escrow the
    /// Hub also seizes to pay a task: no wrong result).
    pub fn on_event(
        &mut self,
        event: &HubEvents,
        time: u64,
        deal: DealId,
        facts: TaskFacts,
        (owner, client): (Address, Option<Address>),
    ) {
        let party = |account: &Address| *account == owner || Some(*account) == client;
        let task_of = |id: &B256| TaskId::from(*id);
        match event {
            HubEvents::TaskContributed(e) => {
                self.totals.contributions = self.totals.contributions.saturating_add(1);
                let w = self.workers.entry(e.worker).or_default();
                w.contributions = w.contributions.saturating_add(1);
            }
            HubEvents::TaskRevealed(_) => {
                self.totals.reveals = self.totals.reveals.saturating_add(1);
            }
            HubEvents::TaskFinalized(_) => {
                let t = &mut self.totals;
                t.completed = t.completed.saturating_add(1);
                if facts.since > 0 {
                    t.consensus_seconds =
                        t.consensus_seconds.saturating_add(time.saturating_sub(facts.since));
                }
                let d = self.deals.entry(deal.0).or_default();
                d.completed = d.completed.saturating_add(1);
                self.bump(time, |m| {
                    m.completed = m.completed.saturating_add(1);
                    m.replicas = m.replicas.saturating_add(facts.votes);
                });
            }
            HubEvents::TaskClaimed(e) => {
                self.totals.failed = self.totals.failed.saturating_add(1);
                let d = self.deals.entry(deal.0).or_default();
                d.failed = d.failed.saturating_add(1);
                self.bump(time, |m| m.failed = m.failed.saturating_add(1));
                self.fail(Failure {
                    at: time,
                    kind: "task".into(),
                    reason: "no consensus: its replicas disagreed up to the cap, or its deadline passed; the task was claimed and its client refunded".into(),
                    task: Some(task_of(&e.taskId)),
                    deal: Some(deal),
                    worker: None,
                    client: None,
                });
            }
            HubEvents::Rewarded(e) if e.account == owner => {
                self.earned = self.earned.saturating_add(e.amount);
            }
            HubEvents::Rewarded(e) if !party(&e.account) => {
                let worker = self.payouts.get(&e.account).copied().unwrap_or(e.account);
                let w = self.workers.entry(worker).or_default();
                w.earned = w.earned.saturating_add(e.amount);
            }
            HubEvents::Seized(e) if e.account == owner => {
                self.lost = self.lost.saturating_add(e.amount);
            }
            HubEvents::Seized(e) if !party(&e.account) => {
                self.totals.wrong = self.totals.wrong.saturating_add(1);
                let w = self.workers.entry(e.account).or_default();
                w.seized = w.seized.saturating_add(e.amount);
                self.bump(time, |m| m.wrong = m.wrong.saturating_add(1));
                self.fail(Failure {
                    at: time,
                    kind: "stake".into(),
                    reason: "a worker's stake was seized: its vote lost the consensus, or it never revealed".into(),
                    task: Some(task_of(&e.r#ref)),
                    deal: Some(deal),
                    worker: Some(e.account),
                    client: None,
                });
            }
            _ => return,
        }
        self.dirty = true;
    }

    /// A replica assigned.
    pub fn assigned(&mut self) {
        self.totals.assignments = self.totals.assignments.saturating_add(1);
        self.dirty = true;
    }

    /// Notes a failure (the oldest goes past [`FAILURES`]).
    pub fn fail(&mut self, failure: Failure) {
        if self.failures.len() >= FAILURES {
            self.failures.pop_front();
        }
        self.failures.push_back(failure);
        self.dirty = true;
    }

    /// Changes the bucket of `time`'s minute (buckets an hour older go).
    fn bump(&mut self, time: u64, change: impl FnOnce(&mut Minute)) {
        let minute = time / 60;
        while self
            .minutes
            .front()
            .is_some_and(|m| m.minute.saturating_add(MINUTES as u64) <= minute)
        {
            self.minutes.pop_front();
        }
        if self.minutes.back().is_none_or(|m| m.minute < minute) {
            self.minutes.push_back(Minute { minute, ..Minute::default() });
        }
        // Events come in chain order: the minute is the last bucket, or an older one kept.
        if let Some(m) = self.minutes.iter_mut().rev().find(|m| m.minute <= minute) {
            change(m);
        }
    }

    /// The last hour up to `now`, a bucket per minute (empty minutes included), oldest first.
    pub fn history(&self, now: u64) -> Vec<Minute> {
        let last = now / 60;
        let first = last.saturating_sub(MINUTES as u64 - 1);
        (first..=last)
            .map(|minute| {
                self.minutes
                    .iter()
                    .find(|m| m.minute == minute)
                    .copied()
                    .unwrap_or(Minute { minute, ..Minute::default() })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use quorate_contracts::bindings::Hub;

    use super::*;

    #[test]
    fn a_task_counted_from_initialization_to_finalization() {
        // A time of these days (minute buckets count back an hour from it).
        const T: u64 = 1_800_000;
        let facts = TaskFacts { since: T + 600, votes: 2 };
        let (owner, worker, client) =
            (Address::repeat_byte(1), Address::repeat_byte(2), Address::repeat_byte(4));
        let (task, deal) = (B256::repeat_byte(7), DealId::from(B256::repeat_byte(9)));
        let mut o = Observed::default();
        // Every event of this one task, as the pool's loop hands them over.
        let at = |o: &mut Observed, time: u64, event: HubEvents| {
            o.on_event(&event, time, deal, facts, (owner, Some(client)));
        };
        let init = Hub::TaskInitialized { taskId: task, dealId: deal.0, index: U256::ZERO };
        at(&mut o, T + 600, HubEvents::TaskInitialized(init));
        for _ in 0..2 {
            let vote = Hub::TaskContributed {
                taskId: task,
                worker,
                resultHash: B256::ZERO,
                resultSeal: B256::ZERO,
                weight: U256::from(1u8),
            };
            at(&mut o, T + 610, HubEvents::TaskContributed(vote));
        }
        let done = Hub::TaskFinalized { taskId: task, resultsRef: Default::default() };
        at(&mut o, T + 700, HubEvents::TaskFinalized(done));
        let rewarded = |account, amount: u8| Hub::Rewarded {
            account,
            amount: U256::from(amount),
            r#ref: task,
        };
        let seized =
            |account, amount: u8| Hub::Seized { account, amount: U256::from(amount), r#ref: task };
        at(&mut o, T + 700, HubEvents::Rewarded(rewarded(worker, 5)));
        at(&mut o, T + 700, HubEvents::Rewarded(rewarded(owner, 1)));
        at(&mut o, T + 700, HubEvents::Seized(seized(Address::repeat_byte(3), 2)));
        // The client's escrow paying the task: no wrong result.
        at(&mut o, T + 700, HubEvents::Seized(seized(client, 9)));
        assert_eq!(o.totals.completed, 1);
        assert_eq!(o.totals.consensus_seconds, 100);
        assert_eq!(o.totals.wrong, 1);
        assert_eq!(o.workers[&worker].earned, U256::from(5u8));
        assert_eq!(o.earned, U256::from(1u8));
        assert_eq!(o.deals[&deal.0].completed, 1);
        let history = o.history(T + 700);
        assert_eq!(history.len(), MINUTES);
        let last = history.last().unwrap();
        assert_eq!(
            (last.minute, last.completed, last.replicas, last.wrong),
            ((T + 700) / 60, 1, 2, 1)
        );
        assert_eq!(o.failures.len(), 1);
        // An hour later the bucket is gone from the chart.
        assert!(o.history(T + 720 + 3600).iter().all(|m| m.completed == 0));

        // Rewards paid to the worker's payout address are the worker's; a claimed task's
        // pool stake is the operator's loss.
        let cold = Address::repeat_byte(0xc0);
        o.payout(worker, cold);
        at(&mut o, T + 800, HubEvents::Rewarded(rewarded(cold, 3)));
        assert_eq!(o.workers[&worker].earned, U256::from(8u8));
        assert!(!o.workers.contains_key(&cold));
        at(&mut o, T + 900, HubEvents::Seized(seized(owner, 7)));
        assert_eq!((o.lost, o.totals.wrong), (U256::from(7u8), 1));
        o.forget_deal(deal);
        assert!(o.deals.is_empty());
    }
}

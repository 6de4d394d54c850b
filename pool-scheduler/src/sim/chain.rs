//! The simulated chain: every task is a [`quorate_poco::task::Task`], which applies the Hub's
//! checks one for one (docs/poco.md), scores move exactly as finalize moves them, and every
//! accepted call becomes an event at a cursor.

use std::collections::{HashMap, HashSet};

use quorate_poco::{
    consensus::Trust,
    payout::PayoutTerms,
    task::{MAX_CONTRIBUTORS, Task, TaskConfig, TaskStatus},
};
use quorate_primitives::{Address, ResultDigest, ResultHash, ResultSeal, TaskId, U256};

use crate::types::{ChainCursor, ChainEvent, Deal};

/// The Hub, as far as one pool's work goes.
#[derive(Debug)]
pub(crate) struct Chain {
    owner: Address,
    pub(crate) tasks: HashMap<TaskId, Task>,
    deals: HashMap<quorate_primitives::DealId, Deal>,
    /// (task, worker) pairs the pool owner authorized (signed).
    authorized: HashSet<(TaskId, Address)>,
    pub(crate) scores: HashMap<Address, U256>,
    /// Every event, in order.
    pub(crate) events: Vec<(ChainCursor, ChainEvent)>,
    block: u64,
}

impl Chain {
    pub(crate) fn new(owner: Address) -> Self {
        Self {
            owner,
            tasks: HashMap::new(),
            deals: HashMap::new(),
            authorized: HashSet::new(),
            scores: HashMap::new(),
            events: Vec::new(),
            block: 0,
        }
    }

    fn emit(&mut self, now: u64, event: ChainEvent) {
        let log = u32::try_from(self.events.len()).unwrap_or(u32::MAX);
        self.block = self.block.max(now);
        self.events.push((ChainCursor { block: self.block, log, time: now }, event));
    }

    pub(crate) fn score(&self, worker: &Address) -> U256 {
        self.scores.get(worker).copied().unwrap_or(U256::ZERO)
    }

    pub(crate) fn create_deal(&mut self, now: u64, deal: Deal) {
        self.deals.insert(deal.id, deal);
        self.emit(now, ChainEvent::DealCreated(deal));
    }

    pub(crate) fn initialize(&mut self, now: u64, deal: quorate_primitives::DealId, index: u64) {
        let Some(d) = self.deals.get(&deal).copied() else { return };
        let task = TaskId::derive(deal, index);
        if index >= d.tasks || self.tasks.contains_key(&task) {
            return;
        }
        let Ok(trust) = Trust::from_u64(d.trust) else { return };
        let mut config = TaskConfig::new(
            task,
            trust,
            d.start,
            d.time_ref,
            self.owner,
            PayoutTerms::new(d.price, d.scheduler_ratio),
        );
        // The chain caps replicas only as the Hub caps contributions; the scheduler's cap is its
        // business.
        config.max_replicas = MAX_CONTRIBUTORS;
        let Ok(t) = Task::new(config) else { return };
        self.tasks.insert(task, t);
        self.emit(now, ChainEvent::TaskInitialized { task, deal, index });
    }

    pub(crate) fn authorize(&mut self, task: TaskId, worker: Address) {
        self.authorized.insert((task, worker));
    }

    pub(crate) fn status(&self, task: &TaskId) -> Option<TaskStatus> {
        self.tasks.get(task).map(Task::status)
    }

    /// The leading vote and its first seal (what a lazy copier copies).
    pub(crate) fn leader(&self, task: &TaskId) -> Option<(ResultHash, ResultSeal)> {
        let t = self.tasks.get(task)?;
        let hash = t.tally().leader()?.hash;
        t.contributions().iter().find(|c| c.hash == hash).map(|c| (c.hash, c.seal))
    }

    pub(crate) fn contribute(
        &mut self,
        now: u64,
        task: TaskId,
        worker: Address,
        hash: ResultHash,
        seal: ResultSeal,
    ) -> bool {
        if !self.authorized.contains(&(task, worker)) {
            return false;
        }
        let score = self.score(&worker);
        let Some(t) = self.tasks.get_mut(&task) else { return false };
        if !t.replicas().iter().any(|r| r.worker == worker)
            && t.handle_assign(now, worker, score, 0).is_err()
        {
            return false;
        }
        if t.handle_contribution(now, worker, hash, seal, score).is_err() {
            return false;
        }
        self.emit(now, ChainEvent::Contributed { task, worker, hash, seal, score });
        true
    }

    pub(crate) fn reveal(
        &mut self,
        now: u64,
        task: TaskId,
        worker: Address,
        digest: ResultDigest,
    ) -> bool {
        let Some(t) = self.tasks.get_mut(&task) else { return false };
        if t.handle_reveal(now, worker, digest).is_err() {
            return false;
        }
        self.emit(now, ChainEvent::Revealed { task, worker, digest });
        true
    }

    pub(crate) fn reopen(&mut self, now: u64, task: TaskId) {
        let owner = self.owner;
        let Some(t) = self.tasks.get_mut(&task) else { return };
        if t.handle_reopen(now, owner).is_ok() {
            self.emit(now, ChainEvent::Reopened { task });
        }
    }

    /// Finalize; returns the workers paid (PROVED) with their rewards.
    pub(crate) fn finalize(&mut self, now: u64, task: TaskId) -> Option<Vec<(Address, u128)>> {
        let owner = self.owner;
        let scores = &self.scores;
        let t = self.tasks.get_mut(&task)?;
        let settlement =
            t.handle_finalize(now, owner, |a| scores.get(a).copied().unwrap_or(U256::ZERO)).ok()?;
        self.emit(now, ChainEvent::Finalized { task });
        let mut paid = Vec::new();
        for p in &settlement.workers {
            if p.score_after != p.score_before {
                self.scores.insert(p.worker, p.score_after);
                self.emit(now, ChainEvent::ScoreChanged { worker: p.worker, score: p.score_after });
            }
            paid.push((p.worker, p.reward.raw().saturating_to::<u128>()));
        }
        Some(paid)
    }

    /// The pool owner's claim of a task taking votes, before its deadline.
    pub(crate) fn give_up(&mut self, now: u64, task: TaskId) -> bool {
        let (owner, scores) = (self.owner, &self.scores);
        let Some(t) = self.tasks.get_mut(&task) else { return false };
        if t.handle_give_up(now, owner, |a| scores.get(a).copied().unwrap_or(U256::ZERO)).is_err() {
            return false;
        }
        self.emit(now, ChainEvent::Claimed { task });
        true
    }

    pub(crate) fn claim(&mut self, now: u64, task: TaskId) -> bool {
        let scores = &self.scores;
        let Some(t) = self.tasks.get_mut(&task) else { return false };
        if t.handle_claim(now, |a| scores.get(a).copied().unwrap_or(U256::ZERO)).is_err() {
            return false;
        }
        self.emit(now, ChainEvent::Claimed { task });
        true
    }
}

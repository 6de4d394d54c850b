//! The simulated world's loop: clients create deals, the host feeds the core and applies its
//! batches (store first), messages cross the lossy network, the chain mines calls, the core may
//! be killed and restored, and the report is filled in.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use quorate_poco::{sim::Rng, task::TaskStatus};
use quorate_primitives::{Address, Amount, B256, DealId, ResultDigest, TaskId, U256};

use crate::{ChainCall, Deal, Message, Ready, Scheduler, SchedulerConfig, StoreImage};

use super::{
    SimConfig, SimReport,
    chain::Chain,
    workers::{Job, Kind, SimWorker},
};

pub(super) const TIME_REF: u64 = 100;
const DEAL_TASKS: u64 = 20;
pub(super) const HEARTBEAT: u64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Ev {
    /// A message reaches a worker.
    ToWorker(usize),
    /// A job finished computing (index into `jobs`).
    Finish(usize),
    /// A job's worker reveals on its own.
    SelfReveal(usize),
    /// A message or report reaches the pool.
    ToPool(usize),
    Heartbeats,
    Churn,
    Chain(usize),
}

#[derive(Debug, Clone, Copy)]
pub(super) enum ToPool {
    Finished {
        task: TaskId,
        worker: Address,
        hash: quorate_primitives::ResultHash,
        seal: quorate_primitives::ResultSeal,
    },
    Heartbeat(Address),
}

pub(super) struct World {
    pub(super) config: SimConfig,
    pub(super) rng: Rng,
    pub(super) now: u64,
    pub(super) core: Scheduler,
    pub(super) sched_config: SchedulerConfig,
    pub(super) store: StoreImage,
    pub(super) fed: usize,
    pub(super) chain: Chain,
    pub(super) owner: Address,
    pub(super) workers: Vec<SimWorker>,
    pub(super) by_address: HashMap<Address, usize>,
    pub(super) queue: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    pub(super) seq: u64,
    pub(super) to_worker: Vec<Message>,
    pub(super) to_pool: Vec<ToPool>,
    pub(super) chain_calls: Vec<ChainCall>,
    pub(super) jobs: Vec<Job>,
    pub(super) assigned: HashSet<(TaskId, Address)>,
    pub(super) classes: HashMap<TaskId, u64>,
    pub(super) tasks_of_deal: HashMap<DealId, u64>,
    pub(super) index_of: HashMap<TaskId, u64>,
    pub(super) created: u64,
    pub(super) ended: HashSet<TaskId>,
    pub(super) report: SimReport,
    pub(super) batches: u64,
    pub(super) next_address: u64,
    /// Draws the crash points, apart from the world's randomness so a crashing run sees the
    /// same world as a straight one.
    pub(super) crash_rng: Rng,
}

/// Runs one simulation.
pub fn run(config: SimConfig) -> Result<SimReport, crate::Error> {
    let sched_config = SchedulerConfig {
        replica_timeout: std::time::Duration::from_secs(TIME_REF),
        max_replicas_per_task: 16,
        max_tasks_per_worker: 4,
        max_tasks_in_flight: u64::try_from(config.workers).unwrap_or(u64::MAX).saturating_mul(2),
        long_con: config.policy,
        ..SchedulerConfig::default()
    };
    let owner = Address::repeat_byte(0xb0);
    let core = Scheduler::new(sched_config.clone(), owner, config.seed ^ 0x9001)?;
    let mut w = World {
        config,
        rng: Rng::new(config.seed),
        now: 1,
        core,
        sched_config,
        store: StoreImage::default(),
        fed: 0,
        chain: Chain::new(owner),
        owner,
        workers: Vec::new(),
        by_address: HashMap::new(),
        queue: BinaryHeap::new(),
        seq: 0,
        to_worker: Vec::new(),
        to_pool: Vec::new(),
        chain_calls: Vec::new(),
        jobs: Vec::new(),
        assigned: HashSet::new(),
        classes: HashMap::new(),
        tasks_of_deal: HashMap::new(),
        index_of: HashMap::new(),
        created: 0,
        ended: HashSet::new(),
        report: SimReport::default(),
        batches: 0,
        next_address: 1,
        crash_rng: Rng::new(config.seed ^ 0xc4a5),
    };
    let faulty = (config.workers as f64 * config.faulty).round() as usize;
    for i in 0..config.workers {
        let kind = if i < faulty { Kind::Faulty } else { Kind::Honest };
        w.join(kind);
    }
    w.schedule(HEARTBEAT, Ev::Heartbeats);
    if config.churn_every > 0 {
        w.schedule(config.churn_every, Ev::Churn);
    }
    w.run_loop()?;
    w.finish();
    Ok(w.report)
}

impl World {
    pub(super) fn schedule(&mut self, after: u64, ev: Ev) {
        self.seq = self.seq.wrapping_add(1);
        self.queue.push(Reverse((self.now.saturating_add(after), self.seq, ev)));
    }

    pub(super) fn join(&mut self, kind: Kind) {
        let address = Address::from_word(B256::from(U256::from(self.next_address)));
        self.next_address = self.next_address.saturating_add(1);
        let worker = SimWorker::new(address, kind, &mut self.rng);
        if self.config.initial_score > 0
            && self.created == 0
            && self.workers.len().is_multiple_of(2)
        {
            self.chain.scores.insert(address, U256::from(self.config.initial_score));
        }
        let i = self.workers.len();
        self.by_address.insert(address, i);
        let caps = worker.caps;
        self.workers.push(worker);
        self.core.handle_worker_joined(self.now, address, caps, self.chain.score(&address));
    }

    pub(super) fn defecting(&self, index: u64) -> bool {
        !self.config.scenario.is_long_con() || index >= self.config.tasks / 2
    }

    fn run_loop(&mut self) -> Result<(), crate::Error> {
        let limit = self.config.tasks.saturating_mul(40 * TIME_REF).saturating_add(100 * TIME_REF);
        loop {
            self.create_deals();
            self.feed_chain();
            self.drain()?;
            if self.ended.len() as u64 >= self.config.tasks || self.now > limit {
                return Ok(());
            }
            let next_queue = self.queue.peek().map(|Reverse((at, _, _))| *at);
            let next_core = self.core.poll_timeout();
            let next = [next_queue, next_core]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(self.now.saturating_add(1));
            self.now = next.max(self.now.saturating_add(1));
            self.core.handle_tick(self.now);
            self.client_claims();
            while let Some(Reverse((at, _, ev))) = self.queue.peek().copied() {
                if at > self.now {
                    break;
                }
                self.queue.pop();
                self.event(ev);
                self.drain()?;
            }
        }
    }

    /// Clients keep work coming: a deal of `DEAL_TASKS` whenever the pool has little in flight.
    fn create_deals(&mut self) {
        while self.created < self.config.tasks
            && self.core.stats().in_flight.saturating_add(self.backlog())
                < self.workers.len() as u64
        {
            let count = DEAL_TASKS.min(self.config.tasks.saturating_sub(self.created));
            let id = DealId::derive(B256::repeat_byte(0xde), U256::from(self.created));
            let deal = Deal {
                id,
                tasks: count,
                trust: self.config.trust,
                start: self.now,
                time_ref: TIME_REF,
                price: Amount::from(1_000_000u64),
                scheduler_ratio: 10,
                evaluator: 0,
                memory_mib: 256,
                gpu_memory_mib: 0,
                gpu_class: 0,
            };
            self.tasks_of_deal.insert(id, self.created);
            self.created = self.created.saturating_add(count);
            self.chain.create_deal(self.now, deal);
        }
    }

    fn backlog(&self) -> u64 {
        self.created
            .saturating_sub(self.core.stats().in_flight)
            .saturating_sub(self.ended.len() as u64)
    }

    pub(super) fn feed_chain(&mut self) {
        while let Some((cursor, event)) = self.chain.events.get(self.fed).copied() {
            self.fed = self.fed.saturating_add(1);
            match event {
                crate::ChainEvent::Finalized { task } | crate::ChainEvent::Claimed { task } => {
                    self.task_ended(task);
                }
                crate::ChainEvent::TaskInitialized { task, deal, index } => {
                    let base = self.tasks_of_deal.get(&deal).copied().unwrap_or(0);
                    self.index_of.insert(task, base.saturating_add(index));
                }
                crate::ChainEvent::Reopened { task } if self.measured(&task) => {
                    self.report.reopens = self.report.reopens.saturating_add(1);
                }
                _ => {}
            }
            let _ = self.core.handle_chain_event(self.now, cursor, event);
        }
    }

    /// Applies every batch the core has, as a shell would: store, then calls and messages.
    fn drain(&mut self) -> Result<(), crate::Error> {
        loop {
            self.feed_chain();
            let Some(ready) = self.core.poll_ready() else { return Ok(()) };
            self.apply(&ready);
            self.core.advance(ready.number)?;
            self.batches = self.batches.saturating_add(1);
            if self.config.crash_every > 0 && self.crash_rng.below(self.config.crash_every) == 0 {
                self.crash_and_restore()?;
            }
        }
    }

    fn crash_and_restore(&mut self) -> Result<(), crate::Error> {
        let (core, _skipped) = Scheduler::restore(
            self.sched_config.clone(),
            self.owner,
            self.config.seed ^ 0x9001,
            &self.store,
            self.now,
        )?;
        self.core = core;
        self.report.restarts = self.report.restarts.saturating_add(1);
        // Chain events after the stored cursor are fed again.
        let cursor = self.store.cursor;
        self.fed = cursor.map_or(0, |c| usize::try_from(c.log).unwrap_or(0).saturating_add(1));
        Ok(())
    }

    fn apply(&mut self, ready: &Ready) {
        for write in &ready.store {
            self.store.apply(write);
        }
        for call in &ready.chain {
            self.chain_calls.push(call.clone());
            let k = self.chain_calls.len().saturating_sub(1);
            self.schedule(2, Ev::Chain(k));
        }
        for message in &ready.messages {
            if let Message::Assign { worker, task, .. } = message {
                self.on_assign(*worker, *task);
            }
            if self.rng.chance(self.config.loss) {
                continue;
            }
            self.to_worker.push(message.clone());
            let k = self.to_worker.len().saturating_sub(1);
            let delay = self.rng.below(3).saturating_add(1);
            self.schedule(delay, Ev::ToWorker(k));
        }
    }

    /// Invariants of every assignment.
    fn on_assign(&mut self, worker: Address, task: TaskId) {
        // Once more only after a release (its assignment lost, or the worker lost), and never
        // two replicas counted at once.
        if !self.assigned.insert((task, worker)) && self.core.replicas_counted(&task, &worker) > 1 {
            self.report.double_assignments = self.report.double_assignments.saturating_add(1);
        }
        self.chain.authorize(task, worker);
        if let Some(&i) = self.by_address.get(&worker)
            && let Some(w) = self.workers.get(i)
        {
            if self
                .core
                .load_of(&worker)
                .is_some_and(|l| l > w.caps.slots.min(self.sched_config.max_tasks_per_worker))
            {
                self.report.over_capacity = self.report.over_capacity.saturating_add(1);
            }
            let class = w.caps.platform.class();
            if *self.classes.entry(task).or_insert(class) != class {
                self.report.mixed_classes = self.report.mixed_classes.saturating_add(1);
            }
        }
        if self.measured(&task) {
            self.report.replicas = self.report.replicas.saturating_add(1);
        }
    }

    pub(super) fn index(&self, task: &TaskId) -> u64 {
        self.index_of.get(task).copied().unwrap_or(0)
    }

    pub(super) fn measured(&self, task: &TaskId) -> bool {
        self.defecting(self.index(task))
    }

    pub(super) fn right(&self, task: &TaskId) -> ResultDigest {
        ResultDigest::of(*task, b"right")
    }

    pub(super) fn task_ended(&mut self, task: TaskId) {
        if !self.ended.insert(task) {
            return;
        }
        let digest = match self.chain.status(&task) {
            Some(TaskStatus::Completed) => {
                self.chain.tasks.get(&task).and_then(|t| t.result_digest())
            }
            _ => None,
        };
        self.report.outcomes.insert(task, digest);
        if self.measured(&task) {
            self.report.tasks = self.report.tasks.saturating_add(1);
            match digest {
                Some(d) if d != self.right(&task) => {
                    self.report.wrong = self.report.wrong.saturating_add(1);
                }
                Some(_) => {}
                None => self.report.failed = self.report.failed.saturating_add(1),
            }
        }
    }

    fn client_claims(&mut self) {
        let due: Vec<TaskId> = self
            .chain
            .tasks
            .iter()
            .filter(|(_, t)| matches!(t.status(), TaskStatus::Active | TaskStatus::Revealing))
            .filter(|(_, t)| t.final_deadline() <= self.now)
            .map(|(id, _)| *id)
            .collect();
        for task in due {
            self.chain.claim(self.now, task);
        }
        // After the reveal deadline anyone may finalize a revealed result: its winners do.
        let finalizable: Vec<TaskId> = self
            .chain
            .tasks
            .iter()
            .filter(|(_, t)| t.status() == TaskStatus::Revealing && t.reveals().0 > 0)
            .filter(|(_, t)| t.reveal_deadline().is_some_and(|d| d <= self.now))
            .map(|(id, _)| *id)
            .collect();
        for task in finalizable {
            if let Some(paid) = self.chain.finalize(self.now, task) {
                self.account(task, &paid);
            }
        }
    }

    fn finish(&mut self) {
        self.report.unfinished = self.config.tasks.saturating_sub(self.ended.len() as u64);
        for w in &self.workers {
            if self.core.is_barred(&w.address) {
                match w.kind {
                    Kind::Faulty => {
                        self.report.barred_faulty = self.report.barred_faulty.saturating_add(1);
                    }
                    Kind::Honest => {
                        self.report.barred_honest = self.report.barred_honest.saturating_add(1);
                    }
                }
            }
        }
    }
}

//! Simulated workers and the events of the simulated world: messages arriving, computations
//! finishing, reveals, heartbeats, churn, transactions mined.

use quorate_poco::{sim::Rng, task::TaskStatus};
use quorate_primitives::{Address, ResultDigest, ResultHash, ResultSeal, TaskId};

use super::world::{Ev, HEARTBEAT, TIME_REF, ToPool, World};
use crate::{ChainCall, Message, Platform, WorkerCaps};

/// How the faulty workers behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// Nobody lies; the faulty share crashes (never answers).
    Crashing,
    /// The faulty share answers right, too late (after the replica timeout).
    Slow,
    /// Each faulty worker votes its own random wrong value.
    RandomWrong,
    /// All faulty workers vote the same wrong value.
    Colluders,
    /// Faulty workers copy the leading hash and seal from the chain.
    LazyCopiers,
    /// Faulty workers vote right and never reveal.
    NonRevealers,
    /// Colluders that come back under a fresh address (score 0) after their tasks.
    Sybil,
    /// Colluders honest for the first half of the tasks, then all voting one wrong value.
    LongCon,
}

impl Scenario {
    /// Every scenario, in table order.
    pub const ALL: [Self; 8] = [
        Self::Crashing,
        Self::Slow,
        Self::RandomWrong,
        Self::Colluders,
        Self::LazyCopiers,
        Self::NonRevealers,
        Self::Sybil,
        Self::LongCon,
    ];

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crashing => "crashing",
            Self::Slow => "slow",
            Self::RandomWrong => "random wrong",
            Self::Colluders => "colluders",
            Self::LazyCopiers => "lazy copiers",
            Self::NonRevealers => "non-revealers",
            Self::Sybil => "fresh Sybils",
            Self::LongCon => "long con",
        }
    }

    pub(crate) fn is_long_con(self) -> bool {
        self == Self::LongCon
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Honest,
    Faulty,
}

#[derive(Debug, Clone)]
pub(crate) struct SimWorker {
    pub(crate) address: Address,
    pub(crate) kind: Kind,
    pub(crate) caps: WorkerCaps,
    pub(crate) alive: bool,
}

impl SimWorker {
    pub(crate) fn new(address: Address, kind: Kind, rng: &mut Rng) -> Self {
        // Two float classes: a task's replicas must stay in one.
        let fp_probe = 7u32.saturating_add(u32::try_from(rng.below(2)).unwrap_or(0));
        let caps = WorkerCaps {
            slots: 4,
            memory_mib: 1024,
            evaluators: 1,
            platform: Platform { gpu: 0, fp_probe },
            gpu_memory_mib: 0,
            gpu_tags: [0; crate::types::GPU_TAGS],
        };
        Self { address, kind, caps, alive: true }
    }
}

/// What a worker does with one replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    Vote(ResultDigest),
    Withhold(ResultDigest),
    Copy,
    Silent,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Job {
    task: TaskId,
    worker: usize,
    plan: Plan,
    aborted: bool,
    /// What it voted (hash, seal), once it did.
    voted: Option<(ResultHash, ResultSeal)>,
}

impl World {
    fn plan(&mut self, worker: usize, task: &TaskId) -> Plan {
        let right = self.right(task);
        let Some(w) = self.workers.get(worker) else { return Plan::Silent };
        if w.kind == Kind::Honest {
            return Plan::Vote(right);
        }
        let collude = ResultDigest::of(*task, b"wrong");
        match self.config.scenario {
            Scenario::Crashing => Plan::Silent,
            Scenario::Slow => Plan::Vote(right),
            Scenario::RandomWrong => {
                Plan::Vote(ResultDigest::of(*task, &self.rng.next_u64().to_be_bytes()))
            }
            Scenario::Colluders | Scenario::Sybil => Plan::Vote(collude),
            Scenario::LazyCopiers => Plan::Copy,
            Scenario::NonRevealers => Plan::Withhold(right),
            Scenario::LongCon => {
                if self.defecting(self.index(task)) {
                    Plan::Vote(collude)
                } else {
                    Plan::Vote(right)
                }
            }
        }
    }

    fn latency(&mut self, worker: usize) -> u64 {
        let slow = self.config.scenario == Scenario::Slow
            && self.workers.get(worker).is_some_and(|w| w.kind == Kind::Faulty);
        if slow {
            self.rng.below(150).saturating_add(150)
        } else {
            self.rng.below(60).saturating_add(1)
        }
    }

    fn send_to_pool(&mut self, m: ToPool) {
        if self.rng.chance(self.config.loss) {
            return;
        }
        self.to_pool.push(m);
        let k = self.to_pool.len().saturating_sub(1);
        let delay = self.rng.below(3).saturating_add(1);
        self.schedule(delay, Ev::ToPool(k));
    }

    fn job_of(&self, task: &TaskId, worker: &Address) -> Option<usize> {
        let i = *self.by_address.get(worker)?;
        self.jobs.iter().rposition(|j| j.task == *task && j.worker == i)
    }

    pub(crate) fn event(&mut self, ev: Ev) {
        match ev {
            Ev::ToWorker(k) => {
                let Some(m) = self.to_worker.get(k).cloned() else { return };
                self.deliver_to_worker(&m);
            }
            Ev::Finish(j) => self.finish_job(j),
            Ev::SelfReveal(j) => self.reveal(j),
            Ev::ToPool(k) => {
                let Some(m) = self.to_pool.get(k).copied() else { return };
                match m {
                    ToPool::Finished { task, worker, hash, seal } => {
                        let _ =
                            self.core.handle_replica_finished(self.now, task, worker, hash, seal);
                    }
                    ToPool::Heartbeat(worker) => {
                        let _ = self.core.handle_heartbeat(self.now, worker);
                    }
                }
            }
            Ev::Heartbeats => {
                let alive: Vec<Address> =
                    self.workers.iter().filter(|w| w.alive).map(|w| w.address).collect();
                for a in alive {
                    self.send_to_pool(ToPool::Heartbeat(a));
                }
                self.schedule(HEARTBEAT, Ev::Heartbeats);
            }
            Ev::Churn => {
                let n = self.workers.len() as u64;
                let i = usize::try_from(self.rng.below(n)).unwrap_or(0);
                if let Some(w) = self.workers.get_mut(i)
                    && w.alive
                {
                    w.alive = false;
                    let kind = w.kind;
                    self.join(kind);
                }
                let every = self.config.churn_every;
                self.schedule(every, Ev::Churn);
            }
            Ev::Chain(k) => {
                let Some(call) = self.chain_calls.get(k).cloned() else { return };
                match call {
                    ChainCall::Initialize { deal, first, count } => {
                        for i in first..first.saturating_add(u64::from(count)) {
                            self.chain.initialize(self.now, deal, i);
                        }
                    }
                    ChainCall::Finalize { task, .. } => {
                        if let Some(paid) = self.chain.finalize(self.now, task) {
                            self.account(task, &paid);
                        }
                    }
                    ChainCall::Reopen { task } => self.chain.reopen(self.now, task),
                    ChainCall::GiveUp { task } => {
                        self.chain.give_up(self.now, task);
                    }
                }
            }
        }
    }

    pub(crate) fn account(&mut self, task: TaskId, paid: &[(Address, u128)]) {
        if !self.measured(&task) {
            return;
        }
        for (worker, reward) in paid {
            self.report.rewards = self.report.rewards.saturating_add(*reward);
            let faulty = self
                .by_address
                .get(worker)
                .and_then(|i| self.workers.get(*i))
                .is_some_and(|w| w.kind == Kind::Faulty);
            if faulty {
                self.report.faulty_rewards = self.report.faulty_rewards.saturating_add(*reward);
            }
        }
    }

    fn deliver_to_worker(&mut self, m: &Message) {
        match *m {
            Message::Assign { worker, task, .. } => {
                let Some(&i) = self.by_address.get(&worker) else { return };
                if !self.workers.get(i).is_some_and(|w| w.alive) {
                    return;
                }
                let plan = self.plan(i, &task);
                self.jobs.push(Job { task, worker: i, plan, aborted: false, voted: None });
                let j = self.jobs.len().saturating_sub(1);
                if plan != Plan::Silent {
                    let after = self.latency(i);
                    self.schedule(after, Ev::Finish(j));
                }
            }
            Message::RequestReveal { worker, task } => {
                if let Some(j) = self.job_of(&task, &worker) {
                    self.reveal(j);
                }
            }
            Message::Abort { worker, task } => {
                if let Some(j) = self.job_of(&task, &worker)
                    && let Some(job) = self.jobs.get_mut(j)
                {
                    job.aborted = true;
                }
            }
            Message::RequestUpload { .. } => {}
        }
    }

    fn finish_job(&mut self, j: usize) {
        let Some(job) = self.jobs.get(j).copied() else { return };
        let Some(w) = self.workers.get(job.worker) else { return };
        if !w.alive || job.aborted {
            return;
        }
        let (address, kind) = (w.address, w.kind);
        let (hash, seal) = match job.plan {
            Plan::Vote(d) | Plan::Withhold(d) => (d.vote(job.task), d.seal(address, job.task)),
            Plan::Copy => match self.chain.leader(&job.task) {
                Some(copied) => copied,
                None => {
                    if self.chain.status(&job.task) == Some(TaskStatus::Active) {
                        self.schedule(10, Ev::Finish(j));
                    }
                    return;
                }
            },
            Plan::Silent => return,
        };
        if let Some(job) = self.jobs.get_mut(j) {
            job.voted = Some((hash, seal));
        }
        self.send_to_pool(ToPool::Finished { task: job.task, worker: address, hash, seal });
        if self.chain.contribute(self.now, job.task, address, hash, seal) {
            self.schedule(TIME_REF, Ev::SelfReveal(j));
        }
        if self.config.scenario == super::Scenario::Sybil
            && kind == Kind::Faulty
            && self.rng.chance(0.2)
        {
            if let Some(w) = self.workers.get_mut(job.worker) {
                w.alive = false;
            }
            self.join(Kind::Faulty);
        }
    }

    fn reveal(&mut self, j: usize) {
        let Some(job) = self.jobs.get(j).copied() else { return };
        let Some(w) = self.workers.get(job.worker) else { return };
        if let Plan::Vote(d) = job.plan
            && job.voted.is_some()
        {
            let address = w.address;
            self.chain.reveal(self.now, job.task, address, d);
        }
    }
}

//! One task as the scheduler follows it: the PoCo mirror ([`quorate_poco::task::Task`], fed the
//! chain's events) plus what only the pool knows: who runs a replica, who reported what
//! off-chain, machine failures, calls sent. Every change goes through [`TaskEntry::apply`] of a
//! [`TaskRecord`], so replaying a task's stored records rebuilds it exactly.

use quorate_poco::{
    consensus::{Group, Trust},
    task::{Task, TaskStatus},
};
use quorate_primitives::{Address, DealId, ResultHash, ResultSeal, TaskId, U256};

use crate::{
    Error,
    effect::{Requested, TaskRecord},
    workers::Workers,
};

/// Where one replica stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunState {
    /// Assigned, no answer yet; holds a slot of its worker.
    Running,
    /// The worker reported its result off-chain.
    Reported { hash: ResultHash, seal: ResultSeal, at: u64 },
    /// Ended without a result (a failure, a timeout, the task given up): the worker is not
    /// assigned the task again.
    Dropped,
    /// Ended without a result through no fault of the worker's work (its assignment never
    /// reached it, or it was lost): it may be assigned the task again.
    Released,
}

/// One replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    pub(crate) worker: Address,
    pub(crate) timeout_at: u64,
    pub(crate) state: RunState,
}

/// A task in flight.
#[derive(Debug, Clone)]
pub(crate) struct TaskEntry {
    pub(crate) id: TaskId,
    /// When the chain initialized it.
    pub(crate) initialized_at: u64,
    pub(crate) poco: Task,
    pub(crate) deal: DealId,
    pub(crate) index: u64,
    pub(crate) class: Option<u64>,
    pub(crate) runs: Vec<Run>,
    pub(crate) machine_failures: u32,
    pub(crate) requested: Option<(Requested, u64)>,
    pub(crate) gave_up: bool,
    /// When the core next needs to look at this task (its key in the timer set).
    pub(crate) wake: Option<u64>,
    /// Since when it waits for a worker (while it is in the waiting set).
    pub(crate) waiting: Option<u64>,
    /// True once the current consensus's voters were asked to reveal (not stored: asking
    /// again after a restart is harmless).
    pub(crate) asked_reveal: bool,
}

impl TaskEntry {
    pub(crate) fn new(
        id: TaskId,
        poco: Task,
        deal: DealId,
        index: u64,
        initialized_at: u64,
    ) -> Self {
        Self {
            id,
            initialized_at,
            poco,
            deal,
            index,
            class: None,
            runs: Vec::new(),
            machine_failures: 0,
            requested: None,
            gave_up: false,
            wake: None,
            waiting: None,
            asked_reveal: false,
        }
    }

    fn run_mut(&mut self, worker: &Address) -> Option<&mut Run> {
        self.runs.iter_mut().find(|r| r.worker == *worker && r.state == RunState::Running)
    }

    /// True when `worker` already had a replica of this task that counts against it (running,
    /// answered or dropped; not released), or voted on it.
    pub(crate) fn involves(&self, worker: &Address) -> bool {
        self.counted(worker) > 0 || self.poco.contributions().iter().any(|c| c.worker == *worker)
    }

    /// How many of `worker`'s replicas of this task count against it (all but released ones),
    /// one more when it voted without one.
    pub(crate) fn counted(&self, worker: &Address) -> usize {
        let runs = self
            .runs
            .iter()
            .filter(|r| r.worker == *worker && r.state != RunState::Released)
            .count();
        let voted = self.poco.contributions().iter().any(|c| c.worker == *worker);
        if runs == 0 && voted { 1 } else { runs }
    }

    /// The heaviest vote weight a worker authorized now may carry so that no group of fewer
    /// than `k` distinct voters can reach consensus at `trust`, whatever the task's authorized
    /// workers that have not voted yet (and the new one) vote: `None` when any weight will do
    /// (`k ≤ 1`), zero when nobody may be authorized now.
    ///
    /// A group of value `g` passes when `g·T > total·(T − 1)`, and its voters' own growth adds
    /// to both sides, so a group that grows to `p` passes when `p > (total − g)·(T − 1)`: the
    /// mass outside it decides. For each hash already voted, and for a fresh one, the heaviest
    /// pending workers that could join it without making it `k` distinct voters are assumed to
    /// join it; votes elsewhere only add outside mass, which never helps a group pass.
    pub(crate) fn admissible_weight(&self, k: u32, trust: Trust) -> Option<U256> {
        if k <= 1 {
            return None;
        }
        let round = self.poco.authorization_round();
        let mut pending: Vec<U256> = self
            .poco
            .replicas()
            .iter()
            .filter(|r| !r.answered && r.round == round)
            .map(|r| r.weight)
            .collect();
        pending.sort_unstable_by(|a, b| b.cmp(a));
        let tally = self.poco.tally();
        let total = tally.total();
        let fresh = Group { hash: ResultHash::default(), value: U256::ZERO, votes: 0 };
        let mut cap = U256::MAX;
        for group in tally.groups().copied().chain(std::iter::once(fresh)) {
            let joiners = k.saturating_sub(1).saturating_sub(group.votes);
            let Some(others) = usize::try_from(joiners).ok().and_then(|j| j.checked_sub(1)) else {
                continue;
            };
            // Room: (total − g)·(T − 1); the group with its heaviest pending joiners but one.
            let Some(room) =
                total.checked_sub(group.value).and_then(|o| o.checked_mul(trust.minus_one()))
            else {
                return Some(U256::ZERO);
            };
            let mut product = group.value.max(U256::from(1u8));
            for w in pending.iter().take(others) {
                product = product.saturating_mul(*w);
            }
            // Already unsafe with the pending joiners alone: nobody more.
            let full = pending.get(others).map_or(product, |w| product.saturating_mul(*w));
            if full > room {
                return Some(U256::ZERO);
            }
            cap = cap.min(room.checked_div(product).unwrap_or(U256::ZERO));
        }
        Some(cap)
    }

    /// Replicas that are running or gave a result.
    pub(crate) fn live(&self) -> u32 {
        let n = self
            .runs
            .iter()
            .filter(|r| matches!(r.state, RunState::Running | RunState::Reported { .. }))
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Applies one record. On error nothing changed.
    pub(crate) fn apply(
        &mut self,
        record: &TaskRecord,
        workers: &mut Workers,
        replica_timeout: u64,
        owner: Address,
    ) -> Result<(), Error> {
        match *record {
            TaskRecord::Initialized { .. } => {}
            TaskRecord::Assigned { worker, score, class, at } => {
                self.poco.handle_assign(at, worker, score, fold(class))?;
                self.class.get_or_insert(class);
                let timeout_at = at.saturating_add(replica_timeout);
                self.runs.push(Run { worker, timeout_at, state: RunState::Running });
                workers.acquire(&worker, self.id);
            }
            TaskRecord::Reported { worker, hash, seal, at } => {
                let id = self.id;
                let run = self.run_mut(&worker).ok_or(Error::NoSuchReplica { worker, task: id })?;
                run.state = RunState::Reported { hash, seal, at };
                workers.release(&worker, &id);
            }
            TaskRecord::Dropped { worker, machine, at } => {
                let id = self.id;
                let run = self.run_mut(&worker).ok_or(Error::NoSuchReplica { worker, task: id })?;
                run.state = RunState::Dropped;
                workers.release(&worker, &id);
                if machine {
                    self.machine_failures = self.machine_failures.saturating_add(1);
                }
                self.poco.handle_abandon(at, worker);
            }
            TaskRecord::Released { worker, at } => {
                let id = self.id;
                let run = self.run_mut(&worker).ok_or(Error::NoSuchReplica { worker, task: id })?;
                run.state = RunState::Released;
                workers.release(&worker, &id);
                self.poco.handle_abandon(at, worker);
            }
            TaskRecord::Contributed { worker, hash, seal, score, at } => {
                self.poco.handle_contribution(at, worker, hash, seal, score)?;
                // A vote on chain is the replica's answer: its slot is free again.
                let id = self.id;
                if let Some(run) = self.run_mut(&worker) {
                    run.state = RunState::Reported { hash, seal, at };
                    workers.release(&worker, &id);
                }
            }
            TaskRecord::Revealed { worker, digest, at } => {
                self.poco.handle_reveal(at, worker, digest)?;
            }
            TaskRecord::Reopened { at } => {
                self.poco.handle_reopen(at, owner)?;
                self.requested = None;
                self.asked_reveal = false;
            }
            TaskRecord::Requested { call, at } => self.requested = Some((call, at)),
            TaskRecord::GaveUp { .. } => {
                self.gave_up = true;
                let id = self.id;
                for run in self.runs.iter_mut().filter(|r| r.state == RunState::Running) {
                    run.state = RunState::Dropped;
                    workers.release(&run.worker, &id);
                }
            }
        }
        Ok(())
    }

    /// Workers whose vote or report disagrees with the consensus hash.
    pub(crate) fn dissenters(&self) -> Vec<Address> {
        let Some(consensus) = self.poco.consensus() else { return Vec::new() };
        let mut out: Vec<Address> = self
            .poco
            .contributions()
            .iter()
            .filter(|c| c.hash != consensus)
            .map(|c| c.worker)
            .collect();
        for run in &self.runs {
            if let RunState::Reported { hash, .. } = run.state
                && hash != consensus
                && !self.poco.contributions().iter().any(|c| c.worker == run.worker)
            {
                out.push(run.worker);
            }
        }
        out
    }

    pub(crate) fn is_over(&self) -> bool {
        matches!(self.poco.status(), TaskStatus::Completed | TaskStatus::Failed)
    }
}

/// A platform class folded to the 32 bits the PoCo mirror records.
fn fold(class: u64) -> u32 {
    let hi = u32::try_from(class >> 32).unwrap_or(0);
    let lo = u32::try_from(class & u64::from(u32::MAX)).unwrap_or(0);
    hi.rotate_left(16) ^ lo
}

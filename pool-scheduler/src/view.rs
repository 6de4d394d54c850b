//! Read-only views of the core's state for the host's dashboards and metrics: the workers with
//! their load, and the tasks the core follows with where their consensus stands. Nothing here
//! changes the core.

use quorate_poco::task::TaskStatus;
use quorate_primitives::{Address, DealId, TaskId};

use crate::{Scheduler, WorkerRecord, task::RunState};

/// A registered worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerView {
    /// What the core keeps of it (address, capabilities, score, last seen, barred).
    pub record: WorkerRecord,
    /// Replicas it runs now.
    pub load: u32,
    /// Most replicas it may run at once (its slots, bounded by the pool's cap).
    pub capacity: u32,
}

/// A task the core follows (initialized on chain, not ended).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskView {
    /// Its id.
    pub id: TaskId,
    /// Its deal.
    pub deal: DealId,
    /// Its index in the deal.
    pub index: u64,
    /// Where its consensus stands.
    pub status: TaskStatus,
    /// The platform class its replicas run on, once the first was assigned.
    pub class: Option<u64>,
    /// Replicas assigned and not answered yet.
    pub running: u32,
    /// Replicas that ended without a result through their worker's fault (failed, timed out).
    pub dropped: u32,
    /// Votes on chain.
    pub contributions: u32,
    /// Reveals on chain, and reveals expected, once a consensus stands.
    pub reveals: (u32, u32),
    /// Since when it waits for a worker, while it does.
    pub waiting_since: Option<u64>,
    /// When the chain initialized it.
    pub initialized_at: u64,
}

impl Scheduler {
    /// Every registered worker, in registry order.
    pub fn workers(&self) -> impl Iterator<Item = WorkerView> + '_ {
        self.workers.iter().map(|entry| WorkerView {
            record: entry.record,
            load: entry.load,
            capacity: entry.capacity,
        })
    }

    /// The worker `address`, if registered.
    pub fn worker(&self, address: &Address) -> Option<WorkerView> {
        self.workers.get(address).map(|entry| WorkerView {
            record: entry.record,
            load: entry.load,
            capacity: entry.capacity,
        })
    }

    /// Every task the core follows, in no particular order.
    pub fn tasks(&self) -> impl Iterator<Item = TaskView> + '_ {
        self.tasks.values().map(|task| view(task))
    }

    /// The task `id`, while the core follows it.
    pub fn task(&self, id: &TaskId) -> Option<TaskView> {
        self.tasks.get(id).map(|task| view(task))
    }
}

fn view(task: &crate::task::TaskEntry) -> TaskView {
    let count = |wanted: fn(&RunState) -> bool| {
        u32::try_from(task.runs.iter().filter(|r| wanted(&r.state)).count()).unwrap_or(u32::MAX)
    };
    TaskView {
        id: task.id,
        deal: task.deal,
        index: task.index,
        status: task.poco.status(),
        class: task.class,
        running: count(|s| *s == RunState::Running),
        dropped: count(|s| *s == RunState::Dropped),
        contributions: u32::try_from(task.poco.contributions().len()).unwrap_or(u32::MAX),
        reveals: task.poco.reveals(),
        waiting_since: task.waiting,
        initialized_at: task.initialized_at,
    }
}

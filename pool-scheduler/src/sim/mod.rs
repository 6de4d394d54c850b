//! The Byzantine simulation (feature `test-utils`): the real [`Scheduler`] driving deals
//! against simulated workers over a lossy, delaying in-memory network and a simulated chain
//! ([`chain`]) that applies docs/poco.md exactly, with churn. Deterministic for one
//! [`SimConfig`] (seed included).
//!
//! Workers compute in 1–60 s, report their vote and seal to the pool, contribute on chain, and
//! reveal when asked or on their own once half the reveal window passed. Faulty ones follow
//! the [`Scenario`]. The host loop is what a node's shell does: feed events, apply each batch
//! (store first), acknowledge it. With `crash_every` the core is killed at random batch
//! boundaries and rebuilt from the store image plus the chain events after its cursor.

mod chain;
mod workers;
mod world;

use std::collections::BTreeMap;

use quorate_primitives::{ResultDigest, TaskId};

use crate::LongConPolicy;
pub use workers::Scenario;
pub use world::run;

/// Settings of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimConfig {
    /// Workers at any time (churn replaces, never shrinks).
    pub workers: usize,
    /// Tasks run in all.
    pub tasks: u64,
    /// The clients' trust level.
    pub trust: u64,
    /// The faulty share, 0..=1.
    pub faulty: f64,
    /// Their behaviour.
    pub scenario: Scenario,
    /// The pool's anti-long-con policy.
    pub policy: LongConPolicy,
    /// Share of messages the network drops.
    pub loss: f64,
    /// Mean seconds between a worker leaving and another joining (0: no churn).
    pub churn_every: u64,
    /// Kill and restore the core about once per this many batches (0: never).
    pub crash_every: u64,
    /// The score every other worker of the initial population starts with (veterans of a pool
    /// that has run for a while, honest and faulty alike; the rest and every later joiner start
    /// at 0). Default 0, and 100 for the long con: its colluders earned their reputation before
    /// they defect.
    pub initial_score: u64,
    /// Seed of everything.
    pub seed: u64,
}

impl SimConfig {
    /// Defaults: 100 workers, 2,000 tasks, 1 % loss, churn every 50 s, no crash.
    pub fn new(scenario: Scenario, trust: u64, faulty: f64) -> Self {
        Self {
            workers: 100,
            tasks: 2_000,
            trust,
            faulty,
            scenario,
            policy: LongConPolicy::default(),
            loss: 0.01,
            churn_every: 50,
            crash_every: 0,
            initial_score: if scenario == Scenario::LongCon { 100 } else { 0 },
            seed: 0x5eed,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimReport {
    /// Measured tasks (for the long con: those after the defection).
    pub tasks: u64,
    /// Measured tasks finalized with a wrong result.
    pub wrong: u64,
    /// Measured tasks claimed without a result.
    pub failed: u64,
    /// Assignments over measured tasks.
    pub replicas: u64,
    /// Faulty workers barred by the end.
    pub barred_faulty: u64,
    /// Honest workers barred by the end.
    pub barred_honest: u64,
    /// Reopens over measured tasks.
    pub reopens: u64,
    /// Tasks that never ended (must be 0).
    pub unfinished: u64,
    /// Assignments of a task to a worker that already had it (must be 0).
    pub double_assignments: u64,
    /// Assignments beyond a worker's capacity (must be 0).
    pub over_capacity: u64,
    /// Tasks whose replicas ran on more than one platform class (must be 0).
    pub mixed_classes: u64,
    /// Core restarts.
    pub restarts: u64,
    /// Rewards to faulty workers / to all workers.
    pub faulty_rewards: u128,
    /// Rewards to all workers.
    pub rewards: u128,
    /// Every task's outcome: the finalized digest, or `None` if claimed.
    pub outcomes: BTreeMap<TaskId, Option<ResultDigest>>,
}

impl SimReport {
    /// Wrong results per measured task.
    pub fn wrong_rate(&self) -> f64 {
        if self.tasks == 0 { 0.0 } else { self.wrong as f64 / self.tasks as f64 }
    }

    /// Mean assignments per measured task.
    pub fn mean_replicas(&self) -> f64 {
        if self.tasks == 0 { 0.0 } else { self.replicas as f64 / self.tasks as f64 }
    }

    /// Share of rewards paid to faulty workers.
    pub fn faulty_share(&self) -> f64 {
        if self.rewards == 0 { 0.0 } else { self.faulty_rewards as f64 / self.rewards as f64 }
    }
}

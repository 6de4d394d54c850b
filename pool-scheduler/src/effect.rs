//! What the core asks of its host, one batch at a time (raft's `Ready`/`advance`).
//!
//! The host applies a [`Ready`] in order: store writes first (durably), then chain calls and
//! messages, then acknowledges it with [`Scheduler::advance`](crate::Scheduler::advance). The
//! store writes are the core's whole memory: [`Scheduler::restore`](crate::Scheduler::restore)
//! rebuilds the core from them, and the chain events after the stored cursor are fed again.

use quorate_primitives::{Address, DealId, ResultDigest, ResultHash, ResultSeal, TaskId, U256};

use crate::types::{ChainCursor, Deal, WorkerCaps};

/// One batch of effects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ready {
    /// The batch's number, to pass to `advance`.
    pub number: u64,
    /// Writes to apply durably before anything else, in order.
    pub store: Vec<StoreWrite>,
    /// Transactions to send.
    pub chain: Vec<ChainCall>,
    /// Messages to workers.
    pub messages: Vec<Message>,
}

impl Ready {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.store.is_empty() && self.chain.is_empty() && self.messages.is_empty()
    }
}

/// A record the store keeps. Keys: a deal by id, a worker by address, a task's records as an
/// append-only list by task id, one cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreWrite {
    /// Insert or replace a deal and how far the core got with it.
    PutDeal(DealRecord),
    /// Forget a deal (all its tasks ended).
    DeleteDeal(DealId),
    /// Insert or replace a worker.
    PutWorker(WorkerRecord),
    /// Forget a worker (lost).
    DeleteWorker(Address),
    /// Never assign this address again (it answered a finalized task wrongly).
    PutBarred(Address),
    /// Append a record to a task's list.
    AppendTask {
        /// The task.
        task: TaskId,
        /// What happened.
        record: TaskRecord,
    },
    /// Forget a task's list (it ended).
    DeleteTask(TaskId),
    /// Chain events up to here are reflected in the store.
    PutCursor(ChainCursor),
}

/// A deal and the core's progress through it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DealRecord {
    /// The deal.
    pub deal: Deal,
    /// When the core saw it (orders the backlog).
    pub observed_at: u64,
    /// Tasks `0..requested` were asked to be initialized.
    pub requested: u64,
    /// Tasks that ended (finalized, claimed or given up and past their final deadline).
    pub ended: u64,
    /// Ranges asked to be initialized whose tasks the chain has not shown yet: asked again
    /// one time reference after the last ask (a call lost in a crash, or refused, is not lost
    /// to the deal). A range is initialized whole or not at all, so one of its tasks seen
    /// settles it.
    #[serde(default)]
    pub pending: Vec<PendingInit>,
}

/// A range of a deal's tasks asked to be initialized, not seen on chain yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingInit {
    /// Its first task's index.
    pub first: u64,
    /// How many tasks.
    pub count: u32,
    /// When it was last asked for.
    pub at: u64,
}

impl PendingInit {
    /// When it is due to be asked for again: one time reference of `deal` after the last ask.
    pub fn due(&self, deal: &Deal) -> u64 {
        self.at.saturating_add(deal.time_ref.max(1))
    }

    /// True when the range holds task `index`.
    pub fn holds(&self, index: u64) -> bool {
        index.checked_sub(self.first).is_some_and(|offset| offset < u64::from(self.count))
    }
}

/// A worker as the core knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WorkerRecord {
    /// Its address.
    pub address: Address,
    /// Its slot in the registry (stable across restarts, so choices replay identically).
    pub slot: u32,
    /// What it offers.
    pub caps: WorkerCaps,
    /// Its on-chain score.
    pub score: U256,
    /// When it was last heard from.
    pub seen: u64,
    /// True once it answered a finalized task wrongly: never assigned again.
    pub barred: bool,
}

/// One thing that happened to a task; replaying a task's records in order rebuilds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TaskRecord {
    /// The chain initialized it.
    Initialized {
        /// Its deal.
        deal: DealId,
        /// Its index.
        index: u64,
        /// When.
        at: u64,
    },
    /// A replica went to `worker` (its authorization was signed).
    Assigned {
        /// The worker.
        worker: Address,
        /// Its score then (the planner's assumed weight).
        score: U256,
        /// Its platform class (the task's class from its first replica on).
        class: u64,
        /// When.
        at: u64,
    },
    /// The worker reported its result off-chain.
    Reported {
        /// The worker.
        worker: Address,
        /// Its vote.
        hash: ResultHash,
        /// Its seal, checked against the digest once revealed.
        seal: ResultSeal,
        /// When.
        at: u64,
    },
    /// The replica ended without a result: a machine-dependent failure, the worker lost, or a
    /// timeout.
    Dropped {
        /// The worker.
        worker: Address,
        /// True for a machine-dependent failure the worker reported.
        machine: bool,
        /// When.
        at: u64,
    },
    /// `contribute` seen on chain.
    Contributed {
        /// The worker.
        worker: Address,
        /// Its vote.
        hash: ResultHash,
        /// Its seal.
        seal: ResultSeal,
        /// Its score.
        score: U256,
        /// When.
        at: u64,
    },
    /// `reveal` seen on chain.
    Revealed {
        /// The worker.
        worker: Address,
        /// The digest.
        digest: ResultDigest,
        /// When.
        at: u64,
    },
    /// `reopen` seen on chain.
    Reopened {
        /// When.
        at: u64,
    },
    /// The core sent `finalize` or `reopen`.
    Requested {
        /// Which.
        call: Requested,
        /// When.
        at: u64,
    },
    /// The core gave the task up: left to `claim` after its final deadline.
    GaveUp {
        /// When.
        at: u64,
    },
    /// The replica ended through no fault of its work: its assignment never reached the
    /// worker (lost in a crash, as the worker's own list of held tasks shows), or the worker
    /// was lost. Unlike [`TaskRecord::Dropped`] it does not bar the worker from the task: a
    /// pool whose few workers all crashed once still has someone to assign it to. Kept last:
    /// stores written before it read the same.
    Released {
        /// The worker.
        worker: Address,
        /// When.
        at: u64,
    },
}

/// A chain call the core sent for a task and waits to see mined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Requested {
    /// `finalize`.
    Finalize,
    /// `reopen`.
    Reopen,
    /// `claim` as the pool owner, before the final deadline: the replicas cannot agree. Kept
    /// last: stores written before it read the same.
    GiveUp,
}

/// A transaction for the shell to send as the pool owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainCall {
    /// The Hub's `initializeRange(deal, first, count)`: tasks `first..first + count` in one
    /// transaction.
    Initialize {
        /// The deal.
        deal: DealId,
        /// The first index.
        first: u64,
        /// How many.
        count: u32,
    },
    /// `finalize(task, resultsRef)`; the results are referenced by their digest.
    Finalize {
        /// The task.
        task: TaskId,
        /// The revealed digest.
        digest: ResultDigest,
    },
    /// `reopen(task)`.
    Reopen {
        /// The task.
        task: TaskId,
    },
    /// `claim(task)` as the pool owner while the task takes votes: its replicas disagreed up
    /// to the replica cap, so it fails now and its client is refunded, not at its deadline.
    GiveUp {
        /// The task.
        task: TaskId,
    },
}

/// A message to one worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Run this task. Every replica, spot-check or not, gets the same message at the same
    /// stage of the task: the worker cannot tell a check from a task.
    Assign {
        /// The worker.
        worker: Address,
        /// The task.
        task: TaskId,
        /// Its deal and index (what to run).
        deal: DealId,
        /// The task's index in the deal.
        index: u64,
        /// The round the authorization must name (0 until a reopen; docs/poco.md): the shell
        /// signs the worker's authorization for (worker, task, round) as the pool owner.
        round: u64,
        /// When the replica times out.
        deadline: u64,
    },
    /// Reveal your vote on this task.
    RequestReveal {
        /// The worker.
        worker: Address,
        /// The task.
        task: TaskId,
    },
    /// Upload this task's result bytes to the pool.
    RequestUpload {
        /// The worker.
        worker: Address,
        /// The task.
        task: TaskId,
    },
    /// Stop working on this task.
    Abort {
        /// The worker.
        worker: Address,
        /// The task.
        task: TaskId,
    },
}

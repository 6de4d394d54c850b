//! The domain types the core takes in: deals, workers' capabilities, chain events.
//! Addresses, task ids and hashes only, never peer ids.

use quorate_primitives::{
    Address, Amount, DealId, ResultDigest, ResultHash, ResultSeal, TaskId, U256,
};

/// A worker's platform: replicas of one task all run on one class (homogeneous redundancy), so
/// floating-point differences between GPUs or drivers never split a vote.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Platform {
    /// The GPU adapter and driver class (0 for CPU only).
    pub gpu: u32,
    /// The floating-point probe's outcome class.
    pub fp_probe: u32,
}

impl Platform {
    /// One number per class.
    pub fn class(self) -> u64 {
        (u64::from(self.gpu) << 32) | u64::from(self.fp_probe)
    }

    /// The part of the platform a deal's results depend on: all of it for a WebGPU deal, the
    /// float probe alone for another (its tasks see no GPU).
    pub fn for_deal(self, deal: &Deal) -> Self {
        if deal.evaluator == quorate_primitives::EvaluatorKind::WebGpu.code() {
            self
        } else {
            Self { gpu: 0, ..self }
        }
    }
}

/// How many adapter-class tags a worker carries: the whole class and its five parts.
pub const GPU_TAGS: usize = 6;

/// What a worker offers, as it declared when it joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct WorkerCaps {
    /// Replicas it runs at once (the pool's `max_tasks_per_worker` bounds it further).
    pub slots: u32,
    /// Memory it gives one task, in MiB.
    pub memory_mib: u32,
    /// The evaluator kinds it runs, one bit per kind (bit `k` for kind `k`).
    pub evaluators: u32,
    /// Its platform class.
    pub platform: Platform,
    /// Its GPU's memory, MiB (0 without a GPU).
    #[serde(default)]
    pub gpu_memory_mib: u32,
    /// What its GPU's adapter class answers to (the whole class and each part), as class
    /// numbers; 0 for none.
    #[serde(default)]
    pub gpu_tags: [u32; GPU_TAGS],
}

impl WorkerCaps {
    /// True when this worker can run tasks of `deal`: their evaluator kind, memory, GPU memory
    /// and GPU class.
    pub fn fits(&self, deal: &Deal) -> bool {
        let kind = 1u32.checked_shl(u32::from(deal.evaluator)).unwrap_or(0);
        self.evaluators & kind != 0
            && self.memory_mib >= deal.memory_mib
            && self.gpu_memory_mib >= deal.gpu_memory_mib
            && (deal.gpu_class == 0 || self.gpu_tags.contains(&deal.gpu_class))
    }

    /// The class this worker's replicas of `deal` count in.
    pub fn class_for(&self, deal: &Deal) -> u64 {
        self.platform.for_deal(deal).class()
    }
}

/// A deal matched with this pool, as the chain reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Deal {
    /// Its id.
    pub id: DealId,
    /// How many tasks it has (indices `0..tasks`).
    pub tasks: u64,
    /// The client's trust level `T ≥ 1`.
    pub trust: u64,
    /// The deal start, seconds.
    pub start: u64,
    /// The category time reference `t`, seconds.
    pub time_ref: u64,
    /// The price per task.
    pub price: Amount,
    /// The pool owner's share of the workers' reward, percent.
    pub scheduler_ratio: u64,
    /// The evaluator kind its tasks need.
    pub evaluator: u8,
    /// The memory one task needs, MiB.
    pub memory_mib: u32,
    /// The GPU memory one task needs, MiB (0 for a deal that needs no GPU).
    #[serde(default)]
    pub gpu_memory_mib: u32,
    /// The adapter class (or part of one) its workers' GPUs must have, as a class number; 0
    /// for any.
    #[serde(default)]
    pub gpu_class: u32,
}

/// Where in the chain's event stream the core has got to: events at or before it are reflected
/// in the store.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct ChainCursor {
    /// The block.
    pub block: u64,
    /// The log index within the block.
    pub log: u32,
    /// The block's timestamp, seconds: the time the chain applied the event at.
    pub time: u64,
}

/// A chain event the core follows (the shell keeps only this pool's deals and their tasks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainEvent {
    /// A deal was matched with this pool.
    DealCreated(Deal),
    /// `initialize` made a task ACTIVE.
    TaskInitialized {
        /// The task.
        task: TaskId,
        /// Its deal.
        deal: DealId,
        /// Its index in the deal.
        index: u64,
    },
    /// `contribute`.
    Contributed {
        /// The task.
        task: TaskId,
        /// The worker.
        worker: Address,
        /// Its vote.
        hash: ResultHash,
        /// Its seal.
        seal: ResultSeal,
        /// Its score when it voted.
        score: U256,
    },
    /// `reveal`.
    Revealed {
        /// The task.
        task: TaskId,
        /// The worker.
        worker: Address,
        /// The revealed digest.
        digest: ResultDigest,
    },
    /// `reopen`.
    Reopened {
        /// The task.
        task: TaskId,
    },
    /// `finalize`.
    Finalized {
        /// The task.
        task: TaskId,
    },
    /// `claim`.
    Claimed {
        /// The task.
        task: TaskId,
    },
    /// A worker's score changed (finalize).
    ScoreChanged {
        /// The worker.
        worker: Address,
        /// Its new score.
        score: U256,
    },
}

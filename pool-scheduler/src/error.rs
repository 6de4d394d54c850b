//! [`Error`]: why the core refused an input. A refusal never changes the core's state.

use quorate_primitives::{Address, TaskId};

/// One structured reason per refused input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The settings cannot work.
    #[error("invalid config: {0}")]
    Config(#[from] crate::config::ConfigError),
    /// A deal cannot be scheduled (no tasks, zero trust or time reference, bad ratio).
    #[error("deal refused: {reason}")]
    InvalidDeal {
        /// Why.
        reason: &'static str,
    },
    /// The task is not one the core is running (ended, or never ours).
    #[error("unknown task {0}")]
    UnknownTask(TaskId),
    /// The worker is not registered (never joined, or lost).
    #[error("unknown worker {0}")]
    UnknownWorker(Address),
    /// The worker holds no running replica of the task.
    #[error("worker {worker} runs no replica of task {task}")]
    NoSuchReplica {
        /// The worker.
        worker: Address,
        /// The task.
        task: TaskId,
    },
    /// `advance` acknowledged a batch that is not the one outstanding.
    #[error("acknowledged batch {got}, but the outstanding one is {expected:?}")]
    WrongBatch {
        /// The outstanding batch, if any.
        expected: Option<u64>,
        /// The one acknowledged.
        got: u64,
    },
    /// A chain event at or before the cursor: already applied.
    #[error("chain event at or before the cursor")]
    Replayed,
    /// The PoCo mirror refused a chain event (the chain and the core disagree).
    #[error("poco: {0}")]
    Poco(#[from] quorate_poco::Error),
}

impl Error {
    /// True when the input is about something the core already forgot or never knew: the shell
    /// drops it (late messages, events of other pools' tasks).
    pub fn is_stale(&self) -> bool {
        matches!(
            self,
            Self::UnknownTask(_)
                | Self::UnknownWorker(_)
                | Self::NoSuchReplica { .. }
                | Self::Replayed
        )
    }

    /// True when the shell itself misused the core (acknowledged the wrong batch).
    pub fn is_host_bug(&self) -> bool {
        matches!(self, Self::WrongBatch { .. })
    }
}

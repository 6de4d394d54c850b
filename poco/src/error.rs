//! The one error type of this crate: every refused input or impossible computation says why.

use quorate_primitives::{Address, ResultHash};

use crate::task::{Call, TaskStatus};

/// Why a computation failed or an input was rejected.
///
/// Rejections mirror the contract's `require`s one for one, so the scheduler can predict a
/// revert before it pays gas for it. The classifiers ([`Error::is_late`],
/// [`Error::is_bad_input`], [`Error::is_arithmetic`]) tell a caller how to react.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A 256-bit operation would overflow (the contract would revert too).
    #[error("256-bit overflow in {op}: {lhs} and {rhs}")]
    Overflow {
        /// The operation (`group × weight`, `total × (T − 1)`, …).
        op: &'static str,
        /// Left operand, decimal.
        lhs: String,
        /// Right operand, decimal.
        rhs: String,
    },
    /// A subtraction would go below zero: the accounting is inconsistent.
    #[error("256-bit underflow in {op}: {lhs} - {rhs}")]
    Underflow {
        /// The operation.
        op: &'static str,
        /// Minuend, decimal.
        lhs: String,
        /// Subtrahend, decimal.
        rhs: String,
    },
    /// A token-amount operation failed (overflow, ratio out of range, …).
    #[error("amount: {0}")]
    Amount(#[from] quorate_primitives::Error),
    /// Trust must be at least 1.
    #[error("trust must be at least 1")]
    InvalidTrust,
    /// A configuration value is out of its allowed range.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: &'static str,
    },
    /// The call is not allowed in the task's current status.
    #[error("{call:?} refused: task is {actual:?}")]
    WrongStatus {
        /// The call that was refused.
        call: Call,
        /// The task's status at the time.
        actual: TaskStatus,
    },
    /// The call came at or after its deadline.
    #[error("{call:?} too late: deadline {deadline}, now {now}")]
    Late {
        /// The call that was refused.
        call: Call,
        /// The deadline (exclusive: the call had to come strictly before it).
        deadline: u64,
        /// The time of the call.
        now: u64,
    },
    /// The call came before the time it becomes allowed.
    #[error("{call:?} too early: allowed from {from}, now {now}")]
    TooEarly {
        /// The call that was refused.
        call: Call,
        /// The first instant at which the call is allowed.
        from: u64,
        /// The time of the call.
        now: u64,
    },
    /// The worker already voted on this task (each worker votes once).
    #[error("worker {worker} already contributed")]
    DuplicateContribution {
        /// The worker.
        worker: Address,
    },
    /// The worker holds no authorization from the pool owner for this task.
    #[error("worker {worker} is not authorized for this task")]
    Unauthorized {
        /// The worker.
        worker: Address,
    },
    /// Only the pool owner may make this call.
    #[error("{call:?} refused: {caller} is not the pool owner")]
    NotPoolOwner {
        /// The call that was refused.
        call: Call,
        /// Who called.
        caller: Address,
    },
    /// A zero result hash or seal was submitted.
    #[error("empty result hash or seal from {worker}")]
    EmptyVote {
        /// The worker.
        worker: Address,
    },
    /// The worker did not vote for the consensus hash, so it has nothing to reveal.
    #[error("worker {worker} is not a winner of this task")]
    NotAWinner {
        /// The worker.
        worker: Address,
    },
    /// The worker already revealed.
    #[error("worker {worker} already revealed")]
    AlreadyRevealed {
        /// The worker.
        worker: Address,
    },
    /// The revealed digest does not match the committed hash and seal.
    #[error("digest revealed by {worker} does not match its hash {hash} and seal")]
    WrongSeal {
        /// The worker.
        worker: Address,
        /// The hash it committed.
        hash: ResultHash,
    },
    /// Reopen is only for a consensus nobody revealed.
    #[error("reopen refused: {revealed} winner(s) already revealed")]
    AlreadyRevealedSome {
        /// How many winners revealed.
        revealed: u32,
    },
    /// Finalize needs all winners revealed, or at least one and the reveal deadline passed.
    #[error(
        "finalize refused: {revealed} of {winners} winners revealed and the reveal deadline {deadline} is not passed"
    )]
    RevealsPending {
        /// Winners that revealed.
        revealed: u32,
        /// Winners in total.
        winners: u32,
        /// The reveal deadline.
        deadline: u64,
    },
    /// Finalize needs at least one revealed winner.
    #[error("finalize refused: no winner revealed")]
    NothingRevealed,
    /// A task with a revealed result is never claimed: it is finalized, by anyone once the
    /// reveal deadline passed.
    #[error("claim refused: {revealed} winner(s) revealed, finalize instead")]
    HasReveals {
        /// How many winners revealed.
        revealed: u32,
    },
    /// The task already has as many replicas as its cap allows.
    #[error("replica cap {cap} reached")]
    ReplicaCapReached {
        /// The cap.
        cap: u32,
    },
    /// The task already took the Hub's [`MAX_CONTRIBUTORS`](crate::task::MAX_CONTRIBUTORS)
    /// contributions (its `TooManyContributors`), or, for an assignment, the replicas pending
    /// would take the places left.
    #[error("the task takes at most {limit} contributors")]
    TooManyContributors {
        /// The limit.
        limit: u32,
    },
    /// Homogeneous redundancy: the worker's platform class differs from the task's.
    #[error("worker class {got} differs from the task's class {expected}")]
    WrongPlatformClass {
        /// The task's class.
        expected: u32,
        /// The worker's class.
        got: u32,
    },
    /// The worker already holds a replica of this task.
    #[error("worker {worker} is already assigned to this task")]
    AlreadyAssigned {
        /// The worker.
        worker: Address,
    },
    /// The vector document could not be built or parsed.
    #[error("vectors: {0}")]
    Vectors(String),
}

impl Error {
    /// The variant's name (`"Late"`, `"WrongSeal"`, …): a stable label for logs, metrics and the
    /// test vectors.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Overflow { .. } => "Overflow",
            Self::Underflow { .. } => "Underflow",
            Self::Amount(_) => "Amount",
            Self::InvalidTrust => "InvalidTrust",
            Self::InvalidConfig { .. } => "InvalidConfig",
            Self::WrongStatus { .. } => "WrongStatus",
            Self::Late { .. } => "Late",
            Self::TooEarly { .. } => "TooEarly",
            Self::DuplicateContribution { .. } => "DuplicateContribution",
            Self::Unauthorized { .. } => "Unauthorized",
            Self::NotPoolOwner { .. } => "NotPoolOwner",
            Self::EmptyVote { .. } => "EmptyVote",
            Self::NotAWinner { .. } => "NotAWinner",
            Self::AlreadyRevealed { .. } => "AlreadyRevealed",
            Self::WrongSeal { .. } => "WrongSeal",
            Self::AlreadyRevealedSome { .. } => "AlreadyRevealedSome",
            Self::RevealsPending { .. } => "RevealsPending",
            Self::NothingRevealed => "NothingRevealed",
            Self::HasReveals { .. } => "HasReveals",
            Self::ReplicaCapReached { .. } => "ReplicaCapReached",
            Self::TooManyContributors { .. } => "TooManyContributors",
            Self::WrongPlatformClass { .. } => "WrongPlatformClass",
            Self::AlreadyAssigned { .. } => "AlreadyAssigned",
            Self::Vectors(_) => "Vectors",
        }
    }

    /// True when the input came after its deadline: resending will not help.
    pub fn is_late(&self) -> bool {
        matches!(self, Self::Late { .. })
    }

    /// True when the input itself is invalid (wrong sender, duplicate, bad seal): the sender
    /// misbehaved or is confused; a scheduler may count it against a worker.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Self::DuplicateContribution { .. }
                | Self::Unauthorized { .. }
                | Self::NotPoolOwner { .. }
                | Self::EmptyVote { .. }
                | Self::NotAWinner { .. }
                | Self::AlreadyRevealed { .. }
                | Self::WrongSeal { .. }
                | Self::WrongPlatformClass { .. }
                | Self::AlreadyAssigned { .. }
        )
    }

    /// True when the numbers do not fit 256 bits (or amounts failed): the contract reverts too.
    pub fn is_arithmetic(&self) -> bool {
        match self {
            Self::Overflow { .. } | Self::Underflow { .. } => true,
            Self::Amount(inner) => inner.is_arithmetic(),
            _ => false,
        }
    }
}

/// Checked 256-bit helpers that turn `None` into a structured [`Error`].
pub(crate) mod checked {
    use quorate_primitives::U256;

    use super::Error;

    pub(crate) fn mul(op: &'static str, lhs: U256, rhs: U256) -> Result<U256, Error> {
        lhs.checked_mul(rhs).ok_or_else(|| Error::Overflow {
            op,
            lhs: lhs.to_string(),
            rhs: rhs.to_string(),
        })
    }

    pub(crate) fn add(op: &'static str, lhs: U256, rhs: U256) -> Result<U256, Error> {
        lhs.checked_add(rhs).ok_or_else(|| Error::Overflow {
            op,
            lhs: lhs.to_string(),
            rhs: rhs.to_string(),
        })
    }

    pub(crate) fn sub(op: &'static str, lhs: U256, rhs: U256) -> Result<U256, Error> {
        lhs.checked_sub(rhs).ok_or_else(|| Error::Underflow {
            op,
            lhs: lhs.to_string(),
            rhs: rhs.to_string(),
        })
    }

    pub(crate) fn add_u64(op: &'static str, lhs: u64, rhs: u64) -> Result<u64, Error> {
        lhs.checked_add(rhs).ok_or_else(|| Error::Overflow {
            op,
            lhs: lhs.to_string(),
            rhs: rhs.to_string(),
        })
    }

    pub(crate) fn mul_u64(op: &'static str, lhs: u64, rhs: u64) -> Result<u64, Error> {
        lhs.checked_mul(rhs).ok_or_else(|| Error::Overflow {
            op,
            lhs: lhs.to_string(),
            rhs: rhs.to_string(),
        })
    }
}

//! A task's phase: one enum whose variants carry only their own phase's data (STYLE #17), so a
//! task cannot hold a reveal deadline while ACTIVE nor a digest nobody revealed, and each value
//! is computed once, at the transition that fixes it.

use quorate_primitives::{ResultDigest, ResultHash};

/// A task's status (docs/poco.md). `UNSET` is the absence of a [`Task`](super::Task).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    /// Taking contributions.
    Active,
    /// A hash reached consensus; its voters reveal.
    Revealing,
    /// Finalized and paid.
    Completed,
    /// Claimed after the final deadline: client refunded.
    Failed,
}

/// What the vote that reached consensus fixed, at that moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Consensus {
    /// The hash in consensus.
    pub(super) hash: ResultHash,
    /// `consensus time + 2t`: reveals strictly before, reopen from then on.
    pub(super) reveal_deadline: u64,
    /// The voters of `hash` at consensus.
    pub(super) winners: u32,
}

/// Where a task stands, with the data of that phase only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Taking contributions until the contribution deadline (fixed by the config).
    Active,
    /// Winners reveal until the reveal deadline.
    Revealing {
        /// The consensus being revealed.
        consensus: Consensus,
        /// Winners that revealed so far.
        revealed: u32,
        /// The digest they revealed (`Some` exactly when `revealed > 0`).
        digest: Option<ResultDigest>,
    },
    /// Finalized: the winners that revealed are the only ones left.
    Completed {
        /// The consensus that was finalized.
        consensus: Consensus,
        /// Winners that revealed (at least one), and so the winners after finalize.
        proved: u32,
        /// The revealed digest.
        digest: ResultDigest,
    },
    /// Claimed after the final deadline, with nothing revealed.
    Failed {
        /// The consensus whose voters withheld their reveals, when claimed in REVEALING.
        withheld: Option<Consensus>,
    },
}

impl Phase {
    pub(super) fn status(&self) -> TaskStatus {
        match self {
            Self::Active => TaskStatus::Active,
            Self::Revealing { .. } => TaskStatus::Revealing,
            Self::Completed { .. } => TaskStatus::Completed,
            Self::Failed { .. } => TaskStatus::Failed,
        }
    }

    /// The consensus reached in this round (REVEALING and after; none after a reopen).
    pub(super) fn consensus(&self) -> Option<&Consensus> {
        match self {
            Self::Active => None,
            Self::Revealing { consensus, .. } | Self::Completed { consensus, .. } => {
                Some(consensus)
            }
            Self::Failed { withheld } => withheld.as_ref(),
        }
    }

    pub(super) fn result_digest(&self) -> Option<ResultDigest> {
        match self {
            Self::Revealing { digest, .. } => *digest,
            Self::Completed { digest, .. } => Some(*digest),
            Self::Active | Self::Failed { .. } => None,
        }
    }

    /// (winners revealed, winners).
    pub(super) fn reveals(&self) -> (u32, u32) {
        match self {
            Self::Revealing { consensus, revealed, .. } => (*revealed, consensus.winners),
            // a voter finalize rejected is no longer a winner
            Self::Completed { proved, .. } => (*proved, *proved),
            // claim is refused once anyone revealed, and forfeits the silent winners
            Self::Active | Self::Failed { .. } => (0, 0),
        }
    }
}

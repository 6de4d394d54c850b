//! One task a worker holds, as a state machine with its phase's data inside each state
//! (STYLE #17): what it must do next is read from the state ([`HeldTask::next`]), and each
//! thing that happens moves it (`on_*`). Pure: the worker's loop does the I/O and stores the
//! task after every move, before acting on it, so a restart resumes exactly where it was.
//!
//! ```text
//! Assigned ──computed (stored)──▶ Computed ──contribute mined──▶ Contributed
//!    │  machine failure: reported, dropped           │ consensus on my hash, or asked
//!    ▼                                               ▼
//!  Failed                     Revealed ◀──reveal mined── Revealing
//!                                │ finalized / claimed / reopened past me
//!                                ▼
//!                              Done
//! ```

use alloy::primitives::B256;
use quorate_primitives::{ContentHash, PoolId, ResultDigest, ResultHash, TaskId};
use serde::{Deserialize, Serialize};

/// What the scheduler gave: enough to run the task and to vote on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The pool.
    pub pool: PoolId,
    /// The task.
    pub task: TaskId,
    /// The job (its manifest's hash).
    pub job: ContentHash,
    /// The round the authorization names.
    pub round: u64,
    /// The pool owner's authorization (65 bytes), which `contribute` needs.
    pub authorization: Vec<u8>,
    /// Contribute before this time (unix seconds).
    pub deadline: u64,
}

/// The result as computed and kept until the task ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Computed {
    /// The canonical outcome bytes (a value's JSON or an agreed error).
    pub bytes: Vec<u8>,
    /// `ResultDigest::of(task, bytes)`.
    pub digest: ResultDigest,
}

/// Where a held task stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Received; to run.
    Assigned,
    /// Run and stored; to contribute.
    Computed(Computed),
    /// `contribute` sent (its transaction) or mined; waiting for a consensus.
    Contributed {
        /// The result.
        result: Computed,
        /// The contribution's transaction, once known.
        tx: Option<B256>,
    },
    /// The consensus is my hash: to reveal before `deadline`.
    Revealing {
        /// The result.
        result: Computed,
        /// The reveal deadline.
        deadline: u64,
    },
    /// Revealed; the result is kept for the scheduler (and the client) until the task ends.
    Revealed {
        /// The result.
        result: Computed,
    },
    /// A machine-dependent failure (timeout, memory): reported, never voted.
    Failed {
        /// The failure's stable name.
        kind: String,
    },
    /// Nothing more to do.
    Done,
}

/// A task the worker holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldTask {
    /// What the scheduler gave.
    pub assignment: Assignment,
    /// Where it stands.
    pub phase: Phase,
}

/// What the worker must do for a task now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Run it in a sandbox.
    Run,
    /// Send `contribute(task, hash, seal, authorization)` for this digest.
    Contribute(ResultDigest),
    /// Send `reveal(task, digest)`.
    Reveal(ResultDigest),
    /// Tell the scheduler the machine failed it.
    ReportFailure(String),
    /// Nothing until something happens.
    Wait,
}

impl HeldTask {
    /// A task just assigned.
    pub fn assigned(assignment: Assignment) -> Self {
        Self { assignment, phase: Phase::Assigned }
    }

    /// What to do next, given the time (a contribution past its deadline is not sent).
    pub fn next(&self, now: u64) -> Next {
        match &self.phase {
            Phase::Assigned if now < self.assignment.deadline => Next::Run,
            Phase::Computed(result) if now < self.assignment.deadline => {
                Next::Contribute(result.digest)
            }
            Phase::Revealing { result, deadline } if now < *deadline => Next::Reveal(result.digest),
            Phase::Failed { kind } => Next::ReportFailure(kind.clone()),
            _ => Next::Wait,
        }
    }

    /// The task ran: its outcome is stored with this phase.
    pub fn on_computed(&mut self, bytes: Vec<u8>) {
        if matches!(self.phase, Phase::Assigned) {
            let digest = ResultDigest::of(self.assignment.task, &bytes);
            self.phase = Phase::Computed(Computed { bytes, digest });
        }
    }

    /// The task failed on this machine.
    pub fn on_machine_failure(&mut self, kind: &str) {
        if matches!(self.phase, Phase::Assigned) {
            self.phase = Phase::Failed { kind: kind.to_owned() };
        }
    }

    /// The failure was reported: nothing more to do.
    pub fn on_failure_reported(&mut self) {
        if matches!(self.phase, Phase::Failed { .. }) {
            self.phase = Phase::Done;
        }
    }

    /// `contribute` was sent (`tx` known once accepted).
    pub fn on_contributed(&mut self, tx: Option<B256>) {
        if let Phase::Computed(result) = &self.phase {
            self.phase = Phase::Contributed { result: result.clone(), tx };
        }
    }

    /// A consensus formed on `hash`, to reveal before `deadline`. Mine: reveal; another: the
    /// task is lost to this worker (its stake is the chain's business), wait for the end.
    pub fn on_consensus(&mut self, hash: ResultHash, deadline: u64) {
        if matches!(self.phase, Phase::Assigned | Phase::Computed(_)) {
            // Reached without this worker's vote: too late to vote now (the task is
            // REVEALING until a reopen, which sends a fresh assignment).
            self.phase = Phase::Done;
            return;
        }
        if let Phase::Contributed { result, .. } = &self.phase {
            if result.digest.vote(self.assignment.task) == hash {
                self.phase = Phase::Revealing { result: result.clone(), deadline };
            } else {
                self.phase = Phase::Done;
            }
        }
    }

    /// `reveal` was mined.
    pub fn on_revealed(&mut self) {
        if let Phase::Revealing { result, .. } = &self.phase {
            self.phase = Phase::Revealed { result: result.clone() };
        }
    }

    /// The task ended on chain (finalized or claimed).
    pub fn on_ended(&mut self) {
        self.phase = Phase::Done;
    }

    /// The result bytes, while they are kept.
    pub fn result(&self) -> Option<&Computed> {
        match &self.phase {
            Phase::Computed(result)
            | Phase::Contributed { result, .. }
            | Phase::Revealing { result, .. }
            | Phase::Revealed { result } => Some(result),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held() -> HeldTask {
        HeldTask::assigned(Assignment {
            pool: PoolId(1),
            task: TaskId::from(B256::repeat_byte(3)),
            job: ContentHash::of(b"job"),
            round: 0,
            authorization: vec![0; 65],
            deadline: 100,
        })
    }

    #[test]
    fn a_winning_task_runs_contributes_reveals_and_ends() {
        let mut t = held();
        assert_eq!(t.next(10), Next::Run);
        t.on_computed(b"42".to_vec());
        let digest = ResultDigest::of(t.assignment.task, b"42");
        assert_eq!(t.next(10), Next::Contribute(digest));
        assert_eq!(t.next(100), Next::Wait, "past the contribution deadline nothing is sent");
        t.on_contributed(Some(B256::repeat_byte(9)));
        assert_eq!(t.next(10), Next::Wait);
        t.on_consensus(digest.vote(t.assignment.task), 50);
        assert_eq!(t.next(20), Next::Reveal(digest));
        assert_eq!(t.next(50), Next::Wait, "past the reveal deadline nothing is sent");
        t.on_revealed();
        assert_eq!(t.result().map(|r| r.bytes.as_slice()), Some(&b"42"[..]));
        t.on_ended();
        assert_eq!((t.next(20), t.result()), (Next::Wait, None));
    }

    #[test]
    fn another_hash_winning_ends_the_task_for_this_worker() {
        let mut t = held();
        t.on_computed(b"1".to_vec());
        t.on_contributed(None);
        t.on_consensus(ResultHash::from(B256::repeat_byte(1)), 50);
        assert_eq!(t.phase, Phase::Done);
    }

    #[test]
    fn a_machine_failure_is_reported_once_and_events_out_of_order_change_nothing() {
        let mut t = held();
        t.on_revealed();
        t.on_contributed(None);
        assert_eq!(t.phase, Phase::Assigned);
        t.on_machine_failure("timeout");
        assert_eq!(t.next(10), Next::ReportFailure("timeout".into()));
        t.on_computed(b"late".to_vec());
        assert!(matches!(t.phase, Phase::Failed { .. }));
        t.on_failure_reported();
        assert_eq!(t.next(10), Next::Wait);
        // The phases round-trip through the store's encoding.
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<HeldTask>(&json).unwrap(), t);
    }
}

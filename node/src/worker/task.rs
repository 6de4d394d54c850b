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
//!                                │ uploaded; finalized / claimed / reopened past me
//!                                ▼
//!                              Done
//! ```
//!
//! An abort drops a task not contributed to yet (Assigned, Computed, Failed → Done); once the
//! vote is on chain only the chain ends it.

use alloy::primitives::B256;
use quorate_primitives::{ContentHash, PoolId, ResultDigest, ResultHash, TaskId};
use serde::{Deserialize, Serialize};

/// A task's input as the assignment gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// The bytes themselves (small inputs travel in the assignment).
    Inline(#[serde(with = "hex_bytes")] Vec<u8>),
    /// Fetched from the scheduler by content hash.
    ByHash {
        /// Its content hash: one of the manifest's inputs.
        hash: ContentHash,
        /// Its size in bytes, as the scheduler announced it.
        size: u64,
    },
}

impl Input {
    /// The input's content hash (computed for an inline input).
    pub fn hash(&self) -> ContentHash {
        match self {
            Self::Inline(bytes) => ContentHash::of(bytes),
            Self::ByHash { hash, .. } => *hash,
        }
    }
}

/// What the scheduler gave: enough to run the task and to vote on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The pool.
    pub pool: PoolId,
    /// The task.
    pub task: TaskId,
    /// The job (its manifest's hash).
    pub job: ContentHash,
    /// The task's input.
    pub input: Input,
    /// The round the authorization names.
    pub round: u64,
    /// The pool owner's authorization (65 bytes), which `contribute` needs.
    #[serde(with = "hex_bytes")]
    pub authorization: Vec<u8>,
    /// Contribute before this time (unix seconds).
    pub deadline: u64,
}

/// The result as computed and kept until the task ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Computed {
    /// The canonical outcome bytes (a value's JSON or an agreed error).
    #[serde(with = "hex_bytes")]
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
    /// Revealed; the result is kept for the scheduler (and the client) until the task ends,
    /// and past its end until the scheduler acknowledged its upload.
    Revealed {
        /// The result.
        result: Computed,
        /// Whether the scheduler acknowledged the result's upload.
        #[serde(default)]
        uploaded: bool,
        /// The task was finalized on chain: kept only until the upload is acknowledged (or
        /// refused: the scheduler has read the reveal by now, so a refusal is final).
        #[serde(default)]
        finalized: bool,
    },
    /// Another hash reached consensus: this worker's vote stands on chain and its result is
    /// kept until the task ends, since a reopen (the winners never revealed) can make it the
    /// consensus yet.
    Outvoted {
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
    /// Send the revealed result to the scheduler.
    Upload,
    /// Forget it: nothing more will happen (its record can go).
    Forget,
    /// Nothing until something happens.
    Wait,
}

impl HeldTask {
    /// A task just assigned.
    pub fn assigned(assignment: Assignment) -> Self {
        Self { assignment, phase: Phase::Assigned }
    }

    /// What to do next, given the time (unix seconds): a contribution or a reveal past its
    /// deadline is not sent, and the task is forgotten.
    pub fn next(&self, now: u64) -> Next {
        match &self.phase {
            Phase::Assigned if now < self.assignment.deadline => Next::Run,
            Phase::Computed(result) if now < self.assignment.deadline => {
                Next::Contribute(result.digest)
            }
            Phase::Revealing { result, deadline } if now < *deadline => Next::Reveal(result.digest),
            Phase::Failed { kind } => Next::ReportFailure(kind.clone()),
            Phase::Revealed { uploaded: false, .. } => Next::Upload,
            // Past its deadline a vote or a reveal is refused: nothing is left to do.
            Phase::Assigned | Phase::Computed(_) | Phase::Revealing { .. } | Phase::Done => {
                Next::Forget
            }
            _ => Next::Wait,
        }
    }

    /// True while the task takes one of the worker's slots: assigned and not yet computed (its
    /// data is fetched or it runs in a sandbox).
    pub fn holds_slot(&self) -> bool {
        matches!(self.phase, Phase::Assigned)
    }

    /// True once its vote may be on chain: from then on only the chain ends the task.
    pub fn contributed(&self) -> bool {
        matches!(
            self.phase,
            Phase::Contributed { .. } | Phase::Revealing { .. } | Phase::Revealed { .. }
        )
    }

    /// The phase's name, for logs and `quorate worker status`.
    pub fn phase_name(&self) -> &'static str {
        match self.phase {
            Phase::Assigned => "assigned",
            Phase::Computed(_) => "computed",
            Phase::Contributed { .. } => "contributed",
            Phase::Revealing { .. } => "revealing",
            Phase::Revealed { uploaded: false, finalized: true, .. } => "finalized, to upload",
            Phase::Revealed { uploaded: false, .. } => "revealed",
            Phase::Revealed { uploaded: true, .. } => "uploaded",
            Phase::Outvoted { .. } => "outvoted",
            Phase::Failed { .. } => "failed",
            Phase::Done => "done",
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
        if let Phase::Contributed { result, .. } | Phase::Outvoted { result } = &self.phase {
            let result = result.clone();
            self.phase = if result.digest.vote(self.assignment.task) == hash {
                Phase::Revealing { result, deadline }
            } else {
                Phase::Outvoted { result }
            };
        }
    }

    /// The task was reopened (the consensus's voters never revealed): an outvoted vote still
    /// stands and may become the consensus, so it waits for one again. Anything else is as
    /// over as before (a fresh assignment comes for a new vote).
    pub fn on_reopened(&mut self) {
        match &self.phase {
            Phase::Outvoted { result } => {
                self.phase = Phase::Contributed { result: result.clone(), tx: None };
            }
            _ => self.on_ended(),
        }
    }

    /// The scheduler asks for the reveal (the chain says the task reveals until `deadline`):
    /// the reveal is tried; the chain refuses it if the consensus is not this worker's vote.
    /// A revealed result is uploaded again.
    pub fn on_reveal_requested(&mut self, deadline: u64) {
        match &self.phase {
            Phase::Contributed { result, .. } => {
                self.phase = Phase::Revealing { result: result.clone(), deadline };
            }
            Phase::Revealed { result, finalized, .. } => {
                let (result, finalized) = (result.clone(), *finalized);
                self.phase = Phase::Revealed { result, uploaded: false, finalized };
            }
            _ => {}
        }
    }

    /// `reveal` was mined.
    pub fn on_revealed(&mut self) {
        if let Phase::Revealing { result, .. } = &self.phase {
            self.phase =
                Phase::Revealed { result: result.clone(), uploaded: false, finalized: false };
        }
    }

    /// The scheduler acknowledged the result's upload; a finalized task is then over.
    pub fn on_uploaded(&mut self) {
        if let Phase::Revealed { result, finalized, .. } = &self.phase {
            self.phase = if *finalized {
                Phase::Done
            } else {
                Phase::Revealed { result: result.clone(), uploaded: true, finalized: false }
            };
        }
    }

    /// The scheduler refused the upload: tried again later while the task runs (the scheduler
    /// may not have read the reveal yet); final once the task is finalized.
    pub fn on_upload_refused(&mut self) {
        if matches!(self.phase, Phase::Revealed { finalized: true, .. }) {
            self.phase = Phase::Done;
        }
    }

    /// The task was finalized on chain: over, unless a revealed result was not yet taken by
    /// the scheduler (it is kept and uploaded until acknowledged).
    pub fn on_finalized(&mut self) {
        match &self.phase {
            Phase::Revealed { result, uploaded: false, .. } => {
                self.phase =
                    Phase::Revealed { result: result.clone(), uploaded: false, finalized: true };
            }
            _ => self.on_ended(),
        }
    }

    /// A new assignment of a task this worker holds (another round, after a reopen or a
    /// re-plan). A task not yet run takes it whole; a computed one keeps its result and takes
    /// the new round's authorization and deadline (same job and input only); one whose vote
    /// may be on chain refuses it. Returns whether the held task changed.
    pub fn reassign(&mut self, assignment: Assignment) -> Result<bool, String> {
        let same_work = self.assignment.job == assignment.job
            && self.assignment.input.hash() == assignment.input.hash();
        match &self.phase {
            _ if self.contributed() || matches!(self.phase, Phase::Outvoted { .. }) => {
                Err(format!("this worker already voted on task {}", assignment.task))
            }
            Phase::Done => {
                *self = Self::assigned(assignment);
                Ok(true)
            }
            // A failure still being reported, and another job or input now: the new work
            // replaces it (the scheduler has moved on).
            Phase::Failed { .. } if !same_work => {
                *self = Self::assigned(assignment);
                Ok(true)
            }
            _ if self.assignment.round == assignment.round => Ok(false),
            Phase::Computed(_) if !same_work => Err(format!(
                "this worker computed task {} for another job or input",
                assignment.task
            )),
            Phase::Computed(_) => {
                self.assignment.round = assignment.round;
                self.assignment.authorization = assignment.authorization;
                self.assignment.deadline = assignment.deadline;
                Ok(true)
            }
            _ => {
                *self = Self::assigned(assignment);
                Ok(true)
            }
        }
    }

    /// The scheduler withdrew the task: dropped unless the vote may be on chain. Returns whether
    /// it was dropped.
    pub fn on_aborted(&mut self) -> bool {
        if self.contributed() {
            return false;
        }
        self.phase = Phase::Done;
        true
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
            | Phase::Revealed { result, .. }
            | Phase::Outvoted { result } => Some(result),
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
            input: Input::Inline(b"7".to_vec()),
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
        assert_eq!(t.next(100), Next::Forget, "past the contribution deadline nothing is sent");
        t.on_contributed(Some(B256::repeat_byte(9)));
        assert_eq!(t.next(10), Next::Wait);
        t.on_consensus(digest.vote(t.assignment.task), 50);
        assert_eq!(t.next(20), Next::Reveal(digest));
        assert_eq!(t.next(50), Next::Forget, "past the reveal deadline nothing is sent");
        t.on_revealed();
        assert_eq!(t.result().map(|r| r.bytes.as_slice()), Some(&b"42"[..]));
        assert_eq!(t.next(20), Next::Upload);
        t.on_uploaded();
        assert_eq!((t.next(20), t.phase_name()), (Next::Wait, "uploaded"));
        // Asked again (the scheduler lost it): uploaded again.
        t.on_reveal_requested(50);
        assert_eq!(t.next(20), Next::Upload);
        assert!(!t.on_aborted(), "a vote on chain is not withdrawn");
        t.on_ended();
        assert_eq!((t.next(20), t.result()), (Next::Forget, None));
    }

    #[test]
    fn a_reveal_request_reveals_a_contributed_task_and_aborts_drop_only_unvoted_ones() {
        let mut t = held();
        assert!(t.holds_slot());
        t.on_computed(b"1".to_vec());
        assert!(!t.holds_slot() && !t.contributed());
        let mut aborted = t.clone();
        assert!(aborted.on_aborted());
        assert_eq!(aborted.next(10), Next::Forget);
        t.on_contributed(None);
        assert!(t.contributed());
        t.on_reveal_requested(60);
        let digest = ResultDigest::of(t.assignment.task, b"1");
        assert_eq!(t.next(10), Next::Reveal(digest));
        // The stored form: bytes as hex, readable with any tool.
        let json = serde_json::to_string(&t).unwrap();
        assert!(json.contains("\"0x31\""), "{json}");
        assert_eq!(serde_json::from_str::<HeldTask>(&json).unwrap(), t);
    }

    #[test]
    fn an_outvoted_result_is_kept_until_the_task_ends_and_can_win_after_a_reopen() {
        let mut t = held();
        t.on_computed(b"1".to_vec());
        t.on_contributed(None);
        t.on_consensus(ResultHash::from(B256::repeat_byte(1)), 50);
        assert_eq!(t.phase_name(), "outvoted");
        assert_eq!(t.next(10), Next::Wait);
        let digest = t.result().unwrap().digest;
        // The winners never revealed: reopened, and this worker's standing vote wins now.
        t.on_reopened();
        assert_eq!(t.phase_name(), "contributed");
        t.on_consensus(digest.vote(t.assignment.task), 80);
        assert_eq!(t.next(10), Next::Reveal(digest));
        // Outvoted again and then finalized: over.
        let mut u = held();
        u.on_computed(b"1".to_vec());
        u.on_contributed(None);
        u.on_consensus(ResultHash::from(B256::repeat_byte(1)), 50);
        u.on_ended();
        assert_eq!(u.phase, Phase::Done);
    }

    #[test]
    fn a_result_not_yet_taken_by_the_scheduler_outlives_the_finalize_until_acknowledged() {
        let mut t = held();
        t.on_computed(b"5".to_vec());
        t.on_contributed(None);
        t.on_reveal_requested(60);
        t.on_revealed();
        // Refused while the task runs (the scheduler has not read the reveal): kept, retried.
        t.on_upload_refused();
        assert_eq!(t.next(10), Next::Upload);
        t.on_finalized();
        assert_eq!((t.next(10), t.phase_name()), (Next::Upload, "finalized, to upload"));
        let mut refused = t.clone();
        refused.on_upload_refused();
        assert_eq!(refused.phase, Phase::Done, "a refusal after the finalize is final");
        t.on_uploaded();
        assert_eq!(t.phase, Phase::Done);
        // Uploaded before the finalize: the finalize ends it.
        let mut u = held();
        u.on_computed(b"5".to_vec());
        u.on_contributed(None);
        u.on_reveal_requested(60);
        u.on_revealed();
        u.on_uploaded();
        u.on_finalized();
        assert_eq!(u.phase, Phase::Done);
    }

    #[test]
    fn a_reassignment_never_overwrites_a_computed_result_nor_a_vote() {
        let mut next_round = held().assignment;
        next_round.round = 7;
        next_round.authorization = vec![7; 65];
        next_round.deadline = 200;
        // Not run yet: the new round is taken whole.
        let mut t = held();
        assert_eq!(t.reassign(next_round.clone()), Ok(true));
        assert_eq!(t.assignment, next_round);
        // The same round again: nothing changes.
        assert_eq!(t.reassign(next_round.clone()), Ok(false));
        // Computed: the result stays; the new round's authorization and deadline are taken.
        let mut c = held();
        c.on_computed(b"9".to_vec());
        assert_eq!(c.reassign(next_round.clone()), Ok(true));
        assert_eq!(c.result().map(|r| r.bytes.clone()), Some(b"9".to_vec()));
        assert_eq!((c.assignment.round, c.assignment.deadline), (7, 200));
        assert_eq!(c.next(10), Next::Contribute(ResultDigest::of(c.assignment.task, b"9")));
        // …but not another job's or input's assignment.
        let mut other = next_round.clone();
        other.round = 8;
        other.input = Input::Inline(b"8".to_vec());
        assert!(c.reassign(other).is_err());
        assert_eq!(c.phase_name(), "computed");
        // Voted (or outvoted): refused.
        c.on_contributed(None);
        assert!(c.reassign(next_round.clone()).is_err());
        c.on_consensus(ResultHash::from(B256::repeat_byte(1)), 50);
        assert_eq!(c.phase_name(), "outvoted");
        assert!(c.reassign(next_round).is_err());
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
        assert_eq!(t.next(10), Next::Forget);
        // The phases round-trip through the store's encoding.
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<HeldTask>(&json).unwrap(), t);
    }
}

/// Bytes stored as `0x…` hex (JSON arrays of numbers would take four times the room).
mod hex_bytes {
    use alloy::primitives::Bytes;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        Bytes::copy_from_slice(bytes).serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Bytes::deserialize(d).map(|b| b.to_vec())
    }
}

//! One task's state machine, sans-io (docs/poco.md, "Task state machine").
//!
//! The host feeds inputs with `handle_*(now, …)` and reads decisions with `poll_*()`; the task
//! never reads a clock. It mirrors the contract's checks one for one (every rejection is an
//! [`Error`] variant naming the failed `require`) and adds the scheduler's own bookkeeping:
//! which replicas were assigned, when they time out, and how many more are needed.
//!
//! ```text
//!            contribute (consensus)          finalize
//!   ACTIVE ─────────────────────────▶ REVEALING ───────▶ COMPLETED
//!     ▲  │                               │  │
//!     │  └──────── claim ────────┐       │  └── claim ──▶ FAILED
//!     └────────── reopen ────────┼───────┘
//!                                └─────────────────────▶ FAILED
//! ```
//!
//! Deadlines count from the deal start `start` in units of the category time reference `t`,
//! with the Hub's multipliers ([`CONTRIBUTION_WINDOW`], [`REVEAL_WINDOW`], [`FINAL_WINDOW`]):
//! contributions strictly before `start + 7t`, reveals strictly before `consensusTime + 2t`,
//! reopen/finalize strictly before `start + 10t`, claim from `start + 10t` on. A task takes at
//! most [`MAX_CONTRIBUTORS`] contributions, as the Hub does.
//!
//! The fixed deadlines are computed (checked) once, by [`Task::new`]; the reveal deadline once,
//! by the vote that reaches consensus. Each phase keeps its own data in its variant of one
//! enum (`phase.rs`), so the `poll_*` reads cannot fail.

mod config;
mod phase;

use quorate_primitives::{Address, ResultDigest, ResultHash, ResultSeal, U256};

use self::{
    config::Schedule,
    phase::{Consensus, Phase},
};
pub use self::{
    config::{
        CONTRIBUTION_WINDOW, FINAL_WINDOW, MAX_CONTRIBUTORS, MAX_TIME_REF, REVEAL_WINDOW,
        TaskConfig,
    },
    phase::TaskStatus,
};
use crate::{
    Error,
    consensus::Tally,
    error::checked::add_u64,
    payout::{self, ContributionStatus, SettledContribution, Settlement},
    planner::{self, Plan},
    weight::{payout_weight, vote_weight},
};

/// The calls a task accepts, named in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// The scheduler assigns a replica (off-chain: the authorization signature).
    Assign,
    /// `contribute(hash, seal, auth)`.
    Contribute,
    /// `reveal(digest)`.
    Reveal,
    /// `reopen()`.
    Reopen,
    /// `finalize(resultsRef)`.
    Finalize,
    /// `claim()`.
    Claim,
}

/// One worker's vote on the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contribution {
    /// The worker.
    pub worker: Address,
    /// Its vote.
    pub hash: ResultHash,
    /// Its seal.
    pub seal: ResultSeal,
    /// Its score when it voted.
    pub score: U256,
    /// `w(score)`.
    pub weight: U256,
    /// `floor(log2 w)`.
    pub payout_weight: U256,
    /// Where it stands.
    pub status: ContributionStatus,
    /// When it was accepted.
    pub at: u64,
}

/// A replica the scheduler assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replica {
    /// The worker.
    pub worker: Address,
    /// Its platform class (homogeneous redundancy).
    pub class: u32,
    /// `w(score)` at assignment, what the planner assumes it will add.
    pub weight: U256,
    /// When it was assigned.
    pub assigned_at: u64,
    /// When it stops counting as pending.
    pub timeout_at: u64,
    /// True once its contribution arrived.
    pub answered: bool,
    /// True once [`Task::handle_timeout`] reported it.
    pub timed_out: bool,
    /// The round its authorization names ([`Task::authorization_round`] when it was assigned):
    /// after a reopen it no longer votes until it is assigned again.
    pub round: u64,
}

impl Replica {
    fn is_pending(&self, now: u64) -> bool {
        !self.answered && now < self.timeout_at
    }
}

/// Why the scheduler should stop working on a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailReason {
    /// The replica cap (or the Hub's [`MAX_CONTRIBUTORS`]) leaves no room for consensus and
    /// nothing is pending.
    ReplicaCap,
    /// The contribution deadline passed without consensus.
    ContributionsClosed,
    /// The final deadline passed: `claim` refunds the client.
    Claimable,
}

/// Something the host should do now. [`Task::poll_actions`] is level-triggered: an action is
/// listed for as long as it is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Ask these winners (consensus voters that have not revealed) to reveal.
    RequestReveal {
        /// The workers, in contribution order.
        workers: Vec<Address>,
    },
    /// Finalize is allowed (all winners revealed, or some and the reveal deadline passed).
    Finalize,
    /// Reopen is allowed (nobody revealed before the reveal deadline).
    Reopen,
    /// Assign this many more replicas.
    NeedReplicas {
        /// How many.
        count: u32,
    },
    /// The task cannot complete; the reason says whether to wait or claim.
    Failed(FailReason),
}

/// The outcome of an accepted contribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contributed {
    /// `group[hash]` after the vote.
    pub group: U256,
    /// `total` after the vote.
    pub total: U256,
    /// True when this vote brought consensus (the task is now REVEALING).
    pub consensus: bool,
}

/// One task, from initialize to COMPLETED or FAILED.
#[derive(Debug, Clone)]
pub struct Task {
    config: TaskConfig,
    schedule: Schedule,
    phase: Phase,
    tally: Tally,
    contributions: Vec<Contribution>,
    replicas: Vec<Replica>,
    class: Option<u32>,
    now: u64,
    round: u64,
}

impl Task {
    /// `initialize`: a task in ACTIVE with `total = 1`. Validates `config` and computes its
    /// deadlines, once.
    pub fn new(config: TaskConfig) -> Result<Self, Error> {
        let schedule = config.schedule()?;
        Ok(Self {
            config,
            schedule,
            phase: Phase::Active,
            tally: Tally::new(),
            contributions: Vec::new(),
            replicas: Vec::new(),
            class: None,
            now: config.start,
            round: 0,
        })
    }

    /// The round an authorization must name to vote now, as the contract's `TaskView.round`: 0
    /// until a reopen, then the reveal deadline of the consensus the last reopen dropped.
    pub fn authorization_round(&self) -> u64 {
        self.round
    }

    /// The settings.
    pub fn config(&self) -> &TaskConfig {
        &self.config
    }

    /// The status.
    pub fn status(&self) -> TaskStatus {
        self.phase.status()
    }

    /// The vote accounting.
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// The contributions, in arrival order.
    pub fn contributions(&self) -> &[Contribution] {
        &self.contributions
    }

    /// The replicas assigned, in assignment order.
    pub fn replicas(&self) -> &[Replica] {
        &self.replicas
    }

    /// `start + 7t`: contributions (and assignments) must come strictly before.
    pub fn contribution_deadline(&self) -> u64 {
        self.schedule.contribution_deadline
    }

    /// `start + 10t`: reopen strictly before; claim, of a task nothing was revealed for, from
    /// then on.
    pub fn final_deadline(&self) -> u64 {
        self.schedule.final_deadline
    }

    /// The hash in consensus (REVEALING and after).
    pub fn consensus(&self) -> Option<ResultHash> {
        self.phase.consensus().map(|c| c.hash)
    }

    /// The revealed result digest, once a winner revealed.
    pub fn result_digest(&self) -> Option<ResultDigest> {
        self.phase.result_digest()
    }

    /// The reveal deadline (REVEALING and after).
    pub fn reveal_deadline(&self) -> Option<u64> {
        self.phase.consensus().map(|c| c.reveal_deadline)
    }

    /// (winners revealed, winners).
    pub fn reveals(&self) -> (u32, u32) {
        self.phase.reveals()
    }

    fn observe(&mut self, now: u64) {
        self.now = self.now.max(now);
    }

    fn wrong_status(&self, call: Call) -> Error {
        Error::WrongStatus { call, actual: self.phase.status() }
    }

    /// The contributions taken, against [`MAX_CONTRIBUTORS`].
    fn contributors(&self) -> u32 {
        u32::try_from(self.contributions.len()).unwrap_or(u32::MAX)
    }

    /// How many more contributions the Hub would take once every pending replica (but the one
    /// at `except`, about to be replaced) has voted.
    fn contributor_room(&self, except: Option<usize>) -> u32 {
        let now = self.now;
        let pending = self
            .replicas
            .iter()
            .enumerate()
            .filter(|&(i, r)| Some(i) != except && r.is_pending(now))
            .count();
        let pending = u32::try_from(pending).unwrap_or(u32::MAX);
        MAX_CONTRIBUTORS.saturating_sub(self.contributors()).saturating_sub(pending)
    }

    /// The scheduler assigns a replica to `worker` (off-chain, this is the pool owner signing
    /// its authorization). Enforces the replica cap, the Hub's contributor limit (a replica is
    /// refused when the pending ones would fill it) and homogeneous redundancy.
    pub fn handle_assign(
        &mut self,
        now: u64,
        worker: Address,
        score: U256,
        class: u32,
    ) -> Result<(), Error> {
        self.observe(now);
        if self.phase != Phase::Active {
            return Err(self.wrong_status(Call::Assign));
        }
        let deadline = self.schedule.contribution_deadline;
        if now >= deadline {
            return Err(Error::Late { call: Call::Assign, deadline, now });
        }
        let round = self.round;
        // A replica that never voted may be assigned again, in its place: one of an earlier
        // round, for this round, or one given up (timed out, or abandoned when its worker was
        // lost or its assignment never reached it). Otherwise a pool whose few workers all
        // crashed once would have no one left to assign the task to.
        let stale = self
            .replicas
            .iter()
            .position(|r| r.worker == worker && !r.answered && (r.round != round || r.timed_out));
        if stale.is_none() && self.replicas.iter().any(|r| r.worker == worker) {
            return Err(Error::AlreadyAssigned { worker });
        }
        // A reused replica takes no new place under the cap.
        if stale.is_none()
            && self.replicas.len()
                >= usize::try_from(self.config.max_replicas).unwrap_or(usize::MAX)
        {
            return Err(Error::ReplicaCapReached { cap: self.config.max_replicas });
        }
        if self.contributor_room(stale) == 0 {
            return Err(Error::TooManyContributors { limit: MAX_CONTRIBUTORS });
        }
        if self.config.homogeneous {
            match self.class {
                Some(expected) if expected != class => {
                    return Err(Error::WrongPlatformClass { expected, got: class });
                }
                _ => self.class = Some(class),
            }
        }
        let timeout_at = now.saturating_add(self.config.replica_timeout);
        let replica = Replica {
            worker,
            class,
            weight: vote_weight(score),
            assigned_at: now,
            timeout_at,
            answered: false,
            timed_out: false,
            round,
        };
        match stale.and_then(|i| self.replicas.get_mut(i)) {
            Some(old) => *old = replica,
            None => self.replicas.push(replica),
        }
        Ok(())
    }

    /// `contribute(hash, seal, auth)` by `worker`, whose on-chain score is `score`.
    pub fn handle_contribution(
        &mut self,
        now: u64,
        worker: Address,
        hash: ResultHash,
        seal: ResultSeal,
        score: U256,
    ) -> Result<Contributed, Error> {
        self.observe(now);
        if self.phase != Phase::Active {
            return Err(self.wrong_status(Call::Contribute));
        }
        let deadline = self.schedule.contribution_deadline;
        if now >= deadline {
            return Err(Error::Late { call: Call::Contribute, deadline, now });
        }
        // before the duplicate and authorization checks, as the Hub orders them
        if self.contributors() >= MAX_CONTRIBUTORS {
            return Err(Error::TooManyContributors { limit: MAX_CONTRIBUTORS });
        }
        if self.contributions.iter().any(|c| c.worker == worker) {
            return Err(Error::DuplicateContribution { worker });
        }
        let round = self.round;
        let Some(replica) =
            self.replicas.iter_mut().find(|r| r.worker == worker && r.round == round)
        else {
            // no authorization, or one of a round a reopen closed
            return Err(Error::Unauthorized { worker });
        };
        if hash.0.is_zero() || seal.0.is_zero() {
            return Err(Error::EmptyVote { worker });
        }
        // cannot overflow (`now < start + 7t` and `start + 10t` fits), checked all the same
        let reveal_deadline = add_u64("now + 2t", now, self.schedule.reveal_window)?;
        let weight = vote_weight(score);
        let (group, total, consensus) = self.tally.vote(hash, weight, self.config.trust)?;
        replica.answered = true;
        self.contributions.push(Contribution {
            worker,
            hash,
            seal,
            score,
            weight,
            payout_weight: payout_weight(weight),
            status: ContributionStatus::Contributed,
            at: now,
        });
        if consensus {
            let winners = self.voters(hash).count().try_into().unwrap_or(u32::MAX);
            self.phase = Phase::Revealing {
                consensus: Consensus { hash, reveal_deadline, winners },
                revealed: 0,
                digest: None,
            };
        }
        Ok(Contributed { group, total, consensus })
    }

    /// The voters of `hash` that have neither revealed nor been rejected.
    fn voters(&self, hash: ResultHash) -> impl Iterator<Item = &Contribution> {
        self.contributions
            .iter()
            .filter(move |c| c.hash == hash && c.status == ContributionStatus::Contributed)
    }

    /// `reveal(digest)` by `worker`.
    pub fn handle_reveal(
        &mut self,
        now: u64,
        worker: Address,
        digest: ResultDigest,
    ) -> Result<(), Error> {
        self.observe(now);
        let status = self.phase.status();
        let Phase::Revealing { consensus, revealed, digest: task_digest } = &mut self.phase else {
            return Err(Error::WrongStatus { call: Call::Reveal, actual: status });
        };
        let deadline = consensus.reveal_deadline;
        if now >= deadline {
            return Err(Error::Late { call: Call::Reveal, deadline, now });
        }
        let task = self.config.task;
        let Some(c) = self.contributions.iter_mut().find(|c| c.worker == worker) else {
            return Err(Error::NotAWinner { worker });
        };
        if c.hash != consensus.hash {
            return Err(Error::NotAWinner { worker });
        }
        match c.status {
            ContributionStatus::Proved => return Err(Error::AlreadyRevealed { worker }),
            ContributionStatus::Rejected => return Err(Error::NotAWinner { worker }),
            ContributionStatus::Contributed => {}
        }
        if !digest.matches(worker, task, c.hash, c.seal) {
            return Err(Error::WrongSeal { worker, hash: c.hash });
        }
        c.status = ContributionStatus::Proved;
        *revealed = revealed.saturating_add(1);
        *task_digest = Some(digest);
        Ok(())
    }

    /// `reopen()` by `caller`: the consensus nobody revealed is dropped, its voters REJECTED.
    pub fn handle_reopen(&mut self, now: u64, caller: Address) -> Result<(), Error> {
        self.observe(now);
        self.check_owner(Call::Reopen, caller)?;
        let Phase::Revealing { consensus, revealed, .. } = self.phase else {
            return Err(self.wrong_status(Call::Reopen));
        };
        let from = consensus.reveal_deadline;
        if now < from {
            return Err(Error::TooEarly { call: Call::Reopen, from, now });
        }
        let deadline = self.schedule.final_deadline;
        if now >= deadline {
            return Err(Error::Late { call: Call::Reopen, deadline, now });
        }
        if revealed > 0 {
            return Err(Error::AlreadyRevealedSome { revealed });
        }
        self.tally.clear_group(&consensus.hash)?;
        for c in self.contributions.iter_mut().filter(|c| c.hash == consensus.hash) {
            c.status = ContributionStatus::Rejected;
        }
        self.round = from;
        self.phase = Phase::Active;
        Ok(())
    }

    /// `finalize()` by `caller`; `score_of` gives each worker's current score in the pool
    /// owner's domain. The pool owner may finalize once every winner revealed; after the
    /// reveal deadline anyone may, with at least one reveal, with no final deadline (a task with
    /// a reveal is never claimed). Contributions not proved end REJECTED. Returns the settlement
    /// for the host to apply.
    pub fn handle_finalize(
        &mut self,
        now: u64,
        caller: Address,
        score_of: impl Fn(&Address) -> U256,
    ) -> Result<Settlement, Error> {
        self.observe(now);
        let Phase::Revealing { consensus, revealed, digest } = self.phase else {
            return Err(self.wrong_status(Call::Finalize));
        };
        if revealed == 0 {
            return Err(Error::NothingRevealed);
        }
        // `Some` from the first reveal on
        let Some(digest) = digest else { return Err(Error::NothingRevealed) };
        let deadline = consensus.reveal_deadline;
        if now < deadline {
            self.check_owner(Call::Finalize, caller)?;
            if revealed < consensus.winners {
                return Err(Error::RevealsPending {
                    revealed,
                    winners: consensus.winners,
                    deadline,
                });
            }
        }
        let settlement = payout::finalize(&self.config.terms, &self.settled(score_of))?;
        for c in &mut self.contributions {
            if c.status != ContributionStatus::Proved {
                c.status = ContributionStatus::Rejected;
            }
        }
        self.phase = Phase::Completed { consensus, proved: revealed, digest };
        Ok(settlement)
    }

    /// `claim()` by anyone once the final deadline passed.
    pub fn handle_claim(
        &mut self,
        now: u64,
        score_of: impl Fn(&Address) -> U256,
    ) -> Result<Settlement, Error> {
        self.observe(now);
        let withheld = match self.phase {
            Phase::Active => None,
            Phase::Revealing { consensus, .. } => Some(consensus),
            Phase::Completed { .. } | Phase::Failed { .. } => {
                return Err(self.wrong_status(Call::Claim));
            }
        };
        let from = self.schedule.final_deadline;
        if now < from {
            return Err(Error::TooEarly { call: Call::Claim, from, now });
        }
        self.fail(withheld, score_of)
    }

    /// `claim()` by the pool owner before the final deadline, on a task taking votes (no
    /// consensus stands): its replicas cannot agree. Settled as a claim.
    pub fn handle_give_up(
        &mut self,
        now: u64,
        caller: Address,
        score_of: impl Fn(&Address) -> U256,
    ) -> Result<Settlement, Error> {
        self.observe(now);
        self.check_owner(Call::Claim, caller)?;
        if self.phase != Phase::Active {
            return Err(self.wrong_status(Call::Claim));
        }
        self.fail(None, score_of)
    }

    /// A failed task's settlement: winners of a `withheld` consensus (they never revealed)
    /// forfeit, as the winners a reopen rejected; the others get their stakes back.
    fn fail(
        &mut self,
        withheld: Option<Consensus>,
        score_of: impl Fn(&Address) -> U256,
    ) -> Result<Settlement, Error> {
        let consensus = withheld.map(|c| c.hash);
        let is_withheld = |c: &Contribution| {
            c.status == ContributionStatus::Contributed && consensus == Some(c.hash)
        };
        let mut settled = self.settled(score_of);
        for (s, c) in settled.iter_mut().zip(&self.contributions) {
            if is_withheld(c) {
                s.status = ContributionStatus::Rejected;
            }
        }
        let settlement = payout::claim(&self.config.terms, &settled)?;
        for c in &mut self.contributions {
            if is_withheld(c) {
                c.status = ContributionStatus::Rejected;
            }
        }
        self.phase = Phase::Failed { withheld };
        Ok(settlement)
    }

    /// Time passed: replicas whose timeout is at or before `now` stop counting as pending.
    /// Returns the workers that timed out since the last call (each reported once).
    pub fn handle_timeout(&mut self, now: u64) -> Vec<Address> {
        self.observe(now);
        let now = self.now;
        let mut expired = Vec::new();
        for r in &mut self.replicas {
            if !r.answered && !r.timed_out && r.timeout_at <= now {
                r.timed_out = true;
                expired.push(r.worker);
            }
        }
        expired
    }

    /// The scheduler gave up on `worker`'s replica before its timeout (the worker was lost, or
    /// reported a machine-dependent failure): the replica stops counting as pending at once, so
    /// [`Task::plan`] asks for another. A contribution it sends later is still accepted, as the
    /// contract would. Returns false when `worker` holds no pending replica of this task.
    pub fn handle_abandon(&mut self, now: u64, worker: Address) -> bool {
        self.observe(now);
        let now = self.now;
        match self.replicas.iter_mut().find(|r| r.worker == worker) {
            Some(r) if r.is_pending(now) => {
                r.timeout_at = now;
                r.timed_out = true;
                true
            }
            _ => false,
        }
    }

    fn check_owner(&self, call: Call, caller: Address) -> Result<(), Error> {
        if caller == self.config.pool_owner {
            Ok(())
        } else {
            Err(Error::NotPoolOwner { call, caller })
        }
    }

    fn settled(&self, score_of: impl Fn(&Address) -> U256) -> Vec<SettledContribution> {
        self.contributions
            .iter()
            .map(|c| SettledContribution {
                worker: c.worker,
                payout_weight: c.payout_weight,
                status: c.status,
                score: score_of(&c.worker),
            })
            .collect()
    }

    /// The planner's answer for this task now: pending replicas (assigned, unanswered, not timed
    /// out) are assumed to agree with the leading group; the replica cap and the Hub's
    /// contributor limit bound the answer.
    pub fn plan(&self) -> Plan {
        let now = self.now;
        let pending = self.replicas.iter().filter(|r| r.is_pending(now)).map(|r| r.weight);
        let assigned = u32::try_from(self.replicas.len()).unwrap_or(u32::MAX);
        let limit =
            self.config.max_replicas.saturating_sub(assigned).min(self.contributor_room(None));
        planner::plan(&self.tally, self.config.trust, pending, self.config.planned_weight, limit)
    }

    /// How many replicas are pending now.
    pub fn pending(&self) -> usize {
        self.replicas.iter().filter(|r| r.is_pending(self.now)).count()
    }

    /// The next instant at which something changes on its own (a replica times out, a reveal,
    /// contribution or final deadline passes), or `None` once the task is over. The host calls
    /// [`Task::handle_timeout`] then.
    pub fn poll_deadline(&self) -> Option<u64> {
        let phase_deadline = match &self.phase {
            Phase::Completed { .. } | Phase::Failed { .. } => return None,
            Phase::Active => self.schedule.contribution_deadline,
            Phase::Revealing { consensus, .. } => consensus.reveal_deadline,
        };
        let now = self.now;
        self.replicas
            .iter()
            .filter(|r| r.is_pending(now))
            .map(|r| r.timeout_at)
            .chain([phase_deadline, self.schedule.final_deadline])
            .filter(|d| *d > now)
            .min()
    }

    /// The actions due now (as of the latest `now` seen), level-triggered.
    pub fn poll_actions(&self) -> Vec<Action> {
        let now = self.now;
        let final_deadline = self.schedule.final_deadline;
        match &self.phase {
            Phase::Completed { .. } | Phase::Failed { .. } => Vec::new(),
            // a revealed result is never claimed: anyone may finalize it, at any time
            Phase::Revealing { revealed, .. } if *revealed > 0 && now >= final_deadline => {
                vec![Action::Finalize]
            }
            _ if now >= final_deadline => vec![Action::Failed(FailReason::Claimable)],
            Phase::Active if now >= self.schedule.contribution_deadline => {
                vec![Action::Failed(FailReason::ContributionsClosed)]
            }
            Phase::Active => {
                // Replicas are asked for only when agreeing ones can still bring consensus
                // within the cap; otherwise the task waits for its pending replicas and then
                // gives up.
                let plan = self.plan();
                if plan.reachable && plan.needed > 0 {
                    vec![Action::NeedReplicas { count: plan.needed }]
                } else if !plan.reachable && self.pending() == 0 {
                    vec![Action::Failed(FailReason::ReplicaCap)]
                } else {
                    Vec::new()
                }
            }
            Phase::Revealing { consensus, revealed, .. } => {
                let mut actions = Vec::new();
                let deadline = consensus.reveal_deadline;
                let unrevealed: Vec<Address> =
                    self.voters(consensus.hash).map(|c| c.worker).collect();
                if now < deadline && !unrevealed.is_empty() {
                    actions.push(Action::RequestReveal { workers: unrevealed });
                }
                if finalizable(consensus, *revealed, now) {
                    actions.push(Action::Finalize);
                } else if *revealed == 0 && now >= deadline {
                    actions.push(Action::Reopen);
                }
                actions
            }
        }
    }
}

/// Finalize is allowed at `now`: every winner revealed, or some and the reveal deadline passed.
fn finalizable(consensus: &Consensus, revealed: u32, now: u64) -> bool {
    revealed > 0 && (revealed == consensus.winners || now >= consensus.reveal_deadline)
}

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
//! Deadlines count from the deal start `start` in units of the category time reference `t`:
//! contributions strictly before `start + 7t`, reveals strictly before `consensusTime + 2t`,
//! reopen/finalize strictly before `start + 10t`, claim from `start + 10t` on.

use quorate_primitives::{Address, ResultDigest, ResultHash, ResultSeal, TaskId, U256};

use crate::{
    Error,
    consensus::{Tally, Trust},
    error::checked::{add_u64, mul_u64},
    payout::{self, ContributionStatus, PayoutTerms, SettledContribution, Settlement},
    planner::{self, Plan},
    weight::{payout_weight, vote_weight},
};

/// A task's status (docs/poco.md). `UNSET` is the absence of a [`Task`].
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

/// Settings of one task; deadlines derive from `start` and `time_ref`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskConfig {
    /// The task.
    pub task: TaskId,
    /// The client's trust level.
    pub trust: Trust,
    /// The deal start (seconds).
    pub start: u64,
    /// The category time reference `t` (seconds).
    pub time_ref: u64,
    /// The pool owner: the only caller of reopen and finalize.
    pub pool_owner: Address,
    /// Money terms.
    pub terms: PayoutTerms,
    /// Most replicas ever assigned to this task (BOINC's `max_total_results`). Default 16.
    pub max_replicas: u32,
    /// How long an assigned replica counts as pending (seconds). Default `t`.
    pub replica_timeout: u64,
    /// Homogeneous redundancy: when true, every replica must share the platform class of the
    /// first one. Default false.
    pub homogeneous: bool,
    /// The weight the planner assumes for replicas not yet assigned. Default 2 (a fresh worker).
    pub planned_weight: U256,
}

impl TaskConfig {
    /// A config with the documented defaults.
    pub fn new(
        task: TaskId,
        trust: Trust,
        start: u64,
        time_ref: u64,
        pool_owner: Address,
        terms: PayoutTerms,
    ) -> Self {
        Self {
            task,
            trust,
            start,
            time_ref,
            pool_owner,
            terms,
            max_replicas: 16,
            replica_timeout: time_ref,
            homogeneous: false,
            planned_weight: U256::from(2u8),
        }
    }

    /// Checks the settings make sense (nonzero `t`, a cap ≥ 1, deadlines that fit, ratios).
    pub fn validate(&self) -> Result<(), Error> {
        if self.time_ref == 0 {
            return Err(Error::InvalidConfig { reason: "time reference must be positive" });
        }
        if self.max_replicas == 0 {
            return Err(Error::InvalidConfig { reason: "max_replicas must be at least 1" });
        }
        self.final_deadline()?;
        self.terms.validate()
    }

    /// `start + 7t`: contributions must come strictly before.
    pub fn contribution_deadline(&self) -> Result<u64, Error> {
        add_u64("start + 7t", self.start, mul_u64("7t", 7, self.time_ref)?)
    }

    /// `start + 10t`: reopen and finalize strictly before, claim from then on.
    pub fn final_deadline(&self) -> Result<u64, Error> {
        add_u64("start + 10t", self.start, mul_u64("10t", 10, self.time_ref)?)
    }
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
    /// The replica cap leaves no room for consensus and nothing is pending.
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
    status: TaskStatus,
    tally: Tally,
    contributions: Vec<Contribution>,
    replicas: Vec<Replica>,
    class: Option<u32>,
    consensus: Option<ResultHash>,
    reveal_deadline: Option<u64>,
    winners: u32,
    revealed: u32,
    digest: Option<ResultDigest>,
    now: u64,
    round: u64,
}

impl Task {
    /// `initialize`: a task in ACTIVE with `total = 1`.
    pub fn new(config: TaskConfig) -> Result<Self, Error> {
        config.validate()?;
        Ok(Self {
            config,
            status: TaskStatus::Active,
            tally: Tally::new(),
            contributions: Vec::new(),
            replicas: Vec::new(),
            class: None,
            consensus: None,
            reveal_deadline: None,
            winners: 0,
            revealed: 0,
            digest: None,
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
        self.status
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

    /// The hash in consensus (REVEALING and after).
    pub fn consensus(&self) -> Option<ResultHash> {
        self.consensus
    }

    /// The revealed result digest, once a winner revealed.
    pub fn result_digest(&self) -> Option<ResultDigest> {
        self.digest
    }

    /// The reveal deadline (REVEALING and after).
    pub fn reveal_deadline(&self) -> Option<u64> {
        self.reveal_deadline
    }

    /// (winners revealed, winners).
    pub fn reveals(&self) -> (u32, u32) {
        (self.revealed, self.winners)
    }

    fn observe(&mut self, now: u64) {
        self.now = self.now.max(now);
    }

    /// The scheduler assigns a replica to `worker` (off-chain, this is the pool owner signing
    /// its authorization). Enforces the replica cap and homogeneous redundancy.
    pub fn handle_assign(
        &mut self,
        now: u64,
        worker: Address,
        score: U256,
        class: u32,
    ) -> Result<(), Error> {
        self.observe(now);
        if self.status != TaskStatus::Active {
            return Err(Error::WrongStatus { call: Call::Assign, actual: self.status });
        }
        let deadline = self.config.contribution_deadline()?;
        if now >= deadline {
            return Err(Error::Late { call: Call::Assign, deadline, now });
        }
        let round = self.round;
        // A replica of an earlier round that never voted may be assigned again, for this round.
        let stale = self
            .replicas
            .iter()
            .position(|r| r.worker == worker && !r.answered && r.round != round);
        if stale.is_none() && self.replicas.iter().any(|r| r.worker == worker) {
            return Err(Error::AlreadyAssigned { worker });
        }
        if self.replicas.len() >= usize::try_from(self.config.max_replicas).unwrap_or(usize::MAX) {
            return Err(Error::ReplicaCapReached { cap: self.config.max_replicas });
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
        if self.status != TaskStatus::Active {
            return Err(Error::WrongStatus { call: Call::Contribute, actual: self.status });
        }
        let deadline = self.config.contribution_deadline()?;
        if now >= deadline {
            return Err(Error::Late { call: Call::Contribute, deadline, now });
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
        let reveal_deadline = add_u64("now + 2t", now, mul_u64("2t", 2, self.config.time_ref)?)?;
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
            self.status = TaskStatus::Revealing;
            self.consensus = Some(hash);
            self.reveal_deadline = Some(reveal_deadline);
            self.winners = self.winner_iter().count().try_into().unwrap_or(u32::MAX);
            self.revealed = 0;
        }
        Ok(Contributed { group, total, consensus })
    }

    fn winner_iter(&self) -> impl Iterator<Item = &Contribution> {
        let consensus = self.consensus;
        self.contributions.iter().filter(move |c| {
            Some(c.hash) == consensus && c.status == ContributionStatus::Contributed
        })
    }

    /// `reveal(digest)` by `worker`.
    pub fn handle_reveal(
        &mut self,
        now: u64,
        worker: Address,
        digest: ResultDigest,
    ) -> Result<(), Error> {
        self.observe(now);
        if self.status != TaskStatus::Revealing {
            return Err(Error::WrongStatus { call: Call::Reveal, actual: self.status });
        }
        let deadline = self.reveal_deadline.unwrap_or(0);
        if now >= deadline {
            return Err(Error::Late { call: Call::Reveal, deadline, now });
        }
        let task = self.config.task;
        let consensus = self.consensus;
        let Some(c) = self.contributions.iter_mut().find(|c| c.worker == worker) else {
            return Err(Error::NotAWinner { worker });
        };
        if Some(c.hash) != consensus {
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
        self.revealed = self.revealed.saturating_add(1);
        self.digest = Some(digest);
        Ok(())
    }

    /// `reopen()` by `caller`: the consensus nobody revealed is dropped, its voters REJECTED.
    pub fn handle_reopen(&mut self, now: u64, caller: Address) -> Result<(), Error> {
        self.observe(now);
        self.check_owner(Call::Reopen, caller)?;
        if self.status != TaskStatus::Revealing {
            return Err(Error::WrongStatus { call: Call::Reopen, actual: self.status });
        }
        let from = self.reveal_deadline.unwrap_or(0);
        if now < from {
            return Err(Error::TooEarly { call: Call::Reopen, from, now });
        }
        let deadline = self.config.final_deadline()?;
        if now >= deadline {
            return Err(Error::Late { call: Call::Reopen, deadline, now });
        }
        if self.revealed > 0 {
            return Err(Error::AlreadyRevealedSome { revealed: self.revealed });
        }
        let Some(hash) = self.consensus else {
            return Err(Error::WrongStatus { call: Call::Reopen, actual: self.status });
        };
        self.tally.clear_group(&hash)?;
        for c in self.contributions.iter_mut().filter(|c| c.hash == hash) {
            c.status = ContributionStatus::Rejected;
        }
        self.round = from;
        self.status = TaskStatus::Active;
        self.consensus = None;
        self.reveal_deadline = None;
        self.winners = 0;
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
        if self.status != TaskStatus::Revealing {
            return Err(Error::WrongStatus { call: Call::Finalize, actual: self.status });
        }
        if self.revealed == 0 {
            return Err(Error::NothingRevealed);
        }
        let deadline = self.reveal_deadline.unwrap_or(0);
        if now < deadline {
            self.check_owner(Call::Finalize, caller)?;
            if self.revealed < self.winners {
                return Err(Error::RevealsPending {
                    revealed: self.revealed,
                    winners: self.winners,
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
        // a rejected voter is no longer a winner (as after a reopen)
        self.winners = self.revealed;
        self.status = TaskStatus::Completed;
        Ok(settlement)
    }

    /// `claim()` by anyone once the final deadline passed.
    pub fn handle_claim(
        &mut self,
        now: u64,
        score_of: impl Fn(&Address) -> U256,
    ) -> Result<Settlement, Error> {
        self.observe(now);
        if !matches!(self.status, TaskStatus::Active | TaskStatus::Revealing) {
            return Err(Error::WrongStatus { call: Call::Claim, actual: self.status });
        }
        let from = self.config.final_deadline()?;
        if now < from {
            return Err(Error::TooEarly { call: Call::Claim, from, now });
        }
        // Winners still voting the consensus never revealed (its deadline is always past here):
        // they forfeit as the winners a reopen rejected.
        let consensus = self.consensus;
        let withheld = |c: &Contribution| {
            c.status == ContributionStatus::Contributed && consensus.is_some_and(|h| h == c.hash)
        };
        let mut settled = self.settled(score_of);
        for (s, c) in settled.iter_mut().zip(&self.contributions) {
            if withheld(c) {
                s.status = ContributionStatus::Rejected;
            }
        }
        let settlement = payout::claim(&self.config.terms, &settled)?;
        for c in &mut self.contributions {
            if withheld(c) {
                c.status = ContributionStatus::Rejected;
            }
        }
        self.winners = self.revealed;
        self.status = TaskStatus::Failed;
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

    fn check_finalizable(&self, now: u64) -> Result<(), Error> {
        let deadline = self.reveal_deadline.unwrap_or(0);
        if self.revealed == self.winners && self.revealed > 0 {
            return Ok(());
        }
        if self.revealed == 0 {
            return Err(Error::NothingRevealed);
        }
        if now >= deadline {
            return Ok(());
        }
        Err(Error::RevealsPending { revealed: self.revealed, winners: self.winners, deadline })
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
    /// out) are assumed to agree with the leading group; the cap bounds the answer.
    pub fn plan(&self) -> Result<Plan, Error> {
        let now = self.now;
        let pending = self.replicas.iter().filter(|r| r.is_pending(now)).map(|r| r.weight);
        let assigned = u32::try_from(self.replicas.len()).unwrap_or(u32::MAX);
        let limit = self.config.max_replicas.saturating_sub(assigned);
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
        if matches!(self.status, TaskStatus::Completed | TaskStatus::Failed) {
            return None;
        }
        let now = self.now;
        let replicas = self.replicas.iter().filter(|r| r.is_pending(now)).map(|r| r.timeout_at);
        let mut deadlines: Vec<u64> = replicas.collect();
        if self.status == TaskStatus::Active {
            deadlines.extend(self.config.contribution_deadline().ok());
        }
        deadlines.extend(self.reveal_deadline);
        deadlines.extend(self.config.final_deadline().ok());
        deadlines.into_iter().filter(|d| *d > now).min()
    }

    /// The actions due now (as of the latest `now` seen), level-triggered.
    pub fn poll_actions(&self) -> Result<Vec<Action>, Error> {
        let now = self.now;
        let final_deadline = self.config.final_deadline()?;
        let mut actions = Vec::new();
        match self.status {
            TaskStatus::Completed | TaskStatus::Failed => {}
            // a revealed result is never claimed: anyone may finalize it, at any time
            TaskStatus::Revealing if self.revealed > 0 && now >= final_deadline => {
                actions.push(Action::Finalize);
            }
            _ if now >= final_deadline => actions.push(Action::Failed(FailReason::Claimable)),
            TaskStatus::Active => {
                if now >= self.config.contribution_deadline()? {
                    actions.push(Action::Failed(FailReason::ContributionsClosed));
                } else {
                    // Replicas are asked for only when agreeing ones can still bring consensus
                    // within the cap; otherwise the task waits for its pending replicas and
                    // then gives up.
                    let plan = self.plan()?;
                    if plan.reachable && plan.needed > 0 {
                        actions.push(Action::NeedReplicas { count: plan.needed });
                    } else if !plan.reachable && self.pending() == 0 {
                        actions.push(Action::Failed(FailReason::ReplicaCap));
                    }
                }
            }
            TaskStatus::Revealing => {
                let deadline = self.reveal_deadline.unwrap_or(0);
                let unrevealed: Vec<Address> = self.winner_iter().map(|c| c.worker).collect();
                if now < deadline && !unrevealed.is_empty() {
                    actions.push(Action::RequestReveal { workers: unrevealed });
                }
                if self.check_finalizable(now).is_ok() {
                    actions.push(Action::Finalize);
                } else if self.revealed == 0 && now >= deadline {
                    actions.push(Action::Reopen);
                }
            }
        }
        Ok(actions)
    }
}

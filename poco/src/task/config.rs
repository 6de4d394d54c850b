//! A task's settings, the Hub's constants they are checked against, and the deadlines computed
//! from them once.

use quorate_primitives::{Address, TaskId, U256};

use crate::{
    Error,
    consensus::Trust,
    error::checked::{add_u64, mul_u64},
    payout::PayoutTerms,
};

/// Contributions are accepted strictly before `start + CONTRIBUTION_WINDOW·t` (the Hub's
/// `CONTRIBUTION_WINDOW`).
pub const CONTRIBUTION_WINDOW: u64 = 7;
/// Winners reveal strictly before `consensus time + REVEAL_WINDOW·t` (the Hub's `REVEAL_WINDOW`).
pub const REVEAL_WINDOW: u64 = 2;
/// Reopen strictly before `start + FINAL_WINDOW·t`, claim from then on (the Hub's
/// `FINAL_WINDOW`).
pub const FINAL_WINDOW: u64 = 10;
/// The longest category time reference the Hub accepts (its `MAX_TIME_REF`, 7 days): a longer
/// one could lock a client's escrow for decades.
pub const MAX_TIME_REF: u64 = 7 * 24 * 3600;
/// Contributions one task accepts (the Hub's `MAX_CONTRIBUTORS`, `type(uint8).max`): the next
/// one is refused with [`Error::TooManyContributors`].
pub const MAX_CONTRIBUTORS: u32 = 255;

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
    /// Whatever it says, a task takes at most [`MAX_CONTRIBUTORS`] contributions.
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
        self.schedule().map(drop)
    }

    /// [`TaskConfig::validate`], returning the deadlines it checked: the one place they are
    /// computed.
    pub(super) fn schedule(&self) -> Result<Schedule, Error> {
        if self.time_ref == 0 {
            return Err(Error::InvalidConfig { reason: "time reference must be positive" });
        }
        if self.time_ref > MAX_TIME_REF {
            return Err(Error::InvalidConfig { reason: "time reference must be at most 7 days" });
        }
        if self.max_replicas == 0 {
            return Err(Error::InvalidConfig { reason: "max_replicas must be at least 1" });
        }
        let t = self.time_ref;
        let final_deadline = add_u64("start + 10t", self.start, mul_u64("10t", FINAL_WINDOW, t)?)?;
        // REVEAL_WINDOW < CONTRIBUTION_WINDOW < FINAL_WINDOW: once `start + 10t` fits, so do the
        // others, and so does every reveal deadline `now + 2t` with `now < start + 7t`.
        let schedule = Schedule {
            contribution_deadline: add_u64(
                "start + 7t",
                self.start,
                mul_u64("7t", CONTRIBUTION_WINDOW, t)?,
            )?,
            reveal_window: mul_u64("2t", REVEAL_WINDOW, t)?,
            final_deadline,
        };
        self.terms.validate()?;
        Ok(schedule)
    }
}

/// The times a task's config fixes, computed (checked) once when the task is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Schedule {
    /// `start + 7t`: contributions strictly before.
    pub(super) contribution_deadline: u64,
    /// `2t`: a consensus reached at `now` is revealed strictly before `now + 2t`.
    pub(super) reveal_window: u64,
    /// `start + 10t`: reopen strictly before, claim from then on.
    pub(super) final_deadline: u64,
}

//! Rewards, stakes and score updates at the end of a task (docs/poco.md, "Money").
//!
//! Pure functions from a task's contributions to one [`Settlement`]: who gets which amount back
//! or as reward, what is seized, and every score change. The caller (the contract mirror in the
//! scheduler, the simulation, the vector tests) applies it as one batch. Every [`Settlement`]
//! conserves value: what was locked for the task equals what is paid out
//! ([`Settlement::locked`] = [`Settlement::paid`]).

use quorate_primitives::{Address, Amount, U256};

use crate::{
    Error,
    weight::{score_after_loss, score_after_win},
};

/// The money terms of one task, as fixed at deal time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayoutTerms {
    /// What the client pays for the task.
    pub price: Amount,
    /// Worker stake per contribution, in percent of the price (default 30).
    pub worker_stake_ratio: u64,
    /// The pool owner's own stake per task, in percent of the price (default 30).
    pub pool_stake_ratio: u64,
    /// The scheduler's share of the reward, in percent (the pool order's ratio).
    pub scheduler_ratio: u64,
}

impl PayoutTerms {
    /// Terms with the default stake ratios (30 % and 30 %).
    pub fn new(price: Amount, scheduler_ratio: u64) -> Self {
        Self { price, worker_stake_ratio: 30, pool_stake_ratio: 30, scheduler_ratio }
    }

    /// Checks every ratio is a whole percentage in 0..=100.
    pub fn validate(&self) -> Result<(), Error> {
        for ratio in [self.worker_stake_ratio, self.pool_stake_ratio, self.scheduler_ratio] {
            if ratio > 100 {
                return Err(quorate_primitives::Error::RatioOutOfRange(ratio).into());
            }
        }
        Ok(())
    }

    /// The stake each contribution locks: `price × workerStakeRatio / 100`.
    pub fn worker_stake(&self) -> Result<Amount, Error> {
        Ok(self.price.percent(self.worker_stake_ratio)?)
    }

    /// The pool owner's stake for the task: `price × poolStakeRatio / 100`.
    pub fn pool_stake(&self) -> Result<Amount, Error> {
        Ok(self.price.percent(self.pool_stake_ratio)?)
    }
}

/// Where a contribution ended (docs/poco.md: `UNSET → CONTRIBUTED → PROVED | REJECTED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContributionStatus {
    /// Voted, not revealed (a loser, or a winner that did not reveal).
    Contributed,
    /// Voted for the consensus and revealed a matching digest.
    Proved,
    /// Voted for a consensus that nobody revealed (cleared by reopen, or found at claim), or
    /// lost at finalize.
    Rejected,
}

/// One contribution as settlement sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettledContribution {
    /// The worker.
    pub worker: Address,
    /// Its payout weight `floor(log2 w)`, fixed when it voted.
    pub payout_weight: U256,
    /// Where it ended.
    pub status: ContributionStatus,
    /// The worker's score when the task settles (it may have moved since it voted).
    pub score: U256,
}

/// What one worker gets from a settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerPayout {
    /// The worker.
    pub worker: Address,
    /// Its share of the workers' reward (zero unless PROVED).
    pub reward: Amount,
    /// Stake handed back.
    pub stake_returned: Amount,
    /// Stake lost: at finalize it joins the task's `total_reward` and is paid out through the
    /// rewards; at claim (a winner that never revealed) it goes to the penalty account.
    pub stake_seized: Amount,
    /// Score before.
    pub score_before: U256,
    /// Score after.
    pub score_after: U256,
}

/// Every transfer and score change of one task's end, applied by the caller as one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// `price + workerStake × (contributors not PROVED)` (zero on claim).
    pub total_reward: Amount,
    /// `totalReward × (100 − schedulerRatio) / 100` (zero on claim).
    pub workers_reward: Amount,
    /// Per contribution, in contribution order.
    pub workers: Vec<WorkerPayout>,
    /// The pool owner's reward: the scheduler's share plus every rounding remainder.
    pub pool_owner_reward: Amount,
    /// The pool owner's stake handed back.
    pub pool_stake_returned: Amount,
    /// The pool owner's stake seized (claim); it goes to the client as `client_compensation`.
    pub pool_stake_seized: Amount,
    /// The client's price handed back (claim).
    pub client_refund: Amount,
    /// The seized pool stake, credited to the client whose task failed (claim).
    pub client_compensation: Amount,
    /// The stakes of winners that never revealed, credited to the penalty account (claim).
    pub penalty: Amount,
    /// What was locked for this task: price, pool stake, one worker stake per contribution.
    pub locked: Amount,
}

impl Settlement {
    /// Everything paid out, handed back or credited to the penalty account: equals
    /// [`Settlement::locked`] (conservation). Seized stakes are counted where they go: a loser's
    /// at finalize is part of `total_reward` and leaves through the rewards, the pool's at claim
    /// is the client's compensation, a silent winner's at claim is the penalty.
    pub fn paid(&self) -> Result<Amount, Error> {
        let mut sum = Amount::checked_sum([
            self.pool_owner_reward,
            self.pool_stake_returned,
            self.client_refund,
            self.client_compensation,
            self.penalty,
        ])?;
        for w in &self.workers {
            sum = Amount::checked_sum([sum, w.reward, w.stake_returned])?;
        }
        Ok(sum)
    }
}

fn locked(terms: &PayoutTerms, contributions: usize) -> Result<Amount, Error> {
    let stakes = terms.worker_stake()?.checked_mul(U256::from(contributions))?;
    Ok(Amount::checked_sum([terms.price, terms.pool_stake()?, stakes])?)
}

/// Finalize: PROVED workers share the workers' reward by payout weight and get their stake
/// back; everyone else loses its stake to the reward (and ends REJECTED); the pool owner gets
/// the remainder and its stake back; scores move (+1 for PROVED when there was more than one
/// contributor, `floor(2s/3)` for the others). The caller keys scores by the pool owner: a
/// score moves only in the domain of the task's pool owner.
pub fn finalize(
    terms: &PayoutTerms,
    contributions: &[SettledContribution],
) -> Result<Settlement, Error> {
    terms.validate()?;
    let stake = terms.worker_stake()?;
    let proved = contributions.iter().filter(|c| c.status == ContributionStatus::Proved);
    let weight_sum = proved.clone().try_fold(U256::ZERO, |acc, c| {
        crate::error::checked::add("Σ payout weights", acc, c.payout_weight)
    })?;
    if weight_sum.is_zero() {
        return Err(Error::NothingRevealed);
    }
    let losers = contributions.len().saturating_sub(proved.count());
    let total_reward = terms.price.checked_add(stake.checked_mul(U256::from(losers))?)?;
    let workers_reward = total_reward.percent(100u64.saturating_sub(terms.scheduler_ratio))?;

    let mut workers = Vec::with_capacity(contributions.len());
    let mut distributed = Amount::ZERO;
    for c in contributions {
        let payout = if c.status == ContributionStatus::Proved {
            let reward = workers_reward.mul_div(c.payout_weight, weight_sum)?;
            distributed = distributed.checked_add(reward)?;
            WorkerPayout {
                worker: c.worker,
                reward,
                stake_returned: stake,
                stake_seized: Amount::ZERO,
                score_before: c.score,
                score_after: score_after_win(c.score, contributions.len())?,
            }
        } else {
            WorkerPayout {
                worker: c.worker,
                reward: Amount::ZERO,
                stake_returned: Amount::ZERO,
                stake_seized: stake,
                score_before: c.score,
                score_after: score_after_loss(c.score),
            }
        };
        workers.push(payout);
    }
    Ok(Settlement {
        total_reward,
        workers_reward,
        workers,
        pool_owner_reward: total_reward.checked_sub(distributed)?,
        pool_stake_returned: terms.pool_stake()?,
        pool_stake_seized: Amount::ZERO,
        client_refund: Amount::ZERO,
        client_compensation: Amount::ZERO,
        penalty: Amount::ZERO,
        locked: locked(terms, contributions.len())?,
    })
}

/// Claim after the final deadline of a task with no revealed result: the client gets its price
/// back and the pool owner's stake as compensation; a winner that never revealed (REJECTED:
/// dropped by a reopen, or a consensus voter the caller marks REJECTED at claim) forfeits its
/// stake to the penalty account and its score is cut as a loser's; every other contributor
/// gets its stake back, its score unchanged. A PROVED contribution refuses the claim
/// ([`Error::HasReveals`]): that task is finalized instead.
pub fn claim(
    terms: &PayoutTerms,
    contributions: &[SettledContribution],
) -> Result<Settlement, Error> {
    terms.validate()?;
    let revealed = contributions.iter().filter(|c| c.status == ContributionStatus::Proved).count();
    if revealed > 0 {
        return Err(Error::HasReveals { revealed: u32::try_from(revealed).unwrap_or(u32::MAX) });
    }
    let stake = terms.worker_stake()?;
    let mut penalty = Amount::ZERO;
    let mut workers = Vec::with_capacity(contributions.len());
    for c in contributions {
        let payout = if c.status == ContributionStatus::Rejected {
            penalty = penalty.checked_add(stake)?;
            WorkerPayout {
                worker: c.worker,
                reward: Amount::ZERO,
                stake_returned: Amount::ZERO,
                stake_seized: stake,
                score_before: c.score,
                score_after: score_after_loss(c.score),
            }
        } else {
            WorkerPayout {
                worker: c.worker,
                reward: Amount::ZERO,
                stake_returned: stake,
                stake_seized: Amount::ZERO,
                score_before: c.score,
                score_after: c.score,
            }
        };
        workers.push(payout);
    }
    let pool_stake = terms.pool_stake()?;
    Ok(Settlement {
        total_reward: Amount::ZERO,
        workers_reward: Amount::ZERO,
        workers,
        pool_owner_reward: Amount::ZERO,
        pool_stake_returned: Amount::ZERO,
        pool_stake_seized: pool_stake,
        client_refund: terms.price,
        client_compensation: pool_stake,
        penalty,
        locked: locked(terms, contributions.len())?,
    })
}

/// The `T = 1` fast path (`contributeAndFinalize`): no worker stake, no score change; the worker
/// gets `price × (100 − schedulerRatio) / 100`, the pool owner the rest and its stake back.
pub fn fast_path(terms: &PayoutTerms, worker: Address, score: U256) -> Result<Settlement, Error> {
    terms.validate()?;
    let reward = terms.price.percent(100u64.saturating_sub(terms.scheduler_ratio))?;
    let pool_stake = terms.pool_stake()?;
    Ok(Settlement {
        total_reward: terms.price,
        workers_reward: reward,
        workers: vec![WorkerPayout {
            worker,
            reward,
            stake_returned: Amount::ZERO,
            stake_seized: Amount::ZERO,
            score_before: score,
            score_after: score,
        }],
        pool_owner_reward: terms.price.checked_sub(reward)?,
        pool_stake_returned: pool_stake,
        pool_stake_seized: Amount::ZERO,
        client_refund: Amount::ZERO,
        client_compensation: Amount::ZERO,
        penalty: Amount::ZERO,
        locked: Amount::checked_sum([terms.price, pool_stake])?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn c(i: u8, payout_weight: u64, status: ContributionStatus, score: u64) -> SettledContribution {
        SettledContribution {
            worker: Address::with_last_byte(i),
            payout_weight: U256::from(payout_weight),
            status,
            score: U256::from(score),
        }
    }

    #[test]
    fn finalize_splits_by_payout_weight_and_seizes_losers() {
        let terms = PayoutTerms::new(Amount::from(1_000u64), 10);
        let s = finalize(
            &terms,
            &[
                c(1, 1, ContributionStatus::Contributed, 9),
                c(2, 1, ContributionStatus::Proved, 12),
                c(3, 5, ContributionStatus::Proved, 100),
                c(4, 1, ContributionStatus::Rejected, 3),
            ],
        )
        .unwrap();
        assert_eq!(s.total_reward, Amount::from(1_600u64));
        assert_eq!(s.workers_reward, Amount::from(1_440u64));
        assert_eq!(s.workers[1].reward, Amount::from(240u64));
        assert_eq!(s.workers[2].reward, Amount::from(1_200u64));
        assert_eq!(s.pool_owner_reward, Amount::from(160u64));
        assert_eq!(s.workers[0].score_after, U256::from(6));
        assert_eq!(s.workers[3].score_after, U256::from(2));
        assert_eq!(s.workers[2].score_after, U256::from(101));
        assert_eq!(s.paid().unwrap(), s.locked);
    }

    #[test]
    fn finalize_needs_a_proved_contribution() {
        let terms = PayoutTerms::new(Amount::from(1_000u64), 10);
        let only_loser = [c(1, 1, ContributionStatus::Contributed, 0)];
        assert_eq!(finalize(&terms, &only_loser), Err(Error::NothingRevealed));
        let bad = PayoutTerms { scheduler_ratio: 101, ..terms };
        assert!(finalize(&bad, &[c(1, 1, ContributionStatus::Proved, 0)]).is_err());
    }

    #[test]
    fn claim_and_fast_path_conserve() {
        let terms = PayoutTerms::new(Amount::from(7u64), 33);
        let s = fast_path(&terms, Address::with_last_byte(1), U256::from(12)).unwrap();
        assert_eq!(s.workers[0].reward, Amount::from(4u64));
        assert_eq!(s.pool_owner_reward, Amount::from(3u64));
        assert_eq!(s.workers[0].score_after, U256::from(12));
        assert_eq!(s.paid().unwrap(), s.locked);
        let s = claim(&terms, &[c(1, 1, ContributionStatus::Contributed, 5)]).unwrap();
        assert_eq!(s.client_refund, terms.price);
        assert_eq!(s.pool_stake_seized, terms.pool_stake().unwrap());
        assert_eq!(s.client_compensation, s.pool_stake_seized, "the pool stake goes to the client");
        assert_eq!(s.penalty, Amount::ZERO);
        assert_eq!(s.paid().unwrap(), s.locked);
    }

    #[test]
    fn claim_forfeits_silent_winners_and_refuses_revealed_tasks() {
        let terms = PayoutTerms::new(Amount::from(1_000u64), 10);
        let s = claim(
            &terms,
            &[
                c(1, 1, ContributionStatus::Rejected, 30),
                c(2, 1, ContributionStatus::Contributed, 9),
            ],
        )
        .unwrap();
        assert_eq!(s.penalty, Amount::from(300u64), "the silent winner's stake");
        assert_eq!(s.workers[0].stake_returned, Amount::ZERO, "never also returned");
        assert_eq!(s.workers[0].stake_seized, Amount::from(300u64));
        assert_eq!(s.workers[0].score_after, U256::from(20), "cut as a loser's");
        assert_eq!(s.workers[1].stake_returned, Amount::from(300u64), "a loser's stake comes back");
        assert_eq!(s.workers[1].score_after, U256::from(9));
        assert_eq!(s.paid().unwrap(), s.locked);
        let revealed = [c(1, 1, ContributionStatus::Proved, 0)];
        assert_eq!(claim(&terms, &revealed), Err(Error::HasReveals { revealed: 1 }));
    }
}

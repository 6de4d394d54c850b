//! Properties of the maths: conservation, monotonicity, no farming, planner minimality.

use proptest::prelude::*;
use quorate_poco::{
    consensus::{Tally, Trust},
    payout::{self, ContributionStatus, PayoutTerms, SettledContribution},
    planner,
    weight::{payout_weight, vote_weight},
};
use quorate_primitives::{Address, Amount, B256, ResultHash, U256};

fn status() -> impl Strategy<Value = ContributionStatus> {
    prop_oneof![
        Just(ContributionStatus::Proved),
        Just(ContributionStatus::Contributed),
        Just(ContributionStatus::Rejected),
    ]
}

fn contributions() -> impl Strategy<Value = Vec<SettledContribution>> {
    prop::collection::vec((any::<u64>(), status()), 1..24).prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (score, status))| SettledContribution {
                worker: Address::with_last_byte(i as u8),
                payout_weight: payout_weight(vote_weight(U256::from(score))),
                status,
                score: U256::from(score),
            })
            .collect()
    })
}

fn terms() -> impl Strategy<Value = PayoutTerms> {
    (any::<u128>(), 0u64..=100, 0u64..=100, 0u64..=100).prop_map(|(price, ws, ps, sr)| {
        PayoutTerms {
            price: Amount::from(price),
            worker_stake_ratio: ws,
            pool_stake_ratio: ps,
            scheduler_ratio: sr,
        }
    })
}

fn hash(i: u8) -> ResultHash {
    ResultHash(B256::repeat_byte(i))
}

proptest! {
    /// Finalize pays out exactly what the task locked, never more to workers than their share.
    #[test]
    fn finalize_conserves_credit(terms in terms(), mut cs in contributions()) {
        cs[0].status = ContributionStatus::Proved;
        let s = payout::finalize(&terms, &cs).unwrap();
        prop_assert_eq!(s.paid().unwrap(), s.locked);
        let rewards = Amount::checked_sum(s.workers.iter().map(|w| w.reward)).unwrap();
        prop_assert!(rewards <= s.workers_reward);
        prop_assert!(s.workers_reward <= s.total_reward);
        let stake = terms.worker_stake().unwrap();
        for (w, c) in s.workers.iter().zip(&cs) {
            if c.status == ContributionStatus::Proved {
                prop_assert_eq!((w.stake_returned, w.stake_seized), (stake, Amount::ZERO));
            } else {
                prop_assert_eq!((w.reward, w.stake_returned), (Amount::ZERO, Amount::ZERO));
                prop_assert_eq!(w.stake_seized, stake);
                prop_assert!(w.score_after <= w.score_before);
            }
        }
    }

    /// Claim hands back exactly what was locked (to the client, the workers and the penalty
    /// account); a forfeited stake is never also returned; only a silent winner (REJECTED)
    /// forfeits or loses score; a task with a reveal is never claimed.
    #[test]
    fn claim_conserves_credit(terms in terms(), cs in contributions()) {
        if cs.iter().any(|c| c.status == ContributionStatus::Proved) {
            let refused = matches!(
                payout::claim(&terms, &cs),
                Err(quorate_poco::Error::HasReveals { .. })
            );
            prop_assert!(refused, "a task with a reveal is refused");
        }
        let cs: Vec<SettledContribution> = cs
            .into_iter()
            .map(|c| match c.status {
                ContributionStatus::Proved => {
                    SettledContribution { status: ContributionStatus::Contributed, ..c }
                }
                _ => c,
            })
            .collect();
        let s = payout::claim(&terms, &cs).unwrap();
        prop_assert_eq!(s.paid().unwrap(), s.locked);
        prop_assert_eq!(s.client_compensation, s.pool_stake_seized);
        let stake = terms.worker_stake().unwrap();
        let mut penalty = Amount::ZERO;
        for (w, c) in s.workers.iter().zip(&cs) {
            if c.status == ContributionStatus::Rejected {
                prop_assert_eq!((w.stake_returned, w.stake_seized), (Amount::ZERO, stake));
                prop_assert!(w.score_after <= w.score_before);
                penalty = penalty.checked_add(stake).unwrap();
            } else {
                prop_assert_eq!((w.stake_returned, w.stake_seized), (stake, Amount::ZERO));
                prop_assert_eq!(w.score_after, w.score_before);
            }
        }
        prop_assert_eq!(s.penalty, penalty);
    }

    /// Once a hash has consensus, more votes for it keep consensus; and its margin
    /// `group·T − total·(T−1)` never shrinks with an agreeing vote.
    #[test]
    fn consensus_is_monotone_in_agreeing_votes(
        trust in 1u64..20_000,
        votes in prop::collection::vec((0u8..3, 0u64..2_000), 0..12),
        extra in prop::collection::vec(0u64..2_000, 1..6),
    ) {
        let trust = Trust::from_u64(trust).unwrap();
        let mut tally = Tally::new();
        for (h, score) in votes {
            tally.add_vote(hash(h), vote_weight(U256::from(score))).unwrap();
        }
        let margin = |t: &Tally| {
            let lhs = t.group(&hash(0)) * trust.get();
            let rhs = t.total() * trust.minus_one();
            (lhs >= rhs, if lhs >= rhs { lhs - rhs } else { rhs - lhs })
        };
        let mut held = tally.has_consensus(&hash(0), trust).unwrap();
        let mut before = margin(&tally);
        for score in extra {
            tally.add_vote(hash(0), vote_weight(U256::from(score))).unwrap();
            let now = tally.has_consensus(&hash(0), trust).unwrap();
            prop_assert!(!held || now, "consensus lost by an agreeing vote");
            let after = margin(&tally);
            // Positive margins grow, negative ones shrink (or flip sign).
            match (before.0, after.0) {
                (true, true) => prop_assert!(after.1 >= before.1),
                (false, false) => prop_assert!(after.1 <= before.1),
                (true, false) => prop_assert!(false, "margin went negative"),
                (false, true) => {}
            }
            held = now;
            before = after;
        }
    }

    /// A lone contributor never gains score, whatever its status and score.
    #[test]
    fn lone_contributor_never_gains_score(terms in terms(), score in any::<u128>(), st in status()) {
        let c = SettledContribution {
            worker: Address::with_last_byte(1),
            payout_weight: payout_weight(vote_weight(U256::from(score))),
            status: st,
            score: U256::from(score),
        };
        let settled = match st {
            ContributionStatus::Proved => payout::finalize(&terms, &[c]).unwrap(),
            _ => payout::claim(&terms, &[c]).unwrap(),
        };
        prop_assert!(settled.workers[0].score_after <= settled.workers[0].score_before);
        if st != ContributionStatus::Proved {
            // Not proved alone: finalize is impossible (nothing revealed) and the loss rule
            // only lowers scores.
            prop_assert!(payout::finalize(&terms, &[c]).is_err());
        }
    }

    /// The planner's answer is exactly enough: `needed` agreeing votes of the planned weight
    /// reach consensus, one fewer does not.
    #[test]
    fn planner_answer_is_minimal(
        trust in 1u64..50_000,
        votes in prop::collection::vec((0u8..3, 0u64..400), 0..6),
        weight in 2u64..40,
    ) {
        let trust = Trust::from_u64(trust).unwrap();
        let weight = U256::from(weight);
        let mut tally = Tally::new();
        for (h, score) in votes {
            tally.add_vote(hash(h), vote_weight(U256::from(score))).unwrap();
        }
        let plan = planner::plan(&tally, trust, [], weight, 64);
        prop_assert!(plan.reachable);
        let leader = tally.leader().map_or(hash(9), |g| g.hash);
        let mut sim = tally.clone();
        for _ in 0..plan.needed.saturating_sub(1) {
            sim.add_vote(leader, weight).unwrap();
        }
        if plan.needed > 0 {
            prop_assert!(!sim.has_consensus(&leader, trust).unwrap());
            sim.add_vote(leader, weight).unwrap();
        }
        prop_assert!(sim.has_consensus(&leader, trust).unwrap());
    }
}

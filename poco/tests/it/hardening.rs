//! The Hub's hardening rules as the task state machine mirrors them: authorizations bound to a
//! round, finalize by anyone after the reveal deadline, revealed results never claimed, silent
//! winners forfeiting at claim, losers REJECTED after finalize.

use quorate_poco::{
    Error,
    consensus::Trust,
    payout::{ContributionStatus, PayoutTerms},
    task::{Action, Task, TaskConfig, TaskStatus},
};
use quorate_primitives::{Address, Amount, B256, DealId, TaskId, U256};

use crate::task::{START, T, owner, reveal, vote_with_score as vote, w};

fn task(trust: u64) -> Task {
    let id = TaskId::derive(DealId::derive(B256::repeat_byte(2), U256::ZERO), 0);
    let terms = PayoutTerms::new(Amount::from(1_000u64), 10);
    Task::new(TaskConfig::new(id, Trust::from_u64(trust).unwrap(), START, T, owner(), terms))
        .unwrap()
}

fn assign_and_vote(
    task: &mut Task,
    now: u64,
    worker: Address,
    answer: &str,
) -> Result<bool, Error> {
    task.handle_assign(now, worker, U256::ZERO, 0)?;
    vote(task, now, worker, 0, answer)
}

#[test]
fn an_authorization_of_an_earlier_round_no_longer_votes() {
    let mut t = task(2);
    t.handle_assign(START + 1, w(2), U256::ZERO, 0).unwrap();
    assert!(assign_and_vote(&mut t, START + 10, w(1), "42").unwrap(), "T = 2: one vote");
    let deadline = t.reveal_deadline().unwrap();
    t.handle_reopen(deadline, owner()).unwrap();
    assert_eq!(t.authorization_round(), deadline, "the round is the passed reveal deadline");
    // worker 2's first-round replica is stale
    assert_eq!(
        vote(&mut t, deadline + 1, w(2), 0, "17"),
        Err(Error::Unauthorized { worker: w(2) })
    );
    // assigned again for this round (once), it votes
    t.handle_assign(deadline + 2, w(2), U256::ZERO, 0).unwrap();
    assert_eq!(
        t.handle_assign(deadline + 3, w(2), U256::ZERO, 0),
        Err(Error::AlreadyAssigned { worker: w(2) })
    );
    assert!(vote(&mut t, deadline + 4, w(2), 0, "17").unwrap());
}

#[test]
fn anyone_finalizes_after_the_reveal_deadline_and_losers_end_rejected() {
    let mut t = task(3);
    assign_and_vote(&mut t, START + 10, w(1), "42").unwrap();
    assign_and_vote(&mut t, START + 11, w(3), "17").unwrap();
    assign_and_vote(&mut t, START + 12, w(2), "42").unwrap();
    assign_and_vote(&mut t, START + 13, w(4), "42").unwrap();
    assert_eq!(t.status(), TaskStatus::Revealing);
    reveal(&mut t, START + 20, w(1), "42").unwrap();
    let scores = |_: &Address| U256::from(9u8);
    assert!(matches!(t.handle_finalize(START + 30, w(9), scores), Err(Error::NotPoolOwner { .. })));
    assert!(matches!(
        t.handle_finalize(START + 30, owner(), scores),
        Err(Error::RevealsPending { .. })
    ));
    let deadline = t.reveal_deadline().unwrap();
    let s = t.handle_finalize(deadline, w(9), scores).unwrap();
    assert_eq!(s.paid().unwrap(), s.locked);
    for c in t.contributions() {
        let expected = if c.worker == w(1) {
            ContributionStatus::Proved
        } else {
            ContributionStatus::Rejected
        };
        assert_eq!(c.status, expected, "{:?}", c.worker);
    }
    assert_eq!(t.reveals(), (1, 1), "rejected voters are no longer winners");
}

#[test]
fn a_revealed_result_is_never_claimed_and_is_finalized_late() {
    let mut t = task(2);
    assign_and_vote(&mut t, START + 690, w(1), "42").unwrap();
    reveal(&mut t, START + 700, w(1), "42").unwrap();
    let end = START + 10 * T;
    assert_eq!(t.handle_claim(end, |_| U256::ZERO), Err(Error::HasReveals { revealed: 1 }));
    assert_eq!(t.poll_actions(), vec![Action::Finalize], "finalize, never claim");
    t.handle_finalize(end + 1, w(7), |_| U256::ZERO).unwrap();
    assert_eq!(t.status(), TaskStatus::Completed);
}

#[test]
fn silent_winners_forfeit_at_claim_and_the_client_gets_the_pool_stake() {
    let mut t = task(3);
    t.handle_assign(START + 1, w(2), U256::ZERO, 0).unwrap();
    vote(&mut t, START + 10, w(2), 0, "17").unwrap();
    t.handle_assign(START + 1, w(1), U256::from(30u8), 0).unwrap();
    assert!(vote(&mut t, START + 20, w(1), 30, "42").unwrap(), "weight 9 alone");
    let scores = |a: &Address| if *a == w(1) { U256::from(30u8) } else { U256::ZERO };
    let s = t.handle_claim(START + 10 * T, scores).unwrap();
    assert_eq!(s.penalty, Amount::from(300u64), "the silent winner's stake");
    assert_eq!(s.client_compensation, Amount::from(300u64), "the pool's stake");
    assert_eq!(s.workers[1].score_after, U256::from(20u8), "30 -> 20");
    assert_eq!(s.workers[0].stake_returned, Amount::from(300u64), "the loser's stake back");
    assert_eq!(s.paid().unwrap(), s.locked);
    let statuses: Vec<ContributionStatus> = t.contributions().iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![ContributionStatus::Contributed, ContributionStatus::Rejected]);
}

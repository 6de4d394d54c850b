//! The task state machine driven with a manual clock: actions, deadlines, refusals.

use quorate_poco::{
    Error,
    consensus::Trust,
    payout::{ContributionStatus, PayoutTerms},
    task::{
        Action, CONTRIBUTION_WINDOW, Call, FINAL_WINDOW, FailReason, MAX_CONTRIBUTORS,
        REVEAL_WINDOW, Task, TaskConfig, TaskStatus,
    },
};
use quorate_primitives::{Address, Amount, B256, DealId, ResultDigest, TaskId, U256};

pub(crate) const START: u64 = 1_000;
pub(crate) const T: u64 = 100;

pub(crate) fn owner() -> Address {
    Address::repeat_byte(0xb0)
}

pub(crate) fn w(i: u8) -> Address {
    Address::with_last_byte(i)
}

fn config(trust: u64) -> TaskConfig {
    let task = TaskId::derive(DealId::derive(B256::repeat_byte(1), U256::ZERO), 0);
    TaskConfig::new(
        task,
        Trust::from_u64(trust).unwrap(),
        START,
        T,
        owner(),
        PayoutTerms::new(Amount::from(1_000u64), 10),
    )
}

fn vote(task: &mut Task, now: u64, worker: Address, answer: &str) -> Result<bool, Error> {
    vote_with_score(task, now, worker, 0, answer)
}

/// A contribution of `answer` by `worker`, whose on-chain score is `score`.
pub(crate) fn vote_with_score(
    task: &mut Task,
    now: u64,
    worker: Address,
    score: u64,
    answer: &str,
) -> Result<bool, Error> {
    let id = task.config().task;
    let digest = ResultDigest::of(id, answer.as_bytes());
    let seal = digest.seal(worker, id);
    task.handle_contribution(now, worker, digest.vote(id), seal, U256::from(score))
        .map(|c| c.consensus)
}

pub(crate) fn reveal(
    task: &mut Task,
    now: u64,
    worker: Address,
    answer: &str,
) -> Result<(), Error> {
    let id = task.config().task;
    task.handle_reveal(now, worker, ResultDigest::of(id, answer.as_bytes()))
}

#[test]
fn a_task_asks_for_replicas_then_reveals_then_finalizes() {
    let mut task = Task::new(config(5)).unwrap();
    assert_eq!(task.poll_actions(), vec![Action::NeedReplicas { count: 3 }]);
    for i in 1..=3 {
        task.handle_assign(START + 1, w(i), U256::ZERO, 0).unwrap();
    }
    // Three pending replicas are assumed to agree: nothing more to do but wait.
    assert_eq!(task.poll_actions(), vec![]);
    assert_eq!(task.poll_deadline(), Some(START + 1 + T));
    assert!(!vote(&mut task, START + 10, w(1), "42").unwrap());
    assert!(!vote(&mut task, START + 20, w(2), "42").unwrap());
    assert!(vote(&mut task, START + 30, w(3), "42").unwrap());
    assert_eq!(task.status(), TaskStatus::Revealing);
    assert_eq!(task.reveal_deadline(), Some(START + 30 + 2 * T));
    assert_eq!(
        task.poll_actions(),
        vec![Action::RequestReveal { workers: vec![w(1), w(2), w(3)] }]
    );
    reveal(&mut task, START + 40, w(1), "42").unwrap();
    reveal(&mut task, START + 41, w(2), "42").unwrap();
    // Finalize waits for the last winner until the reveal deadline.
    assert_eq!(task.poll_actions(), vec![Action::RequestReveal { workers: vec![w(3)] }]);
    reveal(&mut task, START + 42, w(3), "42").unwrap();
    assert_eq!(task.poll_actions(), vec![Action::Finalize]);
    let s = task.handle_finalize(START + 50, owner(), |_| U256::ZERO).unwrap();
    assert_eq!(task.status(), TaskStatus::Completed);
    assert_eq!(s.paid().unwrap(), s.locked);
    assert!(s.workers.iter().all(|p| p.score_after == U256::from(1)));
    assert_eq!(task.poll_actions(), vec![]);
    assert_eq!(task.poll_deadline(), None);
}

#[test]
fn timed_out_replicas_stop_counting_and_more_are_asked() {
    let mut task = Task::new(config(5)).unwrap();
    for i in 1..=3 {
        task.handle_assign(START, w(i), U256::ZERO, 0).unwrap();
    }
    vote(&mut task, START + 10, w(1), "42").unwrap();
    assert_eq!(task.poll_actions(), vec![]);
    assert_eq!(task.poll_deadline(), Some(START + T));
    let timed_out = task.handle_timeout(START + T);
    assert_eq!(timed_out, vec![w(2), w(3)]);
    assert_eq!(task.pending(), 0);
    assert_eq!(task.poll_actions(), vec![Action::NeedReplicas { count: 2 }]);
    // A late answer from a timed-out replica is still a valid vote (the contract accepts it).
    vote(&mut task, START + T + 5, w(2), "42").unwrap();
    assert_eq!(task.poll_actions(), vec![Action::NeedReplicas { count: 1 }]);
    // Timeouts are reported once.
    assert!(task.handle_timeout(START + T + 6).is_empty());
}

#[test]
fn the_cap_ends_a_task_that_cannot_agree() {
    let mut cfg = config(5);
    cfg.max_replicas = 4;
    let mut task = Task::new(cfg).unwrap();
    for (i, answer) in [(1, "a"), (2, "b"), (3, "c"), (4, "d")] {
        task.handle_assign(START, w(i), U256::ZERO, 0).unwrap();
        vote(&mut task, START + 1, w(i), answer).unwrap();
    }
    assert_eq!(
        task.handle_assign(START + 2, w(5), U256::ZERO, 0),
        Err(Error::ReplicaCapReached { cap: 4 })
    );
    assert_eq!(task.poll_actions(), vec![Action::Failed(FailReason::ReplicaCap)]);
    task.handle_timeout(START + 7 * T);
    assert_eq!(task.poll_actions(), vec![Action::Failed(FailReason::ContributionsClosed)]);
    task.handle_timeout(START + 10 * T);
    assert_eq!(task.poll_actions(), vec![Action::Failed(FailReason::Claimable)]);
    let s = task.handle_claim(START + 10 * T, |_| U256::ZERO).unwrap();
    assert_eq!(s.client_refund, Amount::from(1_000u64));
    assert_eq!(s.paid().unwrap(), s.locked);
    assert_eq!(task.status(), TaskStatus::Failed);
}

#[test]
fn homogeneous_redundancy_keeps_one_platform_class() {
    let mut cfg = config(5);
    cfg.homogeneous = true;
    let mut task = Task::new(cfg).unwrap();
    task.handle_assign(START, w(1), U256::ZERO, 7).unwrap();
    assert_eq!(
        task.handle_assign(START, w(2), U256::ZERO, 8),
        Err(Error::WrongPlatformClass { expected: 7, got: 8 })
    );
    task.handle_assign(START, w(3), U256::ZERO, 7).unwrap();
    assert_eq!(
        task.handle_assign(START, w(3), U256::ZERO, 7),
        Err(Error::AlreadyAssigned { worker: w(3) })
    );
    // Without homogeneous redundancy any class goes.
    let mut free = Task::new(config(5)).unwrap();
    free.handle_assign(START, w(1), U256::ZERO, 7).unwrap();
    free.handle_assign(START, w(2), U256::ZERO, 8).unwrap();
}

#[test]
fn reopen_is_due_when_nobody_reveals() {
    let mut task = Task::new(config(3)).unwrap();
    for i in 1..=2 {
        task.handle_assign(START, w(i), U256::ZERO, 0).unwrap();
        vote(&mut task, START + 10, w(i), "42").unwrap();
    }
    let deadline = START + 10 + 2 * T;
    assert_eq!(task.poll_deadline(), Some(deadline));
    task.handle_timeout(deadline);
    assert_eq!(task.poll_actions(), vec![Action::Reopen]);
    assert_eq!(
        task.handle_reopen(deadline, w(1)),
        Err(Error::NotPoolOwner { call: Call::Reopen, caller: w(1) })
    );
    task.handle_reopen(deadline, owner()).unwrap();
    assert_eq!(task.status(), TaskStatus::Active);
    assert!(task.contributions().iter().all(|c| c.status == ContributionStatus::Rejected));
    assert_eq!(task.tally().total(), U256::from(1));
    assert_eq!(task.poll_actions(), vec![Action::NeedReplicas { count: 2 }]);
    // Rejected voters cannot vote again.
    assert_eq!(
        vote(&mut task, deadline + 1, w(1), "42"),
        Err(Error::DuplicateContribution { worker: w(1) })
    );
}

#[test]
fn refusals_name_their_reason() {
    let mut task = Task::new(config(3)).unwrap();
    let id = task.config().task;
    let digest = ResultDigest::of(id, b"42");
    assert_eq!(vote(&mut task, START, w(1), "42"), Err(Error::Unauthorized { worker: w(1) }));
    task.handle_assign(START, w(1), U256::ZERO, 0).unwrap();
    task.handle_assign(START, w(2), U256::ZERO, 0).unwrap();
    let empty = task.handle_contribution(
        START,
        w(1),
        Default::default(),
        digest.seal(w(1), id),
        U256::ZERO,
    );
    assert_eq!(empty, Err(Error::EmptyVote { worker: w(1) }));
    assert_eq!(
        vote(&mut task, START + 7 * T, w(1), "42"),
        Err(Error::Late { call: Call::Contribute, deadline: START + 7 * T, now: START + 7 * T })
    );
    assert!(reveal(&mut task, START, w(1), "42").unwrap_err().kind() == "WrongStatus");
    vote(&mut task, START + 1, w(1), "42").unwrap();
    vote(&mut task, START + 2, w(2), "42").unwrap();
    assert_eq!(
        reveal(&mut task, START + 3, w(1), "43"),
        Err(Error::WrongSeal { worker: w(1), hash: digest.vote(id) })
    );
    assert_eq!(reveal(&mut task, START + 3, w(9), "42"), Err(Error::NotAWinner { worker: w(9) }));
    assert_eq!(
        task.handle_finalize(START + 4, owner(), |_| U256::ZERO),
        Err(Error::NothingRevealed)
    );
    reveal(&mut task, START + 5, w(1), "42").unwrap();
    assert_eq!(
        reveal(&mut task, START + 6, w(1), "42"),
        Err(Error::AlreadyRevealed { worker: w(1) })
    );
    assert!(matches!(
        task.handle_finalize(START + 7, owner(), |_| U256::ZERO),
        Err(Error::RevealsPending { revealed: 1, winners: 2, .. })
    ));
    assert!(matches!(
        task.handle_reopen(START + 2 + 2 * T, owner()),
        Err(Error::AlreadyRevealedSome { revealed: 1 })
    ));
    assert!(matches!(
        task.handle_claim(START + 8, |_| U256::ZERO),
        Err(Error::TooEarly { call: Call::Claim, .. })
    ));
    // After the reveal deadline one reveal suffices.
    let s = task.handle_finalize(START + 2 + 2 * T, owner(), |_| U256::from(9)).unwrap();
    assert_eq!(s.workers[1].score_after, U256::from(6));
    assert_eq!(s.workers[0].score_after, U256::from(10));
    assert!(Error::Unauthorized { worker: w(1) }.is_bad_input());
    assert!(Error::Late { call: Call::Reveal, deadline: 0, now: 0 }.is_late());
    assert!(Task::new(TaskConfig { time_ref: 0, ..config(3) }).is_err());
    // The Hub bounds a category's time reference; so does the task.
    let longest = quorate_poco::task::MAX_TIME_REF;
    assert!(Task::new(TaskConfig { time_ref: longest, ..config(3) }).is_ok());
    assert!(Task::new(TaskConfig { time_ref: longest + 1, ..config(3) }).is_err());
}

#[test]
fn an_abandoned_replica_stops_counting_as_pending_at_once() {
    let mut task = Task::new(config(5)).unwrap();
    for i in 1..=3 {
        task.handle_assign(START + 1, w(i), U256::ZERO, 0).unwrap();
    }
    assert_eq!(task.poll_actions(), vec![]);
    assert!(task.handle_abandon(START + 2, w(2)));
    // Reported once only, and never for a worker without a pending replica.
    assert!(!task.handle_abandon(START + 2, w(2)));
    assert!(!task.handle_abandon(START + 2, w(9)));
    assert_eq!(task.pending(), 2);
    assert_eq!(task.poll_actions(), vec![Action::NeedReplicas { count: 1 }]);
    // Its late vote still counts, as the contract would count it.
    assert!(!vote(&mut task, START + 10, w(2), "42").unwrap());
}

#[test]
fn a_worker_whose_replica_was_given_up_may_be_assigned_the_task_again() {
    // Two workers in all, each lost once (a crash): without a second chance the task has no
    // one left to run it. The replica is reused: the cap counts workers, not attempts.
    let mut task = Task::new(TaskConfig { max_replicas: 2, ..config(3) }).unwrap();
    for i in 1..=2 {
        task.handle_assign(START + 1, w(i), U256::ZERO, 0).unwrap();
        assert!(task.handle_abandon(START + 2, w(i)));
    }
    assert_eq!(task.pending(), 0);
    // A pending replica is still assigned once only.
    task.handle_assign(START + 3, w(1), U256::ZERO, 0).unwrap();
    assert_eq!(
        task.handle_assign(START + 3, w(1), U256::ZERO, 0),
        Err(Error::AlreadyAssigned { worker: w(1) })
    );
    task.handle_assign(START + 3, w(2), U256::ZERO, 0).unwrap();
    assert_eq!((task.replicas().len(), task.pending()), (2, 2));
    // One that timed out, likewise; a third worker still meets the cap.
    assert_eq!(task.handle_timeout(START + 3 + 10 * T).len(), 2);
    assert_eq!(
        task.handle_assign(START + 4, w(3), U256::ZERO, 0),
        Err(Error::ReplicaCapReached { cap: 2 })
    );
}

#[test]
fn deadlines_are_fixed_when_the_task_is_created() {
    let task = Task::new(config(3)).unwrap();
    assert_eq!((CONTRIBUTION_WINDOW, REVEAL_WINDOW, FINAL_WINDOW), (7, 2, 10));
    assert_eq!(task.contribution_deadline(), START + CONTRIBUTION_WINDOW * T);
    assert_eq!(task.final_deadline(), START + FINAL_WINDOW * T);
    // A config whose deadlines do not fit is refused up front, so reading them never fails.
    let overflow = TaskConfig { start: u64::MAX - 9 * T, ..config(3) };
    assert!(overflow.validate().unwrap_err().is_arithmetic());
    assert!(Task::new(overflow).unwrap_err().is_arithmetic());
}

/// Worker `i` of a crowd larger than one address byte can name.
fn crowd(i: u16) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = 0xcc;
    bytes[18..].copy_from_slice(&i.to_be_bytes());
    Address::from(bytes)
}

#[test]
fn a_task_takes_at_most_the_hubs_255_contributors() {
    let mut cfg = config(5);
    cfg.max_replicas = 1_000; // the replica cap is not what stops it
    let mut task = Task::new(cfg).unwrap();
    let full = Error::TooManyContributors { limit: 255 };
    assert_eq!(MAX_CONTRIBUTORS, 255);
    // An authorization given early, whose replica times out before the task fills up.
    let late = crowd(0);
    task.handle_assign(START, late, U256::ZERO, 0).unwrap();
    assert_eq!(task.handle_timeout(START + T), vec![late]);
    // 253 different answers: no consensus.
    for i in 1..=253 {
        task.handle_assign(START + T, crowd(i), U256::ZERO, 0).unwrap();
        assert!(!vote(&mut task, START + T + 1, crowd(i), &i.to_string()).unwrap());
    }
    // Two pending replicas take the last two places: a third is not assigned, nor planned.
    for i in [254, 255] {
        task.handle_assign(START + T + 2, crowd(i), U256::ZERO, 0).unwrap();
    }
    assert_eq!(task.handle_assign(START + T + 2, crowd(256), U256::ZERO, 0), Err(full.clone()));
    assert_eq!(task.plan().needed, 0);
    assert_eq!(task.poll_actions(), vec![]);
    for i in [254, 255] {
        assert!(!vote(&mut task, START + T + 3, crowd(i), &i.to_string()).unwrap());
    }
    assert_eq!(task.contributions().len(), 255);
    // The 256th contribution is refused as the Hub refuses it, even with an authorization, and
    // the task gives up instead of asking for replicas that could not vote.
    assert_eq!(vote(&mut task, START + T + 4, late, "0"), Err(full.clone()));
    assert_eq!(task.handle_assign(START + T + 4, crowd(256), U256::ZERO, 0), Err(full.clone()));
    assert_eq!(task.poll_actions(), vec![Action::Failed(FailReason::ReplicaCap)]);
    assert_eq!(full.kind(), "TooManyContributors");
    assert!(!full.is_bad_input() && !full.is_late() && !full.is_arithmetic());
}

//! The JSON test vectors both implementations run: `poco/vectors/poco.json`, schema in
//! `poco/vectors/README.md`. [`generate`] builds the document from this crate's own functions
//! and state machine; the `gen-vectors` example writes it, and a test fails if the committed
//! file drifts from it.
//!
//! Every integer is a decimal string (`uint256`-safe), every hash a `0x` bytes32 string, every
//! list comes with a count, and every field is present in every entry of a list (zeros where it
//! does not apply), so a Solidity test can read them with fixed paths.

use std::collections::BTreeMap;

use quorate_primitives::{Address, Amount, B256, DealId, ResultDigest, ResultHash, TaskId, U256};
use serde_json::{Map, Value, json};

use crate::{
    Error,
    consensus::Trust,
    payout::{self, ContributionStatus, PayoutTerms, Settlement},
    task::{Task, TaskConfig, TaskStatus},
    weight::{payout_weight, score_after_loss, score_after_win, vote_weight},
};

/// The schema tag at the top of the document.
pub const SCHEMA: &str = "quorate-poco-vectors/2";
/// Every case's deal start.
pub const START: u64 = 1_700_000_000;
/// Every case's category time reference `t`.
pub const TIME_REF: u64 = 100;

/// The pool owner of every case.
pub fn pool_owner() -> Address {
    Address::repeat_byte(0xb0)
}

/// Worker `i` of a case: `0x00…00a0ii`.
pub fn worker(i: u8) -> Address {
    let mut bytes = [0u8; 20];
    bytes[18] = 0xa0;
    bytes[19] = i;
    Address::from(bytes)
}

fn dec(v: U256) -> Value {
    Value::String(v.to_string())
}

fn num(v: u64) -> Value {
    Value::String(v.to_string())
}

fn amount(a: Amount) -> Value {
    Value::String(a.to_string())
}

fn addr(a: Address) -> Value {
    Value::String(format!("{a:#x}"))
}

fn b32(b: B256) -> Value {
    Value::String(format!("{b:#x}"))
}

fn pow2(bits: usize) -> U256 {
    U256::from(1u8).checked_shl(bits).unwrap_or(U256::MAX)
}

/// One scripted call of a case.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// Worker `worker` (score `score`) contributes its honest vote for `answer`.
    Contribute { worker: u8, score: U256, answer: &'static str },
    /// Worker `worker` contributes without the pool owner's authorization.
    Unauthorized { worker: u8, score: U256, answer: &'static str },
    /// Worker `worker` contributes with an authorization of the first round, after a reopen.
    StaleAuthorization { worker: u8, score: U256, answer: &'static str },
    /// Worker `worker` copies worker `from`'s hash and seal for `answer` (a lazy copier).
    CopySeal { worker: u8, score: U256, from: u8, answer: &'static str },
    /// Worker `worker` reveals the digest of `answer`.
    Reveal { worker: u8, answer: &'static str },
    /// `reopen` by `caller` (the pool owner unless a worker index is given).
    Reopen { by_worker: Option<u8> },
    /// `finalize` by the pool owner, or by a worker.
    Finalize { by_worker: Option<u8> },
    /// `claim` by anyone.
    Claim,
}

fn contribute(worker: u8, score: u64, answer: &'static str) -> Op {
    Op::Contribute { worker, score: U256::from(score), answer }
}

/// A scripted case: settings, then `(seconds after start, call)` steps.
#[derive(Debug)]
struct Case {
    name: &'static str,
    about: &'static str,
    trust: U256,
    price: u64,
    scheduler_ratio: u64,
    steps: Vec<(u64, Op)>,
}

fn case(
    name: &'static str,
    about: &'static str,
    trust: u64,
    price: u64,
    scheduler_ratio: u64,
    steps: Vec<(u64, Op)>,
) -> Case {
    Case { name, about, trust: U256::from(trust), price, scheduler_ratio, steps }
}

fn status_name(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Active => "ACTIVE",
        TaskStatus::Revealing => "REVEALING",
        TaskStatus::Completed => "COMPLETED",
        TaskStatus::Failed => "FAILED",
    }
}

fn contribution_status_name(status: ContributionStatus) -> &'static str {
    match status {
        ContributionStatus::Contributed => "CONTRIBUTED",
        ContributionStatus::Proved => "PROVED",
        ContributionStatus::Rejected => "REJECTED",
    }
}

/// Runs a case through [`Task`] and records every step and the settlement.
fn run_case(index: u64, case: &Case) -> Result<(Value, Option<Settlement>), Error> {
    let deal = DealId::derive(B256::repeat_byte(0x11), U256::ZERO);
    let task_id = TaskId::derive(deal, index);
    let terms = PayoutTerms::new(Amount::from(case.price), case.scheduler_ratio);
    let mut config =
        TaskConfig::new(task_id, Trust::new(case.trust)?, START, TIME_REF, pool_owner(), terms);
    config.max_replicas = 64;
    let mut task = Task::new(config)?;
    let mut scores: BTreeMap<Address, U256> = BTreeMap::new();
    let mut settlement = None;
    let mut steps = Vec::with_capacity(case.steps.len());

    for &(offset, op) in &case.steps {
        let now = START.saturating_add(offset);
        let mut step = Map::new();
        let (op_name, caller, score, answer, digest, hash, seal, authorized) = match op {
            Op::Contribute { worker: i, score, answer }
            | Op::Unauthorized { worker: i, score, answer }
            | Op::StaleAuthorization { worker: i, score, answer }
            | Op::CopySeal { worker: i, score, answer, .. } => {
                let addr = worker(i);
                let digest = ResultDigest::of(task_id, answer.as_bytes());
                let (hash, seal) = match op {
                    Op::CopySeal { from, .. } => {
                        (digest.vote(task_id), digest.seal(worker(from), task_id))
                    }
                    _ => (digest.vote(task_id), digest.seal(addr, task_id)),
                };
                let authorized = !matches!(op, Op::Unauthorized { .. });
                if authorized && !matches!(op, Op::StaleAuthorization { .. }) {
                    // A refused assignment (already assigned, task closed) leaves the
                    // contribution's own check to say why it is refused.
                    task.handle_assign(now, addr, score, 0).ok();
                }
                scores.entry(addr).or_insert(score);
                ("contribute", addr, score, answer, digest.0, hash.0, seal.0, authorized)
            }
            Op::Reveal { worker: i, answer } => {
                let digest = ResultDigest::of(task_id, answer.as_bytes());
                ("reveal", worker(i), U256::ZERO, answer, digest.0, B256::ZERO, B256::ZERO, true)
            }
            Op::Reopen { by_worker } => {
                let caller = by_worker.map_or_else(pool_owner, worker);
                ("reopen", caller, U256::ZERO, "", B256::ZERO, B256::ZERO, B256::ZERO, true)
            }
            Op::Finalize { by_worker } => {
                let caller = by_worker.map_or_else(pool_owner, worker);
                ("finalize", caller, U256::ZERO, "", B256::ZERO, B256::ZERO, B256::ZERO, true)
            }
            Op::Claim => {
                let caller = Address::repeat_byte(0xc1);
                ("claim", caller, U256::ZERO, "", B256::ZERO, B256::ZERO, B256::ZERO, true)
            }
        };
        let score_of = |a: &Address| scores.get(a).copied().unwrap_or_default();
        let result: Result<(), Error> = match op {
            Op::Contribute { .. }
            | Op::Unauthorized { .. }
            | Op::StaleAuthorization { .. }
            | Op::CopySeal { .. } => task
                .handle_contribution(now, caller, ResultHash(hash), seal.into(), score)
                .map(|_| ()),
            Op::Reveal { .. } => task.handle_reveal(now, caller, ResultDigest(digest)),
            Op::Reopen { .. } => task.handle_reopen(now, caller),
            Op::Finalize { .. } => {
                task.handle_finalize(now, caller, score_of).map(|s| settlement = Some(s))
            }
            Op::Claim => task.handle_claim(now, score_of).map(|s| settlement = Some(s)),
        };
        let weight = if op_name == "contribute" { vote_weight(score) } else { U256::ZERO };
        let group_hash = match op {
            Op::Reveal { .. } => ResultDigest(digest).vote(task_id),
            _ => ResultHash(hash),
        };
        step.insert("op".into(), op_name.into());
        step.insert("time".into(), num(now));
        step.insert("caller".into(), addr(caller));
        step.insert("authorized".into(), authorized.into());
        step.insert("staleRound".into(), matches!(op, Op::StaleAuthorization { .. }).into());
        step.insert("score".into(), dec(score));
        step.insert("weight".into(), dec(weight));
        step.insert("payoutWeight".into(), dec(payout_weight(weight)));
        step.insert("answer".into(), answer.into());
        step.insert("digest".into(), b32(digest));
        step.insert("hash".into(), b32(hash));
        step.insert("seal".into(), b32(seal));
        step.insert("reverts".into(), result.is_err().into());
        step.insert("error".into(), result.as_ref().err().map_or("", Error::kind).into());
        step.insert("statusAfter".into(), status_name(task.status()).into());
        step.insert("totalAfter".into(), dec(task.tally().total()));
        step.insert("groupAfter".into(), dec(task.tally().group(&group_hash)));
        step.insert("consensusHash".into(), b32(task.consensus().map_or(B256::ZERO, |h| h.0)));
        step.insert("revealDeadline".into(), num(task.reveal_deadline().unwrap_or(0)));
        let (revealed, winners) = task.reveals();
        step.insert("winnerCount".into(), num(u64::from(winners)));
        step.insert("revealCount".into(), num(u64::from(revealed)));
        steps.push(Value::Object(step));
    }

    let value = json!({
        "name": case.name,
        "about": case.about,
        "taskId": b32(task_id.0),
        "trust": dec(case.trust),
        "start": num(START),
        "timeRef": num(TIME_REF),
        "contributionDeadline": num(task.contribution_deadline()),
        "finalDeadline": num(task.final_deadline()),
        "poolOwner": addr(pool_owner()),
        "price": num(case.price),
        "workerStakeRatio": num(terms.worker_stake_ratio),
        "poolStakeRatio": num(terms.pool_stake_ratio),
        "schedulerRatio": num(terms.scheduler_ratio),
        "workerStake": amount(terms.worker_stake()?),
        "poolStake": amount(terms.pool_stake()?),
        "stepCount": num(steps.len() as u64),
        "steps": steps,
        "statusFinal": status_name(task.status()),
        "contributionCount": num(task.contributions().len() as u64),
        "contributions": task.contributions().iter().map(|c| json!({
            "worker": addr(c.worker),
            "hash": b32(c.hash.0),
            "weight": dec(c.weight),
            "payoutWeight": dec(c.payout_weight),
            "status": contribution_status_name(c.status),
        })).collect::<Vec<_>>(),
    });
    Ok((value, settlement))
}

fn settlement_json(s: &Settlement, kind: &str) -> Result<Value, Error> {
    Ok(json!({
        "kind": kind,
        "totalReward": amount(s.total_reward),
        "workersReward": amount(s.workers_reward),
        "poolOwnerReward": amount(s.pool_owner_reward),
        "poolStakeReturned": amount(s.pool_stake_returned),
        "poolStakeSeized": amount(s.pool_stake_seized),
        "clientRefund": amount(s.client_refund),
        "clientCompensation": amount(s.client_compensation),
        "penalty": amount(s.penalty),
        "locked": amount(s.locked),
        "paid": amount(s.paid()?),
        "workerCount": num(s.workers.len() as u64),
        "workers": s.workers.iter().map(|w| json!({
            "worker": addr(w.worker),
            "reward": amount(w.reward),
            "stakeReturned": amount(w.stake_returned),
            "stakeSeized": amount(w.stake_seized),
            "scoreBefore": dec(w.score_before),
            "scoreAfter": dec(w.score_after),
        })).collect::<Vec<_>>(),
    }))
}

fn weights() -> Vec<Value> {
    let mut scores: Vec<U256> =
        [0u64, 1, 2, 3, 5, 8, 11, 12, 13, 14, 15, 17, 18, 30, 99, 100, 101, 300, 1000, 1_000_000]
            .into_iter()
            .map(U256::from)
            .collect();
    scores.push(U256::from(u64::MAX));
    scores.extend([64, 128, 200, 255].map(pow2));
    scores.push(U256::MAX);
    scores
        .into_iter()
        .map(|s| {
            let w = vote_weight(s);
            json!({ "score": dec(s), "weight": dec(w), "payoutWeight": dec(payout_weight(w)) })
        })
        .collect()
}

fn score_updates() -> Vec<Value> {
    let big = pow2(200);
    let rows: Vec<(&str, U256, bool, u64)> = vec![
        ("lone contributor proved: no +1", U256::from(30u8), true, 1),
        ("lone contributor proved from 0: no +1", U256::ZERO, true, 1),
        ("proved with two contributors: +1", U256::ZERO, true, 2),
        ("proved with five contributors: +1", U256::from(299u16), true, 5),
        ("proved just below the maximum", U256::MAX.saturating_sub(U256::from(1u8)), true, 2),
        ("proved at the maximum: +1 overflows, finalize reverts", U256::MAX, true, 2),
        ("loser at 0", U256::ZERO, false, 3),
        ("loser at 1", U256::from(1u8), false, 3),
        ("loser at 2", U256::from(2u8), false, 3),
        ("loser at 3", U256::from(3u8), false, 3),
        ("loser at 100", U256::from(100u8), false, 2),
        ("loser alone (not proved)", U256::from(50u8), false, 1),
        ("loser at 2^200", big, false, 4),
        ("loser at the maximum (2s overflows: compute 2*(s/3) + (2*(s%3))/3)", U256::MAX, false, 4),
        ("loser at the maximum minus one", U256::MAX.saturating_sub(U256::from(1u8)), false, 4),
    ];
    rows.into_iter()
        .map(|(about, score, proved, contributors)| {
            let after = if proved {
                score_after_win(score, usize::try_from(contributors).unwrap_or(usize::MAX))
            } else {
                Ok(score_after_loss(score))
            };
            json!({
                "about": about,
                "score": dec(score),
                "proved": proved,
                "contributorCount": num(contributors),
                "reverts": after.is_err(),
                "scoreAfter": dec(after.unwrap_or(score)),
            })
        })
        .collect()
}

fn fast_paths() -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for (name, price, ratio, score) in [
        ("fast path, 10 % to the scheduler", 1_000_000_000_000_000_000u64, 10u64, 0u64),
        ("fast path with rounding, 33 %", 7, 33, 12),
        ("fast path, 0 % to the scheduler", 1_000, 0, 100),
        ("fast path, 100 % to the scheduler", 1_000, 100, 5),
    ] {
        let terms = PayoutTerms::new(Amount::from(price), ratio);
        let s = payout::fast_path(&terms, worker(1), U256::from(score))?;
        let w = s.workers.first().ok_or_else(|| Error::Vectors("fast path paid nobody".into()))?;
        out.push(json!({
            "name": name,
            "price": num(price),
            "schedulerRatio": num(ratio),
            "poolStakeRatio": num(terms.pool_stake_ratio),
            "worker": addr(w.worker),
            "score": num(score),
            "workerReward": amount(w.reward),
            "poolOwnerReward": amount(s.pool_owner_reward),
            "poolStakeReturned": amount(s.pool_stake_returned),
            "scoreAfter": dec(w.score_after),
        }));
    }
    Ok(out)
}

fn consensus_cases() -> Vec<Case> {
    let fresh = |n: u8| (1..=n).map(|i| (u64::from(i) * 10, contribute(i, 0, "42"))).collect();
    let mut t100: Vec<(u64, Op)> = fresh(7);
    t100.push((80, contribute(8, 0, "42")));
    let big =
        |worker: u8, bits: usize, answer| Op::Contribute { worker, score: pow2(bits), answer };
    vec![
        case(
            "fresh-t100",
            "7 fresh workers agreeing reach T = 100 at the 7th vote; an 8th vote is refused",
            100,
            1_000,
            10,
            t100,
        ),
        case(
            "worked-3168-3172",
            "weights 3 for 17, 32 for 42, 99 for 42: group 3168, total 3172, consensus on 42",
            100,
            1_000,
            10,
            vec![
                (10, contribute(1, 12, "17")),
                (20, contribute(2, 100, "42")),
                (30, contribute(3, 300, "42")),
            ],
        ),
        case("trust-1", "T = 1: one vote is consensus", 1, 1_000, 10, fresh(1)),
        case("trust-2", "T = 2: one fresh vote is consensus (4 > 3)", 2, 1_000, 10, fresh(1)),
        case("trust-3", "T = 3: two fresh votes", 3, 1_000, 10, fresh(2)),
        case("trust-5", "T = 5: three fresh votes", 5, 1_000, 10, fresh(3)),
        case("trust-10000", "T = 10000: fourteen fresh votes", 10_000, 1_000, 10, fresh(14)),
        case(
            "tie-t3",
            "two answers alternate at T = 3: equal groups never pass; 42 wins once it leads enough",
            3,
            1_000,
            10,
            vec![
                (10, contribute(1, 0, "42")),
                (20, contribute(2, 0, "17")),
                (30, contribute(3, 0, "42")),
                (40, contribute(4, 0, "17")),
                (50, contribute(5, 0, "42")),
                (60, contribute(6, 0, "42")),
            ],
        ),
        case(
            "reopen-t5",
            "42 reaches consensus, nobody reveals; reopen (after a refused early and a refused \
             non-owner try) removes its group; 17 then wins",
            5,
            1_000,
            10,
            vec![
                (10, contribute(1, 0, "17")),
                (20, contribute(2, 0, "42")),
                (30, contribute(3, 0, "42")),
                (40, contribute(4, 0, "42")),
                (50, contribute(5, 0, "42")),
                (60, contribute(6, 0, "17")),
                (100, Op::Reopen { by_worker: None }),
                (250, Op::Reopen { by_worker: Some(1) }),
                (250, Op::Reopen { by_worker: None }),
                (260, contribute(2, 0, "17")),
                (270, contribute(6, 0, "17")),
                (280, contribute(7, 0, "17")),
            ],
        ),
        case(
            "huge-score-alone",
            "a worker with score 2^64 − 1 reaches T = 10000 alone",
            10_000,
            1_000,
            10,
            vec![(10, Op::Contribute { worker: 1, score: U256::from(u64::MAX), answer: "42" })],
        ),
        case(
            "overflow-refused",
            "score 2^256 − 1 at T = 100: group × T overflows and the vote is refused, nothing \
             changes; a fresh vote and a 2^128 vote then reach consensus",
            100,
            1_000,
            10,
            vec![
                (10, Op::Contribute { worker: 1, score: U256::MAX, answer: "42" }),
                (20, contribute(2, 0, "42")),
                (30, big(3, 128, "42")),
            ],
        ),
    ]
}

fn payout_cases() -> Vec<Case> {
    let e18 = 1_000_000_000_000_000_000u64;
    vec![
        case(
            "winners-and-losers",
            "two losers, winners of weight 3 (payout weight 1) and 32 (payout weight 5); both \
             reveal; finalize: losers' stakes join the reward",
            5,
            1_000,
            10,
            vec![
                (10, contribute(1, 0, "17")),
                (20, contribute(2, 0, "13")),
                (30, contribute(3, 12, "42")),
                (40, contribute(4, 100, "42")),
                (50, Op::Reveal { worker: 4, answer: "42" }),
                (60, Op::Finalize { by_worker: None }),
                (70, Op::Reveal { worker: 3, answer: "42" }),
                (80, Op::Finalize { by_worker: Some(3) }),
                (80, Op::Finalize { by_worker: None }),
            ],
        ),
        case(
            "rounding-remainder",
            "price 1003, scheduler 7 %: 932 for workers, 310 each to three equal winners; the \
             pool owner gets 1003 − 930 = 73",
            5,
            1_003,
            7,
            vec![
                (10, contribute(1, 0, "42")),
                (20, contribute(2, 0, "42")),
                (30, contribute(3, 12, "42")),
                (40, Op::Reveal { worker: 1, answer: "42" }),
                (41, Op::Reveal { worker: 2, answer: "42" }),
                (42, Op::Reveal { worker: 3, answer: "42" }),
                (43, Op::Reveal { worker: 3, answer: "42" }),
                (50, Op::Finalize { by_worker: None }),
            ],
        ),
        case(
            "lazy-copier-and-silent-winner",
            "worker 3 copies worker 1's hash and seal: it counts toward consensus but its reveal \
             fails the seal check; worker 2 never reveals; finalize waits for the reveal deadline",
            5,
            e18,
            20,
            vec![
                (10, contribute(1, 0, "42")),
                (20, contribute(2, 9, "42")),
                (30, Op::CopySeal { worker: 3, score: U256::from(4u8), from: 1, answer: "42" }),
                (40, Op::Reveal { worker: 1, answer: "42" }),
                (50, Op::Reveal { worker: 3, answer: "42" }),
                (60, Op::Reveal { worker: 4, answer: "42" }),
                (70, Op::Finalize { by_worker: None }),
                (230, Op::Reveal { worker: 2, answer: "42" }),
                (230, Op::Finalize { by_worker: None }),
            ],
        ),
        case(
            "reopen-then-finalize",
            "42 reaches consensus at T = 3, nobody reveals, reopen rejects its voters; 17 wins; \
             the rejected voters lose stake and a third of their score",
            3,
            1_000,
            10,
            vec![
                (10, contribute(1, 6, "42")),
                (20, contribute(2, 6, "42")),
                (220, Op::Reveal { worker: 1, answer: "42" }),
                (220, Op::Reopen { by_worker: None }),
                (230, contribute(3, 0, "17")),
                (240, contribute(4, 0, "17")),
                (250, Op::Reveal { worker: 3, answer: "42" }),
                (251, Op::Reveal { worker: 3, answer: "17" }),
                (252, Op::Reveal { worker: 4, answer: "17" }),
                (260, Op::Finalize { by_worker: None }),
            ],
        ),
        case(
            "claim-without-consensus",
            "three fresh votes cannot reach T = 100; claim is refused before the final deadline, \
             then refunds the client, returns worker stakes and seizes the pool stake",
            100,
            e18,
            10,
            vec![
                (10, contribute(1, 0, "42")),
                (20, contribute(2, 0, "42")),
                (30, contribute(3, 0, "17")),
                (999, Op::Claim),
                (1_000, Op::Claim),
                (1_001, Op::Claim),
            ],
        ),
        case(
            "finalize-after-final-deadline",
            "consensus and a reveal but no finalize before the final deadline: a revealed result \
             is never claimed, a worker finalizes it and is paid",
            2,
            1_000,
            10,
            vec![
                (690, contribute(1, 0, "42")),
                (700, Op::Reveal { worker: 1, answer: "42" }),
                (1_000, Op::Claim),
                (1_000, Op::Finalize { by_worker: Some(1) }),
                (1_000, Op::Claim),
            ],
        ),
        case(
            "withheld-reveal-claim",
            "a winner of score 30 never reveals: finalize has nothing to pay; at claim the winner \
             forfeits its stake to the penalty account and a third of its score, the loser gets \
             its stake back, the client its price and the pool's stake",
            3,
            1_000,
            10,
            vec![
                (10, contribute(2, 0, "17")),
                (20, contribute(1, 30, "42")),
                (300, Op::Finalize { by_worker: None }),
                (999, Op::Claim),
                (1_000, Op::Claim),
            ],
        ),
        case(
            "reopen-then-claim",
            "42 wins and is never revealed; after the reopen a first-round authorization no \
             longer votes; 17 wins the new round and is not revealed either: at claim both \
             silent winners forfeit",
            2,
            1_000,
            10,
            vec![
                (10, contribute(1, 6, "42")),
                (210, Op::Reopen { by_worker: None }),
                (220, Op::StaleAuthorization { worker: 2, score: U256::ZERO, answer: "17" }),
                (230, contribute(2, 0, "17")),
                (1_000, Op::Claim),
            ],
        ),
        case(
            "anyone-finalizes",
            "one of two winners reveals; before the reveal deadline only the pool owner may \
             finalize, and only once every winner revealed; after it anyone may: the silent \
             winner loses its stake and ends REJECTED",
            3,
            1_000,
            10,
            vec![
                (10, contribute(1, 0, "42")),
                (20, contribute(2, 0, "42")),
                (30, Op::Reveal { worker: 1, answer: "42" }),
                (40, Op::Finalize { by_worker: Some(3) }),
                (50, Op::Finalize { by_worker: None }),
                (220, Op::Finalize { by_worker: Some(3) }),
            ],
        ),
        case(
            "lone-contributor",
            "T = 1 through the normal path: the only contributor is paid but gains no score",
            1,
            1_000,
            10,
            vec![
                (10, contribute(1, 30, "42")),
                (20, Op::Reveal { worker: 1, answer: "42" }),
                (30, Op::Finalize { by_worker: None }),
            ],
        ),
        case(
            "refused-contributions",
            "an unauthorized vote, a duplicate vote and a vote at the contribution deadline are \
             refused; without consensus the task is claimed at the final deadline",
            3,
            1_000,
            10,
            vec![
                (10, Op::Unauthorized { worker: 9, score: U256::ZERO, answer: "42" }),
                (20, contribute(1, 0, "42")),
                (30, contribute(1, 0, "17")),
                (699, contribute(2, 0, "17")),
                (700, contribute(3, 0, "42")),
                (1_000, Op::Claim),
            ],
        ),
    ]
}

/// Builds the whole vector document.
pub fn generate() -> Result<Value, Error> {
    let mut consensus = Vec::new();
    for (i, c) in consensus_cases().iter().enumerate() {
        let (value, _) = run_case(i as u64, c)?;
        consensus.push(value);
    }
    let mut payouts = Vec::new();
    for (i, c) in payout_cases().iter().enumerate() {
        let (mut value, settlement) = run_case(1_000u64.saturating_add(i as u64), c)?;
        let settlement = settlement
            .ok_or_else(|| Error::Vectors(format!("payout case {} does not settle", c.name)))?;
        if settlement.paid()? != settlement.locked {
            return Err(Error::Vectors(format!("payout case {} does not conserve", c.name)));
        }
        let kind = if settlement.client_refund.is_zero() { "finalize" } else { "claim" };
        if let Value::Object(map) = &mut value {
            map.insert("settlement".into(), settlement_json(&settlement, kind)?);
        }
        payouts.push(value);
    }
    let weights = weights();
    let scores = score_updates();
    let fast = fast_paths()?;
    Ok(json!({
        "schema": SCHEMA,
        "weightCount": num(weights.len() as u64),
        "weights": weights,
        "consensusCount": num(consensus.len() as u64),
        "consensus": consensus,
        "payoutCount": num(payouts.len() as u64),
        "payouts": payouts,
        "scoreCount": num(scores.len() as u64),
        "scores": scores,
        "fastPathCount": num(fast.len() as u64),
        "fastPaths": fast,
    }))
}

/// The document as committed: pretty-printed, with a final newline.
pub fn render() -> Result<String, Error> {
    let mut text =
        serde_json::to_string_pretty(&generate()?).map_err(|e| Error::Vectors(e.to_string()))?;
    text.push('\n');
    Ok(text)
}

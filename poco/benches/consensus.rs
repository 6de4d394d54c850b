//! Throughput of the consensus checks and the replication planner, in contributions per second.
//!
//! `cargo bench -p quorate-poco --bench consensus`. Each task takes contributions until
//! consensus; every contribution goes through the accounting and consensus test and then the
//! planner's "how many more?" (what a scheduler does on every vote it sees). Hashes and seals are
//! computed once up front: keccak is not what is measured.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use quorate_poco::{
    consensus::{Tally, Trust},
    payout::PayoutTerms,
    planner,
    task::{Task, TaskConfig},
    weight::vote_weight,
};
use quorate_primitives::{Address, Amount, B256, DealId, ResultDigest, ResultHash, TaskId, U256};

/// One scripted vote: hash, score (mixed reputations), and a few dissenters.
fn script(n: usize) -> Vec<(ResultHash, U256)> {
    let right = ResultHash(B256::repeat_byte(1));
    let wrong = ResultHash(B256::repeat_byte(2));
    (0..n)
        .map(|i| {
            let hash = if i % 5 == 4 { wrong } else { right };
            (hash, U256::from((i * 37) % 40))
        })
        .collect()
}

fn consensus_and_planner(c: &mut Criterion) {
    let trust = Trust::from_u64(100).unwrap();
    let votes = script(4_096);
    let two = U256::from(2);
    let mut group = c.benchmark_group("poco");
    group.throughput(Throughput::Elements(votes.len() as u64));
    group.bench_function("tally+consensus+planner", |b| {
        b.iter(|| {
            let mut tally = Tally::new();
            let mut reached = 0u32;
            for &(hash, score) in &votes {
                let (_, _, consensus) = tally.vote(hash, vote_weight(score), trust).unwrap();
                let plan = planner::plan(&tally, trust, [], two, 32);
                if consensus {
                    reached += 1;
                    tally = Tally::new();
                }
                black_box(plan);
            }
            black_box(reached)
        });
    });
    group.finish();
}

fn task_state_machine(c: &mut Criterion) {
    let trust = Trust::from_u64(100).unwrap();
    let deal = DealId::derive(B256::repeat_byte(9), U256::ZERO);
    let tasks: Vec<TaskId> = (0..64).map(|i| TaskId::derive(deal, i)).collect();
    let digest = ResultDigest::of(tasks[0], b"42");
    // Per task, 8 workers with their precomputed votes.
    let votes: Vec<Vec<(Address, ResultHash, quorate_primitives::ResultSeal, U256)>> = tasks
        .iter()
        .map(|&t| {
            (1..=8u8)
                .map(|i| {
                    let w = Address::with_last_byte(i);
                    (w, digest.vote(t), digest.seal(w, t), U256::from(u64::from(i) * 3))
                })
                .collect()
        })
        .collect();
    let terms = PayoutTerms::new(Amount::from(1_000u64), 10);
    let run = |count: &mut u64| {
        let mut done = 0u32;
        for (t, task_votes) in tasks.iter().zip(&votes) {
            let config = TaskConfig::new(*t, trust, 0, 100, Address::ZERO, terms);
            let mut task = Task::new(config).unwrap();
            for &(w, hash, seal, score) in task_votes {
                task.handle_assign(1, w, score, 0).unwrap();
                let outcome = task.handle_contribution(2, w, hash, seal, score).unwrap();
                *count += 1;
                black_box(task.poll_actions());
                if outcome.consensus {
                    done += 1;
                    break;
                }
            }
        }
        done
    };
    // Count the contributions one pass really processes (tasks stop at consensus).
    let mut contributions = 0u64;
    assert_eq!(run(&mut contributions), 64);
    let mut group = c.benchmark_group("poco");
    group.throughput(Throughput::Elements(contributions));
    group.bench_function("task assign+contribute+poll", |b| {
        b.iter(|| {
            let mut count = 0u64;
            black_box(run(&mut count))
        });
    });
    group.finish();
}

criterion_group!(benches, consensus_and_planner, task_state_machine);
criterion_main!(benches);

//! The fault campaign: a devnet job of a few hundred tasks while the pool's scheduler and its
//! workers, each a `quorate` process, are killed (SIGKILL, as a crash) and started again, and the
//! chain node is stopped and started again with its state, on a seeded random schedule; then the
//! invariants of ROLES.md are checked from the chain's events alone.
//!
//! ```text
//! cargo run --release -p quorate-e2e --example fault-campaign [-- --quick] [--seed N] [--tasks N] [--secs S]
//! ```
//!
//! The quick form (`--quick`: 100 tasks, 40 s of faults) runs in the README's test command; the
//! default is 300 tasks and 240 s of faults. The chain is anvil with 1-s blocks; the pool sells
//! DEV-LONG tasks (final deadline 600 s after the deal). The client runs in this process, through
//! the library, and is not killed. The last line reads `fault campaign: <n> faults, <t> tasks,
//! credits conserved: yes|no, double payments: <n>, honest stake lost: <amount>`; the process
//! exits with 1 when an invariant fails.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a campaign prints its figures")]

use std::{
    collections::{BTreeMap, HashSet},
    time::{Duration, Instant},
};

use alloy::{primitives::Address, providers::RootProvider, signers::local::PrivateKeySigner};
use anyhow::Context as _;
use futures::StreamExt;
use quorate_devnet::{Devnet, DevnetConfig, Role};
use quorate_e2e::{
    invariants::Invariants,
    roles::{Pool, Process},
};
use quorate_node::{
    chain::{Chain, ChainConfig},
    client::{
        Client, JobEvent,
        report::{self, TaskOnChain},
    },
    job::Job,
    units::{Currency, short},
};

/// Workers in the pool.
const WORKERS: usize = 3;
/// No task completed for this long, with every role up: the pool is stuck.
const STALL: Duration = Duration::from_secs(120);

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| -> anyhow::Result<Option<u64>> {
        args.iter()
            .position(|a| a == name)
            .map(|i| {
                args.get(i + 1)
                    .and_then(|v| v.parse().ok())
                    .with_context(|| format!("{name} takes a whole number"))
            })
            .transpose()
    };
    let quick = args.iter().any(|a| a == "--quick");
    let seed = arg("--seed")?.unwrap_or(7);
    let tasks = arg("--tasks")?.unwrap_or(if quick { 100 } else { 300 });
    let fault_secs = arg("--secs")?.unwrap_or(if quick { 40 } else { 240 });
    let quorate = quorate_e2e::program("quorate-node", "quorate").map_err(anyhow::Error::msg)?;
    let evaluator = quorate_e2e::program("quorate-evaluator", "quorate-evaluator")
        .map_err(anyhow::Error::msg)?;

    // The chain (restartable: it is one of the roles killed), the pool and its workers.
    let dir = tempfile::tempdir()?;
    let net = Devnet::spawn(DevnetConfig {
        workers: WORKERS as u32,
        state: Some(dir.path().join("chain-state.json")),
        ..DevnetConfig::test()
    })
    .await
    .context("starting the devnet")?;
    // DEV-LONG: a deal's final deadline is 600 s after it starts.
    let mut pool = Pool::create(
        &net,
        dir.path(),
        &quorate,
        &evaluator,
        WORKERS,
        &["scheduler.order_category=1"],
    )?;
    pool.start()?;
    let address = pool.address.clone();
    let logs = pool.logs.clone();
    let mut net = net;

    // The client, in this process: a job of `tasks` tasks at trust 2.
    let key = PrivateKeySigner::from_bytes(&net.account(Role::Client).context("no client")?.key)?;
    let mut chain_config = ChainConfig::devnet(net.endpoint().parse()?);
    chain_config.chain_id = Some(net.chain_id());
    let hub = net.deployment().hub;
    let chain = Chain::connect(&chain_config, key.clone()).await?;
    let client = Client::new(chain, key.clone(), hub, vec![address.parse()?]);
    let mut events = Job::builder("(n) => ({ n, square: n * n })")
        .inputs((0..tasks).map(serde_json::Value::from))
        .pool(1)
        .trust(2)
        .max_price_qcr("1")?
        .submit(&client)?;
    let deal = loop {
        match events.next().await.context("the job's events ended before its deal")?? {
            JobEvent::Deal { deal } => break deal,
            _ => continue,
        }
    };
    println!(
        "deal {deal}: {tasks} tasks at trust 2 on {WORKERS} workers; faults for {fault_secs} s (seed {seed})"
    );
    let (done_tx, mut done) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut verified = 0u64;
        while let Some(event) = events.next().await {
            match event {
                Ok(JobEvent::Result { .. }) => verified += 1,
                Ok(JobEvent::Finished { refundable }) => {
                    let _ = done_tx.send(Ok((verified, refundable.len())));
                    return;
                }
                Err(e) => {
                    let _ = done_tx.send(Err(e.to_string()));
                    return;
                }
                Ok(_) => {}
            }
        }
    });

    // The faults: a role killed (or the chain node stopped), started again a moment later,
    // on a seeded schedule.
    let mut rng = XorShift(seed.max(1));
    let mut faults: BTreeMap<String, u32> = BTreeMap::new();
    let started = Instant::now();
    let mut outcome = None;
    let victims = WORKERS + 2;
    let mut restarts: Vec<(String, f64)> = Vec::new();
    while started.elapsed() < Duration::from_secs(fault_secs) {
        let pause = Duration::from_millis(2_000 + rng.below(4_000));
        if let Ok(result) = tokio::time::timeout(pause, &mut done).await {
            outcome = Some(result);
            break;
        }
        // Every fourth fault is the chain node's, the others a role drawn at random.
        let count: u32 = faults.values().sum();
        let victim = if count % 4 == 2 {
            victims - 1
        } else {
            usize::try_from(rng.below(victims as u64 - 1)).unwrap_or(0)
        };
        let down = Duration::from_millis(1_500 + rng.below(2_000));
        if victim == victims - 1 {
            // The chain node goes away (longer than a block) and comes back with its state.
            tokio::task::block_in_place(|| net.restart_chain(down))
                .context("restarting the chain")?;
            *faults.entry("chain node stopped".into()).or_default() += 1;
            continue;
        }
        let role = if victim == 0 { &mut pool.scheduler } else { &mut pool.workers[victim - 1] };
        role.kill();
        *faults.entry(format!("kill -9 {}", role.kind())).or_default() += 1;
        tokio::time::sleep(down).await;
        role.start()?;
        restarts.push((role.name().to_owned(), unix_seconds(std::time::SystemTime::now())));
    }
    let fault_count: u32 = faults.values().sum();
    println!("faults injected: {fault_count} ({faults:?}) in {:.0?}", started.elapsed());

    // Then the job runs to its end with every role up; a pool that makes no progress for
    // `STALL` is a failure (a task lost), not something to wait out until the deadline.
    let recovery = Instant::now();
    let provider = RootProvider::new_http(net.endpoint().parse()?);
    let mut last = (0usize, Instant::now());
    let result = loop {
        if let Some(result) = outcome.take() {
            break Some(result);
        }
        match tokio::time::timeout(Duration::from_secs(5), &mut done).await {
            Ok(result) => break Some(result),
            Err(_) => {
                // (The chain node may be restarting: counted next time.)
                let Ok(report) = report::read(&provider, hub, deal).await else { continue };
                let completed = report.count(TaskOnChain::Completed);
                if completed != last.0 {
                    last = (completed, Instant::now());
                } else if last.1.elapsed() > STALL {
                    break None;
                }
            }
        }
    };
    let (verified, unfinished) = match result {
        Some(result) => result?.map_err(anyhow::Error::msg)?,
        None => {
            eprintln!(
                "the pool made no progress for {STALL:?} with every role up: {} of {tasks} tasks completed; the roles' logs are in {}",
                last.0,
                logs.display()
            );
            pool.scheduler.kill();
            pool.workers.iter_mut().for_each(Process::kill);
            let kept = dir.keep();
            eprintln!("(kept {})", kept.display());
            std::process::exit(1);
        }
    };
    println!(
        "job ended {:.0?} after the last fault: {verified} results verified, {unfinished} tasks left to claim",
        recovery.elapsed()
    );
    // The pool finalizes what was revealed; give it a few blocks.
    tokio::time::sleep(Duration::from_secs(8)).await;
    pool.scheduler.kill();
    pool.workers.iter_mut().for_each(Process::kill);
    let recovery = Recovery::read(&logs, &restarts)?;
    println!(
        "recovery: scheduler restart to its first new assignment {} ; worker restart to the first reveal it owed {}",
        summary(&recovery.scheduler),
        summary(&recovery.worker)
    );

    // The invariants, from the chain's events alone.
    let workers: HashSet<Address> =
        net.accounts().iter().filter(|a| a.role == Role::Worker).map(|a| a.address).collect();
    let owner = net.account(Role::PoolOperator).context("no operator")?.address;
    let check = Invariants::read(&provider, hub, net.deployment().credit, &workers, owner).await?;
    println!(
        "tasks: {} finalized, {} claimed; pool stake seized: {} QCR",
        check.finalized,
        check.claimed,
        short(check.pool_seized, Currency::Qcr)
    );
    let conserved = check.held == check.accounted;
    println!(
        "fault campaign: {fault_count} faults, {tasks} tasks, credits conserved: {}, double payments: {}, honest stake lost: {} QCR",
        if conserved { "yes" } else { "no" },
        check.double_payments,
        short(check.honest_lost, Currency::Qcr)
    );
    if !check.hold() {
        eprintln!("an invariant failed; the roles' logs are in {}", logs.display());
        let kept = dir.keep();
        eprintln!("(kept {})", kept.display());
        std::process::exit(1);
    }
    Ok(())
}

/// A small seeded generator: the schedule is the same for the same seed.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}

/// Seconds since the Unix epoch.
fn unix_seconds(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// A log line's time (`2026-11-30T01:30:52.107083Z …`), in Unix seconds.
fn line_time(line: &str) -> Option<f64> {
    let stamp = line.get(..27)?.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (h, min) = (t.next()?.parse::<f64>().ok()?, t.next()?.parse::<f64>().ok()?);
    let sec = t.next()?.parse::<f64>().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + h * 3_600.0 + min * 60.0 + sec)
}

/// Recovery times read from the roles' logs, in seconds.
struct Recovery {
    /// Scheduler restart to the first task assigned after it (in any worker's log).
    scheduler: Vec<f64>,
    /// Worker restart to its first reveal, sent after the restart, of a task it held before.
    worker: Vec<f64>,
}

impl Recovery {
    fn read(logs: &std::path::Path, restarts: &[(String, f64)]) -> anyhow::Result<Self> {
        let read = |name: &str| -> anyhow::Result<Vec<(f64, String)>> {
            let text = std::fs::read_to_string(logs.join(format!("{name}.log")))?;
            Ok(text.lines().filter_map(|l| Some((line_time(l)?, l.to_owned()))).collect())
        };
        let workers: Vec<Vec<(f64, String)>> =
            (1..=WORKERS).map(|i| read(&format!("worker-{i}"))).collect::<Result<_, _>>()?;
        let task_of = |line: &str| {
            line.split_whitespace().find_map(|w| w.strip_prefix("task=")).map(str::to_owned)
        };
        let (mut scheduler, mut worker) = (Vec::new(), Vec::new());
        for (i, (name, at)) in restarts.iter().enumerate() {
            // Only until the next fault: a later one would hide this recovery.
            let until = restarts.get(i + 1).map_or(f64::MAX, |(_, t)| *t);
            if name == "scheduler" {
                let first = workers
                    .iter()
                    .flatten()
                    .filter(|(t, l)| *t > *at && *t < until && l.contains("task assigned"))
                    .map(|(t, _)| *t)
                    .fold(f64::MAX, f64::min);
                if first < f64::MAX {
                    scheduler.push(first - at);
                }
            } else if let Some(index) =
                name.strip_prefix("worker-").and_then(|n| n.parse::<usize>().ok())
            {
                let Some(lines) = workers.get(index.saturating_sub(1)) else { continue };
                let held: HashSet<String> = lines
                    .iter()
                    .filter(|(t, l)| *t < *at && l.contains("task assigned"))
                    .filter_map(|(_, l)| task_of(l))
                    .collect();
                let owed = lines.iter().find(|(t, l)| {
                    *t > *at
                        && *t < until
                        && l.contains("→ revealed (reveal mined)")
                        && task_of(l).is_some_and(|task| held.contains(&task))
                });
                if let Some((t, _)) = owed {
                    worker.push(t - at);
                }
            }
        }
        Ok(Self { scheduler, worker })
    }
}

/// `median m s, max x s over n` (or `none measured`).
fn summary(values: &[f64]) -> String {
    if values.is_empty() {
        return "none measured".into();
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let max = sorted[sorted.len() - 1];
    format!("median {median:.1} s, max {max:.1} s over {}", sorted.len())
}

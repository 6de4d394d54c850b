//! Throughput and latency of full on-chain PoCo on a devnet: anvil with 1-s blocks and the real
//! Hub, the pool `quorate devnet` runs (its scheduler and four workers with real sandboxes,
//! over libp2p on loopback), and a client submitting through the library.
//!
//! ```text
//! cargo run --release -p quorate-e2e --example throughput [-- --tasks N --trust T --pipeline D --rss M --verbose]
//! ```
//!
//! - **Throughput**: a job of N trivial tasks (default 900) at trust T (default 5: three
//!   agreeing votes while the workers are new, one once a worker's score passes 18), each
//!   worker taking D tasks per sandbox (default 48); tasks per second from the deal's block to the
//!   block of its last `TaskFinalized`, against the bound the block gas limit sets (gas limit ÷
//!   measured gas per task ÷ block time).
//! - **Latency**: blocks from `DealCreated` to the last `TaskFinalized` of a one-task job (the
//!   protocol's floor is 4: initialize, contribute, reveal, finalize).
//!
//! The last line reads `devnet PoCo throughput: <tasks/s> tasks/s, <p> % of the gas-limit
//! bound`. The evaluator is built beside this example when it is missing.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a benchmark prints its figures")]

use std::{path::PathBuf, time::Instant};

use alloy::{
    eips::BlockNumberOrTag,
    providers::{Provider, RootProvider},
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use anyhow::Context as _;
use futures::StreamExt;
use quorate_contracts::bindings::Hub;
use quorate_devnet::{Devnet, DevnetConfig, Role};
use quorate_node::{
    chain::{Chain, ChainConfig},
    client::{Client, JobEvent},
    devnet_pool,
    job::Job,
};
use quorate_primitives::{DealId, TaskId};

/// Tasks each worker takes per sandbox: trivial tasks take a millisecond and a vote a block,
/// so a worker keeps many in flight to fill the blocks (`worker.pipeline`).
const PIPELINE: u64 = 48;

/// What one run of a job measured.
struct Run {
    tasks: u64,
    first_block: u64,
    last_block: u64,
    seconds: u64,
    gas: u64,
    gas_limit: u64,
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let arg = |name: &str, default: u64| -> anyhow::Result<u64> {
        let args: Vec<String> = std::env::args().collect();
        match args.iter().position(|a| a == name) {
            Some(i) => args
                .get(i + 1)
                .with_context(|| format!("{name} needs a value"))?
                .parse()
                .with_context(|| format!("{name}: not a number")),
            None => Ok(default),
        }
    };
    let (tasks, trust, pipeline) =
        (arg("--tasks", 900)?, arg("--trust", 5)?, arg("--pipeline", PIPELINE)?);
    let program = evaluator()?;

    let in_flight = arg("--rss", 0)?;
    // Enough credits for the runs: a task costs 1 QCR.
    let credits = alloy::primitives::utils::parse_ether(&(tasks + in_flight + 100).to_string())?;
    let net = Devnet::spawn(DevnetConfig {
        workers: 4,
        block_time: 1,
        mint: credits.saturating_mul(alloy::primitives::U256::from(2u8)),
        deposit: credits,
        ..DevnetConfig::test()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let overheads = Overheads::install(std::env::args().any(|a| a == "--verbose"));
    let mut options = devnet_pool::Options::new(1, program);
    // DEV-LONG (60-s time reference): a deal of a few hundred tasks has 600 s to finish.
    options.scheduler.order_category = 1;
    // Orders large enough for every run, the 10,000-task one included.
    options.scheduler.order_volume = 100_000;
    options.pipeline = usize::try_from(pipeline)?;
    let pool = devnet_pool::start_with(&net, dir.path(), options).await?;
    let key = PrivateKeySigner::from_bytes(&net.account(Role::Client).context("no client")?.key)?;
    let mut chain_config = ChainConfig::devnet(net.endpoint().parse()?);
    chain_config.chain_id = Some(net.chain_id());
    let chain = Chain::connect(&chain_config, key.clone()).await?;
    let client = Client::new(chain, key, net.deployment().hub, vec![pool.scheduler.clone()]);
    let provider = RootProvider::new_http(net.endpoint().parse()?);

    // Latency first, on an idle pool: one task.
    let latency = run(&client, &provider, pool.pool.0, 1, trust).await?;
    let blocks = latency.last_block.saturating_sub(latency.first_block);
    println!(
        "latency: {blocks} blocks from DealCreated to the last TaskFinalized of a 1-task job at trust {trust} (floor 4, target ≤ 6)"
    );

    println!(
        "worker overhead (fetch, hash, checks, store; the sandbox's queue and run excluded), 1-task job: {}",
        overheads.summary().unwrap_or_else(|| "not seen".to_owned())
    );
    // A few more tasks on the idle pool: after a deal's first task (its terms read from the
    // chain once), a task's checks read nothing from the chain.
    overheads.clear();
    run(&client, &provider, pool.pool.0, 24, trust).await?;
    if let Some(summary) = overheads.summary() {
        println!("worker overhead, 24-task job on the idle pool: {summary}");
    }
    overheads.clear();
    let started = Instant::now();
    let r = run(&client, &provider, pool.pool.0, tasks, trust).await?;
    if let Some(summary) = overheads.summary() {
        println!("worker overhead over the throughput run: {summary}");
    }
    let rate = r.tasks as f64 / r.seconds.max(1) as f64;
    let gas_per_task = r.gas as f64 / r.tasks as f64;
    let bound = r.gas_limit as f64 / gas_per_task / 1.0;
    println!(
        "{} tasks at trust {trust} on 4 workers: blocks {}..={} ({} s of chain time, {:.1} s wall), {:.0} gas per task (everything the blocks held, matchOrders included), block gas limit {}",
        r.tasks,
        r.first_block,
        r.last_block,
        r.seconds,
        started.elapsed().as_secs_f64(),
        gas_per_task,
        r.gas_limit
    );
    println!("gas-limit bound: {bound:.1} tasks/s (1-s blocks)");
    if in_flight > 0 {
        // Resident memory while a deal of `in_flight` tasks runs, sampled every 100 ms: the
        // scheduler, the workers and the client share this process (anvil does not).
        let before = rss_kib();
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
        let sampler = {
            let peak = std::sync::Arc::clone(&peak);
            tokio::spawn(async move {
                loop {
                    peak.fetch_max(rss_kib(), std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            })
        };
        let big = run(&client, &provider, pool.pool.0, in_flight, trust).await?;
        sampler.abort();
        let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
        println!(
            "resident memory with a {}-task deal in flight: {} MiB before, {} MiB at the peak (+{} MiB; scheduler, 4 workers and client in one process)",
            big.tasks,
            before / 1024,
            peak / 1024,
            peak.saturating_sub(before) / 1024
        );
    }
    pool.stop().await?;
    println!(
        "devnet PoCo throughput: {rate:.2} tasks/s, {:.1} % of the gas-limit bound",
        100.0 * rate / bound
    );
    Ok(())
}

/// Submits `tasks` trivial tasks at `trust` and waits until every one is finalized on chain.
async fn run(
    client: &Client,
    provider: &RootProvider,
    pool: u64,
    tasks: u64,
    trust: u64,
) -> anyhow::Result<Run> {
    let mut events = Job::builder("(n) => n + 1")
        .inputs((0..tasks).map(serde_json::Value::from))
        .pool(pool)
        .trust(u32::try_from(trust)?)
        .max_price_qcr("1")?
        .submit(client)?;
    let mut deal = None;
    while let Some(event) = events.next().await {
        match event? {
            JobEvent::Deal { deal: id } => deal = Some(id),
            JobEvent::Finished { refundable } if refundable.is_empty() => break,
            JobEvent::Finished { refundable } => {
                anyhow::bail!("{} tasks were left unfinished", refundable.len())
            }
            _ => {}
        }
    }
    let deal: DealId = deal.context("no deal")?;
    let hub = client.hub();
    // The deal's block, and the block of its last finalize.
    let created = provider
        .get_logs(
            &Filter::new()
                .address(hub)
                .event_signature(Hub::DealCreated::SIGNATURE_HASH)
                .topic1(deal.0)
                .from_block(0),
        )
        .await?;
    let first_block = created.first().and_then(|l| l.block_number).context("no DealCreated")?;
    let ids: Vec<_> = (0..tasks).map(|i| TaskId::derive(deal, i).0).collect();
    let mut last_block = first_block;
    let mut finalized = 0u64;
    for chunk in ids.chunks(100) {
        let logs = loop {
            let logs = provider
                .get_logs(
                    &Filter::new()
                        .address(hub)
                        .event_signature(Hub::TaskFinalized::SIGNATURE_HASH)
                        .topic1(chunk.to_vec())
                        .from_block(first_block),
                )
                .await?;
            if logs.len() == chunk.len() {
                break logs;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        };
        finalized += logs.len() as u64;
        last_block = logs.iter().filter_map(|l| l.block_number).fold(last_block, u64::max);
    }
    let (mut gas, mut gas_limit) = (0u64, 0u64);
    let mut times = (0u64, 0u64);
    for number in first_block..=last_block {
        let block = provider
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await?
            .context("a block is missing")?;
        gas += block.header.gas_used;
        gas_limit = block.header.gas_limit;
        if number == first_block {
            times.0 = block.header.timestamp;
        }
        times.1 = block.header.timestamp;
    }
    Ok(Run {
        tasks: finalized,
        first_block,
        last_block,
        seconds: times.1.saturating_sub(times.0),
        gas,
        gas_limit,
    })
}

/// The sandbox executable beside this example's build, built when missing.
fn evaluator() -> anyhow::Result<PathBuf> {
    quorate_e2e::program("quorate-evaluator", "quorate-evaluator").map_err(anyhow::Error::msg)
}

/// The workers' own time per task, from their `task computed` events: `overhead_us`, and of
/// it `prepare_us` (before the sandbox) and `loop_wait_us` (after it, until the loop took the
/// outcome).
#[derive(Clone, Default)]
struct Overheads(std::sync::Arc<std::sync::Mutex<Vec<[u64; 3]>>>);

impl Overheads {
    /// Installs the subscriber: the workers' debug events for this, and the node's log lines
    /// on stderr when `verbose`.
    fn install(verbose: bool) -> Self {
        use tracing_subscriber::{
            Layer, filter::Targets, layer::SubscriberExt, util::SubscriberInitExt,
        };
        let me = Self::default();
        let capture = me
            .clone()
            .with_filter(Targets::new().with_target("quorate::worker", tracing::Level::DEBUG));
        let lines = verbose.then(|| {
            tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(
                Targets::new()
                    .with_target("quorate", tracing::Level::INFO)
                    .with_default(tracing::Level::WARN),
            )
        });
        let _ = tracing_subscriber::registry().with(capture).with(lines).try_init();
        me
    }

    /// `median X µs (before the sandbox Y, waiting for the loop Z) over N`, each part's own
    /// median.
    fn summary(&self) -> Option<String> {
        let all = self.0.lock().ok()?.clone();
        let median = |part: usize| {
            let mut values: Vec<u64> = all.iter().map(|v| v[part]).collect();
            values.sort_unstable();
            values.get(values.len() / 2).copied()
        };
        Some(format!(
            "median {} µs (before the sandbox {} µs, waiting for the loop {} µs) over {}",
            median(0)?,
            median(1)?,
            median(2)?,
            all.len()
        ))
    }

    fn clear(&self) {
        if let Ok(mut all) = self.0.lock() {
            all.clear();
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Overheads {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Pick(Option<u64>, u64, u64);
        impl tracing::field::Visit for Pick {
            fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
                match field.name() {
                    "overhead_us" => self.0 = Some(value),
                    "prepare_us" => self.1 = value,
                    "loop_wait_us" => self.2 = value,
                    _ => {}
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut pick = Pick(None, 0, 0);
        event.record(&mut pick);
        if let (Some(value), Ok(mut all)) = (pick.0, self.0.lock()) {
            all.push([value, pick.1, pick.2]);
        }
    }
}

/// This process's resident memory, KiB (0 where /proc is missing).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

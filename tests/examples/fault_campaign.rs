//! The fault campaign: a devnet job of a few hundred tasks while the pool's scheduler and its
//! workers, each a `quorate` process, are killed (SIGKILL, as a crash) and started again on a
//! seeded random schedule; then the invariants of ROLES.md are checked from the chain's events
//! alone.
//!
//! ```text
//! cargo run --release -p quorate-e2e --example fault-campaign [-- --quick] [--seed N] [--tasks N] [--secs S]
//! ```
//!
//! The quick form (`--quick`: 60 tasks, 40 s of faults) runs in the README's test command; the
//! default is 300 tasks and 240 s of faults. The chain is anvil with 1-s blocks; the pool sells
//! DEV-LONG tasks (final deadline 600 s after the deal). The client runs in this process, through
//! the library, and is not killed. The last line reads `fault campaign: <n> faults, <t> tasks,
//! credits conserved: yes|no, double payments: <n>, honest stake lost: <amount>`; the process
//! exits with 1 when an invariant fails.

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a campaign prints its figures")]

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, B256, U256},
    providers::{Provider, RootProvider},
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::SolEvent,
};
use anyhow::Context as _;
use futures::StreamExt;
use quorate_contracts::bindings::{Hub, QuorateCredit};
use quorate_devnet::{Devnet, DevnetConfig, Role};
use quorate_node::{
    chain::{Chain, ChainConfig},
    client::{
        Client, JobEvent,
        report::{self, TaskOnChain},
    },
    devnet::write_files,
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
    let tasks = arg("--tasks")?.unwrap_or(if quick { 60 } else { 300 });
    let fault_secs = arg("--secs")?.unwrap_or(if quick { 40 } else { 240 });
    let quorate = quorate_e2e::program("quorate-node", "quorate").map_err(anyhow::Error::msg)?;
    let evaluator = quorate_e2e::program("quorate-evaluator", "quorate-evaluator")
        .map_err(anyhow::Error::msg)?;

    // The chain, its accounts' keystores and devnet.toml.
    let net = Devnet::spawn(DevnetConfig { workers: WORKERS as u32, ..DevnetConfig::test() })
        .await
        .context("starting the devnet")?;
    let dir = tempfile::tempdir()?;
    let files = write_files(&net, &dir.path().join("devnet"))?;
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs)?;
    let port = free_port()?;
    let common = |data: &str| -> Vec<String> {
        vec![
            "--config".into(),
            files.config.display().to_string(),
            "--data-dir".into(),
            dir.path().join(data).display().to_string(),
            "--set".into(),
            format!("evaluator.program={}", evaluator.display()),
            // DEV-LONG: a deal's final deadline is 600 s after it starts.
            "--set".into(),
            "scheduler.order_category=1".into(),
        ]
    };
    let password = files.password_file.display().to_string();

    // The pool: created once, then its scheduler as a process of its own.
    let mut init = Command::new(&quorate);
    init.args(common("pool")).args(["scheduler", "init", "--wallet", "operator"]);
    init.args(["--password-file", &password]);
    let out = init.output()?;
    anyhow::ensure!(
        out.status.success(),
        "scheduler init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut scheduler_args = common("pool");
    scheduler_args.extend(
        ["scheduler", "run", "--wallet", "operator", "--password-file", &password, "--listen"]
            .map(String::from),
    );
    scheduler_args.push(format!("/ip4/127.0.0.1/tcp/{port}"));
    let mut roles = vec![Process::new("scheduler", &quorate, scheduler_args, &logs)];
    let address = roles[0].start_reading_address()?;
    for i in 1..=WORKERS {
        let name = format!("worker-{i}");
        let mut worker_args = common(&name);
        worker_args.extend(
            ["worker", "run", "--wallet", &name, "--password-file", &password, "--pool", "1"]
                .map(String::from),
        );
        worker_args.extend(["--cores".into(), "1".into(), "--bootstrap".into(), address.clone()]);
        let mut worker = Process::new(&name, &quorate, worker_args, &logs);
        worker.start()?;
        roles.push(worker);
    }

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

    // The faults: a role killed, started again a moment later, on a seeded schedule.
    let mut rng = XorShift(seed.max(1));
    let mut faults: BTreeMap<String, u32> = BTreeMap::new();
    let started = Instant::now();
    let mut outcome = None;
    while started.elapsed() < Duration::from_secs(fault_secs) {
        let pause = Duration::from_millis(2_000 + rng.below(4_000));
        if let Ok(result) = tokio::time::timeout(pause, &mut done).await {
            outcome = Some(result);
            break;
        }
        let victim = usize::try_from(rng.below(roles.len() as u64)).unwrap_or(0);
        let role = &mut roles[victim];
        role.kill();
        *faults.entry(format!("kill -9 {}", role.kind())).or_default() += 1;
        tokio::time::sleep(Duration::from_millis(500 + rng.below(2_500))).await;
        role.start()?;
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
                let report = report::read(&provider, hub, deal).await?;
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
            for role in &mut roles {
                role.kill();
            }
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
    for role in &mut roles {
        role.kill();
    }

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
    if !conserved || check.double_payments > 0 || !check.honest_lost.is_zero() {
        eprintln!("an invariant failed; the roles' logs are in {}", logs.display());
        let kept = dir.keep();
        eprintln!("(kept {})", kept.display());
        std::process::exit(1);
    }
    Ok(())
}

/// A role's process: its command, started and killed at will, its output appended to a log.
struct Process {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Process {
    fn new(name: &str, program: &Path, args: Vec<String>, logs: &Path) -> Self {
        Self {
            name: name.to_owned(),
            program: program.to_path_buf(),
            args,
            log: logs.join(format!("{name}.log")),
            child: None,
        }
    }

    fn kind(&self) -> &str {
        if self.name.starts_with("worker") { "worker" } else { "scheduler" }
    }

    fn command(&self) -> anyhow::Result<Command> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let mut command = Command::new(&self.program);
        command.args(&self.args).stdout(Stdio::null()).stderr(log);
        Ok(command)
    }

    fn start(&mut self) -> anyhow::Result<()> {
        self.child = Some(self.command()?.spawn()?);
        Ok(())
    }

    /// Starts it and returns the first address it prints (the scheduler's, with its peer id).
    fn start_reading_address(&mut self) -> anyhow::Result<String> {
        let mut command = self.command()?;
        command.stdout(Stdio::piped());
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().context("no stdout")?;
        self.child = Some(child);
        let mut lines = BufReader::new(stdout).lines();
        let address = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.trim().starts_with("/ip4/").then(|| l.trim().to_owned()))
            .context("the scheduler printed no address")?;
        std::thread::spawn(move || lines.for_each(drop));
        Ok(address)
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the chain says after the campaign.
struct Invariants {
    /// QCR the Hub holds (the token's balance of it).
    held: U256,
    /// What its accounts say it holds: every account's free and frozen, and the penalty
    /// account.
    accounted: U256,
    /// Payments made twice: a second `Rewarded` for one account and task, or a task both
    /// finalized and claimed.
    double_payments: u64,
    /// Stakes seized from workers (every worker here is honest).
    honest_lost: U256,
    /// The pool owner's stakes seized (by claims).
    pool_seized: U256,
    finalized: u64,
    claimed: u64,
}

impl Invariants {
    async fn read(
        provider: &RootProvider,
        hub: Address,
        credit: Address,
        workers: &HashSet<Address>,
        owner: Address,
    ) -> anyhow::Result<Self> {
        let logs = provider.get_logs(&Filter::new().address(hub).from_block(0)).await?;
        let mut accounts: HashSet<Address> = HashSet::new();
        let mut rewards: HashMap<(Address, B256), u64> = HashMap::new();
        let (mut finalized, mut claimed) = (HashSet::new(), HashSet::new());
        let (mut honest_lost, mut pool_seized) = (U256::ZERO, U256::ZERO);
        for log in &logs {
            let inner = &log.inner;
            if let Ok(e) = Hub::Deposited::decode_log(inner) {
                accounts.insert(e.account);
            } else if let Ok(e) = Hub::Rewarded::decode_log(inner) {
                accounts.insert(e.account);
                *rewards.entry((e.account, e.r#ref)).or_default() += 1;
            } else if let Ok(e) = Hub::Seized::decode_log(inner) {
                accounts.insert(e.account);
                // (The client's price, paid out at each finalize, is seized too.)
                if workers.contains(&e.account) {
                    honest_lost = honest_lost.saturating_add(e.amount);
                } else if e.account == owner {
                    pool_seized = pool_seized.saturating_add(e.amount);
                }
            } else if let Ok(e) = Hub::Locked::decode_log(inner) {
                accounts.insert(e.account);
            } else if let Ok(e) = Hub::Unlocked::decode_log(inner) {
                accounts.insert(e.account);
            } else if let Ok(e) = Hub::TaskFinalized::decode_log(inner) {
                finalized.insert(e.taskId);
            } else if let Ok(e) = Hub::TaskClaimed::decode_log(inner) {
                claimed.insert(e.taskId);
            }
        }
        let mut accounted = U256::ZERO;
        for account in &accounts {
            let b = quorate_node::accounts::balances(provider, hub, *account).await?;
            accounted = accounted.saturating_add(b.free).saturating_add(b.frozen);
        }
        let hub_view = Hub::new(hub, provider.clone());
        accounted = accounted.saturating_add(hub_view.penaltyBalance().call().await?);
        let held = QuorateCredit::new(credit, provider.clone()).balanceOf(hub).call().await?;
        let twice = rewards.values().filter(|n| **n > 1).map(|n| n - 1).sum::<u64>();
        let both = finalized.intersection(&claimed).count() as u64;
        Ok(Self {
            held,
            accounted,
            double_payments: twice + both,
            honest_lost,
            pool_seized,
            finalized: finalized.len() as u64,
            claimed: claimed.len() as u64,
        })
    }
}

/// A free TCP port on loopback (the scheduler listens there across its restarts).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
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

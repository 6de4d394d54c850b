//! `quorate worker`: join a pool and run its tasks (`run`); what this data directory holds
//! (`status`).

use std::{collections::BTreeMap, io::Write, process::ExitCode, time::Duration};

use clap::{Args as ClapArgs, Subcommand};
use quorate_primitives::PoolId;

use super::{
    Args,
    wallet::{PasswordArgs, Pick, unlock},
};
use crate::{
    accounts,
    config::{GpuChoice, NodeConfig},
    units::{Currency, short},
    worker::{self, WorkerConfig, exec::ExecConfig, store::WorkerStore},
};

#[derive(Debug, Subcommand)]
pub(super) enum WorkerCommand {
    /// Join a pool and run the tasks its scheduler assigns, until Ctrl-C or SIGTERM (then take
    /// no new task and finish the running ones).
    Run(RunArgs),
    /// What the running worker of this data directory is doing (its pool, sandboxes, tasks
    /// with their progress, earnings); when none runs, the tasks its store holds.
    Status(StatusArgs),
    /// Where the worker's rewards go: another address (a cold wallet) than the operational
    /// key that votes and stakes, or the worker itself again with `--to self`.
    Payout(PayoutArgs),
}

#[derive(Debug, ClapArgs)]
pub(super) struct PayoutArgs {
    /// The address rewards are credited to from now on (`self`: the worker's own account).
    #[arg(long, value_name = "ADDRESS")]
    to: String,
    #[command(flatten)]
    pick: Pick,
    #[command(flatten)]
    password: PasswordArgs,
}

#[derive(Debug, ClapArgs)]
pub(super) struct RunArgs {
    #[command(flatten)]
    pick: Pick,
    #[command(flatten)]
    password: PasswordArgs,
    /// The pool to join (default: worker.pool).
    #[arg(long, value_name = "N")]
    pool: Option<u64>,
    /// Sandboxes, so tasks at once (default: worker.cores, else evaluator.sandboxes).
    #[arg(long, value_name = "N")]
    cores: Option<u64>,
    /// A peer to start from, ending in /p2p/<peer id> (repeatable; added to worker.bootstrap).
    #[arg(long, value_name = "ADDR")]
    bootstrap: Vec<String>,
    /// For a private pool: the join credential its operator signed for this worker (default:
    /// worker.credential).
    #[arg(long, value_name = "CREDENTIAL")]
    credential: Option<String>,
    /// Offer WebGPU compute on this machine's GPU, whatever adapter it is (default:
    /// worker.gpu, "auto": when a hardware GPU is found).
    #[arg(long)]
    gpu: bool,
    /// Show a dashboard on the terminal (tasks, progress, earnings, sandboxes), redrawn every
    /// second; logs go to <data_dir>/worker/worker.log instead of stderr.
    #[arg(long)]
    dashboard: bool,
}

#[derive(Debug, ClapArgs)]
pub(super) struct StatusArgs {
    /// Also show this wallet's balances (ETH for gas, QCR free and frozen in the Hub).
    #[arg(long)]
    wallet: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub(super) async fn run(args: &Args, command: &WorkerCommand) -> anyhow::Result<ExitCode> {
    let config = args.node_config()?;
    config.validate()?;
    match command {
        WorkerCommand::Run(run) if run.dashboard => {
            let log = config.node.data_dir.join("worker").join("worker.log");
            if let Some(dir) = log.parent() {
                std::fs::create_dir_all(dir)?;
            }
            crate::logs::init_to_file(&log)
                .map_err(|e| anyhow::anyhow!("cannot write the log {}: {e}", log.display()))?;
            self::run_worker(&config, run).await
        }
        WorkerCommand::Run(run) => {
            args.init_logs();
            self::run_worker(&config, run).await
        }
        WorkerCommand::Status(status) => self::status(&config, status).await,
        WorkerCommand::Payout(payout) => self::payout(&config, payout).await,
    }
}

async fn payout(config: &NodeConfig, payout: &PayoutArgs) -> anyhow::Result<ExitCode> {
    let to = match payout.to.as_str() {
        "self" => alloy::primitives::Address::ZERO,
        text => super::wallet::recipient(text)?,
    };
    let hub = config.hub()?;
    let signer = unlock(config, &payout.pick, &payout.password)?;
    let chain = crate::chain::Chain::connect(&config.chain_config()?, signer).await?;
    let receipt = crate::accounts::set_payout(&chain, hub, to).await?;
    let shown = if to.is_zero() { chain.address() } else { to };
    writeln!(
        std::io::stdout().lock(),
        "Rewards of {} go to {shown} from now on (transaction {}); stakes still lock and return on {}.",
        chain.address(),
        receipt.transaction_hash,
        chain.address()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Whether the worker offers WebGPU: `--gpu` or `worker.gpu = true`; with `"auto"`, when a
/// sandbox finds a hardware GPU.
fn offers_gpu(config: &NodeConfig, run: &RunArgs) -> bool {
    match (run.gpu, config.worker.gpu) {
        (true, _) | (_, GpuChoice::On) => true,
        (_, GpuChoice::Off) => false,
        (_, GpuChoice::Auto) => {
            let found = worker::exec::gpu_class(&config.evaluator.program());
            match found.as_deref() {
                Some(class) if GpuChoice::is_hardware(class) => {
                    tracing::info!(target: "quorate::worker", class, "a GPU found: offering WebGPU (worker.gpu = \"auto\")");
                    true
                }
                _ => false,
            }
        }
    }
}

/// The worker's settings from the configuration and the flags.
fn worker_config(config: &NodeConfig, run: &RunArgs) -> anyhow::Result<WorkerConfig> {
    let w = &config.worker;
    let pool = run.pool.unwrap_or(w.pool);
    let cores = run.cores.unwrap_or(w.cores);
    let sandboxes = match usize::try_from(cores) {
        Ok(0) | Err(_) => config.evaluator.sandboxes(),
        Ok(n) => n,
    };
    let worker = WorkerConfig {
        pool: PoolId(pool),
        hub: config.hub()?,
        chain: config.chain_config()?,
        data_dir: config.node.data_dir.clone(),
        exec: ExecConfig {
            program: config.evaluator.program(),
            sandboxes,
            nice: i32::try_from(w.nice).unwrap_or(19),
            task_memory_mib: u64::from(w.task_memory_mib),
            gpu: offers_gpu(config, run),
            gpu_slots: usize::try_from(w.gpu_slots).unwrap_or(1),
            gpu_memory_mib: w.gpu_memory_mib,
        },
        listen: super::multiaddrs("worker.listen", &w.listen)?,
        bootstrap: super::multiaddrs(
            "--bootstrap",
            &[w.bootstrap.as_slice(), run.bootstrap.as_slice()].concat(),
        )?,
        mdns: w.mdns,
        fetch: quorate_p2p::fetch::FetchConfig::default(),
        proof_ttl: Duration::from_secs(24 * 3600),
        drain: Duration::from_secs(w.drain_secs),
        pipeline: usize::try_from(w.pipeline).unwrap_or(1),
        credential: match &run.credential {
            Some(text) => Some(quorate_p2p::identity::JoinCredential::from_text(text).map_err(|e| {
                anyhow::anyhow!("--credential is not a join credential ({e}): paste the whole line `quorate scheduler credential` printed")
            })?),
            None => w.join_credential()?,
        },
        status: w.status_listen().map_err(|e| anyhow::anyhow!("worker.status_listen: {e}"))?,
    };
    worker.validate()?;
    Ok(worker)
}

async fn run_worker(config: &NodeConfig, run: &RunArgs) -> anyhow::Result<ExitCode> {
    let worker = worker_config(config, run)?;
    let signer = unlock(config, &run.pick, &run.password)?;
    tracing::info!(
        target: "quorate::worker",
        pool = worker.pool.0,
        sandboxes = worker.exec.sandboxes,
        nice = worker.exec.nice,
        data = %WorkerStore::path_in(&worker.data_dir).display(),
        "starting"
    );
    if !run.dashboard {
        worker::run(worker, signer, stop_signal()).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let running = worker::spawn(worker, signer).await?;
    let (status, balances) = (running.status(), running.balances());
    let draw = |note: &str| {
        let text = super::worker_view::render(&status.borrow(), &balances.borrow());
        // Home, clear, the screen, then the note.
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\x1b[H\x1b[2J{text}\n{note}\n");
        let _ = out.flush();
    };
    let mut every = tokio::time::interval(Duration::from_secs(1));
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = every.tick() => draw("Ctrl-C stops: no new task, the running ones finish first."),
        }
    }
    draw("Stopping: finishing the running tasks…");
    running.stop();
    running.join().await?;
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn status(config: &NodeConfig, status: &StatusArgs) -> anyhow::Result<ExitCode> {
    let store_dir = config.node.data_dir.join("worker");
    match worker::status::read(&store_dir, &config.worker.status_listen).await {
        Ok(live) => {
            let mut out = std::io::stdout().lock();
            if status.json {
                writeln!(out, "{}", serde_json::to_string(&live)?)?;
            } else {
                write!(out, "{}", super::worker_view::render(&live, &live.balances))?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        Err(e) => tracing::debug!("no running worker answered: {e}"),
    }
    let store = WorkerStore::open(&config.node.data_dir).map_err(|e| match e {
        crate::store::StoreError::InUse { path } => anyhow::anyhow!(
            "{} is held by a running `quorate worker run`: read its log, or stop it to read the store",
            path.display()
        ),
        other => other.into(),
    })?;
    let tasks = store.tasks()?;
    let cursor = store.cursor()?;
    let mut phases: BTreeMap<&str, usize> = BTreeMap::new();
    for task in &tasks {
        *phases.entry(task.phase_name()).or_default() += 1;
    }
    let balances = match &status.wallet {
        Some(name) => {
            let wallets = crate::wallet::Wallets::new(&config.wallet.keystore_dir);
            let entry = wallets.choose(Some(name))?;
            let address = entry.address.ok_or_else(|| {
                anyhow::anyhow!(
                    "the keystore of {name} does not record its address: run `quorate wallet address --wallet {name}`"
                )
            })?;
            let (provider, _) = crate::chain::connect_provider(&config.chain_config()?).await?;
            Some(accounts::balances(&provider, config.hub()?, address).await?)
        }
        None => None,
    };
    let mut out = std::io::stdout().lock();
    if status.json {
        let json = serde_json::json!({
            "store": store.path(),
            "tasks": tasks.iter().map(|t| serde_json::json!({
                "task": t.assignment.task,
                "pool": t.assignment.pool,
                "job": t.assignment.job,
                "phase": t.phase_name(),
            })).collect::<Vec<_>>(),
            "phases": phases,
            "next_block": cursor.map(|c| c.next_block),
            "balances": balances.map(|b| serde_json::json!({
                "account": b.account,
                "eth": b.eth.to_string(),
                "free": b.free.to_string(),
                "frozen": b.frozen.to_string(),
            })),
        });
        writeln!(out, "{json}")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "Worker store {}: {} task(s) held.", store.path().display(), tasks.len())?;
    for (phase, count) in &phases {
        writeln!(out, "  {phase:<12} {count}")?;
    }
    for task in &tasks {
        writeln!(
            out,
            "  {} {} ({}, job {})",
            task.assignment.task,
            task.phase_name(),
            task.assignment.pool,
            task.assignment.job
        )?;
    }
    if let Some(cursor) = cursor {
        writeln!(out, "Hub events followed up to block {}.", cursor.next_block.saturating_sub(1))?;
    }
    if let Some(b) = balances {
        writeln!(
            out,
            "{}: {} ETH for gas, {} QCR free in the Hub for stakes, {} QCR frozen.",
            b.account,
            short(b.eth, Currency::Eth),
            short(b.free, Currency::Qcr),
            short(b.frozen, Currency::Qcr)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

//! `quorate scheduler`: create the pool (`init`) and show it (`status`).

use std::{io::Write, process::ExitCode};

use alloy::primitives::U256;
use clap::{Args as ClapArgs, Subcommand};
use quorate_contracts::bindings::Hub;

use super::{
    Args,
    wallet::{PasswordArgs, Pick, connect, unlock},
};
use crate::{
    accounts,
    config::NodeConfig,
    scheduler::{
        ledger, pool, service,
        state::{PoolRecord, SchedulerState},
    },
    units::{Currency, Currency::Qcr, parse_amount, short},
};

/// The Hub's pool stake per task, percent of the price (`POOL_STAKE_RATIO`).
const POOL_STAKE_PERCENT: u64 = 30;

#[derive(Debug, Subcommand)]
pub(super) enum SchedulerCommand {
    /// Create the pool on the Hub with the policy of [scheduler] (stake ratio, reward share,
    /// trust, categories), optionally deposit stake, and remember the pool in this data
    /// directory.
    Init(InitArgs),
    /// Show the pool: its policy on chain, the owner's Hub balances, and how many tasks the
    /// free balance can stake.
    Status(StatusArgs),
    /// Run the pool: publish its orders, take jobs, follow its deals on chain, hand tasks to
    /// workers and drive consensus, until Ctrl-C or SIGTERM.
    Run(RunArgs),
    /// Print the operator's link to the running scheduler's dashboard (it holds the operator's
    /// token: keep it to yourself).
    Dashboard,
    /// The join credentials of a private pool (scheduler.private): issue one for a worker
    /// address, revoke a worker, list them.
    #[command(subcommand)]
    Credential(super::credential::CredentialCommand),
}

#[derive(Debug, ClapArgs)]
pub(super) struct RunArgs {
    #[command(flatten)]
    pick: Pick,
    #[command(flatten)]
    password: PasswordArgs,
    /// Where to listen for workers and clients (a multiaddr; repeatable).
    #[arg(long, value_name = "MULTIADDR", default_value = "/ip4/0.0.0.0/tcp/4001")]
    listen: Vec<String>,
    /// Peers to join the network through (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    bootstrap: Vec<String>,
}

#[derive(Debug, ClapArgs)]
pub(super) struct InitArgs {
    #[command(flatten)]
    pick: Pick,
    #[command(flatten)]
    password: PasswordArgs,
    /// QCR to deposit in the Hub as the pool's stake (approve + deposit), e.g. `100`.
    #[arg(long, value_name = "AMOUNT")]
    stake: Option<String>,
    /// A URI describing the pool (its web page, its terms), recorded on chain.
    #[arg(long, value_name = "URI", default_value = "")]
    metadata: String,
}

#[derive(Debug, ClapArgs)]
pub(super) struct StatusArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub(super) async fn run(args: &Args, command: &SchedulerCommand) -> anyhow::Result<ExitCode> {
    let config = args.node_config()?;
    config.validate()?;
    match command {
        SchedulerCommand::Init(init) => self::init(&config, init).await,
        SchedulerCommand::Status(status) => self::status(&config, status).await,
        SchedulerCommand::Credential(command) => super::credential::run(&config, command).await,
        SchedulerCommand::Dashboard => {
            let link = crate::scheduler::dashboard::operator_link(&config)?;
            writeln!(std::io::stdout().lock(), "{link}")?;
            Ok(ExitCode::SUCCESS)
        }
        SchedulerCommand::Run(run) => {
            args.init_logs();
            self::run_pool(&config, run).await
        }
    }
}

async fn init(config: &NodeConfig, init: &InitArgs) -> anyhow::Result<ExitCode> {
    let price = parse_amount(&config.scheduler.price)
        .and_then(|a| a.in_currency(Currency::Qcr))
        .map_err(|e| anyhow::anyhow!("scheduler.price: {e}"))?;
    let stake = init
        .stake
        .as_deref()
        .map(|text| parse_amount(text).and_then(|a| a.in_currency(Currency::Qcr)))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--stake: {e}"))?;
    let state = SchedulerState::open(config)?;
    if let Some(existing) = state.pool()? {
        anyhow::bail!(
            "this data directory already runs pool {} (owner {}): give another pool another --data-dir",
            existing.pool.0,
            existing.owner
        );
    }
    let (chain, hub) = connect(config, &init.pick, &init.password).await?;
    let owner = chain.address();
    check_categories(&chain, hub, &config.scheduler.categories).await?;
    if let Some(amount) = stake.filter(|a| !a.is_zero()) {
        accounts::deposit(&chain, hub, amount).await?;
    }
    let (id, since_block) =
        pool::create_at(&chain, hub, pool::policy(&config.scheduler), &init.metadata).await?;
    state.set_pool(PoolRecord { pool: id, owner, hub, since_block })?;

    let balances = accounts::balances(chain.provider(), hub, owner).await?;
    let per_task = price.saturating_mul(U256::from(POOL_STAKE_PERCENT)) / U256::from(100u8);
    let mut out = std::io::stdout().lock();
    writeln!(out, "Pool {} created on the Hub {hub}, owned by {owner}.", id.0)?;
    writeln!(
        out,
        "Policy: workers stake {} % of a task's price, the pool keeps {} % of its reward, trust up to {}, categories {:?}.",
        config.scheduler.worker_stake_percent,
        config.scheduler.reward_percent,
        config.scheduler.max_trust,
        config.scheduler.categories,
    )?;
    writeln!(out, "{}", stake_line(balances.free, per_task, price))?;
    writeln!(out, "Show it with: quorate scheduler status")?;
    Ok(ExitCode::SUCCESS)
}

/// The pool of this data directory: from `pool.json` while the scheduler runs (it holds the
/// store), else from the store.
pub(super) fn known_pool(config: &NodeConfig) -> anyhow::Result<PoolRecord> {
    if let Some(known) = SchedulerState::read_pool(config) {
        return Ok(known);
    }
    let state = SchedulerState::open(config)?;
    state.pool()?.ok_or_else(|| {
        anyhow::anyhow!(
            "no pool in {}: create one with `quorate scheduler init`",
            state.path().display()
        )
    })
}

async fn run_pool(config: &NodeConfig, run: &RunArgs) -> anyhow::Result<ExitCode> {
    let owner = unlock(config, &run.pick, &run.password)?;
    let keypair = service::keypair(config)?;
    let chain_id = crate::chain::connect_provider(&config.chain_config()?).await?.1;
    let mut p2p = quorate_p2p::Config::new(keypair, chain_id);
    p2p.listen = super::multiaddrs("--listen", &run.listen)?;
    p2p.bootstrap = super::multiaddrs("--bootstrap", &run.bootstrap)?;
    let running = service::start(service::Settings { config: config.clone(), owner, p2p }).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "Pool {} running; listening on:", running.pool.0)?;
    for addr in &running.addrs {
        writeln!(out, "  {addr}/p2p/{}", running.p2p.peer_id())?;
    }
    if let Some(url) = &running.dashboard {
        writeln!(out, "Dashboard: {url} (the operator's link: `quorate scheduler dashboard`)")?;
    }
    writeln!(out, "Stop with Ctrl-C.")?;
    drop(out);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut running = running;
    let signalled = tokio::select! {
        _ = tokio::signal::ctrl_c() => true,
        _ = term.recv() => true,
        result = running.finished() => {
            result?;
            false
        }
    };
    if signalled {
        running.stop().await?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses categories the Hub does not have, naming those it has.
async fn check_categories(
    chain: &crate::chain::Chain,
    hub: alloy::primitives::Address,
    wanted: &[u8],
) -> anyhow::Result<()> {
    // The Hub's own reading of its categories (as `quorate hub info` prints them).
    let info = crate::hub::info(chain.provider(), chain.chain_id(), hub).await?;
    let Some(missing) = wanted.iter().find(|c| usize::from(**c) >= info.categories.len()) else {
        return Ok(());
    };
    let have: Vec<String> = info
        .categories
        .iter()
        .enumerate()
        .map(|(id, (name, time_ref))| format!("{id} {name} ({time_ref} s)"))
        .collect();
    anyhow::bail!(
        "the Hub has no category {missing} (it has {}): set scheduler.categories to some of them",
        if have.is_empty() { "none".to_owned() } else { have.join(", ") }
    )
}

/// What the free balance stakes: `per_task` locked per task sold at `price`.
fn stake_line(free: U256, per_task: U256, price: U256) -> String {
    let tasks = if per_task.is_zero() { U256::MAX } else { free / per_task };
    format!(
        "Hub balance free: {} QCR, the pool's stake for {} tasks at {} QCR ({} QCR locked per task).",
        short(free, Qcr),
        tasks,
        short(price, Qcr),
        short(per_task, Qcr)
    )
}

async fn status(config: &NodeConfig, status: &StatusArgs) -> anyhow::Result<ExitCode> {
    let known = known_pool(config)?;
    let (provider, _) = crate::chain::connect_provider(&config.chain_config()?).await?;
    let hub = Hub::new(known.hub, provider.clone());
    let view = hub.pool(known.pool.0).call().await.map_err(|e| {
        anyhow::anyhow!("cannot read pool {} from the Hub {}: {e}", known.pool.0, known.hub)
    })?;
    let balances = accounts::balances(&provider, known.hub, known.owner).await?;
    let range = config.chain_config()?.log_block_range;
    let ledger =
        ledger::read(&provider, known.hub, known.pool.0, known.owner, known.since_block, range)
            .await?;
    if status.json {
        let json = serde_json::json!({
            "pool": known.pool.0,
            "owner": known.owner,
            "hub": known.hub,
            "policy": {
                "worker_stake_percent": view.policy.workerStakeRatio,
                "reward_percent": view.policy.schedulerRewardRatio,
                "max_trust": view.policy.maxTrust,
                "category_mask": view.policy.categoryMask.to_string(),
            },
            "balances": { "free": balances.free.to_string(), "frozen": balances.frozen.to_string() },
            "earned": ledger.earned.to_string(),
            "workers": ledger.workers.iter().map(|(w, votes)| serde_json::json!({ "worker": w, "votes": votes })).collect::<Vec<_>>(),
            "deals": ledger.deals.iter().map(|(deal, report)| serde_json::json!({
                "deal": deal.deal,
                "client": report.client,
                "tasks": deal.tasks,
                "price": deal.price.to_string(),
                "trust": deal.trust,
                "states": by_state(report).into_iter().map(|(s, n)| (s.to_owned(), serde_json::Value::from(n))).collect::<serde_json::Map<_, _>>(),
            })).collect::<Vec<_>>(),
        });
        writeln!(std::io::stdout().lock(), "{json}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let price = parse_amount(&config.scheduler.price)
        .and_then(|a| a.in_currency(Currency::Qcr))
        .unwrap_or_default();
    let per_task = price.saturating_mul(U256::from(POOL_STAKE_PERCENT)) / U256::from(100u8);
    let mut out = std::io::stdout().lock();
    writeln!(out, "Pool {} on the Hub {}, owned by {}.", known.pool.0, known.hub, known.owner)?;
    writeln!(
        out,
        "Policy on chain: workers stake {} %, the pool keeps {} %, trust up to {}.",
        view.policy.workerStakeRatio, view.policy.schedulerRewardRatio, view.policy.maxTrust
    )?;
    writeln!(
        out,
        "Hub balance frozen (stakes of running deals): {} QCR.",
        short(balances.frozen, Qcr)
    )?;
    writeln!(out, "{}", stake_line(balances.free, per_task, price))?;
    let tasks: u64 = ledger.deals.iter().map(|(d, _)| u64::from(d.tasks)).sum();
    writeln!(
        out,
        "Earned: {} QCR from its tasks' rewards; {} deal(s), {tasks} task(s) sold.",
        short(ledger.earned, Qcr),
        ledger.deals.len()
    )?;
    for (deal, report) in &ledger.deals {
        let states: Vec<String> = by_state(report)
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(state, n)| format!("{n} {state}"))
            .collect();
        writeln!(
            out,
            "  deal {}  client {}  {} task(s) at {} QCR, trust {}: {}",
            deal.deal,
            report.client,
            deal.tasks,
            short(deal.price, Qcr),
            deal.trust,
            states.join(", ")
        )?;
    }
    writeln!(out, "Workers that voted on its tasks: {}.", ledger.workers.len())?;
    for (worker, votes) in &ledger.workers {
        writeln!(out, "  {worker}  {votes} vote(s)")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A deal's tasks by state name, in the order a task goes through them.
fn by_state(report: &crate::client::report::DealReport) -> Vec<(&'static str, usize)> {
    use crate::client::report::TaskOnChain as S;
    [S::Unset, S::Active, S::Revealing, S::Completed, S::Failed]
        .into_iter()
        .map(|s| (s.name(), report.count(s)))
        .collect()
}

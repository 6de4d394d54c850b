//! `quorate scheduler credential issue | revoke | list`: the join credentials of a private pool
//! (`scheduler.private`). `issue` signs one with the owner's wallet and records it; `revoke`
//! turns a worker away at its next heartbeat and every join after; `list` shows what was
//! issued and revoked. They work while the scheduler runs (the register is a file of its own
//! beside the store).

use std::{io::Write, process::ExitCode};

use clap::{Args as ClapArgs, Subcommand};
use quorate_p2p::identity::JoinCredential;

use super::{
    scheduler::known_pool,
    wallet::{PasswordArgs, Pick, recipient, unlock},
};
use crate::{
    config::NodeConfig,
    scheduler::{credentials::Register, service},
};

#[derive(Debug, Subcommand)]
pub(crate) enum CredentialCommand {
    /// Sign a join credential that lets one worker address in until it expires, record it, and
    /// print it for the worker's operator (a revocation of that worker is lifted).
    Issue(IssueArgs),
    /// Turn a worker away: at its next heartbeat, and at every join until a credential is
    /// issued to it again.
    Revoke(RevokeArgs),
    /// List the credentials issued and the workers revoked.
    List(ListArgs),
}

#[derive(Debug, ClapArgs)]
pub(crate) struct IssueArgs {
    /// The worker's address (its operational wallet).
    worker: String,
    /// Days it stays valid (1 to 400).
    #[arg(long, default_value_t = 30)]
    days: u64,
    #[command(flatten)]
    pick: Pick,
    #[command(flatten)]
    password: PasswordArgs,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct RevokeArgs {
    /// The worker's address.
    worker: String,
}

#[derive(Debug, ClapArgs)]
pub(crate) struct ListArgs {
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

pub(super) async fn run(
    config: &NodeConfig,
    command: &CredentialCommand,
) -> anyhow::Result<ExitCode> {
    match command {
        CredentialCommand::Issue(args) => issue(config, args).await,
        CredentialCommand::Revoke(args) => revoke(config, args),
        CredentialCommand::List(args) => list(config, args),
    }
}

fn worker(text: &str) -> anyhow::Result<alloy::primitives::Address> {
    recipient(text).map_err(|e| anyhow::anyhow!("{text} is not a worker address: {e}"))
}

async fn issue(config: &NodeConfig, args: &IssueArgs) -> anyhow::Result<ExitCode> {
    let worker = worker(&args.worker)?;
    let max_days = service::CREDENTIAL_MAX_SECS / 86_400;
    if !(1..=max_days).contains(&args.days) {
        anyhow::bail!("--days must be 1 to {max_days}: a credential always expires");
    }
    let known = known_pool(config)?;
    let owner = unlock(config, &args.pick, &args.password)?;
    let (_, chain_id) = crate::chain::connect_provider(&config.chain_config()?).await?;
    if owner.address() != known.owner {
        anyhow::bail!(
            "the wallet {} does not own pool {} (its owner is {}): choose the owner's wallet with --wallet",
            owner.address(),
            known.pool.0,
            known.owner
        );
    }
    let now = crate::unix_now();
    let expires_at = now.saturating_add(args.days.saturating_mul(86_400));
    let credential = JoinCredential::sign(&owner, known.pool, worker, chain_id, expires_at)?;
    let path = Register::path(config);
    let mut register = Register::load(&path).map_err(anyhow::Error::msg)?;
    register.issue(worker, now, expires_at);
    register.save(&path).map_err(anyhow::Error::msg)?;
    writeln!(std::io::stdout().lock(), "{}", credential.to_text())?;
    writeln!(
        std::io::stderr().lock(),
        "A join credential for {worker} in pool {} for {} days (until unix time {expires_at}). \
         Its operator runs `quorate worker run --credential …` or sets worker.credential; \
         scheduler.private must be true for the pool to ask for one, and \
         `quorate scheduler credential revoke {worker}` turns the worker away sooner.",
        known.pool.0,
        args.days
    )?;
    Ok(ExitCode::SUCCESS)
}

fn revoke(config: &NodeConfig, args: &RevokeArgs) -> anyhow::Result<ExitCode> {
    let worker = worker(&args.worker)?;
    let known = known_pool(config)?;
    let path = Register::path(config);
    let mut register = Register::load(&path).map_err(anyhow::Error::msg)?;
    let mut out = std::io::stdout().lock();
    if !register.revoke(worker, crate::unix_now()) {
        writeln!(out, "{worker} was already revoked from pool {}.", known.pool.0)?;
        return Ok(ExitCode::SUCCESS);
    }
    register.save(&path).map_err(anyhow::Error::msg)?;
    writeln!(
        out,
        "{worker} is revoked from pool {}: the running scheduler turns it away at its next heartbeat, and at every join until a credential is issued to it again.",
        known.pool.0
    )?;
    Ok(ExitCode::SUCCESS)
}

fn list(config: &NodeConfig, args: &ListArgs) -> anyhow::Result<ExitCode> {
    let known = known_pool(config)?;
    let register = Register::load(&Register::path(config)).map_err(anyhow::Error::msg)?;
    let now = crate::unix_now();
    let state = |worker, expires_at: u64| {
        if register.is_revoked(worker) {
            "revoked"
        } else if expires_at <= now {
            "expired"
        } else {
            "valid"
        }
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let issued: Vec<_> = register
            .issued
            .iter()
            .map(|i| {
                serde_json::json!({
                    "worker": i.worker,
                    "issued_at": i.issued_at,
                    "expires_at": i.expires_at,
                    "state": state(i.worker, i.expires_at),
                })
            })
            .collect();
        let revoked: Vec<_> = register
            .revoked
            .iter()
            .map(|r| serde_json::json!({"worker": r.worker, "at": r.at}))
            .collect();
        let json = serde_json::json!({"pool": known.pool.0, "issued": issued, "revoked": revoked});
        writeln!(out, "{json}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let private = if config.scheduler.private { "private" } else { "public (credentials unused)" };
    writeln!(out, "Pool {}: {private}.", known.pool.0)?;
    if register.issued.is_empty() && register.revoked.is_empty() {
        writeln!(out, "No credential issued.")?;
    }
    for i in &register.issued {
        let left = i.expires_at.saturating_sub(now);
        writeln!(
            out,
            "{}  {:<7}  expires at unix time {} ({} days left)",
            i.worker,
            state(i.worker, i.expires_at),
            i.expires_at,
            left / 86_400
        )?;
    }
    for r in
        register.revoked.iter().filter(|r| !register.issued.iter().any(|i| i.worker == r.worker))
    {
        writeln!(out, "{}  revoked at unix time {}", r.worker, r.at)?;
    }
    Ok(ExitCode::SUCCESS)
}

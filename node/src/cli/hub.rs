//! `quorate hub …`: deploy the Hub on any chain, and read one back.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Mutex,
};

use alloy::{primitives::Address, rpc::types::TransactionReceipt};
use clap::{Args as ClapArgs, Subcommand, ValueEnum};
use quorate_contracts::deploy::{Plan, STANDARD_CATEGORIES, devnet_categories, op};

use super::{
    Args,
    wallet::{PasswordArgs, Pick, recipient, unlock},
};
use crate::{
    chain::{Chain, connect_provider},
    config::{self, NodeConfig},
    hub::{self, HubError},
};

#[derive(Debug, Subcommand)]
pub(super) enum HubCommand {
    /// Deploy the credit token (or take an existing ERC-20) and the Hub, register the
    /// categories, and print the [chain] configuration the roles load with --config.
    Deploy(DeployArgs),
    /// What the configured Hub holds: its token, owner, categories, pools and deals.
    Info,
    /// Mint QCR to an address: the deployer of a Hub counting in QuorateCredit funds the
    /// accounts of its network (a test network, a private deployment).
    Mint(MintArgs),
}

#[derive(Debug, ClapArgs)]
pub(super) struct MintArgs {
    /// The recipient.
    to: String,
    /// How much, e.g. `1000` (QCR).
    amount: String,
    /// QuorateCredit's owner (the wallet that deployed the Hub).
    #[command(flatten)]
    pick: Pick,
    #[command(flatten)]
    password: PasswordArgs,
}

/// Which categories a deployment registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Categories {
    /// XS 5 min, S 20 min, M 1 h, L 3 h, XL 10 h (time references).
    Standard,
    /// DEV 10 s and DEV-LONG 60 s, then the standard ones: the ids `quorate devnet` has.
    Devnet,
}

#[derive(Debug, ClapArgs)]
pub(super) struct DeployArgs {
    /// The deployer: this wallet sends every transaction and owns the contracts.
    #[command(flatten)]
    pick: Pick,
    #[command(flatten)]
    password: PasswordArgs,
    /// An existing ERC-20 token (18 decimals) for the Hub to count in, instead of deploying
    /// QuorateCredit.
    #[arg(long, value_name = "ADDRESS")]
    token: Option<String>,
    /// Which categories to register.
    #[arg(long, value_enum, default_value_t = Categories::Standard)]
    categories: Categories,
    /// Also write the configuration to FILE (never over an existing file).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub(super) async fn run(args: &Args, command: &HubCommand) -> anyhow::Result<ExitCode> {
    let config = args.node_config()?;
    match command {
        HubCommand::Deploy(deploy) => run_deploy(&config, deploy).await,
        HubCommand::Mint(mint) => {
            let to = recipient(&mint.to)?;
            let amount = crate::units::parse_amount(&mint.amount)
                .and_then(|a| a.in_currency(crate::units::Currency::Qcr))
                .map_err(anyhow::Error::msg)?;
            let hub = config.hub()?;
            let chain = Chain::connect(
                &config.chain_config()?,
                unlock(&config, &mint.pick, &mint.password)?,
            )
            .await?;
            let receipt = crate::accounts::mint_qcr(&chain, hub, to, amount).await?;
            writeln!(
                std::io::stdout().lock(),
                "Minted {} QCR to {to} (transaction {}).",
                crate::units::short(amount, crate::units::Currency::Qcr),
                receipt.transaction_hash
            )?;
            Ok(ExitCode::SUCCESS)
        }
        HubCommand::Info => {
            let hub = config.hub()?;
            let (provider, chain_id) = connect_provider(&config.chain_config()?).await?;
            let info = hub::info(&provider, chain_id, hub).await?;
            writeln!(std::io::stdout().lock(), "{info}")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn run_deploy(config: &NodeConfig, args: &DeployArgs) -> anyhow::Result<ExitCode> {
    // Everything that can be checked is, before a password is asked or anything is sent.
    if let Some(out) = &args.out {
        check_out(out)?;
    }
    let token = args.token.as_deref().map(recipient).transpose()?;
    let chain_config = config.chain_config()?;
    let (provider, chain_id) = connect_provider(&chain_config).await?;
    let token_info = match token {
        Some(token) => Some(hub::check_token(&provider, chain_id, token).await?),
        None => None,
    };
    let categories: Vec<(&str, u32)> = match args.categories {
        Categories::Standard => STANDARD_CATEGORIES.to_vec(),
        Categories::Devnet => devnet_categories(),
    };
    let signer = unlock(config, &args.pick, &args.password)?;
    let plan = Plan { owner: signer.address(), token, categories: &categories };
    let budget = hub::budget(&provider, &chain_config, &plan).await?;
    budget.check()?;
    let chain = Chain::connect(&chain_config, signer).await?;

    let mut err = std::io::stderr().lock();
    writeln!(err, "deploying on chain {chain_id}: {budget}")?;
    drop(err);
    // Progress goes to stderr, so that stdout is the configuration alone.
    let created: Mutex<Vec<(&'static str, Address)>> = Mutex::new(Vec::new());
    let progress = |op: &'static str, receipt: &TransactionReceipt| {
        let mut err = std::io::stderr().lock();
        let contract = receipt.contract_address.map(|a| format!(" at {a}")).unwrap_or_default();
        let _ = writeln!(
            err,
            "  {op}{contract}: tx {} in block {} (gas {})",
            receipt.transaction_hash,
            receipt.block_number.unwrap_or_default(),
            receipt.gas_used
        );
        if let (Some(address), Ok(mut created)) = (receipt.contract_address, created.lock()) {
            created.push((op, address));
        }
    };
    let deployed = match hub::deploy(&chain, &plan, &progress).await {
        Ok(done) => done,
        Err(e) => return Err(partial(e, &created.lock().map(|c| c.clone()).unwrap_or_default())),
    };

    let mut snippet = NodeConfig::default();
    snippet.chain.rpc_url = config.chain.rpc_url.clone();
    snippet.chain.chain_id = chain_id;
    snippet.chain.hub = Some(deployed.deployment.hub);
    let symbol = token_info.map_or_else(|| "QCR".to_owned(), |t| t.symbol);
    let comments = [
        "Written by `quorate hub deploy`: pass it to any command with --config.".to_owned(),
        format!(
            "Hub {} deployed in block {} on chain {chain_id}, owned by {}.",
            deployed.deployment.hub, deployed.block, plan.owner
        ),
        format!(
            "Credit token {} ({symbol}), {}.",
            deployed.deployment.credit,
            if deployed.token_deployed { "deployed with the Hub" } else { "existing" }
        ),
        format!(
            "Categories (id name time-reference): {}.",
            deployed
                .categories
                .iter()
                .map(|c| format!("{} {} {}s", c.id, c.name, c.time_ref))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ];
    let text = config::file_text(
        &snippet,
        Some(&["chain.rpc_url", "chain.chain_id", "chain.hub"]),
        &comments,
    );
    let mut stdout = std::io::stdout().lock();
    write!(stdout, "{text}")?;
    stdout.flush()?;
    drop(stdout);
    if let Some(out) = &args.out {
        write_new(out, &text)?;
    }
    let mut err = std::io::stderr().lock();
    let gas: u64 = deployed.receipts.iter().map(|r| r.gas_used).sum();
    writeln!(err, "deployed with {} transactions, {gas} gas", deployed.receipts.len())?;
    match &args.out {
        Some(out) => writeln!(
            err,
            "configuration written to {}: try `quorate --config {} hub info`",
            out.display(),
            out.display()
        )?,
        None => writeln!(
            err,
            "save the configuration above to a file and pass it with --config (or give --out FILE)"
        )?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuses an `--out` that exists or whose directory does not, before anything is sent.
fn check_out(out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        anyhow::bail!(
            "{} already exists: give --out a new file (nothing was deployed)",
            out.display()
        );
    }
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        anyhow::bail!(
            "{} is not a directory: create it or give --out a file in an existing one (nothing was deployed)",
            dir.display()
        );
    }
    Ok(())
}

fn write_new(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot write {}: {e}; the deployment is done and its configuration is printed above: save it from there",
                path.display()
            )
        })?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

/// A failed deployment's error, with what was created before it failed and how to reuse it.
fn partial(e: HubError, created: &[(&'static str, Address)]) -> anyhow::Error {
    let find = |name: &str| created.iter().find(|(op, _)| *op == name).map(|(_, a)| *a);
    let (token, hub) = (find(op::DEPLOY_CREDIT), find(op::DEPLOY_HUB));
    match (hub, token) {
        (Some(hub), _) => anyhow::anyhow!(
            "{e} (the Hub at {hub} was deployed: check it with `quorate --set chain.hub={hub} hub info`)"
        ),
        (None, Some(token)) => anyhow::anyhow!(
            "{e} (QuorateCredit was deployed at {token}: pass --token {token} to deploy the Hub over it)"
        ),
        (None, None) => e.into(),
    }
}

//! `quorate devnet`: a local chain with the Hub deployed and accounts funded, until Ctrl-C or
//! SIGTERM.

use std::{io::Write, path::PathBuf, process::ExitCode};

use alloy::primitives::utils::parse_ether;
use clap::Args as ClapArgs;
use quorate_devnet::{Devnet, DevnetConfig};

use super::Args;
use crate::{
    devnet::{DEVNET_PASSWORD, write_files},
    units::{Currency, short},
};

#[derive(Debug, ClapArgs)]
pub(super) struct DevnetArgs {
    /// Where to write devnet.toml and the keystores (default: <data_dir>/devnet).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Worker accounts to fund.
    #[arg(long, default_value_t = 3)]
    workers: u32,
    /// Client accounts to fund.
    #[arg(long, default_value_t = 1)]
    clients: u32,
    /// Seconds per block.
    #[arg(long, default_value_t = 1)]
    block_time: u64,
    /// The RPC port (0: any free one).
    #[arg(long, default_value_t = 8545)]
    port: u16,
    /// QCR minted to each account.
    #[arg(long, default_value = "10000")]
    mint: String,
    /// QCR each account deposits in the Hub.
    #[arg(long, default_value = "1000")]
    deposit: String,
    /// Start only the chain: no pool, no scheduler, no workers.
    #[arg(long)]
    no_pool: bool,
    /// Sandboxes per worker.
    #[arg(long, default_value_t = 1)]
    sandboxes: usize,
    /// Submit the example Mandelbrot job from the client's wallet, show its progress, write
    /// its picture and who was paid what, then stop.
    #[arg(long, conflicts_with = "no_pool")]
    demo: bool,
}

pub(super) async fn run(args: &Args, devnet: &DevnetArgs) -> anyhow::Result<ExitCode> {
    let config = args.node_config()?;
    config.validate()?;
    // The pool's roles log on stderr only when asked (`QUORATE_LOG=quorate=info`): a devnet's
    // terminal is for its own lines.
    if std::env::var_os("QUORATE_LOG").is_some() {
        args.init_logs();
    }
    let dir = devnet.dir.clone().unwrap_or_else(|| config.node.data_dir.join("devnet"));
    let qcr = |text: &str, what: &str| {
        parse_ether(text).map_err(|_| {
            anyhow::anyhow!("--{what} {text:?} is not a QCR amount: write e.g. 1000 or 12.5")
        })
    };
    let net = Devnet::spawn(DevnetConfig {
        block_time: devnet.block_time.max(1),
        chain_id: None,
        workers: devnet.workers,
        clients: devnet.clients,
        mint: qcr(&devnet.mint, "mint")?,
        deposit: qcr(&devnet.deposit, "deposit")?,
        port: devnet.port,
        state: None,
    })
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "{e}{}",
            if devnet.port != 0 { " (is the port taken? try --port 0)" } else { "" }
        )
    })?;
    let files = write_files(&net, &dir)?;

    let mut out = std::io::stdout().lock();
    let d = net.deployment();
    writeln!(out, "Quorate devnet ready in {:.2} s", net.ready_in().as_secs_f64())?;
    writeln!(
        out,
        "  RPC        {}  (chain id {}, a block every {} s)",
        net.endpoint(),
        net.chain_id(),
        devnet.block_time.max(1)
    )?;
    writeln!(out, "  Hub        {}", d.hub)?;
    writeln!(out, "  QCR token  {}", d.credit)?;
    writeln!(out, "  config     {}", files.config.display())?;
    writeln!(
        out,
        "  keystores  {}  (password {DEVNET_PASSWORD:?}, also in {})",
        files.keystores.display(),
        files.password_file.display()
    )?;
    writeln!(out, "  accounts:")?;
    for a in net.accounts() {
        writeln!(
            out,
            "    {:<12} {:<14} {}  wallet {} QCR, Hub {} QCR",
            a.name,
            a.role.as_str(),
            a.address,
            short(a.minted.saturating_sub(a.deposited), Currency::Qcr),
            short(a.deposited, Currency::Qcr)
        )?;
    }
    let pool = if devnet.no_pool {
        None
    } else {
        let dir = files.config.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
        // The pool runs with the [scheduler] settings given (`--set scheduler.price=2`).
        let mut options =
            crate::devnet_pool::Options::new(devnet.sandboxes, config.evaluator.program());
        options.scheduler = config.scheduler.clone();
        // And the [worker] settings of GPUs: `--set worker.gpu=true`.
        options.gpu = config.worker.gpu == crate::config::GpuChoice::On;
        options.gpu_slots = usize::try_from(config.worker.gpu_slots).unwrap_or(1);
        options.gpu_memory_mib = config.worker.gpu_memory_mib;
        let pool = crate::devnet_pool::start_with(&net, &dir, options).await?;
        crate::devnet_pool::point_config_at(&net, &dir, pool.pool, &pool.scheduler)?;
        writeln!(out, "  pool       {} (owner: operator), its scheduler at", pool.pool.0)?;
        writeln!(out, "             {}", pool.scheduler)?;
        writeln!(
            out,
            "  workers    {} joined, {} sandbox(es) each",
            pool.workers(),
            devnet.sandboxes.max(1)
        )?;
        if let Some(link) = pool.dashboard(&dir) {
            writeln!(out, "  dashboard  {link}")?;
        }
        for url in pool.worker_status_urls() {
            writeln!(out, "  worker     {url}/status, {url}/metrics")?;
        }
        Some(pool)
    };
    writeln!(
        out,
        "Try: quorate --config {} wallet balance --wallet client",
        files.config.display()
    )?;
    if pool.is_some() {
        writeln!(
            out,
            "     quorate --config {} job submit WORKFN.js INPUTS.jsonl --trust 3 --max-price 1 --wallet client --password-file {}",
            files.config.display(),
            files.password_file.display()
        )?;
    }
    if devnet.demo
        && let Some(running) = pool
    {
        let dir = files.config.parent().map(std::path::Path::to_path_buf).unwrap_or_default();
        let demo = crate::demo::run(&net, &dir, &running, &mut out).await;
        drop(out);
        running.stop().await?;
        drop(net);
        demo?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(out, "Stop with Ctrl-C.")?;
    drop(out);

    wait_for_stop().await?;
    if let Some(pool) = pool {
        pool.stop().await?;
    }
    drop(net);
    let mut out = std::io::stdout().lock();
    writeln!(out, "devnet stopped")?;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_stop() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = term.recv() => {}
    }
    Ok(())
}

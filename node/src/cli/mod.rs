//! The command line: clap arguments turned into library calls. `main.rs` only calls [`run`].

mod config;
mod credential;
mod devnet;
mod docs;
mod hub;
mod job;
mod pool;
mod scheduler;
mod wallet;
mod worker;
mod worker_view;

use std::{io::Write, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

use crate::{
    config::{Layers, NodeConfig},
    logs::LogFormat,
};

/// Quorate: a decentralized compute marketplace settled on Ethereum.
#[derive(Debug, Parser)]
#[command(name = "quorate", version, about)]
pub struct Args {
    /// A site configuration file (TOML); `quorate config defaults` shows every key.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Sets one configuration key, over the file and the environment (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE", value_parser = key_value)]
    set: Vec<(String, String)>,
    /// Shortcut for --set chain.rpc_url=URL.
    #[arg(long, global = true, value_name = "URL")]
    rpc_url: Option<String>,
    /// Shortcut for --set node.data_dir=DIR.
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// How the long-running roles log on stderr: lines of text, or a JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check that every tool and library this node needs is installed; with flags, that the
    /// sandbox works, the chain answers, and a pool's scheduler can be reached.
    Doctor(DoctorArgs),
    /// Show the configuration: defaults, or the values in force.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Keystores and Hub accounts: create, import, list, balances, deposit, withdraw, send.
    #[command(subcommand)]
    Wallet(wallet::WalletCommand),
    /// Start a local chain with the Hub deployed and accounts funded, until Ctrl-C.
    Devnet(devnet::DevnetArgs),
    /// The Hub: deploy one on any chain (`deploy`), show what one holds (`info`).
    #[command(subcommand)]
    Hub(hub::HubCommand),
    /// Jobs: run one here (`run-local`); submit one to a pool and pay for it (`submit`); a
    /// deal's `status`, `results` and `list`, from any machine; `claim` what a deal left
    /// unfinished.
    #[command(subcommand)]
    Job(job::JobCommand),
    /// Pools: the orders they sell on now (`orders`).
    #[command(subcommand)]
    Pool(pool::PoolCommand),
    /// Run a pool: create it on the Hub (`init`), run it (`run`), show it (`status`).
    #[command(subcommand)]
    Scheduler(scheduler::SchedulerCommand),
    /// Run tasks for a pool: join it and work until stopped (`run`); what it holds (`status`).
    #[command(subcommand)]
    Worker(worker::WorkerCommand),
    /// Print the shell completion script (`source <(quorate completions bash)`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the man pages, one per command (`quorate.1`, `quorate-job-submit.1`, …).
    Man {
        /// The directory to write them into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

impl Args {
    /// Starts the logs in the format asked for.
    pub(super) fn init_logs(&self) {
        crate::logs::init(self.log_format);
    }
}

/// Parses libp2p addresses given as `what` (a flag or a key), each refusal one sentence.
pub(crate) fn multiaddrs(
    what: &str,
    texts: &[String],
) -> anyhow::Result<Vec<quorate_p2p::Multiaddr>> {
    texts
        .iter()
        .map(|text| {
            text.parse().map_err(|e| {
                anyhow::anyhow!(
                    "{what}: {text:?} is not a libp2p address ({e}): write e.g. /ip4/1.2.3.4/tcp/4001/p2p/12D3…"
                )
            })
        })
        .collect()
}

fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{text:?} is not KEY=VALUE"))
}

/// Every `--set` of a command line, before and after the subcommand, in order: clap keeps only
/// one level's occurrences of a global option (clap-rs/clap#3938), so they are read here.
fn every_set(args: impl IntoIterator<Item = std::ffi::OsString>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut args = args.into_iter().skip(1);
    while let Some(arg) = args.next() {
        let Some(arg) = arg.to_str() else { continue };
        if arg == "--" {
            break;
        }
        let value = if arg == "--set" {
            args.next().and_then(|v| v.into_string().ok())
        } else {
            arg.strip_prefix("--set=").map(str::to_owned)
        };
        // Clap has already refused a malformed one.
        if let Some(pair) = value.as_deref().and_then(|v| key_value(v).ok()) {
            out.push(pair);
        }
    }
    out
}

impl Args {
    /// The configuration layers this invocation gives.
    fn layers(&self) -> Layers {
        let mut flags = self.set.clone();
        if let Some(url) = &self.rpc_url {
            flags.push(("chain.rpc_url".into(), url.clone()));
        }
        if let Some(dir) = &self.data_dir {
            flags.push(("node.data_dir".into(), dir.display().to_string()));
        }
        Layers::from_process(self.config.clone(), flags)
    }

    /// The configuration in force, derived.
    fn node_config(&self) -> anyhow::Result<NodeConfig> {
        let (config, _) = crate::config::load(&self.layers())?;
        Ok(config.derived())
    }
}

/// Runs the command line; errors are printed as one sentence on stderr.
pub fn run() -> ExitCode {
    let mut args = Args::parse();
    args.set = every_set(std::env::args_os());
    let result = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(dispatch(args)),
        Err(e) => Err(anyhow::anyhow!("cannot start the async runtime: {e}")),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(args: Args) -> anyhow::Result<ExitCode> {
    match &args.command {
        Command::Doctor(doctor_args) => doctor(&args, doctor_args).await,
        Command::Config(command) => config::run(&args, command),
        Command::Wallet(command) => wallet::run(&args, command).await,
        Command::Devnet(devnet) => devnet::run(&args, devnet).await,
        Command::Hub(command) => hub::run(&args, command).await,
        Command::Job(command) => job::run(&args, command).await,
        Command::Pool(command) => pool::run(&args, command).await,
        Command::Scheduler(command) => scheduler::run(&args, command).await,
        Command::Worker(command) => worker::run(&args, command).await,
        Command::Completions { shell } => docs::completions(*shell),
        Command::Man { out } => docs::man_pages(out),
    }
}

/// `quorate doctor`'s checks.
#[derive(Debug, clap::Args)]
struct DoctorArgs {
    /// Also the tools a local devnet needs (anvil, forge, cast).
    #[arg(long)]
    devnet: bool,
    /// Start a sandbox: print its capabilities (V8, GPU class, float probe) and run a test
    /// task through it.
    #[arg(long)]
    evaluator: bool,
    /// Check the chain: the RPC endpoint answers on chain.chain_id, the Hub is at chain.hub.
    #[arg(long)]
    chain: bool,
    /// Check pool N: it exists on the Hub, and its scheduler is found and reached through
    /// worker.bootstrap / client.bootstrap.
    #[arg(long, value_name = "N")]
    pool: Option<u64>,
}

async fn doctor(args: &Args, what: &DoctorArgs) -> anyhow::Result<ExitCode> {
    let config = args.node_config()?;
    let program = config.evaluator.program();
    let mut checks = crate::doctor::run(&program, what.devnet);
    if what.evaluator {
        let program = program.clone();
        checks.extend(
            tokio::task::spawn_blocking(move || crate::doctor::evaluator::check(&program)).await?,
        );
    }
    if what.chain || what.pool.is_some() {
        checks.extend(crate::doctor::network::chain(&config).await);
    }
    if let Some(pool) = what.pool {
        checks.extend(crate::doctor::network::pool(&config, pool).await);
    }
    let mut out = std::io::stdout().lock();
    for check in &checks {
        writeln!(out, "{check}")?;
    }
    let failed = checks.iter().filter(|c| !c.is_ok()).count();
    if failed > 0 {
        writeln!(
            out,
            "{failed} of {} checks failed: each line above says what to do",
            checks.len()
        )?;
        return Ok(ExitCode::FAILURE);
    }
    writeln!(out, "all {} checks passed", checks.len())?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_set_is_kept_whichever_side_of_the_subcommand() {
        let line = [
            "quorate",
            "--set",
            "a=1",
            "worker",
            "run",
            "--set=b=2",
            "--pool",
            "3",
            "--set",
            "c=x=y",
            "--",
            "--set",
            "d=4",
        ];
        let sets = super::every_set(line.map(std::ffi::OsString::from));
        let want =
            [("a", "1"), ("b", "2"), ("c", "x=y")].map(|(k, v)| (k.to_owned(), v.to_owned()));
        assert_eq!(sets, want);
    }
}

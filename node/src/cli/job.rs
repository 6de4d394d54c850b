//! `quorate job`: run a job on this machine (`run-local`).

use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

use clap::{Args as ClapArgs, Subcommand};
use quorate_evaluator::sandbox::{ConsoleLevel, Event};
use quorate_primitives::{EvaluatorKind, TaskOutcome};

use super::{
    Args,
    wallet::{PasswordArgs, Pick, connect, unlock},
};
use crate::job::{
    Job,
    local::{self, LocalConfig, LocalOutcome, LocalReport},
};
use crate::{
    chain::connect_provider,
    client::{
        refund,
        report::{self, TaskOnChain},
        submit::{Progress as Step, Request, submit as client_submit},
    },
    units::{Currency, parse_amount, short},
};
use quorate_primitives::DealId;

#[derive(Debug, Subcommand)]
pub(super) enum JobCommand {
    /// Run a job on this machine's sandboxes, with no chain and no pool, and print its results
    /// as JSON Lines in input order (to debug a work function before paying for it).
    RunLocal(RunLocalArgs),
    /// Submit a job to a pool and pay for it from a wallet: checks it locally, takes the pool's
    /// order, offers the job, buys the deal once the pool consents, waits for every result and
    /// writes them in input order, each checked against the digest revealed on chain.
    Submit(SubmitArgs),
    /// Show a deal's tasks by state, from the chain (any machine, no wallet needed).
    Status(StatusArgs),
    /// After a deal's final deadline, settle its unfinished tasks: finalize those with a
    /// revealed result, claim the rest (the price back, and the pool's stake).
    Claim(ClaimArgs),
}

#[derive(Debug, ClapArgs)]
pub(super) struct SubmitArgs {
    #[command(flatten)]
    job: JobArgs,
    /// The pool (default: client.pool).
    #[arg(long)]
    pool: Option<u64>,
    /// The trust level: how sure consensus must be (1: one worker, higher: more replicas).
    #[arg(long, default_value_t = 1)]
    trust: u32,
    /// The most you pay per task (QCR, e.g. `2.5`).
    #[arg(long, value_name = "AMOUNT")]
    max_price: String,
    /// Do not ask before paying.
    #[arg(long)]
    yes: bool,
    /// Peers to reach the network through (default: client.bootstrap).
    #[arg(long, value_name = "MULTIADDR")]
    bootstrap: Vec<String>,
    /// Where to write the results (default: standard output).
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    pick: Pick,
    #[command(flatten)]
    password: PasswordArgs,
}

#[derive(Debug, ClapArgs)]
pub(super) struct StatusArgs {
    /// The deal id (0x…, as `submit` printed it).
    deal: String,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, ClapArgs)]
pub(super) struct ClaimArgs {
    /// The deal id.
    deal: String,
    #[command(flatten)]
    pick: Pick,
    #[command(flatten)]
    password: PasswordArgs,
}

/// The job's content and limits, shared by the commands that build a job.
#[derive(Debug, ClapArgs)]
pub(super) struct JobArgs {
    /// The work function: JavaScript that evaluates to a function, or defines `work`.
    #[arg(value_name = "WORKFN.js")]
    code: PathBuf,
    /// The inputs: one JSON value per line (.jsonl), or one JSON array (.json); one task each.
    #[arg(value_name = "INPUTS")]
    inputs: PathBuf,
    /// Extra arguments after the input, as a JSON array.
    #[arg(long, value_name = "JSON", default_value = "[]")]
    args: String,
    /// Wall-clock limit per task, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    timeout: f64,
    /// Memory per task, in MiB.
    #[arg(long, value_name = "MIB", default_value_t = 512)]
    memory: u32,
    /// Largest result per task, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = 16 << 10)]
    result_cap: u32,
    /// The tasks use `gpu.compute` (WebGPU compute shaders).
    #[arg(long)]
    gpu: bool,
}

impl JobArgs {
    /// The job these arguments describe.
    fn job(&self) -> anyhow::Result<Job> {
        let mut job = Job::from_files(&self.code, &self.inputs)?.with_args(&self.args)?;
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            anyhow::bail!("--timeout {} is not a positive number of seconds", self.timeout);
        }
        job.limits.timeout_ms = (self.timeout * 1000.0).ceil() as u64;
        job.limits.heap_mib = self.memory;
        job.limits.result_bytes = self.result_cap.saturating_mul(1024);
        if self.gpu {
            job.evaluator = EvaluatorKind::WebGpu;
        }
        // Every limit checked now, with the rules of the manifest.
        job.manifest()?;
        Ok(job)
    }
}

#[derive(Debug, ClapArgs)]
pub(super) struct RunLocalArgs {
    #[command(flatten)]
    job: JobArgs,
    /// Where to write the results (default: standard output).
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Sandboxes at once (default: evaluator.sandboxes).
    #[arg(long, value_name = "N")]
    cores: Option<usize>,
}

pub(super) async fn run(args: &Args, command: &JobCommand) -> anyhow::Result<ExitCode> {
    match command {
        // Blocking: the sandboxes run on threads of their own.
        JobCommand::RunLocal(run) => tokio::task::block_in_place(|| run_local(args, run)),
        JobCommand::Submit(submit) => self::submit(args, submit).await,
        JobCommand::Status(status) => self::status(args, status).await,
        JobCommand::Claim(claim) => self::claim(args, claim).await,
    }
}

async fn submit(args: &Args, submit: &SubmitArgs) -> anyhow::Result<ExitCode> {
    let config = args.node_config()?;
    let job = submit.job.job()?;
    let pool = submit
        .pool
        .or((config.client.pool != 0).then_some(config.client.pool))
        .ok_or_else(|| anyhow::anyhow!("no pool given: pass --pool N, or set client.pool"))?;
    let max_price = parse_amount(&submit.max_price)
        .and_then(|a| a.in_currency(Currency::Qcr))
        .map_err(|e| anyhow::anyhow!("--max-price: {e}"))?;
    let texts =
        if submit.bootstrap.is_empty() { &config.client.bootstrap } else { &submit.bootstrap };
    let bootstrap = super::multiaddrs("--bootstrap", texts)?;
    if bootstrap.is_empty() {
        anyhow::bail!(
            "no way into the network: pass --bootstrap with the pool's scheduler address, or set client.bootstrap"
        );
    }
    if !submit.yes && !std::io::stdin().is_terminal() {
        anyhow::bail!("paying needs your confirmation: run in a terminal, or pass --yes");
    }
    // The work function must load and run its first task here before anything is paid.
    check_locally(&config, &job)?;

    let (chain, hub) = connect(&config, &submit.pick, &submit.password).await?;
    let signer = unlock(&config, &submit.pick, &submit.password)?;
    let request = Request {
        pool: quorate_primitives::PoolId(pool),
        trust: submit.trust,
        max_price,
        bootstrap,
    };
    let yes = submit.yes;
    let tasks = job.task_count();
    let session = client_submit(&chain, &signer, hub, &job, &request, |progress| {
        let mut err = std::io::stderr().lock();
        match progress {
            Step::Order { price, total } => {
                let _ = writeln!(
                    err,
                    "Pool {pool} asks {} QCR per task: {tasks} tasks lock {} QCR from your Hub balance until they finish.",
                    short(*price, Currency::Qcr),
                    short(*total, Currency::Qcr)
                );
                yes || confirm("Submit and pay? [y/N] ")
            }
            Step::Fetching { fetched, total } => {
                let _ = writeln!(err, "The pool is fetching the job: {fetched} of {total} blobs.");
                true
            }
            Step::Consented => {
                let _ = writeln!(err, "The pool took the job; buying the deal.");
                true
            }
            Step::Deal(deal) => {
                let _ = writeln!(err, "Deal {deal} created (`quorate job status {deal}` from any machine).");
                true
            }
            Step::Done { .. } => true,
        }
    })
    .await?;
    let outcomes = session
        .results(&chain, hub, |progress| {
            if let Step::Done { done, total } = progress {
                let _ = writeln!(std::io::stderr().lock(), "{done} of {total} results verified.");
            }
        })
        .await?;
    let mut text = String::new();
    for (index, outcome) in outcomes.into_iter().enumerate() {
        text.push_str(&result_line(index, &LocalOutcome::Agreed(outcome)));
        text.push('\n');
    }
    match &submit.out {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write the results to {}: {e}", path.display()))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads the work function in a sandbox and runs the first task: a job that cannot is
/// refused before anything is paid.
fn check_locally(config: &crate::config::NodeConfig, job: &Job) -> anyhow::Result<()> {
    let first = Job { inputs: job.inputs.iter().take(1).cloned().collect(), ..job.clone() };
    let local = LocalConfig {
        program: config.evaluator.program(),
        sandboxes: 1,
        nice: i32::try_from(config.evaluator.nice).unwrap_or(19),
    };
    let outcomes = tokio::task::block_in_place(|| local::run(&first, &local, |_| {}))?;
    if let Some(LocalOutcome::Failed { kind, message }) = outcomes.first() {
        anyhow::bail!(
            "the first task failed on this machine ({kind}): {message}; fix it before paying (try `quorate job run-local`)"
        );
    }
    Ok(())
}

fn confirm(question: &str) -> bool {
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{question}");
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes")
}

fn deal_id(text: &str) -> anyhow::Result<DealId> {
    text.trim().parse().map_err(|_| {
        anyhow::anyhow!("{text:?} is not a deal id: it is 0x and 64 hex digits, as `quorate job submit` prints it")
    })
}

async fn status(args: &Args, status: &StatusArgs) -> anyhow::Result<ExitCode> {
    let config = args.node_config()?;
    let deal = deal_id(&status.deal)?;
    let hub = config.hub()?;
    let (provider, _) = connect_provider(&config.chain_config()?).await?;
    let report = report::read(&provider, hub, deal).await?;
    let mut out = std::io::stdout().lock();
    if status.json {
        let tasks: Vec<_> = report
            .tasks
            .iter()
            .map(|t| {
                serde_json::json!({
                    "index": t.index,
                    "task": t.id,
                    "state": t.state.name(),
                    "contributors": t.contributors,
                    "winners": t.winners,
                    "reveals": t.reveals,
                })
            })
            .collect();
        let json = serde_json::json!({
            "deal": report.id,
            "pool": report.pool,
            "client": report.client,
            "price": report.price.to_string(),
            "trust": report.trust,
            "start": report.start,
            "final_deadline": report.final_deadline,
            "tasks": tasks,
        });
        writeln!(out, "{json}")?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "Deal {} in pool {}: {} at {} QCR each, trust {}, bought by {}.",
        report.id,
        report.pool,
        count(report.tasks.len(), "task"),
        short(report.price, Currency::Qcr),
        report.trust,
        report.client
    )?;
    let states = [
        TaskOnChain::Unset,
        TaskOnChain::Active,
        TaskOnChain::Revealing,
        TaskOnChain::Completed,
        TaskOnChain::Failed,
    ];
    let summary: Vec<String> = states
        .iter()
        .filter(|s| report.count(**s) > 0)
        .map(|s| format!("{} {}", report.count(*s), s.name()))
        .collect();
    writeln!(out, "Tasks: {}.", summary.join(", "))?;
    writeln!(
        out,
        "Unfinished tasks can be claimed from unix time {} (`quorate job claim {}`).",
        report.final_deadline, report.id
    )?;
    Ok(ExitCode::SUCCESS)
}

async fn claim(args: &Args, claim: &ClaimArgs) -> anyhow::Result<ExitCode> {
    let config = args.node_config()?;
    let deal = deal_id(&claim.deal)?;
    let (chain, hub) = connect(&config, &claim.pick, &claim.password).await?;
    let now = chain.latest_time().await?;
    let settled = refund::settle(&chain, hub, deal, now).await?;
    let mut out = std::io::stdout().lock();
    if settled == refund::Settled::default() {
        writeln!(
            out,
            "Deal {deal} has nothing left to settle: every task is completed or refunded."
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "Deal {deal}: {} refunded, {} finalized with their revealed results ({} opened first).",
        count(settled.claimed.len(), "task"),
        count(settled.finalized.len(), "task"),
        settled.initialized
    )?;
    Ok(ExitCode::SUCCESS)
}

fn run_local(args: &Args, run: &RunLocalArgs) -> anyhow::Result<ExitCode> {
    let config = args.node_config()?;
    let job = run.job.job()?;
    let local = LocalConfig {
        program: config.evaluator.program(),
        sandboxes: run.cores.unwrap_or_else(|| config.evaluator.sandboxes()).max(1),
        nice: i32::try_from(config.evaluator.nice).unwrap_or(19),
    };
    let tasks = job.task_count();
    let started = Instant::now();
    let mut progress = Progress::new(tasks);
    let outcomes = local::run(&job, &local, |report| progress.report(report))?;
    progress.finish();

    let mut text = String::new();
    for (index, outcome) in outcomes.iter().enumerate() {
        text.push_str(&result_line(index, outcome));
        text.push('\n');
    }
    match &run.out {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write the results to {}: {e}", path.display()))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }

    let errors = outcomes
        .iter()
        .filter(|o| matches!(o, LocalOutcome::Agreed(TaskOutcome::Error { .. })))
        .count();
    let failed = outcomes.iter().filter(|o| matches!(o, LocalOutcome::Failed { .. })).count();
    let mut err = std::io::stderr().lock();
    let results = tasks.saturating_sub(errors).saturating_sub(failed);
    writeln!(
        err,
        "{} in {:.2} s on {}: {}, {} of the work function, {failed} failed on this machine",
        count(tasks, "task"),
        started.elapsed().as_secs_f64(),
        count(local.sandboxes.min(tasks), "sandbox"),
        count(results, "result"),
        count(errors, "error"),
    )?;
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `1 task`, `2 tasks`, `2 sandboxes`.
fn count(n: usize, noun: &str) -> String {
    match (n, noun.ends_with('x')) {
        (1, _) => format!("1 {noun}"),
        (_, true) => format!("{n} {noun}es"),
        (_, false) => format!("{n} {noun}s"),
    }
}

/// One line of results: `{"index":i,"result":…}`, `{"index":i,"error":{"kind","message"}}` (the
/// work function's failure, what the network would agree on) or `{"index":i,"failed":{…}}` (a
/// failure of this machine: a timeout, the memory cap).
pub(super) fn result_line(index: usize, outcome: &LocalOutcome) -> String {
    let failure =
        |kind: &str, message: &str| serde_json::json!({ "kind": kind, "message": message });
    match outcome {
        LocalOutcome::Agreed(TaskOutcome::Value(json)) => {
            // Canonical JSON from the sandbox, written as it is.
            format!("{{\"index\":{index},\"result\":{}}}", String::from_utf8_lossy(json))
        }
        LocalOutcome::Agreed(TaskOutcome::Error { kind, message }) => {
            format!("{{\"index\":{index},\"error\":{}}}", failure(kind, message))
        }
        LocalOutcome::Failed { kind, message } => {
            format!("{{\"index\":{index},\"failed\":{}}}", failure(kind, message))
        }
    }
}

/// What the user sees on stderr while the job runs: console lines as `[task i] …`, and on a
/// terminal one progress line.
struct Progress {
    tasks: usize,
    done: usize,
    terminal: bool,
    last_drawn: Option<Instant>,
}

impl Progress {
    fn new(tasks: usize) -> Self {
        Self { tasks, done: 0, terminal: std::io::stderr().is_terminal(), last_drawn: None }
    }

    fn report(&mut self, report: &LocalReport) {
        let mut err = std::io::stderr().lock();
        match report {
            LocalReport::Event { index, event: Event::Console { level, text } } => {
                let tag = match level {
                    ConsoleLevel::Log => "",
                    ConsoleLevel::Warn => " warn",
                    ConsoleLevel::Error => " error",
                };
                self.clear(&mut err);
                for line in text.lines() {
                    let _ = writeln!(err, "[task {index}{tag}] {line}");
                }
            }
            LocalReport::Event { .. } => {}
            LocalReport::Done { index, outcome, took } => {
                self.done = self.done.saturating_add(1);
                if let LocalOutcome::Failed { kind, message } = outcome {
                    self.clear(&mut err);
                    let _ = writeln!(
                        err,
                        "[task {index}] failed on this machine ({kind}) after {took:.1?}: {message}"
                    );
                }
            }
        }
        self.draw(&mut err);
    }

    fn clear(&self, err: &mut impl Write) {
        if self.terminal && self.last_drawn.is_some() {
            let _ = write!(err, "\r\x1b[2K");
        }
    }

    fn draw(&mut self, err: &mut impl Write) {
        let due = self.last_drawn.is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if !self.terminal || !(due || self.done == self.tasks) {
            return;
        }
        let width = 30usize;
        let filled = width.saturating_mul(self.done) / self.tasks.max(1);
        let bar = format!("{}{}", "=".repeat(filled), " ".repeat(width.saturating_sub(filled)));
        let _ = write!(err, "\r\x1b[2K[{bar}] {}/{} tasks", self.done, self.tasks);
        self.last_drawn = Some(Instant::now());
    }

    fn finish(&self) {
        if self.terminal && self.last_drawn.is_some() {
            let _ = writeln!(std::io::stderr().lock());
        }
    }
}

//! `quorate job`: run a job on this machine (`run-local`), submit one to a pool and pay for it
//! (`submit`), and read or settle a deal from any machine (`status`, `results`, `list`,
//! `claim`).

mod local;
mod read;
mod submit;
mod watch;

use std::{io::Write, path::PathBuf, process::ExitCode};

use clap::{Args as ClapArgs, Subcommand};
use quorate_primitives::{DealId, TaskOutcome};

use super::{
    Args,
    wallet::{PasswordArgs, Pick},
};
use crate::job::{Job, local::LocalOutcome};

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
    /// Fetch a deal's results from its pool, each checked against the digest revealed on chain,
    /// and write them in input order (any machine with the wallet that bought it).
    Results(ResultsArgs),
    /// List the deals a wallet bought, with their tasks by state, from the chain.
    List(ListArgs),
    /// After a deal's final deadline, settle its unfinished tasks: finalize those with a
    /// revealed result, claim the rest (the price back, and the pool's stake).
    Claim(ClaimArgs),
}

#[derive(Debug, ClapArgs)]
pub(super) struct SubmitArgs {
    #[command(flatten)]
    job: JobArgs,
    /// The pool (default: client.pool, else the cheapest order heard that suits the job).
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
    /// Show each task's progress and the job's as bars (lines when not on a terminal).
    #[arg(long)]
    watch: bool,
    /// Return once the deal is bought, printing its id (`quorate job results` fetches the
    /// results later, from any machine).
    #[arg(long, conflicts_with = "watch")]
    detach: bool,
    #[command(flatten)]
    pick: Pick,
    #[command(flatten)]
    password: PasswordArgs,
}

#[derive(Debug, ClapArgs)]
pub(super) struct ResultsArgs {
    /// The deal id (0x…, as `submit` printed it).
    deal: String,
    /// Peers to reach the network through (default: client.bootstrap).
    #[arg(long, value_name = "MULTIADDR")]
    bootstrap: Vec<String>,
    /// Where to write the results (default: standard output).
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Show each task's progress and the job's as bars (lines when not on a terminal).
    #[arg(long)]
    watch: bool,
    #[command(flatten)]
    pick: Pick,
    #[command(flatten)]
    password: PasswordArgs,
}

#[derive(Debug, ClapArgs)]
pub(super) struct ListArgs {
    /// Whose deals (default: the wallet's address, read from its keystore without a password).
    #[arg(long, value_name = "ADDRESS")]
    address: Option<String>,
    /// How far back to look, in days of chain time.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    days: u64,
    /// Print JSON Lines instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pick: Pick,
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
    /// GPU memory per task, in MiB (implies --gpu; default 256): only workers whose GPU has as
    /// much run it, and a `gpu.compute` call needing more is refused.
    #[arg(long, value_name = "MIB")]
    gpu_memory: Option<u32>,
    /// Only GPUs of this adapter class run the tasks, or with it as one part: `discretegpu`,
    /// `nvidia`, `nvidia h200` (implies --gpu; `quorate doctor --evaluator` prints a machine's).
    #[arg(long, value_name = "CLASS")]
    gpu_class: Option<String>,
    /// A WebAssembly module to ship with the job (repeatable): the work function finds it,
    /// compiled, as `modules["<file name>"]`.
    #[arg(long, value_name = "FILE")]
    wasm: Vec<PathBuf>,
}

impl JobArgs {
    /// The job these arguments describe.
    fn job(&self) -> anyhow::Result<Job> {
        let mut job = Job::from_files(&self.code, &self.inputs)?.with_args(&self.args)?;
        for module in &self.wasm {
            job = job.with_module_file(module)?;
        }
        if !(self.timeout.is_finite() && self.timeout > 0.0) {
            anyhow::bail!("--timeout {} is not a positive number of seconds", self.timeout);
        }
        job.limits.timeout_ms = (self.timeout * 1000.0).ceil() as u64;
        job.limits.heap_mib = self.memory;
        job.limits.result_bytes = self.result_cap.saturating_mul(1024);
        if self.gpu || self.gpu_memory.is_some() || self.gpu_class.is_some() {
            job.use_gpu(self.gpu_memory, self.gpu_class.as_deref());
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
        JobCommand::RunLocal(run) => tokio::task::block_in_place(|| local::run_local(args, run)),
        JobCommand::Submit(submit) => submit::submit(args, submit).await,
        JobCommand::Status(status) => read::status(args, status).await,
        JobCommand::Results(results) => read::results(args, results).await,
        JobCommand::List(list) => read::list(args, list).await,
        JobCommand::Claim(claim) => read::claim(args, claim).await,
    }
}

fn deal_id(text: &str) -> anyhow::Result<DealId> {
    text.trim().parse().map_err(|_| {
        anyhow::anyhow!("{text:?} is not a deal id: it is 0x and 64 hex digits, as `quorate job submit` prints it")
    })
}

/// `1 task`, `2 tasks`, `2 sandboxes`.
pub(super) fn count(n: usize, noun: &str) -> String {
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

/// The tasks of `deal` without a result here that the chain says were finalized (their pool
/// no longer serves the result), as opposed to unfinished ones (refundable).
async fn finalized_without_result(
    client: &crate::client::Client,
    deal: Option<DealId>,
    outcomes: &[Option<TaskOutcome>],
) -> anyhow::Result<std::collections::BTreeSet<usize>> {
    let Some(deal) = deal.filter(|_| outcomes.iter().any(Option::is_none)) else {
        return Ok(std::collections::BTreeSet::new());
    };
    let report = crate::client::report::read(client.chain().provider(), client.hub(), deal).await?;
    Ok(report
        .tasks
        .iter()
        .filter(|t| t.state == crate::client::report::TaskOnChain::Completed)
        .map(|t| t.index as usize)
        .filter(|i| outcomes.get(*i).is_some_and(Option::is_none))
        .collect())
}

/// Writes one result line per task in input order (a task left unfinished as `failed`, kind
/// `unfinished`; one the pool failed on chain, kind `failed` with why; one finalized whose
/// result the pool no longer serves, kind `unavailable`), to `out` or standard output; exit
/// code 1 when a task has no result.
fn write_results(
    outcomes: &[Option<TaskOutcome>],
    finalized: &std::collections::BTreeSet<usize>,
    failed: &std::collections::BTreeMap<usize, String>,
    out: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let mut text = String::new();
    let mut missing = 0usize;
    for (index, outcome) in outcomes.iter().enumerate() {
        let line = match outcome {
            Some(outcome) => result_line(index, &LocalOutcome::Agreed(outcome.clone())),
            None if failed.contains_key(&index) => {
                let gave_up = LocalOutcome::Failed {
                    kind: "failed".into(),
                    message: failed.get(&index).cloned().unwrap_or_default(),
                };
                result_line(index, &gave_up)
            }
            None if finalized.contains(&index) => {
                let unavailable = LocalOutcome::Failed {
                    kind: "unavailable".into(),
                    message: "finalized on chain, but the pool no longer serves its result (pools keep results for scheduler.result_retention_secs)".into(),
                };
                result_line(index, &unavailable)
            }
            None => {
                missing = missing.saturating_add(1);
                let unfinished = LocalOutcome::Failed {
                    kind: "unfinished".into(),
                    message: "no result by the deal's final deadline: claim its price back with `quorate job claim`".into(),
                };
                result_line(index, &unfinished)
            }
        };
        text.push_str(&line);
        text.push('\n');
    }
    match out {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write the results to {}: {e}", path.display()))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }
    if !finalized.is_empty() {
        writeln!(
            std::io::stderr().lock(),
            "{} finalized on chain, but the pool no longer serves their results.",
            count(finalized.len(), "task")
        )?;
    }
    if missing > 0 {
        writeln!(
            std::io::stderr().lock(),
            "{} left unfinished at the deal's final deadline: `quorate job claim DEAL` refunds them.",
            count(missing, "task")
        )?;
    }
    if !failed.is_empty() {
        writeln!(
            std::io::stderr().lock(),
            "{} failed on chain and {} refunded already.",
            count(failed.len(), "task"),
            if failed.len() == 1 { "was" } else { "were" }
        )?;
    }
    if missing > 0 || !finalized.is_empty() || !failed.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// A work function's console text as lines to print, `[task i] …` (`tag` after the index for
/// warnings and errors): the text is untrusted, so control characters (terminal escapes, line
/// rewrites) and bidirectional overrides come out escaped instead of acting on the terminal.
pub(super) fn console_lines<'a>(
    index: u32,
    tag: &'a str,
    text: &'a str,
) -> impl Iterator<Item = String> + 'a {
    text.lines()
        .map(move |line| format!("[task {index}{tag}] {}", crate::client::terminal_safe(line)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn console_text_cannot_drive_the_terminal() {
        let lines: Vec<_> =
            super::console_lines(3, " warn", "ok\n\x1b[2Jgone\rback\u{202e}txt\n").collect();
        assert_eq!(
            lines,
            ["[task 3 warn] ok", "[task 3 warn] \\u{1b}[2Jgone\\u{d}back\\u{202e}txt"]
        );
    }
}

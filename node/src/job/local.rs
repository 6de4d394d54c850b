//! A job run on this machine's sandboxes, with no chain and no pool (DCP's `localExec`): to
//! debug a work function, and as the reference the network's results are checked against in
//! tests. Each sandbox is a `quorate-evaluator` process on its own thread, taking the next task
//! until none is left; the caller sees every task's progress and console lines as they come.
//!
//! Every task runs with the job's limits, a task id derived from the job's hash and its index,
//! and one clock for the whole run: a work function that reads `Math.random` or `Date.now` gets
//! other values here than on the network (where the deal fixes them).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use quorate_evaluator::{
    Error as EvalError,
    client::{EvaluatorHandle, SpawnConfig},
    hardening::ProcessLimits,
    sandbox::{Event, Limits, TaskSpec},
};
use quorate_primitives::{
    ContentHash, DealId, EvaluatorKind, GpuNeeds, JobHash, JobLimits, TaskId, TaskOutcome,
};

use super::{Job, JobError};

/// How to run a job locally.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// The `quorate-evaluator` executable.
    pub program: std::path::PathBuf,
    /// Sandboxes at once (at most one per task).
    pub sandboxes: usize,
    /// Their scheduling priority (0 to 19).
    pub nice: i32,
}

/// How one task ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalOutcome {
    /// What every replica on the network would vote: a value, or an error the work function
    /// reproduces everywhere.
    Agreed(TaskOutcome),
    /// A failure that depends on the machine (a timeout, the memory cap, the sandbox itself):
    /// on the network another worker would try the task again.
    Failed {
        /// The failure's stable name.
        kind: String,
        /// What happened.
        message: String,
    },
}

/// What the run reports while it goes.
#[derive(Debug, Clone, PartialEq)]
pub enum LocalReport {
    /// Task `index` reported progress or printed a line.
    Event {
        /// The task.
        index: usize,
        /// What it reported.
        event: Event,
    },
    /// Task `index` ended, after `took`.
    Done {
        /// The task.
        index: usize,
        /// How it ended.
        outcome: LocalOutcome,
        /// Its wall-clock time in the sandbox.
        took: Duration,
    },
}

/// Messages from the sandbox threads.
enum Note {
    Report(LocalReport),
    Fatal(JobError),
}

/// Runs every task of `job`, calling `on_report` as tasks report and end; returns the
/// outcomes in task order. A work function that does not load, or a sandbox that cannot start,
/// ends the run with that error.
pub fn run(
    job: &Job,
    config: &LocalConfig,
    mut on_report: impl FnMut(&LocalReport),
) -> Result<Vec<LocalOutcome>, JobError> {
    let manifest = job.manifest()?;
    let hash = manifest.hash().map_err(|e| JobError::Manifest(e.to_string()))?;
    // The code, after its modules' prelude when it ships any.
    let (source, code_hash) = job.source();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let spawn = spawn_config(job, config);
    let tasks = job.task_count();
    let threads = config.sandboxes.clamp(1, tasks.max(1));
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::sync_channel::<Note>(1024);
    let mut outcomes: Vec<Option<LocalOutcome>> = vec![None; tasks];
    let mut fatal = None;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (tx, next, stop, spawn) =
                (tx.clone(), Arc::clone(&next), Arc::clone(&stop), spawn.clone());
            let source = source.as_str();
            scope.spawn(move || {
                sandbox_thread(job, source, hash, code_hash, now_ms, spawn, &next, &stop, &tx);
            });
        }
        drop(tx);
        for note in rx {
            match note {
                Note::Report(report) => {
                    on_report(&report);
                    if let LocalReport::Done { index, outcome, .. } = report
                        && let Some(slot) = outcomes.get_mut(index)
                    {
                        *slot = Some(outcome);
                    }
                }
                Note::Fatal(e) => {
                    stop.store(true, Ordering::SeqCst);
                    fatal.get_or_insert(e);
                }
            }
        }
    });
    if let Some(e) = fatal {
        return Err(e);
    }
    outcomes
        .into_iter()
        .enumerate()
        .map(|(i, o)| o.ok_or_else(|| JobError::Sandbox(format!("task {i} was never run"))))
        .collect()
}

/// One sandbox: starts, loads the job, and runs the next task until none is left.
#[allow(clippy::too_many_arguments, reason = "one thread's whole context, passed once")]
fn sandbox_thread(
    job: &Job,
    source: &str,
    hash: JobHash,
    code_hash: ContentHash,
    now_ms: u64,
    spawn: SpawnConfig,
    next: &AtomicUsize,
    stop: &AtomicBool,
    tx: &mpsc::SyncSender<Note>,
) {
    let program = spawn.program.display().to_string();
    let mut sandbox = match EvaluatorHandle::spawn(spawn) {
        Ok(sandbox) => sandbox,
        Err(e) => {
            let _ = tx.send(Note::Fatal(JobError::Sandbox(format!(
                "cannot start the sandbox {program}: {e}; run ./scripts/setup, or set evaluator.program to where quorate-evaluator is"
            ))));
            return;
        }
    };
    if let Err(e) = sandbox.load_job(code_hash, source) {
        let _ = tx.send(Note::Fatal(JobError::Load(load_reason(e))));
        sandbox.shutdown();
        return;
    }
    let deal = DealId::from(hash.0);
    let limits = task_limits(&job.limits, &job.gpu);
    while !stop.load(Ordering::SeqCst) {
        let index = next.fetch_add(1, Ordering::SeqCst);
        let Some(input) = job.inputs.get(index) else { break };
        let spec = TaskSpec {
            task_id: TaskId::derive(deal, u64::try_from(index).unwrap_or(u64::MAX)),
            now_ms,
            input: input.clone(),
            args: job.args.clone(),
            limits,
        };
        let started = Instant::now();
        let result = sandbox.run(&spec, &mut |event| {
            let _ = tx.send(Note::Report(LocalReport::Event { index, event }));
        });
        let outcome = classify(result);
        let done = LocalReport::Done { index, outcome, took: started.elapsed() };
        if tx.send(Note::Report(done)).is_err() {
            break;
        }
    }
    sandbox.shutdown();
}

/// What a sandbox's answer to a task means: a value or a failure every replica reproduces
/// (voted on), or a failure of this machine (reported, never voted).
pub fn classify(result: Result<quorate_evaluator::sandbox::TaskOutput, EvalError>) -> LocalOutcome {
    match result {
        Ok(output) => LocalOutcome::Agreed(TaskOutcome::Value(output.result)),
        Err(EvalError::Task { kind, message }) if kind.is_agreed_outcome() => {
            LocalOutcome::Agreed(TaskOutcome::Error { kind: kind.name().into(), message })
        }
        Err(EvalError::Task { kind, message }) => {
            LocalOutcome::Failed { kind: kind.name().into(), message }
        }
        Err(e) => LocalOutcome::Failed { kind: "internal".into(), message: e.to_string() },
    }
}

/// The first line of V8's words, without the sandbox's prefixes: `undefined:1: SyntaxError:
/// Unexpected end of input` becomes `line 1: SyntaxError: Unexpected end of input`.
pub(crate) fn load_reason(e: EvalError) -> String {
    let text = match e {
        EvalError::Job { reason } => reason,
        other => return other.to_string(),
    };
    let first = text.lines().next().unwrap_or_default();
    let first = first.strip_prefix("job rejected: ").unwrap_or(first);
    let first = first.strip_prefix("exception: ").unwrap_or(first);
    match first.strip_prefix("undefined:").and_then(|rest| rest.split_once(": ")) {
        Some((line, rest)) if line.chars().all(|c| c.is_ascii_digit()) => {
            format!("line {line}: {rest}")
        }
        _ => first.to_owned(),
    }
}

/// The sandbox's limits of each task of a job: its manifest's, and the GPU memory it declared
/// (none for a JavaScript job, whose tasks then see no GPU).
pub(crate) fn task_limits(limits: &JobLimits, gpu: &GpuNeeds) -> Limits {
    Limits {
        timeout_ms: limits.timeout_ms,
        heap_bytes: u64::from(limits.heap_mib) << 20,
        result_bytes: u64::from(limits.result_bytes),
        gpu_bytes: u64::from(gpu.memory_mib) << 20,
        ..Limits::default()
    }
}

/// The sandbox processes' limits: room for the job's memory cap above the evaluator's own.
pub(crate) fn spawn_config(job: &Job, config: &LocalConfig) -> SpawnConfig {
    let defaults = ProcessLimits::default();
    let heap_mb = u64::from(job.limits.heap_mib);
    let mut spawn = SpawnConfig::new(&config.program);
    spawn.limits = ProcessLimits {
        nice: config.nice,
        memory_mb: defaults.memory_mb.max(heap_mb.saturating_mul(2).saturating_add(512)),
        v8_heap_mb: defaults.v8_heap_mb.max(heap_mb.saturating_add(256)),
        gpu: job.evaluator == EvaluatorKind::WebGpu,
        ..defaults
    };
    spawn
}

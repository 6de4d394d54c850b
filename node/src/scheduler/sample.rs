//! The sample an offered job must pass before the pool consents: a few of its inputs (the
//! first, and others drawn at random, so a client cannot know which), each run twice in one
//! sandbox on the scheduler's machine. A job that fails to load, fails on this machine, or
//! answers differently twice would split or fail its replicas, at the pool's expense.
//!
//! The sandbox enforces each run's timeout itself; the whole check also has a deadline (each
//! run's timeout plus a margin), past which the sandbox process is killed, so a sandbox that
//! hangs outside a run cannot hold the scheduler's machine.

use std::{
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use quorate_evaluator::{
    client::{EvaluatorHandle, SpawnConfig},
    sandbox::TaskSpec,
};
use quorate_primitives::{ContentHash, DealId, JobManifest, TaskId};

use crate::job::local::{LocalOutcome, classify, load_reason};

/// Margin for each run beyond its timeout (loading the job again, starting the process).
const RUN_MARGIN: Duration = Duration::from_secs(30);

/// Up to `samples` distinct input indices of `count` (≥ 1 when `count` is): 0, then others
/// drawn with `random`, in increasing order.
pub fn pick(count: usize, samples: u32, random: &mut impl FnMut() -> u64) -> Vec<usize> {
    let want = usize::try_from(samples).unwrap_or(usize::MAX).min(count);
    let mut picked: Vec<usize> = Vec::with_capacity(want);
    if want == 0 {
        return picked;
    }
    picked.push(0);
    // Partial Fisher–Yates over 1..count without the whole range in memory: draws are retried
    // on a collision, which the small `want` makes rare (and at most `count` draws each).
    while picked.len() < want {
        let span = u64::try_from(count.saturating_sub(1)).unwrap_or(u64::MAX).max(1);
        let drawn = usize::try_from(random() % span).unwrap_or(0).saturating_add(1);
        if !picked.contains(&drawn) {
            picked.push(drawn);
        }
    }
    picked.sort_unstable();
    picked
}

/// A random number from the operating system (0 if it has none to give).
pub fn os_random() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
}

/// Runs each of `inputs` (index, text) twice in one sandbox; the reason to refuse, if any.
pub async fn check(
    program: &Path,
    manifest: &JobManifest,
    (code_hash, code): (ContentHash, Arc<str>),
    inputs: Vec<(usize, String)>,
    job: ContentHash,
) -> Result<(), String> {
    let program = program.to_path_buf();
    // A task id and a clock the client cannot predict, as the real tasks' (which take the
    // deal's): a work function that behaves only when run at time 0 or under a known id fails
    // here.
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let mut seed = job.0.to_vec();
    seed.extend_from_slice(&now.as_nanos().to_be_bytes());
    seed.extend_from_slice(&os_random().to_be_bytes());
    let deal = DealId::from(alloy::primitives::keccak256(&seed));
    let limits = crate::job::local::task_limits(&manifest.limits, &manifest.gpu);
    let specs: Vec<(usize, TaskSpec)> = inputs
        .into_iter()
        .map(|(index, input)| {
            let spec = TaskSpec {
                task_id: TaskId::derive(deal, u64::try_from(index).unwrap_or(u64::MAX)),
                now_ms: u64::try_from(now.as_millis()).unwrap_or(u64::MAX),
                input,
                args: manifest.args.clone(),
                limits,
            };
            (index, spec)
        })
        .collect();
    let runs = u32::try_from(specs.len().saturating_mul(2)).unwrap_or(u32::MAX);
    let per_run = Duration::from_millis(manifest.limits.timeout_ms).saturating_add(RUN_MARGIN);
    let deadline = per_run.saturating_mul(runs).saturating_add(RUN_MARGIN);
    let webgpu = manifest.evaluator == quorate_primitives::EvaluatorKind::WebGpu;
    let pid = Arc::new(AtomicU32::new(0));
    let pid_seen = Arc::clone(&pid);
    let run = move || -> Result<(), String> {
        // A WebGPU job's sandbox opens a GPU, as its workers' do.
        let mut spawn = SpawnConfig::new(&program);
        spawn.limits.gpu = webgpu;
        let mut sandbox = EvaluatorHandle::spawn(spawn)
            .map_err(|e| format!("the scheduler cannot start a sandbox to check the job: {e}"))?;
        pid_seen.store(sandbox.pid(), Ordering::SeqCst);
        // A scheduler without a GPU checks that a WebGPU job loads; its workers run it.
        let runs_here = !webgpu || sandbox.describe().is_ok_and(|c| c.gpu.is_some());
        let result = (|| {
            sandbox
                .load_job(code_hash, &code)
                .map_err(|e| format!("the work function does not load: {}", load_reason(e)))?;
            if !runs_here {
                return Ok(());
            }
            for (index, spec) in &specs {
                let mut outcomes = Vec::with_capacity(2);
                for _ in 0..2 {
                    // The process a run may hang in: a reset starts a fresh one if a run
                    // killed the last.
                    pid_seen.store(sandbox.pid(), Ordering::SeqCst);
                    let outcome = classify(sandbox.run(spec, &mut |_| {}));
                    if let LocalOutcome::Failed { kind, message } = &outcome {
                        return Err(format!(
                            "task {index} failed on the scheduler's machine ({kind}): {message}"
                        ));
                    }
                    outcomes.push(outcome);
                    sandbox.reset().map_err(|e| format!("the scheduler's sandbox failed: {e}"))?;
                }
                if outcomes.first() != outcomes.last() {
                    return Err(format!(
                        "task {index} gave two different results in two runs: the work function is not deterministic"
                    ));
                }
            }
            Ok(())
        })();
        pid_seen.store(0, Ordering::SeqCst);
        sandbox.shutdown();
        result
    };
    match tokio::time::timeout(deadline, tokio::task::spawn_blocking(run)).await {
        Ok(joined) => joined.map_err(|e| format!("checking the job failed: {e}"))?,
        Err(_) => {
            kill(pid.load(Ordering::SeqCst));
            Err(format!(
                "checking the job's sample tasks took longer than {} s",
                deadline.as_secs()
            ))
        }
    }
}

/// Kills the sandbox process `pid` (0: none started yet).
#[allow(unsafe_code, reason = "kill(2): the standard library kills only a Child it owns")]
fn kill(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else { return };
    if pid > 0 {
        // SAFETY: kill(2) only sends a signal. The pid is the sandbox's the check runs in now
        // (set before each run, cleared before the handle reaps it on shutdown).
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_input_and_distinct_others_are_picked() {
        let mut n = 0u64;
        let mut counter = || {
            n = n.wrapping_add(7);
            n
        };
        assert_eq!(pick(1, 3, &mut counter), [0]);
        assert_eq!(pick(2, 3, &mut counter), [0, 1]);
        assert_eq!(pick(0, 3, &mut counter), Vec::<usize>::new());
        let picked = pick(1000, 3, &mut os_random);
        assert_eq!(picked.len(), 3);
        assert_eq!(picked[0], 0);
        assert!(picked.windows(2).all(|w| w[0] < w[1]) && picked[2] < 1000);
        // Every input can be drawn, and the draws move.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            seen.extend(pick(5, 2, &mut os_random));
        }
        assert_eq!(seen.len(), 5);
    }
}

//! One task's run: its job's data (the manifest and the work function, fetched from the
//! scheduler once per job, checked and kept in the store), its input (inline, or fetched by
//! hash; it must be one of the manifest's inputs), the deal's start read from the Hub (what
//! `Date.now()` returns, the same on every replica), then a sandbox. What depends on this
//! machine or on the network (data that cannot be fetched, a job this worker cannot run) comes
//! back as a failure to report, never as a vote.

use std::{collections::HashMap, sync::Arc, time::Duration};

use alloy::{primitives::Address, providers::RootProvider};
use quorate_evaluator::sandbox::{Event, TaskSpec};
use quorate_p2p::{
    Client, PeerId,
    fetch::{FetchConfig, fetch},
};
use quorate_primitives::{ContentHash, DealId, EvaluatorKind, JobManifest, TaskId, TaskOutcome};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{
    deal::DealFacts,
    exec::{Executor, Work},
    store::{JobData, WorkerStore},
    task::{Assignment, Input},
};
use crate::job::local::LocalOutcome;

/// Jobs kept decoded in memory (the store keeps every held task's job).
const JOBS_IN_MEMORY: usize = 16;

/// One job's slot in the cache: filled once its data is fetched and checked; its lock makes
/// concurrent tasks of the job wait for one fetch.
type JobSlot = Arc<Mutex<Option<Arc<Job>>>>;

/// A job ready to run.
#[derive(Debug)]
struct Job {
    manifest: JobManifest,
    /// What the sandbox loads: the code, after its modules' prelude when it ships any.
    code: Arc<str>,
    code_hash: ContentHash,
}

/// Runs tasks: shared by every task's run (cheap to clone behind an `Arc`).
#[derive(Debug)]
pub(super) struct Runner {
    pub(super) client: Client,
    pub(super) store: WorkerStore,
    pub(super) provider: RootProvider,
    pub(super) hub: Address,
    pub(super) executor: Executor,
    pub(super) progress: mpsc::Sender<(TaskId, Event)>,
    pub(super) fetch: FetchConfig,
    /// WebGPU jobs may run here.
    pub(super) gpu: bool,
    /// The most memory a task may take here, MiB.
    pub(super) task_memory_mib: u64,
    /// Decoded jobs, and one lock per job so its data is fetched once.
    jobs: Mutex<HashMap<ContentHash, JobSlot>>,
    /// Deals' terms as the chain says, read once per deal.
    pub(super) deals: Mutex<HashMap<DealId, DealFacts>>,
    /// Task ids derived from their deals, to know a task's deal and index.
    pub(super) task_ids: Mutex<super::deal::TaskIds>,
    /// Held while a task's deal is looked up on chain.
    pub(super) locating: Mutex<()>,
    /// Most blocks one `eth_getLogs` may span.
    pub(super) log_block_range: u64,
}

/// Why a task did not run: reported to the scheduler, never voted.
fn failed(kind: &str, message: impl Into<String>) -> LocalOutcome {
    LocalOutcome::Failed { kind: kind.to_owned(), message: message.into() }
}

impl Runner {
    #[allow(clippy::too_many_arguments, reason = "the runner's whole context, given once")]
    pub(super) fn new(
        client: Client,
        store: WorkerStore,
        provider: RootProvider,
        hub: Address,
        executor: Executor,
        progress: mpsc::Sender<(TaskId, Event)>,
        fetch: FetchConfig,
        gpu: bool,
        task_memory_mib: u64,
        log_block_range: u64,
    ) -> Self {
        Self {
            client,
            store,
            provider,
            hub,
            executor,
            progress,
            fetch,
            gpu,
            task_memory_mib,
            jobs: Mutex::default(),
            deals: Mutex::default(),
            task_ids: Mutex::default(),
            locating: Mutex::default(),
            log_block_range: log_block_range.max(1),
        }
    }

    /// Runs `assignment` with data from `scheduler`, to its outcome.
    /// Runs the task: its outcome, and the time spent queued for and in a sandbox.
    pub(super) async fn run(
        &self,
        assignment: &Assignment,
        scheduler: PeerId,
    ) -> (LocalOutcome, Duration) {
        match self.prepare(assignment, scheduler).await {
            Ok((code_hash, code, spec, gpu)) => {
                let started = std::time::Instant::now();
                let outcome = self.execute(code_hash, &code, spec, gpu).await;
                (outcome, started.elapsed())
            }
            Err(outcome) => (outcome, Duration::ZERO),
        }
    }

    /// Everything before the sandbox: the job's data, the checks against the chain, the
    /// input; or the outcome that ends the task without a run.
    async fn prepare(
        &self,
        assignment: &Assignment,
        scheduler: PeerId,
    ) -> Result<(ContentHash, Arc<str>, TaskSpec, bool), LocalOutcome> {
        let job = self.job(assignment.job, scheduler).await?;
        let m = &job.manifest;
        if m.evaluator == EvaluatorKind::WebGpu && !self.gpu {
            return Err(failed("incompatible", "the job needs WebGPU and this worker offers none"));
        }
        let gpu_memory_mib = self.executor.gpu_memory_mib();
        let class = self.executor.capabilities().and_then(|c| c.gpu.as_deref()).unwrap_or("");
        if m.evaluator == EvaluatorKind::WebGpu && !m.gpu.class_matches(class) {
            return Err(failed(
                "incompatible",
                format!(
                    "the job needs a GPU of class {:?}, this worker's is {class:?}",
                    m.gpu.class
                ),
            ));
        }
        if m.gpu.memory_mib > gpu_memory_mib {
            return Err(failed(
                "incompatible",
                format!(
                    "the job needs {} MiB of GPU memory per task, this worker's GPU offers {gpu_memory_mib}",
                    m.gpu.memory_mib
                ),
            ));
        }
        if u64::from(m.limits.heap_mib) > self.task_memory_mib {
            return Err(failed(
                "incompatible",
                format!(
                    "the job needs {} MiB per task, this worker offers {}",
                    m.limits.heap_mib, self.task_memory_mib
                ),
            ));
        }
        let start = self.check_on_chain(assignment, m).await?;
        let input = self.input(&assignment.input, m, scheduler).await?;
        let Ok(input) = String::from_utf8(input) else {
            // Every replica reads the same bytes: the input itself is at fault.
            let error = TaskOutcome::Error {
                kind: "bad_input".into(),
                message: "the input is not UTF-8 JSON text".into(),
            };
            return Err(LocalOutcome::Agreed(error));
        };
        let now_ms = start.saturating_mul(1000);
        let spec = TaskSpec {
            task_id: assignment.task,
            now_ms,
            input,
            args: m.args.clone(),
            limits: crate::job::local::task_limits(&m.limits, &m.gpu),
        };
        Ok((job.code_hash, Arc::clone(&job.code), spec, m.evaluator == EvaluatorKind::WebGpu))
    }

    /// Queues the task on a sandbox and waits for its outcome.
    async fn execute(
        &self,
        code_hash: ContentHash,
        code: &Arc<str>,
        spec: TaskSpec,
        gpu: bool,
    ) -> LocalOutcome {
        let (reply, outcome) = oneshot::channel();
        let mut work = Work {
            code_hash,
            code: Arc::clone(code),
            spec,
            gpu,
            events: Some(self.progress.clone()),
            reply,
        };
        // The loop holds no more tasks than sandboxes, so the queue has room; a sandbox
        // restarting may keep it full for a moment.
        let mut waits = 0u32;
        loop {
            match self.executor.submit(work) {
                Ok(()) => break,
                Err(back) if waits < 600 => {
                    work = *back;
                    waits = waits.saturating_add(1);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(_) => return failed("internal", "no sandbox took the task within a minute"),
            }
        }
        outcome.await.unwrap_or_else(|_| failed("internal", "the sandbox stopped"))
    }

    /// The job's manifest and code: from memory, the store, or the scheduler (checked, then
    /// kept), once per job even when several of its tasks start at once.
    async fn job(&self, hash: ContentHash, scheduler: PeerId) -> Result<Arc<Job>, LocalOutcome> {
        let slot = {
            let mut jobs = self.jobs.lock().await;
            if jobs.len() >= JOBS_IN_MEMORY && !jobs.contains_key(&hash) {
                jobs.retain(|_, slot| Arc::strong_count(slot) > 1);
            }
            Arc::clone(jobs.entry(hash).or_default())
        };
        let mut slot = slot.lock().await;
        if let Some(job) = slot.as_ref() {
            return Ok(Arc::clone(job));
        }
        let stored = self.store.job(hash).map_err(|e| failed("internal", e.to_string()))?;
        let data = match stored {
            Some(data) => data,
            None => {
                let data = self.fetch_job(hash, scheduler).await?;
                self.store.put_job(hash, &data).map_err(|e| failed("internal", e.to_string()))?;
                data
            }
        };
        let manifest = JobManifest::decode(&data.manifest)
            .map_err(|e| failed("bad_job", format!("the job's manifest does not decode: {e}")))?;
        let (source, code_hash) =
            crate::job::modules::bundle(&data.code, manifest.code, &data.modules);
        let job = Arc::new(Job { manifest, code: Arc::from(source), code_hash });
        *slot = Some(Arc::clone(&job));
        Ok(job)
    }

    /// Fetches and checks a job's manifest and code from the scheduler.
    async fn fetch_job(
        &self,
        hash: ContentHash,
        scheduler: PeerId,
    ) -> Result<JobData, LocalOutcome> {
        let manifest = self.get(scheduler, hash, "manifest").await?;
        let decoded = JobManifest::decode(&manifest)
            .map_err(|e| failed("bad_job", format!("the job's manifest does not decode: {e}")))?;
        let code = self.get(scheduler, decoded.code, "work function").await?;
        let code = String::from_utf8(code)
            .map_err(|_| failed("bad_job", "the work function is not UTF-8 text"))?;
        let mut modules = Vec::with_capacity(decoded.modules.len());
        for module in &decoded.modules {
            let bytes = self.get(scheduler, module.hash, "WebAssembly module").await?;
            modules.push((module.name.clone(), bytes));
        }
        Ok(JobData { manifest: manifest.into(), code, modules })
    }

    /// The input's bytes, which must be one of the manifest's inputs.
    async fn input(
        &self,
        input: &Input,
        manifest: &JobManifest,
        scheduler: PeerId,
    ) -> Result<Vec<u8>, LocalOutcome> {
        let hash = input.hash();
        if !manifest.inputs.contains(&hash) {
            return Err(failed("bad_input", format!("the input {hash} is not one of the job's")));
        }
        match input {
            Input::Inline(bytes) => Ok(bytes.clone()),
            Input::ByHash { .. } => self.get(scheduler, hash, "input").await,
        }
    }

    /// One blob from the scheduler, its hash checked by the fetch.
    async fn get(
        &self,
        scheduler: PeerId,
        hash: ContentHash,
        what: &str,
    ) -> Result<Vec<u8>, LocalOutcome> {
        fetch(&self.client, &[scheduler], hash, &self.fetch)
            .await
            .map_err(|e| failed("fetch_failed", format!("cannot fetch the {what} {hash}: {e}")))
    }
}

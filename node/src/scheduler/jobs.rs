//! Jobs offered to the pool: their blobs fetched from the client and pinned in the data
//! directory, checked (limits, the manifest, every input, sample tasks run twice alike: [`sample`]), then
//! consented to or refused (docs/architecture.md §4, the pool protocol).

use std::{path::PathBuf, sync::Arc};

use alloy::primitives::{Address, B256};
use quorate_p2p::{
    Client as P2p, PeerId,
    fetch::{FetchConfig, fetch},
};
use quorate_primitives::{ContentHash, JobManifest};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::sample;
use crate::store::Table;

/// Where an offered job stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Intake {
    /// Fetching its blobs.
    Fetching {
        /// Blobs fetched and pinned.
        fetched: u32,
        /// Its blobs in all (manifest, code, inputs).
        total: u32,
    },
    /// Checked and pinned; the owner's consent.
    Consented {
        /// The `JobConsent` signature (65 bytes).
        signature: Vec<u8>,
    },
    /// Refused, and why.
    Refused {
        /// The reason, as the client is told.
        reason: String,
    },
}

/// An offered job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The client that offered it (the only one the consent is for).
    pub client: Address,
    /// The order it is to be bought from.
    pub order: B256,
    /// Its tasks.
    pub task_count: u32,
    /// The trust asked.
    pub trust: u32,
    /// Where it stands.
    pub intake: Intake,
}

/// Offered jobs by job hash.
pub const JOBS: Table<B256, JobRecord> = Table::new("jobs");

/// The job of each of this pool's deals.
pub const DEAL_JOBS: Table<B256, ContentHash> = Table::new("deal_jobs");

/// The pinned blobs: one file per content hash under a directory.
#[derive(Debug, Clone)]
pub struct Pinned {
    dir: PathBuf,
}

impl Pinned {
    /// Blobs under `dir` (created when needed).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, hash: &ContentHash) -> PathBuf {
        self.dir.join(alloy::primitives::hex::encode(hash.0))
    }

    /// The blob's bytes, when pinned and intact.
    pub fn get(&self, hash: &ContentHash) -> Option<Vec<u8>> {
        std::fs::read(self.path(hash)).ok().filter(|bytes| hash.verifies(bytes))
    }

    /// Unpins a blob (nothing when it is not pinned).
    pub fn remove(&self, hash: &ContentHash) {
        let _ = std::fs::remove_file(self.path(hash));
    }

    /// Pins `bytes` (already checked against `hash`): written whole or not at all.
    pub fn put(&self, hash: &ContentHash, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(hash);
        if path.exists() {
            return Ok(());
        }
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, bytes)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &path)
    }
}

/// The most memory a task of a job this pool takes may ask (its workers' default offer).
pub const MAX_TASK_MEMORY_MIB: u32 = 1024;
/// The longest a task of a job this pool takes may run.
pub const MAX_TASK_TIMEOUT_MS: u64 = 600_000;

/// What a pool takes in one job.
#[derive(Debug, Clone)]
pub struct IntakeLimits {
    /// Most tasks.
    pub max_tasks: u32,
    /// Most bytes of manifest, code and inputs.
    pub max_bytes: u64,
    /// The `quorate-evaluator` executable the sample tasks run in.
    pub evaluator: PathBuf,
    /// Inputs run twice each before the consent (the first and others at random).
    pub samples: u32,
    /// The GPUs of the joined workers that offer WebGPU. A WebGPU job is taken only when
    /// those that meet its needs can reach consensus at its trust.
    pub gpus: Vec<super::platform::OfferedGpu>,
    /// The trust the client asked.
    pub trust: u32,
}

/// What an intake reports as it goes: the job and its new state.
pub type Progress = mpsc::Sender<(ContentHash, Intake)>;

/// Fetches job `job` from the client `peer`, pins its blobs and checks it. Returns the
/// manifest, or the reason to refuse (a sentence for the client).
pub async fn intake(
    p2p: &P2p,
    peer: PeerId,
    job: ContentHash,
    task_count: u32,
    limits: &IntakeLimits,
    pinned: &Pinned,
    progress: &Progress,
) -> Result<JobManifest, String> {
    let config = FetchConfig { max_size: limits.max_bytes, ..FetchConfig::default() };
    let get = |hash: ContentHash| {
        let config = config.clone();
        async move {
            if let Some(bytes) = pinned.get(&hash) {
                return Ok(bytes);
            }
            let bytes = fetch(p2p, &[peer], hash, &config)
                .await
                .map_err(|e| format!("the scheduler could not fetch blob {hash} from you: {e}"))?;
            pinned
                .put(&hash, &bytes)
                .map_err(|e| format!("the scheduler could not store the job: {e}"))?;
            Ok::<_, String>(bytes)
        }
    };
    let manifest_bytes = get(job).await?;
    let manifest = JobManifest::decode(&manifest_bytes).map_err(|e| e.to_string())?;
    // What the pool's workers cannot run would fail every task after the consent, and the
    // pool's stake with them.
    if manifest.evaluator == quorate_primitives::EvaluatorKind::WebGpu {
        super::platform::check_offered(&manifest.gpu, limits.trust, &limits.gpus)?;
    }
    if manifest.limits.heap_mib > MAX_TASK_MEMORY_MIB {
        return Err(format!(
            "the job asks {} MiB per task; this pool's workers give at most {MAX_TASK_MEMORY_MIB} MiB",
            manifest.limits.heap_mib
        ));
    }
    if manifest.limits.timeout_ms > MAX_TASK_TIMEOUT_MS {
        return Err(format!(
            "the job allows {} s per task; this pool runs tasks of at most {} s",
            manifest.limits.timeout_ms / 1000,
            MAX_TASK_TIMEOUT_MS / 1000
        ));
    }
    if manifest.task_count() != task_count {
        return Err(format!(
            "the offer says {task_count} tasks but the manifest has {}",
            manifest.task_count()
        ));
    }
    if task_count > limits.max_tasks {
        return Err(format!(
            "this pool takes at most {} tasks per job, the job has {task_count}: split it",
            limits.max_tasks
        ));
    }
    let total = task_count.saturating_add(2);
    let report = |fetched: u32| {
        let _ = progress.try_send((job, Intake::Fetching { fetched, total }));
    };
    report(1);
    let code = get(manifest.code).await?;
    let mut bytes = (manifest_bytes.len() as u64).saturating_add(code.len() as u64);
    // Its WebAssembly modules, fetched (hash-checked) and counted like the rest.
    let mut modules = Vec::with_capacity(manifest.modules.len());
    for module in &manifest.modules {
        let blob = get(module.hash).await?;
        bytes = bytes.saturating_add(blob.len() as u64);
        modules.push((module.name.clone(), blob));
    }
    report(2);
    let picked = sample::pick(manifest.inputs.len(), limits.samples, &mut sample::os_random);
    let mut samples = Vec::with_capacity(picked.len());
    for (i, input) in manifest.inputs.iter().enumerate() {
        let blob = get(*input).await?;
        bytes = bytes.saturating_add(blob.len() as u64);
        if bytes > limits.max_bytes {
            return Err(format!(
                "the job's code and inputs take more than the pool's {} MiB: make it smaller or split it",
                limits.max_bytes >> 20
            ));
        }
        if picked.contains(&i) {
            let text =
                String::from_utf8(blob).map_err(|_| format!("input {i} is not UTF-8 JSON"))?;
            samples.push((i, text));
        }
        report(u32::try_from(i).unwrap_or(u32::MAX).saturating_add(3));
    }
    let code =
        String::from_utf8(code).map_err(|_| "the work function is not UTF-8 text".to_owned())?;
    // What the workers' sandboxes will load: the code after its modules' prelude.
    let (source, source_hash) = crate::job::modules::bundle(&code, manifest.code, &modules);
    sample::check(&limits.evaluator, &manifest, (source_hash, Arc::from(source)), samples, job)
        .await?;
    Ok(manifest)
}

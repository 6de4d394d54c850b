//! A job as the client builds it: the work function's source, its inputs (each the exact JSON
//! text the user wrote), its arguments and limits; the [`JobManifest`] that names them by content
//! hash; and a run on this machine's sandboxes ([`local`]).
//!
//! ```text
//! WORKFN.js ──┐                      ┌─▶ manifest (code hash, input hashes, args, limits) ─▶ job hash
//! INPUTS ─────┼─▶ Job::from_files ───┤
//! --args ─────┘                      └─▶ blobs by content hash (what the pool pins and serves)
//! ```

pub mod inputs;
pub mod local;
pub mod modules;

use std::path::Path;

use quorate_primitives::{ContentHash, EvaluatorKind, GpuNeeds, JobLimits, JobManifest};
use serde_json::value::RawValue;

pub use inputs::{InputsError, InputsFormat};

/// Why a job could not be built; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The work function's file could not be read.
    #[error("cannot read the work function {path}: {reason}")]
    ReadCode {
        /// The file.
        path: String,
        /// The OS's words.
        reason: String,
    },
    /// The work function's file is empty.
    #[error(
        "the work function {path} is empty: it must evaluate to a function, e.g. `(input) => input * 2`"
    )]
    EmptyCode {
        /// The file.
        path: String,
    },
    /// The inputs.
    #[error(transparent)]
    Inputs(#[from] InputsError),
    /// The arguments are not a JSON array.
    #[error("the arguments must be a JSON array, e.g. --args '[1, \"two\"]': {reason}")]
    Args {
        /// The parser's words.
        reason: String,
    },
    /// The job breaks a manifest rule (too many tasks, limits out of range).
    #[error("{0}")]
    Manifest(String),
    /// The work function does not load in a sandbox.
    #[error("the work function does not load: {0}")]
    Load(String),
    /// A sandbox could not be started or failed underneath the job.
    #[error("{0}")]
    Sandbox(String),
}

/// A job's content, before anything is hashed or sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The work function's source.
    pub code: String,
    /// Each task's input, as JSON text, in task order.
    pub inputs: Vec<String>,
    /// Extra arguments after the input, as a JSON array text.
    pub args: String,
    /// Limits of every task.
    pub limits: JobLimits,
    /// What runs the tasks.
    pub evaluator: EvaluatorKind,
    /// What the tasks need of a GPU ([`GpuNeeds::NONE`] for a JavaScript job).
    pub gpu: GpuNeeds,
    /// WebAssembly modules shipped with the job: name and bytes (`modules[name]` in the work
    /// function).
    pub modules: Vec<(String, Vec<u8>)>,
}

impl Job {
    /// A job of the work function in `code` over the inputs in `inputs` (JSON Lines or a JSON
    /// array), no arguments, default limits, JavaScript.
    pub fn from_files(code: &Path, inputs: &Path) -> Result<Self, JobError> {
        let path = code.display().to_string();
        let source = std::fs::read_to_string(code)
            .map_err(|e| JobError::ReadCode { path: path.clone(), reason: e.to_string() })?;
        if source.trim().is_empty() {
            return Err(JobError::EmptyCode { path });
        }
        Ok(Self {
            code: source,
            inputs: inputs::read(inputs)?,
            args: "[]".into(),
            limits: JobLimits::default(),
            evaluator: EvaluatorKind::JavaScript,
            gpu: GpuNeeds::NONE,
            modules: Vec::new(),
        })
    }

    /// Makes it a WebGPU job: its tasks use `gpu.compute`, with `memory_mib` of GPU memory
    /// each (default [`quorate_primitives::gpu::DEFAULT_GPU_MIB`]) on a GPU whose adapter
    /// class is or has the part `class` (any when `None`; matched in lowercase).
    pub fn use_gpu(&mut self, memory_mib: Option<u32>, class: Option<&str>) {
        self.evaluator = EvaluatorKind::WebGpu;
        if self.gpu.is_none() {
            self.gpu = GpuNeeds::any();
        }
        if let Some(mib) = memory_mib {
            self.gpu.memory_mib = mib;
        }
        if let Some(class) = class {
            self.gpu.class = class.trim().to_lowercase();
        }
    }

    /// Ships the WebAssembly module in `path` with the job, named by its file name.
    pub fn with_module_file(mut self, path: &Path) -> Result<Self, JobError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path)
            .map_err(|e| JobError::ReadCode { path: shown.clone(), reason: e.to_string() })?;
        if !bytes.starts_with(b"\0asm") {
            return Err(JobError::ReadCode {
                path: shown,
                reason: "not a WebAssembly module (no \\0asm header): give a .wasm file".into(),
            });
        }
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        self.modules.push((name, bytes));
        Ok(self)
    }

    /// The source a sandbox loads (the code, after its modules' prelude) and its hash.
    pub fn source(&self) -> (String, ContentHash) {
        modules::bundle(&self.code, ContentHash::of(self.code.as_bytes()), &self.modules)
    }

    /// Sets the arguments, which must be a JSON array.
    pub fn with_args(mut self, args: &str) -> Result<Self, JobError> {
        serde_json::from_str::<Vec<&RawValue>>(args)
            .map_err(|e| JobError::Args { reason: e.to_string() })?;
        args.trim().clone_into(&mut self.args);
        Ok(self)
    }

    /// The manifest naming this job's code and inputs by content hash.
    pub fn manifest(&self) -> Result<JobManifest, JobError> {
        let manifest = JobManifest {
            evaluator: self.evaluator,
            limits: self.limits,
            gpu: self.gpu.clone(),
            code: ContentHash::of(self.code.as_bytes()),
            args: self.args.clone(),
            modules: self
                .modules
                .iter()
                .map(|(name, bytes)| quorate_primitives::Module {
                    name: name.clone(),
                    hash: ContentHash::of(bytes),
                })
                .collect(),
            inputs: self.inputs.iter().map(|i| ContentHash::of(i.as_bytes())).collect(),
            salt: Default::default(),
        };
        manifest.validate().map_err(|e| JobError::Manifest(e.to_string()))?;
        Ok(manifest)
    }

    /// The number of tasks.
    pub fn task_count(&self) -> usize {
        self.inputs.len()
    }
}

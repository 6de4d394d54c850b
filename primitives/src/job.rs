//! A job as the roles agree on it: the [`JobManifest`] (the work function's and every input's
//! content hash, the arguments, the limits and the evaluator), its canonical bytes and its
//! [`JobHash`]; and a task's [`TaskOutcome`] as the bytes the workers vote on.
//!
//! The manifest's encoding is a fixed binary layout, not JSON, so that there is exactly one
//! encoding of each manifest and the hash every role computes is the same:
//!
//! ```text
//! "QJOB" ‖ version (1) ‖ evaluator (1) ‖ timeout_ms (8) ‖ heap_mib (4) ‖ result_bytes (4)
//!        ‖ gpu memory_mib (4) ‖ gpu class length (1) ‖ gpu class (ASCII)
//!        ‖ salt (32) ‖ code (32) ‖ args length (4) ‖ args (UTF-8 JSON array text)
//!        ‖ module count (1) ‖ per module: name length (1) ‖ name ‖ hash (32)
//!        ‖ input count (4) ‖ input hashes (32 each)
//! ```
//!
//! Integers are big-endian. Decoding refuses anything else: another magic or version, an
//! unknown evaluator, limits out of range, arguments that are not UTF-8, trailing bytes.

use crate::{B256, ContentHash, Error, gpu::GpuNeeds};

/// The manifest format this code writes and reads.
pub const MANIFEST_VERSION: u8 = 3;

/// The first bytes of every encoded manifest.
const MAGIC: &[u8; 4] = b"QJOB";

/// The most tasks one job may have: the Hub counts a deal's tasks in 32 bits.
pub const MAX_TASKS: u32 = u32::MAX;

/// The largest arguments text, in bytes: arguments travel in the manifest, inputs do not.
pub const MAX_ARGS_BYTES: usize = 64 << 10;

/// Most WebAssembly modules one job ships.
pub const MAX_MODULES: usize = 16;

/// Longest module name, bytes.
pub const MAX_MODULE_NAME: usize = 64;

/// The longest a task may run, in milliseconds (one hour).
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// The most memory a task may take, in MiB.
pub const MAX_HEAP_MIB: u32 = 16 << 10;

/// The largest result a task may return, in bytes.
pub const MAX_RESULT_BYTES: u32 = 256 << 20;

/// A job's hash: the BLAKE3 content hash of its manifest's canonical bytes. It is what the
/// client's request on chain names and what the pool's consent signs.
pub type JobHash = ContentHash;

/// What runs a job's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EvaluatorKind {
    /// JavaScript (and WebAssembly from it) in V8.
    JavaScript,
    /// JavaScript with `gpu.compute` (WebGPU compute shaders through wgpu).
    WebGpu,
}

impl EvaluatorKind {
    /// The byte in the manifest (and the scheduler's `Deal::evaluator`).
    pub const fn code(self) -> u8 {
        match self {
            Self::JavaScript => 0,
            Self::WebGpu => 1,
        }
    }

    /// The kind with this byte.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::JavaScript),
            1 => Some(Self::WebGpu),
            _ => None,
        }
    }
}

/// Per-task limits every replica runs under (so every replica fails the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JobLimits {
    /// Wall-clock limit per task, in milliseconds (1 to [`MAX_TIMEOUT_MS`]).
    pub timeout_ms: u64,
    /// Memory per task, in MiB (16 to [`MAX_HEAP_MIB`]).
    pub heap_mib: u32,
    /// Largest result per task, in bytes (1 to [`MAX_RESULT_BYTES`]).
    pub result_bytes: u32,
}

impl Default for JobLimits {
    /// One minute, 512 MiB, 16 MiB of result: the evaluator's own defaults.
    fn default() -> Self {
        Self { timeout_ms: 60_000, heap_mib: 512, result_bytes: 16 << 20 }
    }
}

impl JobLimits {
    /// Checks every limit is in its range.
    pub fn validate(&self) -> Result<(), Error> {
        let refuse = |reason: String| Err(Error::InvalidJob { reason });
        if self.timeout_ms == 0 || self.timeout_ms > MAX_TIMEOUT_MS {
            return refuse(format!("the task timeout must be 1 ms to {} s", MAX_TIMEOUT_MS / 1000));
        }
        if !(16..=MAX_HEAP_MIB).contains(&self.heap_mib) {
            return refuse(format!("the task memory must be 16 to {MAX_HEAP_MIB} MiB"));
        }
        if self.result_bytes == 0 || self.result_bytes > MAX_RESULT_BYTES {
            return refuse(format!("the result cap must be 1 to {} MiB", MAX_RESULT_BYTES >> 20));
        }
        Ok(())
    }
}

/// A WebAssembly module a job ships as data: its name (the work function finds it as
/// `modules[name]`, compiled once per job) and its bytes by content hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Module {
    /// `[A-Za-z0-9._-]`, 1 to [`MAX_MODULE_NAME`] bytes.
    pub name: String,
    /// BLAKE3 of its bytes.
    pub hash: ContentHash,
}

/// A job: task `i` runs the work function on input `i` with the arguments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobManifest {
    /// What runs the tasks.
    pub evaluator: EvaluatorKind,
    /// Limits of every task.
    pub limits: JobLimits,
    /// What its tasks need of a GPU: [`GpuNeeds::NONE`] for a JavaScript job, memory (and
    /// perhaps an adapter class) for a WebGPU one.
    pub gpu: GpuNeeds,
    /// The work function's source, by content hash.
    pub code: ContentHash,
    /// Extra arguments after the input, as a JSON array text (`[]` for none).
    pub args: String,
    /// WebAssembly modules shipped with the job, by name, names unique.
    pub modules: Vec<Module>,
    /// Each task's input (a JSON text), by content hash, in task order.
    pub inputs: Vec<ContentHash>,
    /// The client's random value making each submission its own job (as iExec's order salt):
    /// the pool's consent is to one job hash, used for one deal, so the same code and inputs
    /// submitted again need another hash. Zero for a job never submitted.
    pub salt: B256,
}

impl JobManifest {
    /// Checks the manifest can be encoded and run: at least one input, at most
    /// [`MAX_TASKS`], arguments within [`MAX_ARGS_BYTES`], limits in range.
    pub fn validate(&self) -> Result<(), Error> {
        let refuse = |reason: String| Err(Error::InvalidJob { reason });
        if self.inputs.is_empty() {
            return refuse("a job needs at least one input".into());
        }
        if u32::try_from(self.inputs.len()).is_err() {
            return refuse(format!("a job has at most {MAX_TASKS} tasks"));
        }
        if self.args.len() > MAX_ARGS_BYTES {
            return refuse(format!("the arguments take at most {} KiB", MAX_ARGS_BYTES >> 10));
        }
        if self.modules.len() > MAX_MODULES {
            return refuse(format!("a job ships at most {MAX_MODULES} WebAssembly modules"));
        }
        let mut names = std::collections::BTreeSet::new();
        for module in &self.modules {
            let name = &module.name;
            let valid = (1..=MAX_MODULE_NAME).contains(&name.len())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !valid {
                return refuse(format!(
                    "module name {name:?}: 1 to {MAX_MODULE_NAME} letters, digits, '.', '_' or '-'"
                ));
            }
            if !names.insert(name.as_str()) {
                return refuse(format!("two modules are named {name:?}"));
            }
        }
        match self.evaluator {
            EvaluatorKind::JavaScript if !self.gpu.is_none() => {
                return refuse(
                    "a JavaScript job needs no GPU: make it a WebGPU job (--gpu)".into(),
                );
            }
            EvaluatorKind::JavaScript => {}
            EvaluatorKind::WebGpu => self.gpu.validate()?,
        }
        self.limits.validate()
    }

    /// The number of tasks.
    pub fn task_count(&self) -> u32 {
        u32::try_from(self.inputs.len()).unwrap_or(MAX_TASKS)
    }

    /// The canonical bytes (after [`JobManifest::validate`]).
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        self.validate()?;
        let mut out = Vec::with_capacity(128 + self.args.len() + 32 * self.inputs.len());
        out.extend_from_slice(MAGIC);
        out.push(MANIFEST_VERSION);
        out.push(self.evaluator.code());
        out.extend_from_slice(&self.limits.timeout_ms.to_be_bytes());
        out.extend_from_slice(&self.limits.heap_mib.to_be_bytes());
        out.extend_from_slice(&self.limits.result_bytes.to_be_bytes());
        out.extend_from_slice(&self.gpu.memory_mib.to_be_bytes());
        // At most MAX_GPU_CLASS ASCII bytes: validate() checked.
        out.push(self.gpu.class.len() as u8);
        out.extend_from_slice(self.gpu.class.as_bytes());
        out.extend_from_slice(self.salt.as_slice());
        out.extend_from_slice(self.code.0.as_slice());
        // Both lengths fit in 32 bits: validate() checked them.
        out.extend_from_slice(&(self.args.len() as u32).to_be_bytes());
        out.extend_from_slice(self.args.as_bytes());
        // At most MAX_MODULES, names of at most MAX_MODULE_NAME bytes: validate() checked.
        out.push(self.modules.len() as u8);
        for module in &self.modules {
            out.push(module.name.len() as u8);
            out.extend_from_slice(module.name.as_bytes());
            out.extend_from_slice(module.hash.0.as_slice());
        }
        out.extend_from_slice(&self.task_count().to_be_bytes());
        for input in &self.inputs {
            out.extend_from_slice(input.0.as_slice());
        }
        Ok(out)
    }

    /// The job's hash: BLAKE3 of [`JobManifest::encode`].
    pub fn hash(&self) -> Result<JobHash, Error> {
        Ok(ContentHash::of(&self.encode()?))
    }

    /// Reads canonical bytes back, refusing anything [`JobManifest::encode`] would not write.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader { bytes };
        if r.take(4)? != MAGIC {
            return Err(malformed("it is not a job manifest"));
        }
        let version = r.u8()?;
        if version != MANIFEST_VERSION {
            return Err(malformed(&format!(
                "manifest version {version}; this node reads version {MANIFEST_VERSION}"
            )));
        }
        let evaluator = EvaluatorKind::from_code(r.u8()?)
            .ok_or_else(|| malformed("an unknown evaluator kind"))?;
        let limits = JobLimits { timeout_ms: r.u64()?, heap_mib: r.u32()?, result_bytes: r.u32()? };
        let memory_mib = r.u32()?;
        let class_len = usize::from(r.u8()?);
        let class = String::from_utf8(r.take(class_len)?.to_vec())
            .map_err(|_| malformed("a GPU class that is not UTF-8"))?;
        let gpu = GpuNeeds { memory_mib, class };
        let salt = r.hash()?.0;
        let code = r.hash()?;
        let args_len = r.u32()? as usize;
        if args_len > MAX_ARGS_BYTES {
            return Err(malformed("arguments longer than allowed"));
        }
        let args = String::from_utf8(r.take(args_len)?.to_vec())
            .map_err(|_| malformed("arguments that are not UTF-8"))?;
        let module_count = usize::from(r.u8()?);
        if module_count > MAX_MODULES {
            return Err(malformed("more modules than allowed"));
        }
        let mut modules = Vec::with_capacity(module_count);
        for _ in 0..module_count {
            let name_len = usize::from(r.u8()?);
            let name = String::from_utf8(r.take(name_len)?.to_vec())
                .map_err(|_| malformed("a module name that is not UTF-8"))?;
            modules.push(Module { name, hash: r.hash()? });
        }
        let count = r.u32()? as usize;
        // Each input takes 32 bytes: a count the bytes cannot hold is refused before allocating.
        if r.bytes.len() != count.saturating_mul(32) {
            return Err(malformed("an input count that does not match its hashes"));
        }
        let inputs = (0..count).map(|_| r.hash()).collect::<Result<Vec<_>, _>>()?;
        let manifest = Self { evaluator, limits, gpu, code, args, modules, inputs, salt };
        manifest.validate()?;
        Ok(manifest)
    }
}

fn malformed(what: &str) -> Error {
    Error::InvalidJob { reason: format!("malformed manifest: {what}") }
}

/// Reads fixed-width fields off the front of a byte slice.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.bytes.len() < n {
            return Err(malformed("it ends early"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn hash(&mut self) -> Result<ContentHash, Error> {
        Ok(ContentHash(B256::from(self.array::<32>()?)))
    }
}

/// The first byte of an encoded error outcome. A value outcome is canonical JSON, which never
/// starts with it.
const ERROR_MARK: u8 = 0;

/// What a task ended with, as every replica must compute it: its bytes are what the workers
/// vote on (`ResultDigest::of(task, bytes)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskOutcome {
    /// The work function's result, as canonical JSON.
    Value(Vec<u8>),
    /// A failure every replica reproduces (the work function threw, its input or result was
    /// invalid): voted on and paid like a value. `kind` is the evaluator's stable name.
    Error {
        /// The failure's stable name (`threw`, `bad_input`, …).
        kind: String,
        /// What the work function or the evaluator said.
        message: String,
    },
}

impl TaskOutcome {
    /// The bytes voted on: a value's JSON as it is, an error as `0x00 ‖ kind ‖ '\n' ‖ message`.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Value(json) => json.clone(),
            Self::Error { kind, message } => {
                let mut out = Vec::with_capacity(2 + kind.len() + message.len());
                out.push(ERROR_MARK);
                out.extend_from_slice(kind.as_bytes());
                out.push(b'\n');
                out.extend_from_slice(message.as_bytes());
                out
            }
        }
    }

    /// Reads bytes a worker revealed (after checking them against the digest on chain).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        match bytes.split_first() {
            Some((&ERROR_MARK, rest)) => {
                let text = std::str::from_utf8(rest).map_err(|_| Error::InvalidJob {
                    reason: "a task error that is not UTF-8".into(),
                })?;
                let (kind, message) = text.split_once('\n').ok_or_else(|| Error::InvalidJob {
                    reason: "a task error without its kind".into(),
                })?;
                Ok(Self::Error { kind: kind.into(), message: message.into() })
            }
            Some(_) => Ok(Self::Value(bytes.to_vec())),
            None => Err(Error::InvalidJob { reason: "an empty task result".into() }),
        }
    }
}

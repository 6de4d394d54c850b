//! One sandbox: a V8 context with the evaluator's JavaScript runtime, a loaded job, and tasks
//! run under limits. This is what the `quorate-evaluator` process drives; it can also be used
//! in-process (tests, benchmarks).
//!
//! | file | concern |
//! |---|---|
//! | `mod.rs` | the public types, [`Sandbox`]: contexts booted, jobs loaded under [`LoadLimits`], contexts replaced |
//! | `task.rs` | one task: the call, its limits, the barrier after its answer, the runtime's `Outcome` |
//! | `mailbox.rs` | the shared mailbox: its layout and message kinds (handed to the runtime), sampling progress |
//! | `memory.rs` | the process's memory counters that bound a task's memory |

use std::{
    sync::{
        Arc,
        mpsc::{Receiver, SyncSender, sync_channel},
    },
    time::Duration,
};

use quorate_primitives::{ContentHash, ResultDigest, TaskId};
use serde::{Deserialize, Serialize};

use crate::{
    Error, TaskErrorKind,
    engine::{Context, Deadline, Runtime, Wake, check},
    ffi::{Handle, SharedWords},
    gpu::Gpu,
};

mod mailbox;
mod memory;
mod task;

use mailbox::{Note, Shared};
use memory::{ProcessMemory, RELEASE_SLACK};

/// The evaluator's JavaScript runtime, evaluated first in every context: a function of the
/// mailbox's layout ([`mailbox::boundary_js`]).
const RUNTIME_JS: &str = include_str!("../runtime.js");

/// How long booting a context (the runtime alone, no job code) may take.
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);

/// Capacity of the queue of events from JavaScript (console) per context; events beyond it are
/// dropped and counted. A settlement or a GPU request is never dropped: it is recorded in
/// [`Shared`], and its note on the queue only wakes the waiting host thread.
const EVENT_QUEUE: usize = 1024;

/// How long a discarded context may take to stop its JavaScript and free its isolate before the
/// sandbox counts as poisoned.
const DISCARD_WAIT: Duration = Duration::from_secs(2);

/// Limits applied to one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock limit for the task, in milliseconds.
    pub timeout_ms: u64,
    /// If set, the task fails when `progress()` is not called for this many milliseconds.
    pub progress_watchdog_ms: Option<u64>,
    /// Cap of all the memory the task may take, in bytes: the V8 heap, and the memory outside
    /// it (`ArrayBuffer`s, WebAssembly memories, shared buffers), counted as the process's
    /// private writable memory above its level when the task started.
    pub heap_bytes: u64,
    /// Cap of the result as it is sent: its length as a JSON string in the response frame
    /// (after escaping), in bytes.
    pub result_bytes: u64,
    /// Cap of the console text relayed per task, in bytes; the rest is dropped and counted.
    pub console_bytes: u64,
    /// Cap of the GPU memory one `gpu.compute` call may take (its buffers and the copies read
    /// back), in bytes: the job's declared GPU memory. 0: the task sees no GPU (`gpu.compute`
    /// rejects as in a sandbox without one), so a job that needs none computes the same on
    /// workers with and without one.
    #[serde(default = "default_gpu_bytes")]
    pub gpu_bytes: u64,
}

fn default_gpu_bytes() -> u64 {
    u64::from(quorate_primitives::gpu::DEFAULT_GPU_MIB) << 20
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout_ms: 60_000,
            progress_watchdog_ms: None,
            heap_bytes: 512 << 20,
            result_bytes: 16 << 20,
            console_bytes: 64 << 10,
            gpu_bytes: default_gpu_bytes(),
        }
    }
}

/// One task to run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// The task id: seeds `Math.random`.
    pub task_id: TaskId,
    /// What `Date.now()` returns during the task, in milliseconds since the epoch (the deal's
    /// start, so every replica sees the same).
    pub now_ms: u64,
    /// The input, as JSON text (binary values as `{"$bytes","$type"}` objects).
    pub input: String,
    /// Extra arguments, as a JSON array text.
    pub args: String,
    /// Limits for this task.
    pub limits: Limits,
}

/// Console severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleLevel {
    /// `console.log`, `info`, `debug`.
    Log,
    /// `console.warn`.
    Warn,
    /// `console.error`.
    Error,
}

/// Something the work function reported while running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// `progress(fraction)`: a fraction in `[0, 1]`, or `None` for an indeterminate report.
    Progress {
        /// The fraction reported.
        fraction: Option<f64>,
    },
    /// A console line, truncated to the task's console cap.
    Console {
        /// Which method.
        level: ConsoleLevel,
        /// The text.
        text: String,
    },
}

/// A task's successful outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskOutput {
    /// The canonical result bytes (see the crate docs).
    pub result: Vec<u8>,
    /// keccak256 of `result`.
    pub digest: ResultDigest,
    /// Console calls and events dropped because a cap or queue was full.
    pub dropped_events: u64,
}

/// Limits applied to evaluating a job's code (its load), each time it is loaded: when the job
/// is loaded, and again on every fresh context that job's tasks need. Never counted in a task's
/// own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadLimits {
    /// Wall-clock limit for the job's code and the promise continuations it starts.
    pub timeout_ms: u64,
    /// Cap of the memory loading may take, in bytes (the V8 heap and the memory outside it, as
    /// [`Limits::heap_bytes`]).
    pub heap_bytes: u64,
}

impl Default for LoadLimits {
    fn default() -> Self {
        Self { timeout_ms: 10_000, heap_bytes: 512 << 20 }
    }
}

/// The most arguments an entry point of the runtime takes.
const ARGS: usize = 3;

/// A booted context: the runtime's entry points as handles.
#[derive(Debug)]
struct Booted {
    cx: Context,
    rx: Receiver<Wake<Note>>,
    tx: SyncSender<Wake<Note>>,
    shared: Arc<Shared>,
    words: Arc<SharedWords>,
    load: Handle,
    run: Handle,
    take: Handle,
    idle: Handle,
    gpu_next: Handle,
    gpu_resolve: Handle,
    gpu_reject: Handle,
    /// The array whose items are the arguments of the next call into the runtime.
    args: Handle,
    /// The indices 0, 1, 2 of `args`.
    keys: [Handle; ARGS],
    undefined: Handle,
    /// Private writable memory of the process once the job was loaded (the level a context
    /// returns to after each task).
    loaded_level: u64,
}

impl Booted {
    /// Makes `values` the arguments of the next call into the runtime; the other positions
    /// are cleared, so no call sees another's arguments. (Only before a call: between calls the
    /// isolate may be busy with the job's continuations, and a write would wait for them.)
    fn set_args(&self, values: &[&Handle]) -> Result<(), Error> {
        if values.len() > ARGS {
            return Err(Error::engine(format!(
                "{} arguments for a runtime entry point",
                values.len()
            )));
        }
        let raw = self.cx.raw();
        for (i, key) in self.keys.iter().enumerate() {
            let value = values.get(i).copied().unwrap_or(&self.undefined);
            check(&raw.set(&self.args, key, value).map_err(Error::engine)?)?;
        }
        Ok(())
    }
}

/// A job's code, checked against its content hash.
#[derive(Debug, Clone)]
struct Job {
    hash: ContentHash,
    code: String,
}

/// A sandbox: one context at a time, the loaded job, and the task runner.
#[derive(Debug)]
pub struct Sandbox {
    rt: &'static Runtime,
    booted: Option<Booted>,
    job: Option<Job>,
    gpu: Option<Arc<Gpu>>,
    memory: ProcessMemory,
    load_limits: LoadLimits,
    poisoned: bool,
}

impl Sandbox {
    /// A sandbox with a booted context and no job.
    pub fn new() -> Result<Self, Error> {
        Self::with_runtime(Runtime::global()?)
    }

    /// A sandbox on a given runtime (e.g. one initialised with extra flags).
    pub fn with_runtime(rt: &'static Runtime) -> Result<Self, Error> {
        let mut sb = Self {
            rt,
            booted: None,
            job: None,
            gpu: None,
            memory: ProcessMemory::open()?,
            load_limits: LoadLimits::default(),
            poisoned: false,
        };
        sb.booted = Some(sb.boot()?);
        Ok(sb)
    }

    /// The V8 runtime this sandbox uses.
    pub fn runtime(&self) -> &'static Runtime {
        self.rt
    }

    /// Gives the sandbox a GPU for `gpu.compute` (without one, `gpu.compute` rejects).
    pub fn set_gpu(&mut self, gpu: Option<Arc<Gpu>>) {
        self.gpu = gpu;
    }

    /// The limits of every later load of a job's code.
    pub fn set_load_limits(&mut self, limits: LoadLimits) {
        self.load_limits = limits;
    }

    /// The GPU's adapter class, if the sandbox has one.
    pub fn gpu_class(&self) -> Option<&str> {
        self.gpu.as_deref().map(Gpu::class)
    }

    /// The sandbox's GPU, if it has one.
    pub fn gpu(&self) -> Option<&Gpu> {
        self.gpu.as_deref()
    }

    /// True once something could not be stopped (a context that did not free within
    /// 2 s, a GPU shader past its deadline): the process should be replaced.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned || self.gpu.as_deref().is_some_and(Gpu::is_lost)
    }

    /// The loaded job's hash, if any.
    pub fn job(&self) -> Option<ContentHash> {
        self.job.as_ref().map(|j| j.hash)
    }

    /// The process's resident memory, in bytes (for measurements).
    pub fn resident_bytes(&self) -> Option<u64> {
        self.memory.resident_bytes()
    }

    fn boot(&self) -> Result<Booted, Error> {
        let mut cx = self.rt.context()?;
        let deadline = Deadline::after(BOOT_TIMEOUT);
        let source = format!("{RUNTIME_JS}({})", mailbox::boundary_js());
        let boot = cx.eval_handle(&source, deadline)?;
        let raw = Arc::clone(cx.raw());
        let s = |t: &str| raw.alloc_str(t).map_err(Error::engine);
        let get = |obj: &Handle, key: &str| -> Result<Handle, Error> {
            let h = raw.get(obj, &s(key)?).map_err(Error::engine)?;
            check(&h)?;
            Ok(h)
        };
        let (tx, rx) = sync_channel::<Wake<Note>>(EVENT_QUEUE);
        let shared = Arc::new(Shared::new());
        let words = Arc::new(SharedWords::new(get(&boot, "mailbox")?).map_err(Error::engine)?);
        let listener = {
            let tx = tx.clone();
            let shared = Arc::clone(&shared);
            let words = Arc::clone(&words);
            Arc::new(move |bytes: &[u8]| mailbox::on_message(bytes, &words, &tx, &shared))
        };
        let notify = cx.mailbox_function(get(&boot, "mailbox")?, listener)?;
        let key = |i: i64| raw.alloc_i64(i).map_err(Error::engine);
        let keys = [key(0)?, key(1)?, key(2)?];
        let undefined = raw.alloc_undefined().map_err(Error::engine)?;
        let boot_args = get(&boot, "args")?;
        check(&raw.set(&boot_args, &keys[0], &notify).map_err(Error::engine)?)?;
        let install = get(&boot, "install")?;
        let api = cx.call_handle(&install, &undefined, &boot_args, deadline)?;
        Ok(Booted {
            load: get(&api, "load")?,
            run: get(&api, "run")?,
            take: get(&api, "take")?,
            idle: get(&api, "idle")?,
            gpu_next: get(&api, "gpuNext")?,
            gpu_resolve: get(&api, "gpuResolve")?,
            gpu_reject: get(&api, "gpuReject")?,
            args: get(&api, "args")?,
            cx,
            rx,
            tx,
            shared,
            words,
            keys,
            undefined,
            loaded_level: self.memory.data_bytes().unwrap_or(0),
        })
    }

    /// A fresh context with `code` loaded under the load limits. Errors are the job's
    /// ([`Error::Job`]); a context whose load failed is discarded.
    fn boot_and_load(&mut self, code: &str) -> Result<Booted, Error> {
        let mut booted = self.boot()?;
        match task::load_into(&mut booted, code, &self.load_limits, &self.memory) {
            Ok(()) => {
                booted.loaded_level = self.memory.data_bytes().unwrap_or(0);
                Ok(booted)
            }
            Err(e) => {
                self.discard(booted);
                Err(e)
            }
        }
    }

    /// Frees a context whatever runs on it: libmini_racer terminates its JavaScript (promise
    /// continuations included) and joins its thread. Done on a helper thread so that a context
    /// that cannot be stopped poisons the sandbox instead of hanging it.
    fn discard(&mut self, mut booted: Booted) {
        booted.cx.release_when_dropped();
        let (done_tx, done_rx) = sync_channel::<()>(1);
        let spawned = std::thread::Builder::new().name("sandbox-discard".into()).spawn(move || {
            drop(booted);
            let _ = done_tx.send(());
        });
        if spawned.is_err() || done_rx.recv_timeout(DISCARD_WAIT).is_err() {
            self.poisoned = true;
        }
    }

    fn discard_current(&mut self) {
        if let Some(b) = self.booted.take() {
            self.discard(b);
        }
    }

    /// Loads a job: checks `code` against `hash`, evaluates it under the load limits, and finds
    /// its work function. Loading another job than the current one starts from a fresh
    /// context, so no state of one job is ever visible to another.
    pub fn load(&mut self, hash: ContentHash, code: &str) -> Result<(), Error> {
        if !hash.verifies(code.as_bytes()) {
            return Err(Error::Job {
                reason: format!("the code does not match its content hash {hash}"),
            });
        }
        if self.job.as_ref().is_some_and(|j| j.hash == hash) && self.booted.is_some() {
            return Ok(());
        }
        self.job = None;
        self.discard_current();
        let booted = self.boot_and_load(code)?;
        self.booted = Some(booted);
        self.job = Some(Job { hash, code: code.to_string() });
        Ok(())
    }

    /// Replaces the context with a fresh one and loads the current job again (under the load
    /// limits): the state a job left behind (globals, heap) is gone.
    pub fn reset(&mut self) -> Result<(), Error> {
        self.discard_current();
        self.booted = Some(match self.job.clone() {
            Some(job) => self.boot_and_load(&job.code)?,
            None => self.boot()?,
        });
        Ok(())
    }

    /// Runs one task of the loaded job. Progress and console events go to `on_event` as they
    /// happen. After a timeout, a stalled watchdog, the memory cap or a promise that never
    /// settled, the context is discarded before this returns (which stops everything the task
    /// left running); the job is loaded again, under its load limits, when the next task
    /// starts, and a failure there is that task's `load_failed`.
    pub fn run(
        &mut self,
        spec: &TaskSpec,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<TaskOutput, Error> {
        let Some(job) = self.job.clone() else {
            return Err(Error::task(TaskErrorKind::NoJob, "no job is loaded"));
        };
        let outcome = match self.run_once(&job, spec, false, on_event) {
            task::Attempt::Done(outcome) => outcome,
            task::Attempt::StaleApi => {
                // The job froze what the runtime reinstalls before each task: run this one on
                // a fresh context, where the API is as the job's code left it when loaded.
                self.discard_current();
                match self.run_once(&job, spec, true, on_event) {
                    task::Attempt::Done(outcome) => outcome,
                    task::Attempt::StaleApi => Err(Error::engine(
                        "the runtime's API could not be installed on a fresh context",
                    )),
                }
            }
        };
        let replace = match &outcome {
            Err(e) => e.needs_fresh_context(),
            Ok(_) => false,
        } || self.booted.as_ref().is_some_and(|b| b.cx.is_wedged());
        if replace {
            self.discard_current();
        } else {
            self.release_memory();
        }
        outcome
    }

    fn run_once(
        &mut self,
        job: &Job,
        spec: &TaskSpec,
        fresh: bool,
        on_event: &mut dyn FnMut(Event),
    ) -> task::Attempt {
        let fresh = fresh || self.booted.is_none();
        if self.booted.is_none() {
            match self.boot_and_load(&job.code) {
                Ok(b) => self.booted = Some(b),
                Err(e) => {
                    return task::Attempt::Done(Err(match e {
                        Error::Job { reason } => Error::task(TaskErrorKind::LoadFailed, reason),
                        other => other,
                    }));
                }
            }
        }
        let Some(booted) = self.booted.as_mut() else {
            return task::Attempt::Done(Err(Error::engine("no context")));
        };
        task::run_in(booted, self.gpu.as_deref(), &self.memory, spec, fresh, on_event)
    }

    /// After a task: memory the context still holds above its level after loading is given
    /// back (a full garbage collection frees dead buffers and WebAssembly memories); if the job
    /// keeps it alive, the context is replaced.
    fn release_memory(&mut self) {
        let Some(booted) = self.booted.as_ref() else { return };
        let over = |level: Option<u64>| {
            level.is_some_and(|l| l > booted.loaded_level.saturating_add(RELEASE_SLACK))
        };
        if !over(self.memory.data_bytes()) {
            return;
        }
        booted.cx.collect_garbage();
        if over(self.memory.data_bytes()) {
            self.discard_current();
        }
    }
}

impl Error {
    /// True when the context a task failed on must not run another task: it was stopped in the
    /// middle of something, or may still be running the task's code.
    pub(crate) fn needs_fresh_context(&self) -> bool {
        match self {
            Self::Task { kind, .. } => matches!(
                kind,
                TaskErrorKind::Timeout
                    | TaskErrorKind::ProgressStalled
                    | TaskErrorKind::HeapLimit
                    | TaskErrorKind::NeverSettled
                    | TaskErrorKind::Internal
            ),
            Self::Engine { .. } | Self::Js { .. } => true,
            _ => false,
        }
    }
}

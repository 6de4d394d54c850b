//! One sandbox: a V8 context with the evaluator's JavaScript runtime, a loaded job, and tasks
//! run under limits. This is what the `quorate-evaluator` process drives; it can also be used
//! in-process (tests, benchmarks).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel},
    },
    time::{Duration, Instant},
};

use quorate_primitives::{ContentHash, ResultDigest, TaskId};
use serde::{Deserialize, Serialize};

use crate::{
    Error, TaskErrorKind,
    engine::{Context, Deadline, Interrupt, Runtime, Wake, check},
    ffi::{Handle, View},
    gpu::{self, Gpu},
};

/// The evaluator's JavaScript runtime, evaluated first in every context.
const RUNTIME_JS: &str = include_str!("runtime.js");

/// How long booting a context (runtime + job code) may take.
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);

/// Capacity of the queue of events from JavaScript (progress, console) per context; events
/// beyond it are dropped and counted. A settlement or a GPU request is never dropped: it is
/// recorded in [`Shared`], and its note on the queue only wakes the waiting host thread.
const EVENT_QUEUE: usize = 1024;

/// The runtime could not reinstall its API before a task (the job froze it): the task runs
/// again on a fresh context.
const STALE_API: &str = "the runtime's API could not be reinstalled";

/// How long a promise-phase timeout waits for the runtime's `abandon` to start and for it to
/// stop once terminated.
const ABANDON_WAIT: Duration = Duration::from_millis(100);

/// Limits applied to one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock limit for the task, in milliseconds.
    pub timeout_ms: u64,
    /// If set, the task fails when `progress()` is not called for this many milliseconds.
    pub progress_watchdog_ms: Option<u64>,
    /// Hard cap of the V8 heap, in bytes.
    pub heap_bytes: u64,
    /// Cap of the encoded result, in bytes.
    pub result_bytes: u64,
    /// Cap of the console text relayed per task, in bytes; the rest is dropped and counted.
    pub console_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout_ms: 60_000,
            progress_watchdog_ms: None,
            heap_bytes: 512 << 20,
            result_bytes: 16 << 20,
            console_bytes: 64 << 10,
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

/// What the mailbox listener hands the waiting host thread.
#[derive(Debug)]
enum Note {
    Event(Event),
    /// A wake-up: the promise settled or `gpu.compute` queued a request (both recorded in
    /// [`Shared`], so losing this note when the queue is full loses nothing).
    Wake,
}

/// State shared with the mailbox listener (which runs on the isolate thread).
#[derive(Debug)]
struct Shared {
    last_progress: Mutex<Instant>,
    dropped: AtomicU64,
    console_left: AtomicU64,
    /// The task's promise settled (the runtime holds the outcome for `take`).
    settled: AtomicBool,
    /// `gpu.compute` requests queued in the runtime and not yet served.
    gpu_requests: AtomicU64,
}

/// A booted context: the runtime's entry points as handles.
#[derive(Debug)]
struct Booted {
    cx: Context,
    rx: Receiver<Wake<Note>>,
    tx: SyncSender<Wake<Note>>,
    shared: Arc<Shared>,
    load: Handle,
    run: Handle,
    take: Handle,
    abandon: Handle,
    gpu_next: Handle,
    gpu_done: Handle,
    args: Handle,
    key0: Handle,
    undefined: Handle,
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
    poisoned: bool,
}

impl Sandbox {
    /// A sandbox with a booted context and no job.
    pub fn new() -> Result<Self, Error> {
        Self::with_runtime(Runtime::global()?)
    }

    /// A sandbox on a given runtime (e.g. one initialised with extra flags).
    pub fn with_runtime(rt: &'static Runtime) -> Result<Self, Error> {
        let mut sb = Self { rt, booted: None, job: None, gpu: None, poisoned: false };
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

    /// The GPU's adapter class, if the sandbox has one.
    pub fn gpu_class(&self) -> Option<&str> {
        self.gpu.as_deref().map(Gpu::class)
    }

    /// True once a task could not be stopped: the process should be replaced (the sandbox
    /// still works on a fresh context, but a runaway thread keeps burning CPU).
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// The loaded job's hash, if any.
    pub fn job(&self) -> Option<ContentHash> {
        self.job.as_ref().map(|j| j.hash)
    }

    fn boot(&self) -> Result<Booted, Error> {
        let mut cx = self.rt.context()?;
        let deadline = Deadline::after(BOOT_TIMEOUT);
        let boot = cx.eval_handle(RUNTIME_JS, deadline)?;
        let raw = Arc::clone(cx.raw());
        let s = |t: &str| raw.alloc_str(t).map_err(Error::engine);
        let get = |obj: &Handle, key: &str| -> Result<Handle, Error> {
            let h = raw.get(obj, &s(key)?).map_err(Error::engine)?;
            check(&h)?;
            Ok(h)
        };
        let (tx, rx) = sync_channel::<Wake<Note>>(EVENT_QUEUE);
        let shared = Arc::new(Shared {
            last_progress: Mutex::new(Instant::now()),
            dropped: AtomicU64::new(0),
            console_left: AtomicU64::new(0),
            settled: AtomicBool::new(false),
            gpu_requests: AtomicU64::new(0),
        });
        let listener = {
            let tx = tx.clone();
            let shared = Arc::clone(&shared);
            Arc::new(move |bytes: &[u8]| on_mailbox(bytes, &tx, &shared))
        };
        let notify = cx.mailbox_function(get(&boot, "mailbox")?, listener)?;
        let key0 = raw.alloc_i64(0).map_err(Error::engine)?;
        let undefined = raw.alloc_undefined().map_err(Error::engine)?;
        let boot_args = get(&boot, "args")?;
        check(&raw.set(&boot_args, &key0, &notify).map_err(Error::engine)?)?;
        let install = get(&boot, "install")?;
        let api = cx.call_handle(&install, &undefined, &boot_args, deadline)?;
        Ok(Booted {
            load: get(&api, "load")?,
            run: get(&api, "run")?,
            take: get(&api, "take")?,
            abandon: get(&api, "abandon")?,
            gpu_next: get(&api, "gpuNext")?,
            gpu_done: get(&api, "gpuDone")?,
            args: get(&api, "args")?,
            cx,
            rx,
            tx,
            shared,
            key0,
            undefined,
        })
    }

    /// Loads a job: checks `code` against `hash`, evaluates it, and finds its work function.
    /// Loading another job than the current one starts from a fresh context, so no state of
    /// one job is ever visible to another.
    pub fn load(&mut self, hash: ContentHash, code: &str) -> Result<(), Error> {
        if !hash.verifies(code.as_bytes()) {
            return Err(Error::Job {
                reason: format!("the code does not match its content hash {hash}"),
            });
        }
        if self.job.as_ref().is_some_and(|j| j.hash == hash) && self.booted.is_some() {
            return Ok(());
        }
        if self.job.is_some() || self.booted.is_none() {
            self.booted = None;
            self.booted = Some(self.boot()?);
        }
        self.job = None;
        let booted = self.booted.as_mut().ok_or_else(|| Error::engine("no context"))?;
        load_into(booted, code)?;
        self.job = Some(Job { hash, code: code.to_string() });
        Ok(())
    }

    /// Replaces the context with a fresh one and loads the current job again: the state a
    /// job left behind (globals, heap) is gone.
    pub fn reset(&mut self) -> Result<(), Error> {
        self.booted = None;
        let mut booted = self.boot()?;
        if let Some(job) = &self.job {
            load_into(&mut booted, &job.code)?;
        }
        self.booted = Some(booted);
        Ok(())
    }

    /// Runs one task of the loaded job. Progress and console events go to `on_event` as they
    /// happen. After a timeout, a stalled watchdog, the heap limit or a promise that never
    /// settled, the context is replaced before this returns, so the sandbox is ready for the
    /// next task.
    pub fn run(
        &mut self,
        spec: &TaskSpec,
        on_event: &mut dyn FnMut(Event),
    ) -> Result<TaskOutput, Error> {
        if self.job.is_none() {
            return Err(Error::task(TaskErrorKind::NoJob, "no job is loaded"));
        }
        if self.booted.is_none() {
            self.reset()?;
        }
        let booted = self.booted.as_mut().ok_or_else(|| Error::engine("no context"))?;
        let mut outcome = run_in(booted, self.gpu.as_deref(), spec, false, on_event);
        if matches!(&outcome, Err(Error::Engine { reason }) if reason == STALE_API) {
            // The job froze what the runtime reinstalls before each task: run this one on a
            // fresh context, where the API is as the job's code left it when loaded.
            self.reset()?;
            let booted = self.booted.as_mut().ok_or_else(|| Error::engine("no context"))?;
            outcome = run_in(booted, self.gpu.as_deref(), spec, true, on_event);
        }
        let needs_reset = match &outcome {
            Err(e) => {
                matches!(
                    e.task_kind(),
                    Some(
                        TaskErrorKind::Timeout
                            | TaskErrorKind::ProgressStalled
                            | TaskErrorKind::HeapLimit
                            | TaskErrorKind::NeverSettled
                            | TaskErrorKind::Internal
                    )
                ) || matches!(e, Error::Engine { .. })
            }
            Ok(_) => false,
        };
        if booted_is_wedged(self.booted.as_ref()) {
            // A task that ignored termination still runs on its isolate thread: this process
            // cannot get that CPU back. Its owner should replace it.
            self.poisoned = true;
        }
        if needs_reset {
            // A failed reset leaves no context; the next run tries again.
            if self.reset().is_err() {
                self.booted = None;
            }
        }
        outcome
    }
}

fn booted_is_wedged(booted: Option<&Booted>) -> bool {
    booted.is_some_and(|b| b.cx.is_wedged())
}

fn load_into(booted: &mut Booted, code: &str) -> Result<(), Error> {
    let raw = Arc::clone(booted.cx.raw());
    let code_h = raw.alloc_str(code).map_err(Error::engine)?;
    check(&raw.set(&booted.args, &booted.key0, &code_h).map_err(Error::engine)?)?;
    let out = booted
        .cx
        .call_handle(&booted.load, &booted.undefined, &booted.args, Deadline::after(BOOT_TIMEOUT))
        .map_err(|e| match e {
            Error::Js { kind, message } => Error::Job { reason: format!("{kind}: {message}") },
            other => other,
        })?;
    match out.view() {
        View::Str(b"R") => Ok(()),
        View::Str(b) => Err(Error::Job {
            reason: String::from_utf8_lossy(b.get(1..).unwrap_or_default()).into_owned(),
        }),
        other => Err(Error::engine(format!("load returned {other:?}"))),
    }
}

/// `fresh`: the context was just booted and the job loaded, so the runtime need not reinstall
/// its API (and does not fail when it cannot).
fn run_in(
    booted: &mut Booted,
    gpu: Option<&Gpu>,
    spec: &TaskSpec,
    fresh: bool,
    on_event: &mut dyn FnMut(Event),
) -> Result<TaskOutput, Error> {
    let limits = spec.limits;
    let started = Instant::now();
    let deadline = Deadline { at: started + Duration::from_millis(limits.timeout_ms) };
    let watchdog = limits.progress_watchdog_ms.map(Duration::from_millis);
    // Forget whatever an earlier task left in the queue.
    while let Ok(_stale) = booted.rx.try_recv() {}
    if let Ok(mut t) = booted.shared.last_progress.lock() {
        *t = started;
    }
    booted.shared.dropped.store(0, Ordering::Relaxed);
    booted.shared.console_left.store(limits.console_bytes, Ordering::Relaxed);
    booted.shared.settled.store(false, Ordering::SeqCst);
    booted.shared.gpu_requests.store(0, Ordering::SeqCst);
    let heap = usize::try_from(limits.heap_bytes).unwrap_or(usize::MAX);
    booted.cx.set_heap_limit(heap);

    let header = serde_json::json!({
        "task": spec.task_id.to_string(),
        "now": spec.now_ms,
        // The JS side counts UTF-16 units; the byte cap is checked again below.
        "consoleCap": limits.console_bytes,
        "resultCap": limits.result_bytes,
        "gpu": gpu.is_some(),
        "fresh": fresh,
    });
    let packet = format!("{header}\u{0}{}\u{0}{}", spec.input, spec.args);
    let raw = Arc::clone(booted.cx.raw());
    let packet_h = raw.alloc_str(&packet).map_err(Error::engine)?;
    check(&raw.set(&booted.args, &booted.key0, &packet_h).map_err(Error::engine)?)?;

    let shared = Arc::clone(&booted.shared);
    let mut next_check = move || -> Option<Instant> {
        let w = watchdog?;
        let last = shared.last_progress.lock().map(|t| *t).unwrap_or(started);
        Some(last + w)
    };
    let task = {
        let (run, undefined, args) = (&booted.run, &booted.undefined, &booted.args);
        booted.cx.start(booted.tx.clone(), |cb| raw.call(run, undefined, args, cb))?
    };
    let out =
        booted.cx.wait_events(task, &booted.rx, deadline, &mut next_check.clone(), &mut |note| {
            // A settlement or GPU request waits in `shared` until the call returns.
            if let Note::Event(e) = note {
                on_event(e);
            }
            Ok(())
        });
    let out = out.map_err(|i| interrupt_error(i, &booted.cx, &limits))?;
    if let Err(e) = check(&out) {
        return Err(match e.task_kind() {
            Some(TaskErrorKind::HeapLimit) => heap_error(&limits),
            _ if booted.cx.heap_limit_reached() => heap_error(&limits),
            // The runtime catches everything the job throws; an exception that still escapes
            // it is the job's doing (and leaves the context usable), not the sandbox's.
            _ => js_to_threw(e),
        });
    }
    let mut text = match out.view() {
        View::Str(b) => b.to_vec(),
        other => return Err(Error::engine(format!("run returned {other:?}"))),
    };
    drop(out);
    if text.first() == Some(&b'P') {
        // The work function returned a promise: wait for it to settle, then take the outcome.
        wait_settled(booted, gpu, deadline, &mut next_check, on_event, &limits)?;
        let (take, undefined, args) = (&booted.take, &booted.undefined, &booted.args);
        let h = booted.cx.call_handle(take, undefined, args, deadline).map_err(js_to_threw)?;
        text = match h.view() {
            View::Str(b) => b.to_vec(),
            other => return Err(Error::engine(format!("take returned {other:?}"))),
        };
    }
    let dropped = booted.shared.dropped.load(Ordering::Relaxed);
    decode_outcome(text, &limits, dropped)
}

fn wait_settled(
    booted: &mut Booted,
    gpu: Option<&Gpu>,
    deadline: Deadline,
    next_check: &mut dyn FnMut() -> Option<Instant>,
    on_event: &mut dyn FnMut(Event),
    limits: &Limits,
) -> Result<(), Error> {
    loop {
        // Checked on every wake and timeout: these never depend on a note reaching the queue.
        for _ in 0..booted.shared.gpu_requests.swap(0, Ordering::SeqCst) {
            serve_gpu(booted, gpu, deadline)?;
        }
        if booted.shared.settled.load(Ordering::SeqCst) {
            // Hand over what the task reported before the outcome.
            while let Ok(wake) = booted.rx.try_recv() {
                if let Wake::Event(Note::Event(e)) = wake {
                    on_event(e);
                }
            }
            return Ok(());
        }
        let until = next_check().map_or(deadline.at, |t| t.min(deadline.at));
        match booted.rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(Wake::Event(Note::Event(e))) => on_event(e),
            Ok(Wake::Event(Note::Wake) | Wake::Done(_)) => {}
            Err(RecvTimeoutError::Timeout) => {
                if Instant::now() < deadline.at && next_check().is_none_or(|t| Instant::now() < t) {
                    continue;
                }
                // Tell the runtime to ignore the task's late settlement. The isolate is idle
                // unless the job's promise continuations never end (`for (;;) await null`):
                // then this call cannot start, the context is wedged at once, and the sandbox
                // is poisoned (its owner replaces the process).
                let (abandon, undefined, args) = (&booted.abandon, &booted.undefined, &booted.args);
                let _ = booted.cx.call_handle_within(
                    abandon,
                    undefined,
                    args,
                    Deadline::after(ABANDON_WAIT),
                    ABANDON_WAIT,
                );
                let stalled = Instant::now() < deadline.at;
                return Err(if stalled {
                    Error::task(
                        TaskErrorKind::ProgressStalled,
                        format!(
                            "no progress() call for {} ms",
                            limits.progress_watchdog_ms.unwrap_or_default()
                        ),
                    )
                } else {
                    Error::task(
                        TaskErrorKind::NeverSettled,
                        format!(
                            "the promise returned by the work function did not settle within {} ms",
                            limits.timeout_ms
                        ),
                    )
                });
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(Error::engine("event queue closed"));
            }
        }
    }
}

/// Takes the next `gpu.compute` request from the runtime, runs it, and hands back the outcome
/// (the runtime then resolves or rejects the job's promise).
fn serve_gpu(booted: &mut Booted, gpu: Option<&Gpu>, deadline: Deadline) -> Result<(), Error> {
    let (next, undefined, args) = (&booted.gpu_next, &booted.undefined, &booted.args);
    let h = booted.cx.call_handle(next, undefined, args, deadline)?;
    let packet = match h.view() {
        View::Str(b) => String::from_utf8_lossy(b).into_owned(),
        _ => return Ok(()),
    };
    drop(h);
    if packet.is_empty() {
        return Ok(());
    }
    let reply = match (gpu::Request::parse(&packet), gpu) {
        (Ok(req), Some(gpu)) => match gpu.compute(&req) {
            Ok(outputs) => {
                let mut r = format!("{}\u{0}ok", req.id);
                for o in outputs {
                    r.push('\u{0}');
                    r.push_str(&gpu::base64_encode(&o));
                }
                r
            }
            Err(message) => format!("{}\u{0}err\u{0}{message}", req.id),
        },
        (Ok(req), None) => format!("{}\u{0}err\u{0}this sandbox has no GPU", req.id),
        (Err(message), _) => {
            let id = packet.split('\u{0}').next().unwrap_or("0").to_string();
            format!("{id}\u{0}err\u{0}{message}")
        }
    };
    let raw = Arc::clone(booted.cx.raw());
    let reply_h = raw.alloc_str(&reply).map_err(Error::engine)?;
    check(&raw.set(&booted.args, &booted.key0, &reply_h).map_err(Error::engine)?)?;
    let (done, undefined, args) = (&booted.gpu_done, &booted.undefined, &booted.args);
    booted.cx.call_handle(done, undefined, args, deadline)?;
    Ok(())
}

/// A JavaScript exception out of a runtime entry point becomes the task's `threw` error.
fn js_to_threw(e: Error) -> Error {
    match e {
        Error::Js { message, .. } => Error::task(TaskErrorKind::Threw, message),
        other => other,
    }
}

fn heap_error(limits: &Limits) -> Error {
    Error::task(
        TaskErrorKind::HeapLimit,
        format!("the V8 heap passed its cap of {} bytes", limits.heap_bytes),
    )
}

fn interrupt_error(i: Interrupt, cx: &Context, limits: &Limits) -> Error {
    if cx.is_wedged() {
        return Error::task(
            TaskErrorKind::Internal,
            "the task did not stop when terminated; the sandbox must be replaced",
        );
    }
    if cx.heap_limit_reached() {
        return heap_error(limits);
    }
    match i {
        Interrupt::Deadline => Error::task(
            TaskErrorKind::Timeout,
            format!("the task ran past its limit of {} ms", limits.timeout_ms),
        ),
        Interrupt::Stop => Error::task(
            TaskErrorKind::ProgressStalled,
            format!(
                "no progress() call for {} ms",
                limits.progress_watchdog_ms.unwrap_or_default()
            ),
        ),
    }
}

fn decode_outcome(text: Vec<u8>, limits: &Limits, dropped: u64) -> Result<TaskOutput, Error> {
    match text.first() {
        Some(b'R') => {
            let mut result = text;
            result.remove(0);
            if result.len() as u64 > limits.result_bytes {
                return Err(Error::task(
                    TaskErrorKind::OutputTooLarge,
                    format!(
                        "the result is {} bytes, over the cap of {} bytes",
                        result.len(),
                        limits.result_bytes
                    ),
                ));
            }
            let digest = ResultDigest::of(&result);
            Ok(TaskOutput { result, digest, dropped_events: dropped })
        }
        Some(b'E') => {
            let body = String::from_utf8_lossy(text.get(1..).unwrap_or_default()).into_owned();
            let (kind, message) = body.split_once('\n').unwrap_or(("threw", body.as_str()));
            let kind = match kind {
                "bad_input" => TaskErrorKind::BadInput,
                "bad_result" => TaskErrorKind::BadResult,
                "output_too_large" => TaskErrorKind::OutputTooLarge,
                "no_job" => TaskErrorKind::NoJob,
                "never_settled" => TaskErrorKind::NeverSettled,
                "stale_api" => return Err(Error::engine(STALE_API)),
                _ => TaskErrorKind::Threw,
            };
            Err(Error::task(kind, message))
        }
        _ => Err(Error::engine("the runtime returned an unknown outcome")),
    }
}

/// Reads one mailbox message. Runs on the isolate thread while JS waits: no blocking.
fn on_mailbox(bytes: &[u8], tx: &SyncSender<Wake<Note>>, shared: &Shared) {
    let (Some(p), Some(kind), Some(len)) = (bytes.get(0..8), bytes.get(8..12), bytes.get(12..16))
    else {
        return;
    };
    let read_u32 = |b: &[u8]| b.try_into().map(u32::from_le_bytes).unwrap_or(0);
    let kind = read_u32(kind);
    let len = read_u32(len) as usize;
    let note = match kind {
        1 => {
            let f = p.try_into().map(f64::from_le_bytes).unwrap_or(-1.0);
            if let Ok(mut t) = shared.last_progress.lock() {
                *t = Instant::now();
            }
            Note::Event(Event::Progress { fraction: (0.0..=1.0).contains(&f).then_some(f) })
        }
        2..=4 => {
            let units: Vec<u16> = bytes
                .get(16..)
                .unwrap_or_default()
                .chunks_exact(2)
                .take(len)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            let mut text = String::from_utf16_lossy(&units);
            let left = shared.console_left.load(Ordering::Relaxed);
            if left == 0 {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if text.len() as u64 > left {
                let mut cut = usize::try_from(left).unwrap_or(usize::MAX);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            shared.console_left.fetch_sub((text.len() as u64).min(left), Ordering::Relaxed);
            let level = match kind {
                3 => ConsoleLevel::Warn,
                4 => ConsoleLevel::Error,
                _ => ConsoleLevel::Log,
            };
            Note::Event(Event::Console { level, text })
        }
        5 | 7 => {
            if kind == 5 {
                shared.settled.store(true, Ordering::SeqCst);
            } else {
                shared.gpu_requests.fetch_add(1, Ordering::SeqCst);
            }
            // Only a wake-up: when the queue is full, the waiter wakes for what is in it.
            let _ = tx.try_send(Wake::Event(Note::Wake));
            return;
        }
        6 => {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        _ => return,
    };
    if tx.try_send(Wake::Event(note)).is_err() {
        shared.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

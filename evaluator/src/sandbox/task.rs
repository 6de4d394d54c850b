//! One task on a booted context: the call into the runtime, its limits (deadline, progress
//! watchdog, memory), the barrier after its answer, and the runtime's [`Outcome`].
//!
//! libmini_racer runs promise continuations on the isolate thread *after* a call has
//! delivered its result, where no cancellation reaches them. So the host never takes an answer
//! as final until a *barrier* (a call of the runtime's `idle`, or `take` for a promise) has run:
//! a call can only start once the isolate is idle, so its return proves that nothing the task
//! started is still running. The barrier has the task's own deadline; a task whose leftover work
//! outlives it fails with `timeout`, and its context is discarded (which terminates that work).

use std::{
    sync::{
        Arc,
        atomic::Ordering,
        mpsc::{RecvTimeoutError, SyncSender},
    },
    time::{Duration, Instant},
};

use quorate_primitives::ResultDigest;

use super::{
    Booted, Event, Limits, LoadLimits, TaskOutput, TaskSpec,
    mailbox::{self, Note, Shared},
    memory::{MEMORY_POLL, ProcessMemory},
};
use crate::{
    Error, TaskErrorKind,
    engine::{Check, Context, Deadline, Interrupt, Wake, check},
    ffi::{Handle, SharedWords, View},
    gpu::{self, Gpu},
};

/// How long a barrier that was not reached by its deadline may still take to report back
/// before its context counts as wedged (busy with the job's code).
const BARRIER_GRACE: Duration = Duration::from_millis(50);

/// What running a task on a context gave.
#[derive(Debug)]
pub(super) enum Attempt {
    /// The task's outcome.
    Done(Result<TaskOutput, Error>),
    /// The runtime could not reinstall its API (the job froze it): run it on a fresh context.
    StaleApi,
}

/// The runtime's answer to `load`, `run` and `take`: `R` + result, `P` (a promise: wait for
/// it to settle, then `take`), `E` + kind + newline + message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The canonical result bytes (or, for `load`, nothing).
    Value(Vec<u8>),
    /// The work function returned a promise.
    Pending,
    /// The task failed in a way the runtime saw.
    Failed {
        /// How.
        kind: TaskErrorKind,
        /// Why.
        message: String,
    },
    /// The runtime's API could not be reinstalled before the task.
    StaleApi,
}

impl Outcome {
    /// Parses the runtime's answer; kinds the runtime may not report are `threw`.
    pub(crate) fn parse(text: &[u8]) -> Result<Self, Error> {
        match text.split_first() {
            Some((b'R', rest)) => Ok(Self::Value(rest.to_vec())),
            Some((b'P', [])) => Ok(Self::Pending),
            Some((b'E', body)) => {
                let body = String::from_utf8_lossy(body);
                let (kind, message) = body.split_once('\n').unwrap_or(("threw", &body));
                if kind == "stale_api" {
                    return Ok(Self::StaleApi);
                }
                let kind = TaskErrorKind::from_name(kind)
                    .filter(TaskErrorKind::is_reported_by_the_runtime)
                    .unwrap_or(TaskErrorKind::Threw);
                Ok(Self::Failed { kind, message: message.to_string() })
            }
            _ => Err(Error::engine("the runtime returned an unknown outcome")),
        }
    }

    fn of(h: &Handle) -> Result<Self, Error> {
        match h.view() {
            View::Str(b) => Self::parse(b),
            other => Err(Error::engine(format!("the runtime returned {other:?}"))),
        }
    }
}

/// A task's limits as the host enforces them while it waits: the progress watchdog and the
/// memory cap, sampled whenever the host wakes and at least every [`MEMORY_POLL`].
struct Watch<'a> {
    shared: Arc<Shared>,
    words: Arc<SharedWords>,
    tx: SyncSender<Wake<Note>>,
    memory: &'a ProcessMemory,
    watchdog: Option<Duration>,
    start_level: u64,
    cap: u64,
    next_sample: Instant,
    exceeded: bool,
}

impl Watch<'_> {
    /// Whether to stop the task now, or when to check again.
    fn next_check(&mut self) -> Check {
        if let Some(p) = mailbox::sample_progress(&self.words, &self.shared) {
            mailbox::send(&self.tx, &self.shared, p);
        }
        let now = Instant::now();
        if !self.exceeded && now >= self.next_sample {
            self.exceeded = self.over_cap();
            self.next_sample = Instant::now() + MEMORY_POLL;
        }
        if self.exceeded {
            return Check::Stop;
        }
        let mut at = self.next_sample;
        if let Some(w) = self.watchdog {
            let last = self.shared.last_progress.lock().map(|t| *t).unwrap_or(now);
            if now >= last + w {
                return Check::Stop;
            }
            at = at.min(last + w);
        }
        Check::Until(Some(at))
    }

    fn over_cap(&self) -> bool {
        self.memory.data_bytes().is_some_and(|d| d.saturating_sub(self.start_level) > self.cap)
    }
}

/// Evaluates the job's code on `booted` under `limits` (its time, and its memory: the V8 heap
/// and the memory outside it, as for a task), then waits within the same limits for the promise
/// continuations it started. Every failure is the job's ([`Error::Job`]).
pub(super) fn load_into(
    booted: &mut Booted,
    code: &str,
    limits: &LoadLimits,
    memory: &ProcessMemory,
) -> Result<(), Error> {
    let deadline = Deadline::after(Duration::from_millis(limits.timeout_ms));
    booted.cx.set_heap_limit(usize::try_from(limits.heap_bytes).unwrap_or(usize::MAX));
    let job_error = |e: Error| -> Error {
        let reason = match e {
            Error::Task { kind: TaskErrorKind::Timeout, .. } | Error::Engine { .. } => format!(
                "the job's code (or the promise continuations it started) did not finish loading within {} ms",
                limits.timeout_ms
            ),
            Error::Task { kind: TaskErrorKind::HeapLimit, .. } => format!(
                "loading the job's code passed the memory cap of {} bytes",
                limits.heap_bytes
            ),
            Error::Task { kind: TaskErrorKind::Threw, message } => message,
            Error::Js { kind, message } => format!("{kind}: {message}"),
            other => return other,
        };
        Error::Job { reason }
    };
    let started = Instant::now();
    let mut watch = Watch {
        shared: Arc::clone(&booted.shared),
        words: Arc::clone(&booted.words),
        tx: booted.tx.clone(),
        memory,
        watchdog: None,
        start_level: memory.data_bytes().unwrap_or(0),
        cap: limits.heap_bytes,
        next_sample: started + MEMORY_POLL,
        exceeded: false,
    };
    let task_limits = Limits {
        timeout_ms: limits.timeout_ms,
        heap_bytes: limits.heap_bytes,
        ..Limits::default()
    };
    let raw = Arc::clone(booted.cx.raw());
    let code_h = raw.alloc_str(code).map_err(Error::engine)?;
    booted.set_args(&[&code_h])?;
    let out = barrier(booted, Entry::Load, deadline, &mut watch, &mut |_| {}, &task_limits)
        .map_err(job_error)?;
    let outcome = Outcome::of(&out)?;
    drop(out);
    barrier(booted, Entry::Idle, deadline, &mut watch, &mut |_| {}, &task_limits)
        .map_err(job_error)?;
    if watch.over_cap() {
        return Err(job_error(heap_error(&task_limits)));
    }
    match outcome {
        Outcome::Value(_) => Ok(()),
        Outcome::Failed { message, .. } => Err(Error::Job { reason: message }),
        other => Err(Error::engine(format!("load answered {other:?}"))),
    }
}

/// Why [`attempt`] stopped without an outcome of its own.
enum Failure {
    Error(Error),
    StaleApi,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::Error(e)
    }
}

/// Runs `spec` on `booted`. `fresh`: the context was just booted and the job loaded, so the
/// runtime need not reinstall its API (and does not fail when it cannot).
pub(super) fn run_in(
    booted: &mut Booted,
    gpu: Option<&Gpu>,
    memory: &ProcessMemory,
    spec: &TaskSpec,
    fresh: bool,
    on_event: &mut dyn FnMut(Event),
) -> Attempt {
    match attempt(booted, gpu, memory, spec, fresh, on_event) {
        Ok(out) => Attempt::Done(Ok(out)),
        Err(Failure::Error(e)) => Attempt::Done(Err(e)),
        Err(Failure::StaleApi) => Attempt::StaleApi,
    }
}

fn attempt(
    booted: &mut Booted,
    gpu: Option<&Gpu>,
    memory: &ProcessMemory,
    spec: &TaskSpec,
    fresh: bool,
    on_event: &mut dyn FnMut(Event),
) -> Result<TaskOutput, Failure> {
    let limits = spec.limits;
    let started = Instant::now();
    let deadline = Deadline { at: started + Duration::from_millis(limits.timeout_ms) };
    // Forget whatever an earlier task left in the queue.
    while let Ok(_stale) = booted.rx.try_recv() {}
    booted.shared.start_task(&booted.words, limits.console_bytes, started);
    booted.cx.set_heap_limit(usize::try_from(limits.heap_bytes).unwrap_or(usize::MAX));
    let mut watch = Watch {
        shared: Arc::clone(&booted.shared),
        words: Arc::clone(&booted.words),
        tx: booted.tx.clone(),
        memory,
        watchdog: limits.progress_watchdog_ms.map(Duration::from_millis),
        start_level: memory.data_bytes().unwrap_or(0),
        cap: limits.heap_bytes,
        next_sample: started + MEMORY_POLL,
        exceeded: false,
    };

    let header = serde_json::json!({
        "task": spec.task_id.to_string(),
        "now": spec.now_ms,
        // The JS side counts UTF-16 units; the byte cap is checked again below.
        "consoleCap": limits.console_bytes,
        "resultCap": limits.result_bytes,
        // A task given no GPU memory (a JavaScript job's) sees no GPU, on every worker alike.
        "gpu": gpu.is_some() && limits.gpu_bytes > 0,
        "fresh": fresh,
    });
    // run(header JSON, input JSON, arguments JSON)
    let raw = Arc::clone(booted.cx.raw());
    let header_h = raw.alloc_str(&header.to_string()).map_err(Error::engine)?;
    let input_h = raw.alloc_str(&spec.input).map_err(Error::engine)?;
    let args_h = raw.alloc_str(&spec.args).map_err(Error::engine)?;
    booted.set_args(&[&header_h, &input_h, &args_h])?;
    drop((header_h, input_h, args_h));

    let task = {
        let (run, undefined, args) = (&booted.run, &booted.undefined, &booted.args);
        booted.cx.start(booted.tx.clone(), |cb| raw.call(run, undefined, args, cb))?
    };
    let out = booted.cx.wait_events(
        task,
        &booted.rx,
        deadline,
        &mut || watch.next_check(),
        &mut |note| {
            // A settlement or GPU request waits in `shared` until the call returns.
            if let Note::Event(e) = note {
                on_event(e);
            }
            Ok(())
        },
    );
    let out = out.map_err(|i| interrupt_error(i, &booted.cx, &limits, watch.exceeded))?;
    if let Err(e) = check(&out) {
        return Err(Failure::Error(match e.task_kind() {
            Some(TaskErrorKind::HeapLimit) => heap_error(&limits),
            _ if booted.cx.heap_limit_reached() || watch.over_cap() => heap_error(&limits),
            // The runtime catches everything the job throws; an exception that still escapes
            // it is the job's doing (and leaves the context usable), not the sandbox's.
            _ => js_to_threw(e),
        }));
    }
    let outcome = Outcome::of(&out)?;
    drop(out);
    let outcome = match outcome {
        Outcome::StaleApi => return Err(Failure::StaleApi),
        Outcome::Pending => {
            wait_settled(booted, gpu, deadline, &mut watch, on_event, &limits)?;
            let h = barrier(booted, Entry::Take, deadline, &mut watch, on_event, &limits)?;
            Outcome::of(&h)?
        }
        done => {
            barrier(booted, Entry::Idle, deadline, &mut watch, on_event, &limits)?;
            done
        }
    };
    // Memory the task still holds when it ends counts too (an allocation refused between two
    // samples leaves the job's buffers alive here).
    if watch.over_cap() {
        return Err(heap_error(&limits).into());
    }
    if let Some(p) = mailbox::sample_progress(&booted.words, &booted.shared) {
        on_event(p);
    }
    while let Ok(wake) = booted.rx.try_recv() {
        if let Wake::Event(Note::Event(e)) = wake {
            on_event(e);
        }
    }
    let dropped = booted.shared.dropped(&booted.words);
    finish(outcome, spec.task_id, &limits, dropped).map_err(Failure::Error)
}

/// The runtime entry a barrier calls.
#[derive(Debug, Clone, Copy)]
enum Entry {
    /// `load(code)`: the job's code.
    Load,
    /// `idle()`: nothing.
    Idle,
    /// `take()`: the settled promise's outcome.
    Take,
}

/// Calls `entry` once the isolate is idle, within the task's (or the load's) deadline and limits. Until then
/// the job's promise continuations run (and report events); if they are still running at the
/// deadline the task fails with `timeout` and the context is wedged (the caller discards it).
fn barrier(
    booted: &mut Booted,
    entry: Entry,
    deadline: Deadline,
    watch: &mut Watch<'_>,
    on_event: &mut dyn FnMut(Event),
    limits: &Limits,
) -> Result<Handle, Error> {
    let raw = Arc::clone(booted.cx.raw());
    let f = match entry {
        Entry::Load => &booted.load,
        Entry::Idle => &booted.idle,
        Entry::Take => &booted.take,
    };
    let (undefined, args) = (&booted.undefined, &booted.args);
    let task = booted.cx.start(booted.tx.clone(), |cb| raw.call(f, undefined, args, cb))?;
    let h = booted
        .cx
        .wait_events_within(
            task,
            &booted.rx,
            deadline,
            &mut || watch.next_check(),
            &mut |note| {
                if let Note::Event(e) = note {
                    on_event(e);
                }
                Ok(())
            },
            BARRIER_GRACE,
        )
        .map_err(|i| match i {
            _ if watch.exceeded => heap_error(limits),
            Interrupt::Deadline => Error::task(
                TaskErrorKind::Timeout,
                format!(
                    "work the task left running after its answer (promise continuations) did not end within its limit of {} ms",
                    limits.timeout_ms
                ),
            ),
            Interrupt::Stop => stalled_error(limits),
        })?;
    // The load's exceptions stay JavaScript errors (the caller makes them the job's).
    check(&h).map_err(|e| if matches!(entry, Entry::Load) { e } else { js_to_threw(e) })?;
    Ok(h)
}

fn wait_settled(
    booted: &mut Booted,
    gpu: Option<&Gpu>,
    deadline: Deadline,
    watch: &mut Watch<'_>,
    on_event: &mut dyn FnMut(Event),
    limits: &Limits,
) -> Result<(), Error> {
    loop {
        // Checked on every wake and timeout: these never depend on a note reaching the queue.
        for _ in 0..booted.shared.gpu_requests.swap(0, Ordering::SeqCst) {
            serve_gpu(booted, gpu, deadline, limits.gpu_bytes)?;
        }
        if booted.shared.settled.load(Ordering::SeqCst) {
            return Ok(());
        }
        let until = match watch.next_check() {
            Check::Stop => {
                return Err(if watch.exceeded {
                    heap_error(limits)
                } else {
                    stalled_error(limits)
                });
            }
            Check::Until(t) => t.map_or(deadline.at, |t| t.min(deadline.at)),
        };
        match booted.rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(Wake::Event(Note::Event(e))) => on_event(e),
            Ok(Wake::Event(Note::Wake) | Wake::Done(_)) => {}
            Err(RecvTimeoutError::Timeout) => {
                if Instant::now() >= deadline.at {
                    // The context is discarded by the caller, which stops the job's code.
                    return Err(Error::task(
                        TaskErrorKind::NeverSettled,
                        format!(
                            "the promise returned by the work function did not settle within {} ms",
                            limits.timeout_ms
                        ),
                    ));
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(Error::engine("event queue closed"));
            }
        }
    }
}

/// Takes the next `gpu.compute` request from the runtime, runs it (within the task's
/// deadline), and hands back the outcome (the runtime then resolves or rejects the job's
/// promise).
fn serve_gpu(
    booted: &mut Booted,
    gpu: Option<&Gpu>,
    deadline: Deadline,
    gpu_bytes: u64,
) -> Result<(), Error> {
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
    let raw = Arc::clone(booted.cx.raw());
    let (id, reply) = match (gpu::Request::parse(&packet), gpu) {
        (Ok(req), Some(_)) if req.memory_bytes() > gpu_bytes => (
            req.id,
            Err(format!(
                "this call needs {} MiB of GPU memory and the job declared {} MiB per task: declare more (--gpu-memory)",
                req.memory_bytes().div_ceil(1 << 20),
                gpu_bytes >> 20
            )),
        ),
        (Ok(req), Some(gpu)) => match gpu.compute(&req, deadline.at) {
            Ok(outputs) => {
                let encoded: Vec<String> = outputs.iter().map(|o| gpu::base64_encode(o)).collect();
                (req.id, Ok(serde_json::Value::from(encoded).to_string()))
            }
            Err(e @ gpu::ComputeError::PastDeadline) => {
                return Err(Error::task(TaskErrorKind::Timeout, e.to_string()));
            }
            Err(gpu::ComputeError::Failed(message)) => (req.id, Err(message)),
        },
        (Ok(req), None) => (req.id, Err("this sandbox has no GPU".to_string())),
        (Err(refused), _) => (refused.id, Err(refused.reason)),
    };
    // gpuResolve(id, outputs: JSON array of base64) or gpuReject(id, message)
    let id_h = raw.alloc_i64(i64::try_from(id).unwrap_or(0)).map_err(Error::engine)?;
    let (resolves, payload) = match reply {
        Ok(outputs) => (true, outputs),
        Err(message) => (false, message),
    };
    let payload_h = raw.alloc_str(&payload).map_err(Error::engine)?;
    drop(payload);
    booted.set_args(&[&id_h, &payload_h])?;
    drop((id_h, payload_h));
    let entry = if resolves { &booted.gpu_resolve } else { &booted.gpu_reject };
    booted.cx.call_handle(entry, &booted.undefined, &booted.args, deadline)?;
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
        format!(
            "the task's memory (V8 heap, buffers, WebAssembly memories) passed its cap of {} bytes",
            limits.heap_bytes
        ),
    )
}

fn stalled_error(limits: &Limits) -> Error {
    Error::task(
        TaskErrorKind::ProgressStalled,
        format!("no progress() call for {} ms", limits.progress_watchdog_ms.unwrap_or_default()),
    )
}

fn interrupt_error(i: Interrupt, cx: &Context, limits: &Limits, exceeded: bool) -> Error {
    if cx.is_wedged() {
        return Error::task(
            TaskErrorKind::Internal,
            "the task did not stop when terminated; the sandbox must be replaced",
        );
    }
    if exceeded || cx.heap_limit_reached() {
        return heap_error(limits);
    }
    match i {
        Interrupt::Deadline => Error::task(
            TaskErrorKind::Timeout,
            format!("the task ran past its limit of {} ms", limits.timeout_ms),
        ),
        Interrupt::Stop => stalled_error(limits),
    }
}

/// The length of `bytes` (UTF-8) as a JSON string in a response frame: quotes, and the
/// escapes `serde_json` writes (`\"`, `\\`, the short forms of control characters, `\u00XX`
/// for the others). Eight bytes at a time where none of them needs escaping.
pub(crate) fn sent_len(bytes: &[u8]) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A high bit set in each byte of `x` that is zero (the classic SWAR test).
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let escaped_one = |b: u8| -> u64 {
        match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0..=0x1f => 6,
            _ => 1,
        }
    };
    let mut total = 2u64;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // Bytes below 0x20 (with the top three bits clear), quotes and backslashes.
        let special = zero_bytes(x & (0xe0 * ONES))
            | zero_bytes(x ^ (u64::from(b'"') * ONES))
            | zero_bytes(x ^ (u64::from(b'\\') * ONES));
        total += if special == 0 { 8 } else { chunk.iter().map(|&b| escaped_one(b)).sum() };
    }
    total + chunks.remainder().iter().map(|&b| escaped_one(b)).sum::<u64>()
}

fn finish(
    outcome: Outcome,
    task: quorate_primitives::TaskId,
    limits: &Limits,
    dropped: u64,
) -> Result<TaskOutput, Error> {
    match outcome {
        Outcome::Value(result) => {
            let sent = sent_len(&result);
            if sent > limits.result_bytes {
                return Err(Error::task(
                    TaskErrorKind::OutputTooLarge,
                    format!(
                        "the result takes {sent} bytes as sent ({} bytes before escaping), over the cap of {} bytes",
                        result.len(),
                        limits.result_bytes
                    ),
                ));
            }
            let digest = ResultDigest::of(task, &result);
            Ok(TaskOutput { result, digest, dropped_events: dropped })
        }
        Outcome::Failed { kind, message } => Err(Error::task(kind, message)),
        other => Err(Error::engine(format!("the runtime answered {other:?} at the end of a task"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_parse_into_their_variants() {
        assert_eq!(Outcome::parse(b"R42").unwrap(), Outcome::Value(b"42".to_vec()));
        assert_eq!(Outcome::parse(b"P").unwrap(), Outcome::Pending);
        assert_eq!(Outcome::parse(b"Estale_api\nx").unwrap(), Outcome::StaleApi);
        assert_eq!(
            Outcome::parse(b"Ebad_input\nnope").unwrap(),
            Outcome::Failed { kind: TaskErrorKind::BadInput, message: "nope".into() }
        );
        // A kind the runtime may not report (or none) is the job's `threw`.
        for text in [&b"Eheap_limit\nx"[..], b"Einternal\nx", b"Ejust text"] {
            assert!(
                matches!(
                    Outcome::parse(text).unwrap(),
                    Outcome::Failed { kind: TaskErrorKind::Threw, .. }
                ),
                "{text:?}"
            );
        }
        assert!(Outcome::parse(b"").is_err());
        assert!(Outcome::parse(b"Px").is_err());
    }

    #[test]
    fn the_sent_length_counts_every_escape() {
        assert_eq!(sent_len(b""), 2);
        assert_eq!(sent_len(br#"\\"#), 6);
        assert_eq!(sent_len(b"\"\n\x01\x7f\xc3\xa9"), 2 + 2 + 2 + 6 + 1 + 2);
        let s = "a\"\\\n\t\u{1}\u{1f}é\u{7f}".repeat(3);
        assert_eq!(sent_len(s.as_bytes()), serde_json::to_string(&s).unwrap().len() as u64);
        // Every byte value, at every offset of an eight-byte word.
        for b in 0..=255u8 {
            for at in 0..9 {
                let mut v = vec![b'x'; 17];
                v[at] = b;
                let text = String::from_utf8_lossy(&v).into_owned();
                assert_eq!(
                    sent_len(text.as_bytes()),
                    serde_json::to_string(&text).unwrap().len() as u64,
                    "{b} at {at}"
                );
            }
        }
    }
}

//! The safe layer over libmini_racer: one V8 per process ([`Runtime`]), isolates with one
//! context each ([`Context`]), evaluation and calls with deadlines and cancellation, JS→host
//! notifications through a shared mailbox, the hard heap limit, and value conversion.
//!
//! Threading: each [`Context`] owns an isolate whose JavaScript runs on libmini_racer's own
//! thread. Calls here post work to that thread and wait for the result on the caller's thread,
//! so a `while (true)` never blocks the caller past its deadline: the task is terminated
//! (`mr_cancel_task`) and the context stays usable.

use std::{
    path::Path,
    sync::{
        Arc, OnceLock,
        mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel},
    },
    time::{Duration, Instant},
};

use crate::{
    Error,
    ffi::{self, CallbackId, Handle, RawContext, View, tag},
    v8lib::{ICU_DATA_FILE, V8Library},
};

/// The flags given to `mr_init_v8`. Not `--single-threaded`: background compilation and
/// concurrent GC make CPU-bound code about 1.6× faster (measured; see the crate docs).
pub const V8_FLAGS: &str = "";

/// Overrides [`V8_FLAGS`] (for measurements only).
pub const V8_FLAGS_ENV: &str = "QUORATE_V8_FLAGS";

/// How long a terminated task may take to report back before its context is declared wedged.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// V8, loaded and initialised once for the whole process.
#[derive(Debug)]
pub struct Runtime {
    library: &'static V8Library,
}

static RUNTIME: OnceLock<Result<Runtime, Error>> = OnceLock::new();

impl Runtime {
    /// The process's V8: found along [`V8Library::search_path`] and initialised with
    /// [`V8_FLAGS`] on first use. Errors (missing library, wrong version) name the setup
    /// command and are returned again on every later call.
    pub fn global() -> Result<&'static Self, Error> {
        Self::init_with_flags("")
    }

    /// Like [`Runtime::global`], but with `extra_flags` after [`V8_FLAGS`]. Only the first
    /// initialisation in a process chooses the flags; later calls return the same runtime.
    pub fn init_with_flags(extra_flags: &str) -> Result<&'static Self, Error> {
        RUNTIME
            .get_or_init(|| Self::init(V8Library::locate()?, extra_flags))
            .as_ref()
            .map_err(Clone::clone)
    }

    fn init(library: V8Library, extra_flags: &str) -> Result<Self, Error> {
        let library: &'static V8Library = Box::leak(Box::new(library));
        let icu = library.dir().join(ICU_DATA_FILE);
        let base = std::env::var(V8_FLAGS_ENV).unwrap_or_else(|_| V8_FLAGS.to_string());
        let flags = format!("{base} {extra_flags}");
        library.library().init_v8(flags.trim(), &icu).map_err(Error::engine)?;
        Ok(Self { library })
    }

    /// The V8 version, e.g. `14.4.258.21`.
    pub fn version(&self) -> &str {
        self.library.version()
    }

    /// Where the library was loaded from.
    pub fn dir(&self) -> &Path {
        self.library.dir()
    }

    /// How many contexts are alive in the process (for leak checks).
    pub fn context_count(&self) -> usize {
        self.library.library().context_count()
    }

    /// A fresh isolate with one context.
    pub fn context(&'static self) -> Result<Context, Error> {
        Context::new(self)
    }
}

/// A JavaScript value converted to Rust. Objects stay in V8 and are described only by kind;
/// the evaluator moves structured data as JSON text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `undefined`.
    Undefined,
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number (V8 reports small integers separately; both become `f64`).
    Number(f64),
    /// A string.
    String(String),
    /// A `Date`, as milliseconds since the epoch.
    Date(f64),
    /// An object that stays in V8: `array`, `object`, `function`, `promise`, `symbol`,
    /// `array_buffer`, `shared_array_buffer`.
    Object(&'static str),
}

/// How a running evaluation is stopped.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    /// Absolute wall-clock deadline.
    pub at: Instant,
}

impl Deadline {
    /// A deadline `d` from now.
    pub fn after(d: Duration) -> Self {
        Self { at: Instant::now() + d }
    }
}

/// What a [`Context`] call waits on: either the result of its task or a host event.
#[derive(Debug)]
pub(crate) enum Wake<E> {
    /// The task finished; its result handle.
    Done(Handle),
    /// A notification from JavaScript, forwarded by the mailbox listener.
    Event(E),
}

/// What a waiter's own check says (the progress watchdog, a memory cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Stop the task now.
    Stop,
    /// Check again by then (`None`: only the deadline matters).
    Until(Option<Instant>),
}

/// Why a wait ended without a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupt {
    /// The caller's deadline passed.
    Deadline,
    /// The caller's own check asked to stop (e.g. the progress watchdog).
    Stop,
}

/// One isolate and its context.
#[derive(Debug)]
pub struct Context {
    raw: Arc<RawContext>,
    mailboxes: Vec<CallbackId>,
    /// Set when a task did not stop after cancellation: the context must not be used, and is
    /// not freed on drop unless [`Context::release_when_dropped`] was called.
    wedged: bool,
    /// Free the context on drop even when wedged.
    free_on_drop: bool,
}

impl Context {
    fn new(rt: &'static Runtime) -> Result<Self, Error> {
        let raw = rt.library.library().new_context().map_err(Error::engine)?;
        Ok(Self { raw, mailboxes: Vec::new(), wedged: false, free_on_drop: false })
    }

    /// Evaluates `code` as a classic script and returns its completion value.
    pub fn eval(&mut self, code: &str, deadline: Deadline) -> Result<Value, Error> {
        let handle = self.eval_handle(code, deadline)?;
        to_value(&handle)
    }

    /// Calls the global function (or any expression) `func` with string arguments.
    pub fn call(&mut self, func: &str, args: &[&str], deadline: Deadline) -> Result<Value, Error> {
        let f = self.eval_handle(func, deadline)?;
        let argv = self.eval_handle("[]", deadline)?;
        for (i, a) in args.iter().enumerate() {
            let key = self.raw.alloc_i64(i as i64).map_err(Error::engine)?;
            let val = self.raw.alloc_str(a).map_err(Error::engine)?;
            check(&self.raw.set(&argv, &key, &val).map_err(Error::engine)?)?;
        }
        let this = self.raw.alloc_undefined().map_err(Error::engine)?;
        let h = self.call_handle(&f, &this, &argv, deadline)?;
        to_value(&h)
    }

    /// Sets the hard heap limit: a task whose heap grows past it is terminated
    /// ([`Error::Task`] with kind `heap_limit`). 0 removes it.
    pub fn set_heap_limit(&self, bytes: usize) {
        self.raw.set_hard_memory_limit(bytes);
    }

    /// True once a task has been stopped by the heap limit (until the limit is set again).
    pub fn heap_limit_reached(&self) -> bool {
        self.raw.hard_memory_limit_reached()
    }

    /// Asks V8 for a full garbage collection.
    pub fn collect_garbage(&self) {
        self.raw.low_memory_notification();
    }

    /// The number of value handles the context holds (for leak checks).
    pub fn value_count(&self) -> usize {
        self.raw.value_count()
    }

    /// True when a task could not be stopped; such a context is abandoned, not reused.
    pub fn is_wedged(&self) -> bool {
        self.wedged
    }

    /// Frees the context when the last reference goes even if it is wedged: libmini_racer then
    /// terminates whatever JavaScript runs on it (promise continuations included) and joins its
    /// thread, which blocks the dropping thread until then.
    pub(crate) fn release_when_dropped(&mut self) {
        self.free_on_drop = true;
    }

    pub(crate) fn raw(&self) -> &Arc<RawContext> {
        &self.raw
    }

    pub(crate) fn eval_handle(&mut self, code: &str, deadline: Deadline) -> Result<Handle, Error> {
        let code = self.raw.alloc_str(code).map_err(Error::engine)?;
        let (tx, rx) = sync_channel::<Wake<()>>(1);
        let raw = Arc::clone(&self.raw);
        let task = self.start(tx, |cb| raw.eval(&code, cb))?;
        let h = self.wait(task, &rx, deadline, CANCEL_GRACE)?;
        check(&h)?;
        Ok(h)
    }

    pub(crate) fn call_handle(
        &mut self,
        func: &Handle,
        this: &Handle,
        argv: &Handle,
        deadline: Deadline,
    ) -> Result<Handle, Error> {
        self.call_handle_within(func, this, argv, deadline, CANCEL_GRACE)
    }

    /// [`Self::call_handle`] with a given grace for a call terminated at its deadline: if it
    /// has not reported back by then (e.g. it never started because the isolate is busy), the
    /// context is wedged.
    pub(crate) fn call_handle_within(
        &mut self,
        func: &Handle,
        this: &Handle,
        argv: &Handle,
        deadline: Deadline,
        grace: Duration,
    ) -> Result<Handle, Error> {
        let (tx, rx) = sync_channel::<Wake<()>>(1);
        let raw = Arc::clone(&self.raw);
        let task = self.start(tx, |cb| raw.call(func, this, argv, cb))?;
        let h = self.wait(task, &rx, deadline, grace)?;
        check(&h)?;
        Ok(h)
    }

    /// Starts a task whose result is delivered as [`Wake::Done`] on `tx`.
    pub(crate) fn start<E: Send + 'static>(
        &self,
        tx: SyncSender<Wake<E>>,
        begin: impl FnOnce(CallbackId) -> Result<ffi::CallId, String>,
    ) -> Result<ffi::CallId, Error> {
        if self.wedged {
            return Err(Error::engine("the context is wedged"));
        }
        let cb = ffi::register_result(
            &self.raw,
            Box::new(move |h| {
                // Blocks only while the waiter drains its channel, which it does until Done.
                let _ = tx.send(Wake::Done(h));
            }),
        );
        begin(cb).map_err(|e| {
            ffi::unregister(cb);
            Error::engine(e)
        })
    }

    /// Waits for `task`'s result on `rx`, passing events to `on_event`, which may ask to stop.
    /// On the deadline or a stop, the task is terminated and its (terminated) result drained,
    /// so the context is idle and usable when this returns.
    pub(crate) fn wait_events<E>(
        &mut self,
        task: ffi::CallId,
        rx: &Receiver<Wake<E>>,
        deadline: Deadline,
        next_check: &mut dyn FnMut() -> Check,
        on_event: &mut dyn FnMut(E) -> Result<(), Interrupt>,
    ) -> Result<Handle, Interrupt> {
        self.wait_events_within(task, rx, deadline, next_check, on_event, CANCEL_GRACE)
    }

    /// [`Self::wait_events`] with a given grace for the terminated task to report back.
    pub(crate) fn wait_events_within<E>(
        &mut self,
        task: ffi::CallId,
        rx: &Receiver<Wake<E>>,
        deadline: Deadline,
        next_check: &mut dyn FnMut() -> Check,
        on_event: &mut dyn FnMut(E) -> Result<(), Interrupt>,
        grace: Duration,
    ) -> Result<Handle, Interrupt> {
        let stop = loop {
            let until = match next_check() {
                Check::Stop => break Interrupt::Stop,
                Check::Until(t) => t.map_or(deadline.at, |t| t.min(deadline.at)),
            };
            match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(Wake::Done(h)) => return Ok(h),
                Ok(Wake::Event(e)) => {
                    if let Err(i) = on_event(e) {
                        break i;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if Instant::now() >= deadline.at {
                        break Interrupt::Deadline;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => break Interrupt::Stop,
            }
        };
        self.raw.cancel(task);
        let grace = Instant::now() + grace;
        loop {
            match rx.recv_timeout(grace.saturating_duration_since(Instant::now())) {
                Ok(Wake::Done(_)) => return Err(stop),
                Ok(Wake::Event(_)) => {}
                Err(_) => {
                    self.wedged = true;
                    return Err(stop);
                }
            }
        }
    }

    fn wait(
        &mut self,
        task: ffi::CallId,
        rx: &Receiver<Wake<()>>,
        deadline: Deadline,
        grace: Duration,
    ) -> Result<Handle, Error> {
        self.wait_events_within(
            task,
            rx,
            deadline,
            &mut || Check::Until(None),
            &mut |()| Ok(()),
            grace,
        )
        .map_err(|_| {
            if self.wedged {
                Error::engine("a timed-out task did not stop; the context is abandoned")
            } else {
                Error::task(crate::TaskErrorKind::Timeout, "the evaluation ran past its deadline")
            }
        })
    }

    /// Registers a mailbox: `mailbox` must be a `SharedArrayBuffer` handle of this context
    /// that only trusted runtime code writes; returns the JS function that calls `on_call`.
    pub(crate) fn mailbox_function(
        &mut self,
        mailbox: Handle,
        on_call: Arc<ffi::MailboxFn>,
    ) -> Result<Handle, Error> {
        let cb = ffi::register_mailbox(mailbox, on_call).map_err(Error::engine)?;
        self.mailboxes.push(cb);
        self.raw.make_js_callback(cb).map_err(Error::engine)
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        for cb in self.mailboxes.drain(..) {
            ffi::unregister(cb);
        }
        if self.wedged && !self.free_on_drop {
            // A task is still running on the isolate thread, and freeing the context blocks
            // until it stops. Leak it unless the owner asked for that.
            std::mem::forget(Arc::clone(&self.raw));
        }
    }
}

/// Turns an exception handle into an error.
pub(crate) fn check(h: &Handle) -> Result<(), Error> {
    match h.view() {
        View::Exception { tag: t, message } => {
            let message = String::from_utf8_lossy(message).into_owned();
            Err(match t {
                tag::OOM_EXCEPTION => Error::task(crate::TaskErrorKind::HeapLimit, message),
                tag::TIMEOUT_EXCEPTION | tag::TERMINATED_EXCEPTION => {
                    Error::task(crate::TaskErrorKind::Timeout, "execution terminated")
                }
                tag::PARSE_EXCEPTION => Error::Js { kind: "parse error", message },
                tag::VALUE_EXCEPTION => Error::Js { kind: "bad value", message },
                tag::KEY_EXCEPTION => Error::Js { kind: "missing key", message },
                _ => Error::Js { kind: "exception", message },
            })
        }
        _ => Ok(()),
    }
}

/// Converts a (non-exception) handle into a [`Value`].
pub(crate) fn to_value(h: &Handle) -> Result<Value, Error> {
    Ok(match h.view() {
        View::Null => Value::Null,
        View::Undefined => Value::Undefined,
        View::Bool(b) => Value::Bool(b),
        View::Int(i) => Value::Number(i as f64),
        View::Double(d) => Value::Number(d),
        View::Date(d) => Value::Date(d),
        View::Str(b) => Value::String(
            String::from_utf8(b.to_vec())
                .map_err(|_| Error::engine("V8 returned invalid UTF-8"))?,
        ),
        View::Object { tag: t, .. } => Value::Object(match t {
            tag::ARRAY => "array",
            tag::FUNCTION => "function",
            tag::PROMISE => "promise",
            tag::SYMBOL => "symbol",
            tag::ARRAY_BUFFER => "array_buffer",
            tag::SHARED_ARRAY_BUFFER => "shared_array_buffer",
            _ => "object",
        }),
        View::Exception { .. } => {
            check(h)?;
            Value::Undefined
        }
        View::Unknown(t) => return Err(Error::engine(format!("unknown value type {t}"))),
    })
}

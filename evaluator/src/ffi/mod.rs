//! The raw C API of `libmini_racer` and, in [`os`], the few OS calls the sandbox makes on
//! itself. Only this module (with its submodule) touches either; it is the crate's one module
//! allowed `unsafe`, and every block says why it is sound.
//!
//! Shape of the C API (mini-racer 0.14.1, see the wheel's `_dll.py`):
//!
//! - `mr_init_v8(flags, icu_path)` once per process; then `mr_init_context(callback)` gives a
//!   context id (one V8 isolate with its own message-pump thread);
//! - values cross as *handles*: pointers to a packed `{ union { ptr, i64, f64 }, size_t len,
//!   u8 type }` owned by the context until `mr_free_value`;
//! - `mr_eval` and `mr_call_function` are asynchronous: they return a task id and later call the
//!   context's callback, on the isolate thread, with the caller's callback id and the result;
//!   `mr_cancel_task` terminates a running task (its callback then gets a "terminated" value);
//! - `mr_make_js_callback(ctx, id)` makes a JS function that, when called, calls the same
//!   callback synchronously on the isolate thread with `id` and an array of its arguments.
//!
//! The C callback carries no user data, so callback ids are process-wide and looked up in
//! [`Registry`].

pub(crate) mod os;

use std::{
    collections::HashMap,
    ffi::{CStr, CString},
    os::raw::c_char,
    path::Path,
    ptr::NonNull,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
};

/// Type tags of value handles (`mini_racer.cc`'s `ValueTypes`).
pub(crate) mod tag {
    pub(crate) const NULL: u8 = 1;
    pub(crate) const BOOL: u8 = 2;
    pub(crate) const INTEGER: u8 = 3;
    pub(crate) const DOUBLE: u8 = 4;
    pub(crate) const STR_UTF8: u8 = 5;
    pub(crate) const ARRAY: u8 = 6;
    pub(crate) const DATE: u8 = 8;
    pub(crate) const SYMBOL: u8 = 9;
    pub(crate) const OBJECT: u8 = 10;
    pub(crate) const UNDEFINED: u8 = 11;
    pub(crate) const FUNCTION: u8 = 100;
    pub(crate) const SHARED_ARRAY_BUFFER: u8 = 101;
    pub(crate) const ARRAY_BUFFER: u8 = 102;
    pub(crate) const PROMISE: u8 = 103;
    pub(crate) const EXECUTE_EXCEPTION: u8 = 200;
    pub(crate) const PARSE_EXCEPTION: u8 = 201;
    pub(crate) const OOM_EXCEPTION: u8 = 202;
    pub(crate) const TIMEOUT_EXCEPTION: u8 = 203;
    pub(crate) const TERMINATED_EXCEPTION: u8 = 204;
    pub(crate) const VALUE_EXCEPTION: u8 = 205;
    pub(crate) const KEY_EXCEPTION: u8 = 206;
}

/// The C value handle, exactly as `mini_racer.cc` lays it out (`__attribute__((packed))`).
#[repr(C, packed)]
pub(crate) struct RawValue {
    value: u64,
    len: usize,
    kind: u8,
}

type RawCallback = extern "C" fn(u64, *mut RawValue);

/// The functions this crate uses, resolved once when the library is opened.
#[derive(Clone, Copy)]
struct Fns {
    init_v8: unsafe extern "C" fn(*const c_char, *const c_char),
    v8_version: unsafe extern "C" fn() -> *const c_char,
    init_context: unsafe extern "C" fn(RawCallback) -> u64,
    free_context: unsafe extern "C" fn(u64),
    eval: unsafe extern "C" fn(u64, *mut RawValue, u64) -> u64,
    call_function:
        unsafe extern "C" fn(u64, *mut RawValue, *mut RawValue, *mut RawValue, u64) -> u64,
    cancel_task: unsafe extern "C" fn(u64, u64),
    free_value: unsafe extern "C" fn(u64, *mut RawValue),
    alloc_int_val: unsafe extern "C" fn(u64, i64, u8) -> *mut RawValue,
    alloc_string_val: unsafe extern "C" fn(u64, *const c_char, u64, u8) -> *mut RawValue,
    make_js_callback: unsafe extern "C" fn(u64, u64) -> *mut RawValue,
    get_object_item: unsafe extern "C" fn(u64, *mut RawValue, *mut RawValue) -> *mut RawValue,
    set_object_item:
        unsafe extern "C" fn(u64, *mut RawValue, *mut RawValue, *mut RawValue) -> *mut RawValue,
    set_hard_memory_limit: unsafe extern "C" fn(u64, usize),
    hard_memory_limit_reached: unsafe extern "C" fn(u64) -> bool,
    low_memory_notification: unsafe extern "C" fn(u64),
    value_count: unsafe extern "C" fn(u64) -> usize,
    context_count: unsafe extern "C" fn() -> usize,
}

impl std::fmt::Debug for Fns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fns { .. }")
    }
}

/// An open `libmini_racer.so` with its functions resolved.
#[derive(Debug)]
pub(crate) struct Library {
    fns: Fns,
    // Declared last so it is unloaded after nothing else can use `fns`.
    _lib: libloading::Library,
}

/// Set once `mr_init_v8` has run in this process: V8 may be initialised only once.
static V8_INITIALISED: AtomicBool = AtomicBool::new(false);

macro_rules! sym {
    ($lib:expr, $name:literal) => {{
        // SAFETY: the Rust type the symbol is read as (inferred from the `Fns` field it is
        // stored in) is the C signature of that function in mini-racer 0.14.1's `_dll.py`
        // (argtypes/restype), which `V8Library::open` pins by checking the V8 version.
        let s = unsafe { $lib.get(concat!($name, "\0").as_bytes()) }
            .map_err(|e| format!("{}: {e}", $name))?;
        *s
    }};
}

impl Library {
    pub(crate) fn open(path: &Path) -> Result<Self, String> {
        // SAFETY: loading runs the library's static initialisers. libmini_racer's are V8's
        // own, which only set up process-wide tables; the file is the one scripts/setup
        // unpacked after checking the wheel's sha256.
        let lib = unsafe { libloading::Library::new(path) }.map_err(|e| e.to_string())?;
        let fns = Fns {
            init_v8: sym!(lib, "mr_init_v8"),
            v8_version: sym!(lib, "mr_v8_version"),
            init_context: sym!(lib, "mr_init_context"),
            free_context: sym!(lib, "mr_free_context"),
            eval: sym!(lib, "mr_eval"),
            call_function: sym!(lib, "mr_call_function"),
            cancel_task: sym!(lib, "mr_cancel_task"),
            free_value: sym!(lib, "mr_free_value"),
            alloc_int_val: sym!(lib, "mr_alloc_int_val"),
            alloc_string_val: sym!(lib, "mr_alloc_string_val"),
            make_js_callback: sym!(lib, "mr_make_js_callback"),
            get_object_item: sym!(lib, "mr_get_object_item"),
            set_object_item: sym!(lib, "mr_set_object_item"),
            set_hard_memory_limit: sym!(lib, "mr_set_hard_memory_limit"),
            hard_memory_limit_reached: sym!(lib, "mr_hard_memory_limit_reached"),
            low_memory_notification: sym!(lib, "mr_low_memory_notification"),
            value_count: sym!(lib, "mr_value_count"),
            context_count: sym!(lib, "mr_context_count"),
        };
        Ok(Self { fns, _lib: lib })
    }

    /// `const char* mr_v8_version(void)`.
    pub(crate) fn v8_version(&self) -> Result<String, String> {
        // SAFETY: no arguments; the function returns a pointer to a compile-time constant and
        // needs no initialisation.
        let ptr = unsafe { (self.fns.v8_version)() };
        if ptr.is_null() {
            return Err("mr_v8_version returned null".into());
        }
        // SAFETY: the pointer is non-null and points at a static NUL-terminated string owned
        // by the library, which `self` keeps loaded for this borrow.
        let text = unsafe { CStr::from_ptr(ptr) };
        Ok(text.to_string_lossy().into_owned())
    }

    /// `mr_init_v8(flags, icu_path)`: at most once per process, which this function enforces.
    pub(crate) fn init_v8(&self, flags: &str, icu_data: &Path) -> Result<(), String> {
        let flags = CString::new(flags).map_err(|e| e.to_string())?;
        let icu =
            CString::new(icu_data.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
        if V8_INITIALISED.swap(true, Ordering::SeqCst) {
            return Err("V8 is already initialised in this process".into());
        }
        // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call
        // (V8 copies what it keeps); the swap above guarantees this runs once per process.
        unsafe { (self.fns.init_v8)(flags.as_ptr(), icu.as_ptr()) };
        Ok(())
    }

    /// The number of live contexts (for leak tests).
    pub(crate) fn context_count(&'static self) -> usize {
        // SAFETY: no arguments; reads a mutex-protected counter of the library.
        unsafe { (self.fns.context_count)() }
    }

    /// `mr_init_context(callback)`: a new isolate and context. `init_v8` must have run.
    pub(crate) fn new_context(&'static self) -> Result<Arc<RawContext>, String> {
        if !V8_INITIALISED.load(Ordering::SeqCst) {
            return Err("V8 is not initialised".into());
        }
        // SAFETY: V8 is initialised (checked above); `trampoline` has the C callback's exact
        // signature and lives for the whole program.
        let id = unsafe { (self.fns.init_context)(trampoline) };
        if id == 0 {
            return Err("mr_init_context failed".into());
        }
        Ok(Arc::new(RawContext { lib: self, id }))
    }
}

/// One mini-racer context (one isolate). Freed when the last [`Arc`] goes, which the handles
/// of its values hold, so no handle outlives it.
#[derive(Debug)]
pub(crate) struct RawContext {
    lib: &'static Library,
    id: u64,
}

impl Drop for RawContext {
    fn drop(&mut self) {
        // SAFETY: `id` came from `mr_init_context` and is freed exactly once, here; every
        // handle of this context holds an `Arc` to it, so none is used after this point.
        // The owner (`engine::Context`) unregisters its mailbox and collects every task it
        // started before letting go, so this never runs on the isolate thread.
        unsafe { (self.lib.fns.free_context)(self.id) };
    }
}

/// A value handle owned by Rust; freed on drop.
#[derive(Debug)]
pub(crate) struct Handle {
    ctx: Arc<RawContext>,
    ptr: NonNull<RawValue>,
}

// SAFETY: a handle is a pointer into the context's value registry, whose map is guarded by a
// mutex on the C++ side; the value it points to is never written after creation. Moving the
// owner to another thread is therefore sound.
unsafe impl Send for Handle {}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from this context and is freed exactly once, here; the context
        // is alive because `self.ctx` holds it.
        unsafe { (self.ctx.lib.fns.free_value)(self.ctx.id, self.ptr.as_ptr()) };
    }
}

/// What a handle holds, read without touching the isolate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum View<'a> {
    Null,
    Undefined,
    Bool(bool),
    Int(i64),
    Double(f64),
    /// UTF-8 bytes of a string.
    Str(&'a [u8]),
    /// A date, in milliseconds since the epoch.
    Date(f64),
    /// An object V8 keeps (array, object, function, promise, symbol, buffers): its tag and,
    /// for buffers, byte length.
    Object {
        tag: u8,
        len: usize,
    },
    /// A failed evaluation: its tag and the message V8 gave.
    Exception {
        tag: u8,
        message: &'a [u8],
    },
    /// A tag this crate does not know.
    Unknown(u8),
}

impl Handle {
    fn wrap(ctx: &Arc<RawContext>, ptr: *mut RawValue) -> Result<Self, String> {
        NonNull::new(ptr)
            .map(|ptr| Self { ctx: Arc::clone(ctx), ptr })
            .ok_or_else(|| "libmini_racer returned a null value handle".to_string())
    }

    /// Reads the handle's tag and immediate data.
    pub(crate) fn view(&self) -> View<'_> {
        let raw = self.ptr.as_ptr();
        // SAFETY: `raw` points at a live `RawValue` (owned by the context, freed only by our
        // Drop); the struct is packed, so every field is read unaligned.
        let (value, len, kind) = unsafe {
            (
                std::ptr::addr_of!((*raw).value).read_unaligned(),
                std::ptr::addr_of!((*raw).len).read_unaligned(),
                std::ptr::addr_of!((*raw).kind).read_unaligned(),
            )
        };
        let bytes = || -> &[u8] {
            if len == 0 || value == 0 {
                return &[];
            }
            // SAFETY: for string and exception tags the union holds a pointer to `len` bytes
            // owned by the value, which lives as long as `self` (the borrow's lifetime).
            unsafe { std::slice::from_raw_parts(value as usize as *const u8, len) }
        };
        match kind {
            tag::NULL => View::Null,
            tag::UNDEFINED => View::Undefined,
            tag::BOOL => View::Bool(value as i64 == 1),
            tag::INTEGER => View::Int(value as i64),
            tag::DOUBLE => View::Double(f64::from_bits(value)),
            tag::DATE => View::Date(f64::from_bits(value)),
            tag::STR_UTF8 => View::Str(bytes()),
            tag::ARRAY
            | tag::SYMBOL
            | tag::OBJECT
            | tag::FUNCTION
            | tag::SHARED_ARRAY_BUFFER
            | tag::ARRAY_BUFFER
            | tag::PROMISE => View::Object { tag: kind, len },
            tag::EXECUTE_EXCEPTION
            | tag::PARSE_EXCEPTION
            | tag::OOM_EXCEPTION
            | tag::TIMEOUT_EXCEPTION
            | tag::TERMINATED_EXCEPTION
            | tag::VALUE_EXCEPTION
            | tag::KEY_EXCEPTION => View::Exception { tag: kind, message: bytes() },
            other => View::Unknown(other),
        }
    }
}

impl RawContext {
    fn fns(&self) -> &Fns {
        &self.lib.fns
    }

    pub(crate) fn alloc_str(self: &Arc<Self>, text: &str) -> Result<Handle, String> {
        // SAFETY: pointer and length describe `text`, which outlives the call; the C side
        // copies the bytes into the new value.
        let p = unsafe {
            (self.fns().alloc_string_val)(
                self.id,
                text.as_ptr().cast(),
                text.len() as u64,
                tag::STR_UTF8,
            )
        };
        Handle::wrap(self, p)
    }

    pub(crate) fn alloc_i64(self: &Arc<Self>, v: i64) -> Result<Handle, String> {
        // SAFETY: plain values; the context id is live (held by `self`).
        let p = unsafe { (self.fns().alloc_int_val)(self.id, v, tag::INTEGER) };
        Handle::wrap(self, p)
    }

    pub(crate) fn alloc_undefined(self: &Arc<Self>) -> Result<Handle, String> {
        // SAFETY: plain values; the context id is live (held by `self`).
        let p = unsafe { (self.fns().alloc_int_val)(self.id, 0, tag::UNDEFINED) };
        Handle::wrap(self, p)
    }

    fn check_owner(&self, handles: &[&Handle]) -> Result<(), String> {
        if handles.iter().all(|h| h.ctx.id == self.id) {
            Ok(())
        } else {
            Err("a value handle of another context was passed".into())
        }
    }

    /// Starts evaluating `code` (a string handle); the result goes to `callback`.
    pub(crate) fn eval(&self, code: &Handle, callback: CallbackId) -> Result<CallId, String> {
        self.check_owner(&[code])?;
        // SAFETY: the handle belongs to this live context (checked above) and stays alive
        // across the call; the C side takes its own reference to the value before returning.
        Ok(CallId(unsafe { (self.fns().eval)(self.id, code.ptr.as_ptr(), callback.0) }))
    }

    /// Starts calling `func` with `this` and the arguments in the array `argv`.
    pub(crate) fn call(
        &self,
        func: &Handle,
        this: &Handle,
        argv: &Handle,
        callback: CallbackId,
    ) -> Result<CallId, String> {
        self.check_owner(&[func, this, argv])?;
        // SAFETY: as in `eval`: live handles of this context, referenced by the C side before
        // it returns.
        let task = unsafe {
            (self.fns().call_function)(
                self.id,
                func.ptr.as_ptr(),
                this.ptr.as_ptr(),
                argv.ptr.as_ptr(),
                callback.0,
            )
        };
        Ok(CallId(task))
    }

    /// Terminates `task` if it is still running (a no-op otherwise).
    pub(crate) fn cancel(&self, task: CallId) {
        // SAFETY: plain ids; unknown or finished task ids are ignored by the C side.
        unsafe { (self.fns().cancel_task)(self.id, task.0) };
    }

    /// `obj[key]`, run on the isolate thread (blocks while a task runs there). Never call it
    /// from a JS→host callback: that would deadlock the isolate thread.
    pub(crate) fn get(self: &Arc<Self>, obj: &Handle, key: &Handle) -> Result<Handle, String> {
        self.check_owner(&[obj, key])?;
        // SAFETY: live handles of this context; the result is a new handle we own.
        let p =
            unsafe { (self.fns().get_object_item)(self.id, obj.ptr.as_ptr(), key.ptr.as_ptr()) };
        Handle::wrap(self, p)
    }

    /// `obj[key] = val`, run on the isolate thread; same caveat as [`RawContext::get`].
    pub(crate) fn set(
        self: &Arc<Self>,
        obj: &Handle,
        key: &Handle,
        val: &Handle,
    ) -> Result<Handle, String> {
        self.check_owner(&[obj, key, val])?;
        // SAFETY: live handles of this context; the result is a new handle we own.
        let p = unsafe {
            (self.fns().set_object_item)(
                self.id,
                obj.ptr.as_ptr(),
                key.ptr.as_ptr(),
                val.ptr.as_ptr(),
            )
        };
        Handle::wrap(self, p)
    }

    /// A JS function that calls back into [`trampoline`] with `callback`.
    pub(crate) fn make_js_callback(
        self: &Arc<Self>,
        callback: CallbackId,
    ) -> Result<Handle, String> {
        // SAFETY: plain ids; the result is a new handle we own.
        let p = unsafe { (self.fns().make_js_callback)(self.id, callback.0) };
        Handle::wrap(self, p)
    }

    pub(crate) fn set_hard_memory_limit(&self, bytes: usize) {
        // SAFETY: plain values on a live context.
        unsafe { (self.fns().set_hard_memory_limit)(self.id, bytes) };
    }

    pub(crate) fn hard_memory_limit_reached(&self) -> bool {
        // SAFETY: plain values on a live context.
        unsafe { (self.fns().hard_memory_limit_reached)(self.id) }
    }

    pub(crate) fn low_memory_notification(&self) {
        // SAFETY: plain values on a live context (runs a full GC on the isolate thread).
        unsafe { (self.fns().low_memory_notification)(self.id) };
    }

    /// The number of value handles the context still holds (for leak tests).
    pub(crate) fn value_count(&self) -> usize {
        // SAFETY: plain values on a live context.
        unsafe { (self.fns().value_count)(self.id) }
    }
}

/// One call started by `mr_eval` or `mr_call_function` (libmini_racer calls it a task).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CallId(u64);

/// A process-wide callback id (the C callback carries no user data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CallbackId(u64);

/// Receives the bytes of a context's mailbox each time JS calls a mailbox callback. Runs on the
/// isolate thread while JS waits: keep it short and never call back into the context.
pub(crate) type MailboxFn = dyn Fn(&[u8]) + Send + Sync;

enum Listener {
    /// A task's result: handed over once.
    Result(std::sync::Weak<RawContext>, Box<dyn FnOnce(Handle) + Send>),
    /// A JS notification: the listener reads the shared mailbox while JS is paused.
    Mailbox { mailbox: Handle, on_call: Arc<MailboxFn> },
}

/// Process-wide map from callback ids to listeners.
struct Registry {
    next: AtomicU64,
    listeners: Mutex<HashMap<u64, Listener>>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY
        .get_or_init(|| Registry { next: AtomicU64::new(1), listeners: Mutex::new(HashMap::new()) })
}

fn listeners() -> std::sync::MutexGuard<'static, HashMap<u64, Listener>> {
    registry().listeners.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Registers a one-shot result listener: `on_result` gets the task's result handle, on the
/// isolate thread.
pub(crate) fn register_result(
    ctx: &Arc<RawContext>,
    on_result: Box<dyn FnOnce(Handle) + Send>,
) -> CallbackId {
    let id = registry().next.fetch_add(1, Ordering::Relaxed);
    listeners().insert(id, Listener::Result(Arc::downgrade(ctx), on_result));
    CallbackId(id)
}

/// Registers a mailbox listener. `mailbox` must be a `SharedArrayBuffer` of the context that
/// only the context's own (trusted) runtime code writes to; `on_call` gets its bytes.
pub(crate) fn register_mailbox(
    mailbox: Handle,
    on_call: Arc<MailboxFn>,
) -> Result<CallbackId, String> {
    match mailbox.view() {
        View::Object { tag: tag::SHARED_ARRAY_BUFFER, .. } => {}
        other => return Err(format!("mailbox must be a SharedArrayBuffer, got {other:?}")),
    }
    let id = registry().next.fetch_add(1, Ordering::Relaxed);
    listeners().insert(id, Listener::Mailbox { mailbox, on_call });
    Ok(CallbackId(id))
}

/// Forgets a listener; a late callback for it is then dropped.
pub(crate) fn unregister(id: CallbackId) {
    // Take it out under the lock, drop it (which may free V8 values) outside it.
    let removed = listeners().remove(&id.0);
    drop(removed);
}

/// The one C callback of every context. Runs on the isolate thread; never panics (a panic
/// here would abort the process).
extern "C" fn trampoline(callback_id: u64, raw: *mut RawValue) {
    enum Action {
        Send(Arc<RawContext>, Box<dyn FnOnce(Handle) + Send>),
        Mailbox(Arc<RawContext>, *const u8, usize, Arc<MailboxFn>),
        Leak,
    }
    let action = {
        let mut map = listeners();
        match map.get(&callback_id) {
            Some(Listener::Result(..)) => match map.remove(&callback_id) {
                Some(Listener::Result(weak, tx)) => match weak.upgrade() {
                    Some(ctx) => Action::Send(ctx, tx),
                    None => Action::Leak,
                },
                _ => Action::Leak,
            },
            Some(Listener::Mailbox { mailbox, on_call }) => {
                let (ptr, len) = mailbox_bytes(mailbox);
                Action::Mailbox(Arc::clone(&mailbox.ctx), ptr, len, Arc::clone(on_call))
            }
            None => Action::Leak,
        }
    };
    match action {
        Action::Send(ctx, tx) => {
            if let Ok(handle) = Handle::wrap(&ctx, raw) {
                // The `Arc` we hold here is never the last one: the context's owner keeps its
                // own until it has cancelled and collected every task it started.
                tx(handle);
            }
        }
        Action::Mailbox(ctx, ptr, len, on_call) => {
            let bytes: &[u8] = if ptr.is_null() || len == 0 {
                &[]
            } else {
                // SAFETY: `ptr`/`len` is the mailbox's backing store, kept alive by the
                // registry's handle (the `SharedArrayBuffer` value holds a reference to it; a
                // shared buffer cannot be detached). Only the isolate thread writes it, and
                // that thread is here, paused inside this JS call, for as long as the slice
                // lives: no concurrent writer exists.
                unsafe { std::slice::from_raw_parts(ptr, len) }
            };
            on_call(bytes);
            // The arguments array is not needed: free it now.
            drop(Handle::wrap(&ctx, raw));
        }
        // An unknown or stale id: the value stays with its context and is freed with it.
        Action::Leak => {}
    }
}

fn mailbox_bytes(mailbox: &Handle) -> (*const u8, usize) {
    let raw = mailbox.ptr.as_ptr();
    // SAFETY: as in `Handle::view`: a live packed struct read unaligned; for buffer tags the
    // union holds the backing store's address and `len` its byte length.
    let (value, len) = unsafe {
        (
            std::ptr::addr_of!((*raw).value).read_unaligned(),
            std::ptr::addr_of!((*raw).len).read_unaligned(),
        )
    };
    (value as usize as *const u8, len)
}

/// A `SharedArrayBuffer` whose 32-bit words the host reads from any thread while JavaScript
/// runs: the runtime stores the words the host samples (progress, counters) with
/// `Atomics.store`, so no call into the host is needed.
#[derive(Debug)]
pub(crate) struct SharedWords {
    /// Keeps the buffer (and so its backing store) alive.
    _buffer: Handle,
    ptr: *const u8,
    len: usize,
}

// SAFETY: the words are only read, with atomic loads, and the backing store they point into
// lives (and never moves: a shared buffer cannot be detached) as long as `_buffer`.
unsafe impl Send for SharedWords {}
// SAFETY: as above: every access is an atomic load.
unsafe impl Sync for SharedWords {}

impl SharedWords {
    /// `buffer` must be a `SharedArrayBuffer` handle.
    pub(crate) fn new(buffer: Handle) -> Result<Self, String> {
        match buffer.view() {
            View::Object { tag: tag::SHARED_ARRAY_BUFFER, .. } => {}
            other => return Err(format!("expected a SharedArrayBuffer, got {other:?}")),
        }
        let (ptr, len) = mailbox_bytes(&buffer);
        if ptr.is_null() || !(ptr as usize).is_multiple_of(std::mem::align_of::<AtomicU32>()) {
            return Err("the SharedArrayBuffer's backing store is not word-aligned".into());
        }
        Ok(Self { _buffer: buffer, ptr, len })
    }

    /// The word at byte `offset` (a multiple of 4 inside the buffer), or `None` outside it.
    pub(crate) fn load(&self, offset: usize) -> Option<u32> {
        if !offset.is_multiple_of(4) || offset.checked_add(4)? > self.len {
            return None;
        }
        // SAFETY: `offset` is word-aligned (the base is checked aligned in `new`) and in bounds;
        // the backing store is alive (held by `_buffer`); JavaScript writes these words with
        // `Atomics.store`, and this is an atomic load of the same width.
        let word = unsafe { &*self.ptr.add(offset).cast::<AtomicU32>() };
        Some(word.load(Ordering::SeqCst))
    }
}

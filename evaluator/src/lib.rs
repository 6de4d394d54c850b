//! # quorate-evaluator
//!
//! The sandbox in which workers run strangers' work functions: V8 through `libmini_racer` (a
//! prebuilt V8 with a small C API, shipped in the `mini-racer` wheel that `scripts/setup`
//! unpacks) for JavaScript and WebAssembly, and wgpu (Vulkan) for WGSL compute shaders. One
//! evaluator process per sandbox, driven by the worker over the child's stdin/stdout pipes: no
//! port, no socket path (docs/architecture.md §5).
//!
//! May depend on `quorate-primitives` only among our crates; it is the one crate that loads V8.
//!
//! ## What it owns
//!
//! | module | contents |
//! |---|---|
//! | [`v8lib`] | finding and loading `libmini_racer.so`, checking its V8 version |
//! | `ffi` (private) | the raw C API and the mailbox's shared words read from the host thread (`ffi/mod.rs`), and the few OS calls: rlimits, nice, prctl, setuid, seccomp, page size (`ffi/os.rs`): the crate's only `unsafe`, each block with its reason |
//! | [`engine`] | the safe layer: [`engine::Runtime`] (V8 initialised once per process), [`engine::Context`] (an isolate), eval and call with deadlines and cancellation, the hard heap limit, JS→host notifications, value conversion |
//! | [`sandbox`] | [`sandbox::Sandbox`]: the JavaScript runtime (`runtime.js`), job loading checked against its content hash under [`sandbox::LoadLimits`], tasks run under [`sandbox::Limits`] (`task.rs`: the call, the barrier after the answer, the runtime's outcome), the typed mailbox both sides share (`mailbox.rs`), the process memory a task may take (`memory.rs`), canonical results and their digest |
//! | [`gpu`] | the host side of `gpu.compute`: one wgpu device per process, WGSL compiled and dispatched, buffers read back; base64 for the JS↔host buffer transfer |
//! | [`protocol`] | the worker↔evaluator frames and messages ([`protocol::Request`], [`protocol::Response`]) |
//! | [`server`] | the sandbox process's request loop, and the capabilities report (V8 version, GPU class, floating-point probe) |
//! | [`client`] | the worker's side: [`client::EvaluatorHandle`] (spawn, describe, load, run, reset, kill, with timeouts) and [`client::Pool`] |
//! | [`hardening`] | what the sandbox process does to itself: rlimits, nice, death with its parent, no new privileges, dropping root |
//! | [`seccomp`] | the system-call filter installed once V8 is up: no exec, no sockets, no fork, no file opening |
//! | `src/bin/quorate-evaluator.rs` | the sandbox process |
//!
//! ## Data flow
//!
//! ```text
//! worker ── EvaluatorHandle ──(stdin: Request frames)──▶ quorate-evaluator ── Sandbox ── V8 isolate thread
//!        ◀─(stdout: progress, console, then result | task_error | failed)──┘
//! ```
//!
//! Inside the process, the main thread reads a request and posts work to the isolate's thread
//! (libmini_racer runs each isolate on its own thread); JavaScript talks back through a
//! `SharedArrayBuffer` *mailbox* whose layout and message kinds the host defines and hands to the
//! runtime: console lines, "promise settled" and GPU requests are read while JS is paused inside
//! a host callback; progress and the count of dropped console calls are only stored there and
//! sampled by the host from its own thread, so `progress()` costs no call and no memory.
//!
//! A task's answer is final only once a *barrier* (a call of the runtime that can start only when
//! the isolate is idle) has returned: libmini_racer runs promise continuations after a call has
//! delivered its result, so a job's leftover work runs inside its own task's deadline, never
//! after it.
//!
//! ## The JavaScript API (DCP style)
//!
//! - The job's code is a script whose completion value is the *work function*
//!   `(input, ...args) => result` (or which defines a global function `work`); it may return a
//!   promise. `input` and `args` arrive as JSON (binary values as `{"$bytes","$type"}`, below).
//! - `progress(fraction)`: a number in `[0, 1]`, or nothing for "still alive"; it resets the
//!   progress watchdog. It only stores the fraction: the host samples it (the latest one wins,
//!   and one reported before a console line is relayed before that line), so calling it in a
//!   tight loop costs nanoseconds and no memory. `console.log/info/debug/warn/error` are relayed, capped per task.
//! - `gpu.compute({ code, entryPoint = 'main', workgroups: [x, y, z], buffers, read })` runs a
//!   WGSL compute shader and resolves to an array of `ArrayBuffer`s (the buffers listed in
//!   `read`, default all; at most as many entries as there are buffers). Buffer `i` is
//!   `@group(0) @binding(i) var<storage, read_write>`; a typed array, `DataView` or
//!   `ArrayBuffer` gives its initial bytes, `{ size }` a zeroed buffer. Shader errors reject
//!   the promise. Only sandboxes started with a GPU (`ProcessLimits::gpu`) have one; elsewhere
//!   the promise rejects with "no GPU".
//! - `WebAssembly` is available; `WebAssembly.compile` and `instantiate` compile synchronously
//!   and return a settled promise (V8's asynchronous compilation would finish outside the task).
//!   There is no `fetch`, `require`, `setTimeout`, `process`, file
//!   or network access (V8 alone has none); `Atomics.wait`/`waitAsync`, `WeakRef`,
//!   `FinalizationRegistry` and `Temporal.Now` are removed (clocks and GC timing).
//!
//! ## Determinism
//!
//! Consensus compares digests, so every replica must produce the same bytes:
//! - `Math.random` is xoshiro128** seeded from the first 16 bytes of the task id (53-bit
//!   doubles); `Date()`, `new Date()`, `Date.now()` and date-less `Intl.DateTimeFormat` calls
//!   see the task's `now_ms`; the child gets `TZ=UTC` and `LC_ALL=C` and an otherwise empty
//!   environment.
//! - A job's tasks share one context (so JIT warm-up is paid once); loading another job, a
//!   `reset`, any timeout, watchdog or memory stop, and memory a job keeps after a task start
//!   from a fresh context. Before
//!   every task the runtime installs its API afresh (`Math.random`, `Date`, `progress`,
//!   `console`, `gpu`), so a task sees the runtime's own whatever an earlier task, or the job's
//!   code when it was loaded, did to them; where it cannot (the job froze the global object or
//!   `Math`), the task runs on a fresh context with the job loaded again (so it sees what the
//!   job's code froze). Any other global state a work function keeps across calls is not
//!   deterministic; the worker may `reset` between tasks where a pool requires it.
//! - A work function that throws ends as `threw` with `String(error)` (its name and message) for
//!   an `Error`, never its stack: a stack names the runtime's own frames and lines, which differ
//!   between versions of the runtime, and replicas running different versions vote on the same
//!   outcome. (The worker votes on `threw`, `bad_input`, `bad_result`, `output_too_large` and
//!   `never_settled` like a value: `TaskErrorKind::is_agreed_outcome`.)
//! - The depth of recursion before a stack overflow (`RangeError`) is not fixed: it can differ
//!   by a frame between runs in one sandbox (it depends on how V8 compiled the frames). A job
//!   that catches stack overflows to measure or limit depth is not deterministic.
//! - No code of a job runs outside a task's (or its load's) time: promise continuations left
//!   behind by a work function run before its answer is final and within its deadline (past it,
//!   the task is `timeout` and the context is discarded, which terminates them); those left by
//!   the job's code when it loads run within the load limit. Nothing a task leaves running is
//!   charged to the next one.
//! - NaN bits. V8 gives a NaN's sign and payload no fixed value: they depend on which tier
//!   compiled the code that made it, and tiers change as background compilation finishes. The
//!   sandbox writes every NaN of a `Float16Array`, `Float32Array` or `Float64Array` result as the
//!   canonical quiet NaN, which makes those results identical in every process (tested in several
//!   fresh processes). It cannot know which bytes of a `DataView`, an `ArrayBuffer` or an integer
//!   view of a float buffer are floats, so it writes them as they are: a job that reads a NaN's
//!   bits through another view, or returns float bytes holding NaNs in such a container, is not
//!   deterministic and can split its replicas. This is the job's fault, like depending on the
//!   depth of recursion (below); canonicalise NaNs (or return a float typed array) instead.
//! - Memory. A task may take at most its `heap_bytes` of memory in all (V8 heap, `ArrayBuffer`s,
//!   WebAssembly memories, shared buffers), measured as the process's private writable memory
//!   above its level when the task started, sampled every 2 ms while it runs and again when it
//!   ends; past it the task is `heap_limit`. So a job that probes how much it can allocate ends as
//!   `heap_limit` in every process, whatever the process could have given it. The one exception
//!   is an allocation the operating system refuses (`RLIMIT_DATA`, `ProcessLimits::memory_mb`)
//!   between two samples, which throws a `RangeError` the job can catch: if the job then drops
//!   what it holds before it returns, what it saw depends on the process. Keep each task's
//!   `heap_bytes` well below `memory_mb` so that this cannot happen without passing the cap first.
//! - The capabilities report a floating-point probe (keccak256 of the raw little-endian bytes
//!   of a `Float64Array` of results of `Math` transcendental functions and WebAssembly f64
//!   arithmetic, NaN signs and payloads included) so the scheduler can group replicas whose
//!   floating point agrees. All replicas run the same V8 (14.4 is pinned).
//! - GPU results depend on the adapter: the capabilities report its class
//!   (`backend/device type/name/driver`) so the scheduler can give a task's replicas the same
//!   class (homogeneous redundancy), or the job canonicalises its GPU output itself.
//!
//! ## Canonical result encoding (version 1)
//!
//! The result bytes are UTF-8 JSON text, written by the runtime (not by `JSON.stringify`,
//! which user code may replace):
//! - values follow `JSON.stringify`'s rules: `toJSON` is honoured, called with the property key
//!   as `JSON.stringify` does (so a `Date` becomes its ISO string); `undefined`, functions and
//!   symbols are left out of objects and become `null` in arrays; a top-level `undefined` is
//!   `null`;
//! - object keys (own, enumerable, string) are sorted by UTF-16 code units, as in RFC 8785;
//! - numbers use ECMAScript's shortest round-trip form (`Number.prototype.toString`, as RFC
//!   8785), `-0` is written `0`; `NaN` and `±Infinity` are errors (`bad_result`);
//! - strings are escaped as `JSON.stringify` does (lone surrogates as `\udXXX`);
//! - typed arrays, `DataView`, `ArrayBuffer` and `SharedArrayBuffer` are written as
//!   `{"$bytes":"<base64 with padding>","$type":"<constructor name>"}` with their bytes in
//!   little-endian order (the in-memory order on every supported platform);
//! - in `Float16Array`, `Float32Array` and `Float64Array` every NaN is written as the quiet
//!   NaN `0x7e00`, `0x7fc00000` and `0x7ff8000000000000` respectively (NaN signs and payloads
//!   depend on the JIT tier and the hardware); other element types, `DataView` and the buffers
//!   are written as they are;
//! - buffers, `Map`s and `Set`s are recognised by their internal brand when their prototype
//!   chain still includes the built-in prototype (views always are); one whose prototype was
//!   replaced by another chain is written as its own enumerable keys, as `JSON.stringify` does.
//!   This keeps the encoder free of per-object exceptions for plain objects and class instances
//!   alike: it is linear in the size of the result;
//! - `BigInt`, `Map`, `Set`, cycles and nesting deeper than 512 are errors (`bad_result`);
//! - the cap is on what is sent: a result whose length as a JSON string in the response frame
//!   (after escaping) passes the task's `result_bytes` is `output_too_large`, checked as the
//!   result is written, and so is one whose response frame would pass the frame limit;
//! - an exception thrown while reading the result (a `then` or `toJSON` that throws, a
//!   `Proxy` trap, a getter) is the job's own error, `threw`, as is a promise whose value
//!   cannot be read; it never fails the sandbox.
//!
//! The digest is `quorate_primitives::ResultDigest::of(task, bytes)`: keccak256 of the task id
//! and keccak256 of those bytes, so a digest is bound to its task.
//!
//! ## Limits and failure
//!
//! | limit | how | after it |
//! |---|---|---|
//! | wall clock (`timeout_ms`) | the task is terminated from the host thread | context discarded |
//! | wall clock, returned promise | not settled by `timeout_ms` → `never_settled` | context discarded (which terminates its continuations) |
//! | wall clock, work left after the answer | the answer waits for it (a barrier); not over by `timeout_ms` → `timeout` | context discarded |
//! | progress watchdog | no `progress()` for `progress_watchdog_ms` → terminated | context discarded |
//! | memory (`heap_bytes`) | libmini_racer's hard heap limit, and the process's private memory sampled every 2 ms and at the end → `heap_limit` | context discarded |
//! | memory kept after a task | above the level after loading by 64 MiB: a full GC, then, if the job keeps it, the context is replaced | - |
//! | V8 heap, runaway | `--max-old-space-size` (process flag): V8 aborts the process | the handle reports `heap_limit` and respawns |
//! | load (`LoadLimits`) | each evaluation of the job's code, and the continuations it starts, has its own time and memory limits (memory counted as for a task) → the job's error (`load_failed` when it happens before a task) | context discarded |
//! | result, console | the result's sent length is capped; console overflow is dropped and counted | - |
//! | GPU | `gpu.compute` waits at most until the task's deadline → `timeout`; the device may still be busy, so the process exits after answering | process replaced |
//! | process | `RLIMIT_DATA`, `RLIMIT_NOFILE`, no core files, no file writes, nice 10, killed with its parent, no new privileges, `nobody` when started as root | - |
//! | system calls | seccomp filter once V8 (and the GPU) are up: exec, sockets, fork, ptrace and signals to other processes kill the process; opening files and everything not needed fails with `EPERM` | - |
//! | no answer | the handle kills the process after the task's timeout, the load limit and a grace | respawned on next use |
//!
//! A discarded context is freed, which terminates whatever JavaScript still runs on it; the job is
//! loaded again, under its load limits, when its next task starts, so that time is never charged
//! to the task that failed. A context that cannot be freed within 2 s poisons the sandbox, and
//! the process exits after answering.
//!
//! V8 flags: none by default ([`engine::V8_FLAGS`]). `--single-threaded` (Python's default)
//! makes CPU-bound code 1.6× slower because it disables concurrent (re)compilation; with
//! concurrent OSR, some optimised allocation loops miss termination requests, which is why a
//! runaway heap is also capped by V8's own ceiling in a process the worker can replace.
//!
//! ## Example
//!
//! ```no_run
//! use quorate_evaluator::sandbox::{Limits, Sandbox, TaskSpec};
//! use quorate_primitives::{B256, ContentHash, TaskId};
//!
//! let code = "(input, k) => ({ doubled: input.x * k })";
//! let mut sandbox = Sandbox::new()?;
//! sandbox.load(ContentHash::of(code.as_bytes()), code)?;
//! let spec = TaskSpec {
//!     task_id: TaskId::from(B256::repeat_byte(1)),
//!     now_ms: 1_700_000_000_000,
//!     input: r#"{"x": 21}"#.into(),
//!     args: "[2]".into(),
//!     limits: Limits::default(),
//! };
//! let out = sandbox.run(&spec, &mut |event| println!("{event:?}"))?;
//! assert_eq!(out.result, br#"{"doubled":42}"#);
//! # Ok::<(), quorate_evaluator::Error>(())
//! ```
//!
//! ## Finding V8
//!
//! [`v8lib::V8Library::locate`] looks, in order, in `$QUORATE_V8_DIR`, in the checkout's
//! `.tools/v8` (filled by `scripts/setup`), and in `../lib/quorate/v8` beside the running
//! executable (an installed layout). A missing or wrong library is an error that names the
//! setup command.

#[allow(unsafe_code)]
mod ffi;

pub mod client;
pub mod engine;
mod error;
pub mod gpu;
pub mod hardening;
pub mod protocol;
pub mod sandbox;
pub mod seccomp;
pub mod server;
pub mod v8lib;

pub use error::{Error, TaskErrorKind};

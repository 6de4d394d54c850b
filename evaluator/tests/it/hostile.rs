//! The hostile suite: each class of attack a job can mount on the sandbox, with several
//! instances each. Every test here failed before the sandbox defended against its class.

use std::time::{Duration, Instant};

use quorate_evaluator::{
    Error, TaskErrorKind,
    client::EvaluatorHandle,
    sandbox::{Event, LoadLimits, Sandbox, TaskOutput, TaskSpec},
};
use quorate_primitives::ContentHash;

use crate::{
    process::config,
    sandbox::{loaded, spec},
};

fn kind_of(r: &Result<TaskOutput, Error>) -> TaskErrorKind {
    match r {
        Err(Error::Task { kind, .. }) => *kind,
        Ok(out) => panic!("expected a task error, got a result of {} bytes", out.result.len()),
        Err(e) => panic!("expected a task error, got {e:?}"),
    }
}

fn with_timeout(input: &str, ms: u64) -> TaskSpec {
    let mut s = spec(1, input, "[]");
    s.limits.timeout_ms = ms;
    s
}

/// CPU time (user + system) this process has used.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let after = stat.rsplit_once(") ").unwrap().1;
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// Asserts that nothing runs in this process for a while (no leftover JavaScript), once memory
/// released by a discarded context has been given back to the system: within 4 s, a 500 ms
/// window passes with under 150 ms of CPU. (Freeing a discarded context can take a few hundred
/// milliseconds of CPU on a loaded machine; endless work never leaves such a window.)
fn assert_idle() {
    std::thread::sleep(Duration::from_millis(300));
    let mut windows = Vec::new();
    for _ in 0..8 {
        let before = cpu_time();
        std::thread::sleep(Duration::from_millis(500));
        let used = cpu_time() - before;
        if used < Duration::from_millis(150) {
            return;
        }
        windows.push(used);
    }
    panic!("CPU used in each 500 ms window while idle: {windows:?}");
}

// ---- Work after the answer ------------------------------------------------------------------

/// Ways to leave work running after the work function has answered (`go` true), each of which
/// never ends.
const ENDLESS_LEFTOVERS: [&str; 6] = [
    "(async () => { for (;;) await null })(); return 'done';",
    "Promise.resolve().then(() => { for (;;) {} }); return 'done';",
    "Promise.reject(new Error('x')).catch(() => { for (;;) {} }); return 'done';",
    "({ then(r) { for (;;) {} } }); Promise.resolve({ then() { for (;;) {} } }); return 'done';",
    "(async () => { for (;;) await null })(); return Promise.resolve('done');",
    "const m = new Uint8Array([0,97,115,109,1,0,0,0]); WebAssembly.compile(m).then(() => { for (;;) {} }); return 'done';",
];

fn leftover_job(body: &str) -> String {
    format!("(go) => {{ if (!go) return 'alive'; {body} }}")
}

#[test]
fn work_left_after_the_answer_is_charged_to_its_task_and_stopped_at_its_deadline() {
    for body in ENDLESS_LEFTOVERS {
        let mut sb = loaded(&leftover_job(body));
        let t = Instant::now();
        let r = sb.run(&with_timeout("true", 400), &mut |_| {});
        let took = t.elapsed();
        assert_eq!(kind_of(&r), TaskErrorKind::Timeout, "{body}: {r:?}");
        assert!(took >= Duration::from_millis(350), "{body}: answered after {took:?}");
        assert!(took < Duration::from_millis(2_500), "{body}: {took:?}");
        // Nothing of it runs any more, and the next task is not charged for it.
        assert_idle();
        let t = Instant::now();
        let out = sb.run(&with_timeout("false", 400), &mut |_| {}).unwrap();
        assert_eq!(out.result, br#""alive""#, "{body}");
        assert!(t.elapsed() < Duration::from_millis(300), "{body}: {:?}", t.elapsed());
        assert!(!sb.is_poisoned(), "{body}");
    }
}

#[test]
fn finite_work_left_after_the_answer_ends_inside_its_task() {
    // The leftover work finishes before the task's answer is final, so the next task sees all
    // of it and does not wait for any of it.
    let mut sb = loaded(
        "(go) => { if (go) { globalThis.n = 0; (async () => { for (let i = 0; i < 3e6; i++) { await null; globalThis.n++ } })(); return 'done' } return globalThis.n }",
    );
    let t = Instant::now();
    assert_eq!(sb.run(&with_timeout("true", 30_000), &mut |_| {}).unwrap().result, br#""done""#);
    let first = t.elapsed();
    let t = Instant::now();
    assert_eq!(sb.run(&with_timeout("false", 30_000), &mut |_| {}).unwrap().result, b"3000000");
    let second = t.elapsed();
    assert!(second < Duration::from_millis(100), "{second:?} (the first task took {first:?})");
    assert!(first > second * 3, "{first:?} {second:?}");
}

#[test]
fn load_code_that_leaves_endless_work_is_refused_as_the_jobs_error() {
    for (prefix, why) in [
        ("(async () => { for (;;) await null })();", "did not finish loading"),
        ("Promise.resolve().then(() => { for (;;) {} });", "did not finish loading"),
        ("for (;;) {}", "did not finish loading"),
        // Memory outside the heap, at load.
        (
            "globalThis.keep = []; for (let i = 0; i < 64; i++) keep.push(new Uint8Array(16 << 20).fill(1));",
            "memory cap",
        ),
        (
            "(async () => { await null; globalThis.m = new WebAssembly.Memory({ initial: 16384 }); new Uint8Array(m.buffer).fill(1) })();",
            "memory cap",
        ),
    ] {
        let code = format!("{prefix} (x) => x");
        let mut sb = Sandbox::new().unwrap();
        sb.set_load_limits(LoadLimits { timeout_ms: 1_000, heap_bytes: 128 << 20 });
        let t = Instant::now();
        let e = sb.load(ContentHash::of(code.as_bytes()), &code).unwrap_err();
        assert!(matches!(&e, Error::Job { reason } if reason.contains(why)), "{prefix}: {e:?}");
        assert!(t.elapsed() < Duration::from_secs(3), "{prefix}: {:?}", t.elapsed());
        assert_idle();
        // The sandbox still loads and runs another job.
        let ok = "(x) => x + 1";
        sb.load(ContentHash::of(ok.as_bytes()), ok).unwrap();
        assert_eq!(sb.run(&spec(1, "1", "[]"), &mut |_| {}).unwrap().result, b"2");
    }
}

#[test]
fn work_left_after_the_answer_through_the_process_is_not_charged_to_the_next_task() {
    let code = leftover_job(ENDLESS_LEFTOVERS[0]);
    let mut h = EvaluatorHandle::spawn(config()).unwrap_or_else(|e| panic!("{e}"));
    h.load_job(ContentHash::of(code.as_bytes()), &code).unwrap_or_else(|e| panic!("{e}"));
    let e = h.run(&with_timeout("true", 400), &mut |_| {}).unwrap_err();
    assert_eq!(e.task_kind(), Some(TaskErrorKind::Timeout), "{e:?}");
    let t = Instant::now();
    let out = h.run(&with_timeout("false", 400), &mut |_| {}).unwrap();
    assert_eq!(out.result, br#""alive""#);
    assert!(t.elapsed() < Duration::from_millis(300), "{:?}", t.elapsed());
    h.shutdown();
}

// ---- Memory outside the V8 heap -------------------------------------------------------------

/// Ways to take memory outside the V8 heap (about 1 GiB each, in 16 MiB steps, touched).
const OUTSIDE_THE_HEAP: [&str; 5] = [
    "const keep = []; for (let i = 0; i < 64; i++) keep.push(new Uint8Array(16 << 20).fill(1)); return keep.length;",
    "const m = new WebAssembly.Memory({ initial: 1, maximum: 32768 }); for (let i = 0; i < 64; i++) { m.grow(256); new Uint8Array(m.buffer).fill(1, i * (16 << 20)); } return m.buffer.byteLength;",
    "const s = new SharedArrayBuffer(1, { maxByteLength: 2 ** 31 }); for (let i = 1; i <= 64; i++) { s.grow(i * (16 << 20)); new Uint8Array(s).fill(1, (i - 1) * (16 << 20)); } return s.byteLength;",
    "const b = new ArrayBuffer(1, { maxByteLength: 2 ** 31 }); for (let i = 1; i <= 64; i++) { b.resize(i * (16 << 20)); new Uint8Array(b).fill(1, (i - 1) * (16 << 20)); } return b.byteLength;",
    "const keep = []; for (let i = 0; i < 64; i++) keep.push(new Float64Array(2 << 20).map((_, j) => j)); return keep.length;",
];

#[test]
fn memory_outside_the_heap_is_bounded_by_the_tasks_cap() {
    for body in OUTSIDE_THE_HEAP {
        let mut sb = loaded(&guarded(body));
        let mut s = with_timeout("true", 30_000);
        s.limits.heap_bytes = 128 << 20;
        let r = sb.run(&s, &mut |_| {});
        assert_eq!(kind_of(&r), TaskErrorKind::HeapLimit, "{body}: {r:?}");
        assert_eq!(sb.run(&spec(1, "false", "[]"), &mut |_| {}).unwrap().result, br#""alive""#);
    }
}

fn guarded(body: &str) -> String {
    format!("(bad) => {{ if (!bad) return 'alive'; {body} }}")
}

#[test]
fn filling_memory_outside_the_heap_then_allocating_is_the_jobs_heap_limit_not_a_crash() {
    // WebAssembly memory grown as far as it goes (address space, untouched), then objects.
    let code = guarded(
        "const m = new WebAssembly.Memory({ initial: 1, maximum: 65536 }); while (m.grow(1024) !== -1 && m.buffer.byteLength < 2 ** 32 - 2 ** 26) {} const a = []; for (;;) a.push({ i: a.length, s: 'x' + a.length });",
    );
    let mut h = EvaluatorHandle::spawn(config()).unwrap_or_else(|e| panic!("{e}"));
    h.load_job(ContentHash::of(code.as_bytes()), &code).unwrap_or_else(|e| panic!("{e}"));
    let mut s = with_timeout("true", 30_000);
    s.limits.heap_bytes = 64 << 20;
    let e = h.run(&s, &mut |_| {}).unwrap_err();
    assert_eq!(e.task_kind(), Some(TaskErrorKind::HeapLimit), "{e:?}");
    assert_eq!(h.run(&spec(1, "false", "[]"), &mut |_| {}).unwrap().result, br#""alive""#);
    h.shutdown();
}

// ---- Output that grows when it is sent ------------------------------------------------------

#[test]
fn the_output_cap_is_on_the_result_as_sent() {
    for (body, n) in [
        ("return '\\\\'.repeat(n);", 300_000),
        ("return '\\u0001'.repeat(n);", 160_000),
        ("return ['\"'.repeat(n)];", 300_000),
    ] {
        let mut sb = loaded(&format!("(n) => {{ {body} }}"));
        let mut s = spec(1, &n.to_string(), "[]");
        s.limits.result_bytes = 1 << 20;
        let r = sb.run(&s, &mut |_| {});
        assert_eq!(kind_of(&r), TaskErrorKind::OutputTooLarge, "{body}: {r:?}");
        // A tenth of it fits.
        s.input = (n / 10).to_string();
        assert!(sb.run(&s, &mut |_| {}).is_ok(), "{body}");
    }
}

#[test]
fn a_result_whose_frame_would_pass_the_frame_limit_is_output_too_large() {
    let code = "(n) => '\\\\'.repeat(n)";
    let mut h = EvaluatorHandle::spawn(config()).unwrap_or_else(|e| panic!("{e}"));
    h.load_job(ContentHash::of(code.as_bytes()), code).unwrap_or_else(|e| panic!("{e}"));
    let pid = h.pid();
    let mut s = spec(1, "17000000", "[]");
    s.limits.result_bytes = 100 << 20;
    s.limits.heap_bytes = 1 << 30;
    let e = h.run(&s, &mut |_| {}).unwrap_err();
    assert_eq!(e.task_kind(), Some(TaskErrorKind::OutputTooLarge), "{e:?}");
    assert_eq!(h.pid(), pid, "the process is kept");
    h.shutdown();
}

// ---- Slow paths a job can force -------------------------------------------------------------

#[test]
fn progress_and_dropped_console_calls_cost_no_memory() {
    for body in [
        "for (let i = 0; i < 2e7; i++) progress(); return 1;",
        "for (let i = 0; i < 2e7; i++) progress((i % 1000) / 1000); return 1;",
        "for (let i = 0; i < 2e6; i++) console.log('x'); return 1;",
    ] {
        let mut sb = loaded(&format!("() => {{ {body} }}"));
        let mut s = with_timeout("0", 60_000);
        s.limits.heap_bytes = 32 << 20;
        s.limits.console_bytes = 1000;
        let mut events = 0u64;
        let out = sb.run(&s, &mut |_| events += 1).unwrap_or_else(|e| panic!("{body}: {e:?}"));
        assert_eq!(out.result, b"1", "{body}");
        assert!(events < 100_000, "{body}: {events} events");
    }
}

#[test]
fn the_result_encoder_is_linear_whatever_the_fields() {
    let code = "(n, undef) => { const xs = []; for (let i = 0; i < n; i++) xs.push(undef ? { id: i, u: undefined, name: 'n' + i, f: undefined, ok: true } : { id: i, name: 'n' + i, ok: true }); return xs }";
    let mut sb = loaded(code);
    for undef in ["false", "true"] {
        let mut s = spec(1, "200000", &format!("[{undef}]"));
        s.limits.result_bytes = 64 << 20;
        let t = Instant::now();
        let out = sb.run(&s, &mut |_| {}).unwrap();
        assert!(out.result.starts_with(br#"[{"id":0,"name":"n0","ok":true},"#));
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "undefined fields {undef}: {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn progress_is_still_relayed_in_order_with_console_lines() {
    let mut sb = loaded(
        "() => { progress(0.25); console.log('a'); progress(0.75); console.log('b'); progress(1); return 1 }",
    );
    let mut events = Vec::new();
    sb.run(&spec(1, "0", "[]"), &mut |e| events.push(e)).unwrap();
    assert_eq!(
        events,
        vec![
            Event::Progress { fraction: Some(0.25) },
            Event::Console {
                level: quorate_evaluator::sandbox::ConsoleLevel::Log,
                text: "a".into()
            },
            Event::Progress { fraction: Some(0.75) },
            Event::Console {
                level: quorate_evaluator::sandbox::ConsoleLevel::Log,
                text: "b".into()
            },
            Event::Progress { fraction: Some(1.0) },
        ]
    );
}

#[test]
fn class_instances_and_disguised_buffers_encode_fast_and_by_the_documented_rule() {
    let mut sb = loaded(
        "(n) => { class P { constructor(i) { this.i = i; this.s = 'p' + i } } const xs = []; for (let i = 0; i < n; i++) xs.push(new P(i)); const ab = new ArrayBuffer(2); Object.setPrototypeOf(ab, P.prototype); const m = new Map(); Object.setPrototypeOf(m, null); class B extends Uint8Array {} return { xs: xs.length > 2 ? xs.slice(0, 2) : xs, all: xs, ab, m, b: new B(2) } }",
    );
    let mut s = spec(1, "200000", "[]");
    s.limits.result_bytes = 64 << 20;
    let t = Instant::now();
    let out = sb.run(&s, &mut |_| {}).unwrap();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let text = std::str::from_utf8(&out.result).unwrap();
    assert!(text.starts_with(r#"{"ab":{},"all":[{"i":0,"s":"p0"},"#), "{}", &text[..80]);
    assert!(
        text.ends_with(r#""b":{"$bytes":"AAA=","$type":"Uint8Array"},"m":{},"xs":[{"i":0,"s":"p0"},{"i":1,"s":"p1"}]}"#),
        "{}",
        &text[text.len() - 120..]
    );
}

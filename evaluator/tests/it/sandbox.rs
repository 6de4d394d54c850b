//! The JavaScript API and its limits, in-process.

use std::time::{Duration, Instant};

use quorate_evaluator::{
    Error, TaskErrorKind,
    sandbox::{ConsoleLevel, Event, Limits, Sandbox, TaskOutput, TaskSpec},
};
use quorate_primitives::{B256, ContentHash, ResultDigest, TaskId};

pub(crate) fn task_id(n: u8) -> TaskId {
    TaskId::from(B256::repeat_byte(n))
}

pub(crate) fn spec(n: u8, input: &str, args: &str) -> TaskSpec {
    TaskSpec {
        task_id: task_id(n),
        now_ms: 1_700_000_000_000,
        input: input.into(),
        args: args.into(),
        limits: Limits { timeout_ms: 5_000, ..Limits::default() },
    }
}

pub(crate) fn loaded(code: &str) -> Sandbox {
    let mut sb = Sandbox::new().unwrap_or_else(|e| panic!("{e}"));
    sb.load(ContentHash::of(code.as_bytes()), code).unwrap_or_else(|e| panic!("{e}"));
    sb
}

fn run(sb: &mut Sandbox, s: &TaskSpec) -> Result<TaskOutput, Error> {
    sb.run(s, &mut |_| {})
}

fn text(out: &TaskOutput) -> &str {
    std::str::from_utf8(&out.result).unwrap()
}

fn kind(r: Result<TaskOutput, Error>) -> (TaskErrorKind, String) {
    match r {
        Err(Error::Task { kind, message }) => (kind, message),
        other => panic!("expected a task error, got {other:?}"),
    }
}

const ALIVE: &str = "(x) => x";

#[test]
fn results_are_canonical_json_and_their_digest_is_keccak_of_the_bytes() {
    let mut sb = loaded(
        "(input, k) => ({ z: input.x * k, a: [1, -0, 'é\\u0000', undefined, 1e21, 0.1], m: undefined, b: { y: true, x: null } })",
    );
    let task = spec(1, r#"{"x": 3}"#, "[2]");
    let out = run(&mut sb, &task).unwrap();
    assert_eq!(text(&out), r#"{"a":[1,0,"é\u0000",null,1e+21,0.1],"b":{"x":null,"y":true},"z":6}"#);
    assert_eq!(out.digest, ResultDigest::of(task.task_id, &out.result));
}

#[test]
fn binary_values_travel_as_base64_both_ways() {
    let mut sb = loaded(
        "(input) => ({ f: new Float64Array([1.5, -2]), echo: input, u: new Uint8Array(input.buffer, 1, 2), n: input.length })",
    );
    let out = run(&mut sb, &spec(1, r#"{"$bytes":"AQID","$type":"Uint8Array"}"#, "[]")).unwrap();
    assert_eq!(
        text(&out),
        r#"{"echo":{"$bytes":"AQID","$type":"Uint8Array"},"f":{"$bytes":"AAAAAAAA+D8AAAAAAAAAwA==","$type":"Float64Array"},"n":3,"u":{"$bytes":"AgM=","$type":"Uint8Array"}}"#
    );
}

#[test]
fn math_random_and_date_are_fixed_by_the_task_so_replicas_agree() {
    let code = "() => [Math.random(), Math.random(), Date.now(), new Date().toISOString(), String(Date()).length > 0, new Intl.DateTimeFormat('en', {timeZone: 'UTC'}).format()]";
    let mut a = loaded(code);
    let mut b = loaded(code);
    let one = run(&mut a, &spec(7, "null", "[]")).unwrap();
    let again = run(&mut a, &spec(7, "null", "[]")).unwrap();
    let other_box = run(&mut b, &spec(7, "null", "[]")).unwrap();
    assert_eq!(one.result, again.result);
    assert_eq!(one.result, other_box.result);
    assert!(text(&one).contains("1700000000000"), "{}", text(&one));
    assert!(text(&one).contains("2023-11-14T22:13:20.000Z"), "{}", text(&one));
    assert!(text(&one).contains("11/14/2023"), "{}", text(&one));
    let other_task = run(&mut a, &spec(8, "null", "[]")).unwrap();
    assert_ne!(one.result, other_task.result);
}

#[test]
fn promises_are_awaited() {
    let mut sb = loaded(
        "async (x) => { await null; const y = await Promise.resolve(x + 1); return { y }; }",
    );
    let out = run(&mut sb, &spec(1, "41", "[]")).unwrap();
    assert_eq!(text(&out), r#"{"y":42}"#);
    let mut sb = loaded("async () => { throw new RangeError('nope') }");
    let (k, m) = kind(run(&mut sb, &spec(1, "0", "[]")));
    assert_eq!(k, TaskErrorKind::Threw);
    assert!(m.contains("RangeError: nope"), "{m}");
}

#[test]
fn a_promise_that_never_settles_is_an_error_at_the_deadline() {
    let mut sb = loaded("() => new Promise(() => {})");
    let mut s = spec(1, "0", "[]");
    s.limits.timeout_ms = 300;
    let (k, _) = kind(run(&mut sb, &s));
    assert_eq!(k, TaskErrorKind::NeverSettled);
}

#[test]
fn thrown_errors_and_non_errors_are_described() {
    for (code, expect) in [
        ("() => { throw new TypeError('bad thing') }", "TypeError: bad thing"),
        ("() => { throw 42 }", "uncaught non-error value: 42"),
        ("() => { throw null }", "uncaught non-error value: null"),
        ("() => { throw 'text' }", "uncaught string: text"),
        ("() => { throw { a: [1] } }", r#"uncaught non-error value: {"a":[1]}"#),
        ("() => { throw Object.create(null) }", "uncaught non-error value: {}"),
    ] {
        let mut sb = loaded(code);
        let (k, m) = kind(run(&mut sb, &spec(1, "0", "[]")));
        assert_eq!(k, TaskErrorKind::Threw, "{code}");
        assert!(m.contains(expect), "{code}: {m}");
        // The sandbox stays usable: the same task fails the same way again.
        assert_eq!(kind(run(&mut sb, &spec(1, "0", "[]"))), (k, m), "{code}");
    }
}

#[test]
fn results_that_cannot_be_encoded_are_clear_errors() {
    for (code, expect) in [
        ("() => NaN", "non-finite"),
        ("() => ({ a: [Infinity] })", "non-finite number Infinity at $.a[0]"),
        ("() => 10n", "BigInt"),
        ("() => new Map()", "Map"),
        ("() => { const a = {}; a.self = a; return a }", "cycle at $.self"),
        ("() => { let a = []; for (let i = 0; i < 2000; i++) a = [a]; return a }", "nested deeper"),
    ] {
        let mut sb = loaded(code);
        let (k, m) = kind(run(&mut sb, &spec(1, "0", "[]")));
        assert_eq!(k, TaskErrorKind::BadResult, "{code}: {m}");
        assert!(m.contains(expect), "{code}: {m}");
    }
}

#[test]
fn bad_input_is_rejected() {
    let mut sb = loaded(ALIVE);
    assert_eq!(kind(run(&mut sb, &spec(1, "{nope", "[]"))).0, TaskErrorKind::BadInput);
    assert_eq!(kind(run(&mut sb, &spec(1, "1", "{}"))).0, TaskErrorKind::BadInput);
    assert_eq!(text(&run(&mut sb, &spec(1, "[1]", "[]")).unwrap()), "[1]");
}

#[test]
fn code_must_match_its_hash_and_define_a_work_function() {
    let mut sb = Sandbox::new().unwrap();
    let e = sb.load(ContentHash::of(b"other"), ALIVE).unwrap_err();
    assert!(matches!(e, Error::Job { .. }), "{e:?}");
    let e = sb.load(ContentHash::of(b"42"), "42").unwrap_err();
    assert!(e.to_string().contains("work"), "{e}");
    let e = sb.load(ContentHash::of(b"(("), "((").unwrap_err();
    assert!(matches!(e, Error::Job { .. }), "{e:?}");
    let code = "function work(a) { return a * 2 }";
    sb.load(ContentHash::of(code.as_bytes()), code).unwrap();
    assert_eq!(text(&run(&mut sb, &spec(1, "21", "[]")).unwrap()), "42");
}

#[test]
fn no_host_access_but_webassembly_works() {
    let mut sb = loaded(
        "() => [typeof fetch, typeof require, typeof setTimeout, typeof setInterval, typeof process, typeof XMLHttpRequest, typeof WeakRef, typeof Atomics.waitAsync, typeof Temporal?.Now]",
    );
    let out = run(&mut sb, &spec(1, "0", "[]")).unwrap();
    assert_eq!(
        text(&out),
        r#"["undefined","undefined","undefined","undefined","undefined","undefined","undefined","undefined","undefined"]"#
    );
    // (module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))
    let wasm = "(a, b) => { const bytes = new Uint8Array([0,97,115,109,1,0,0,0,1,7,1,96,2,127,127,1,127,3,2,1,0,7,7,1,3,97,100,100,0,0,10,9,1,7,0,32,0,32,1,106,11]); const m = new WebAssembly.Instance(new WebAssembly.Module(bytes)); return m.exports.add(a, b) }";
    let mut sb = loaded(wasm);
    assert_eq!(text(&run(&mut sb, &spec(1, "40", "[2]")).unwrap()), "42");
}

#[test]
fn an_infinite_loop_times_out_and_the_sandbox_is_usable_after() {
    let mut sb = loaded("(x) => { if (x) while (true) {} return 'alive' }");
    let mut s = spec(1, "true", "[]");
    s.limits.timeout_ms = 200;
    let t = Instant::now();
    assert_eq!(kind(run(&mut sb, &s)).0, TaskErrorKind::Timeout);
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!(text(&run(&mut sb, &spec(1, "false", "[]")).unwrap()), r#""alive""#);
}

#[test]
fn a_memory_bomb_hits_the_heap_cap_and_the_sandbox_is_usable_after() {
    let mut sb = loaded(
        "(x) => { if (x) { const a = []; for (let i = 0; ; i++) a.push('x'.repeat(50) + i) } return 'alive' }",
    );
    let mut s = spec(1, "true", "[]");
    s.limits.heap_bytes = 64 << 20;
    s.limits.timeout_ms = 20_000;
    let (k, m) = kind(run(&mut sb, &s));
    assert_eq!(k, TaskErrorKind::HeapLimit, "{m}");
    assert_eq!(text(&run(&mut sb, &spec(1, "false", "[]")).unwrap()), r#""alive""#);
}

#[test]
fn deep_recursion_is_a_range_error_and_the_sandbox_is_usable_after() {
    let mut sb = loaded("(x) => { const f = (n) => f(n + 1) + 1; return x ? f(0) : 'alive' }");
    let (k, m) = kind(run(&mut sb, &spec(1, "true", "[]")));
    assert_eq!(k, TaskErrorKind::Threw);
    assert!(m.contains("Maximum call stack size exceeded"), "{m}");
    assert_eq!(text(&run(&mut sb, &spec(1, "false", "[]")).unwrap()), r#""alive""#);
}

#[test]
fn huge_output_is_refused_at_the_cap() {
    let mut sb = loaded("(n) => 'x'.repeat(n)");
    let mut s = spec(1, "100000", "[]");
    s.limits.result_bytes = 10_000;
    assert_eq!(kind(run(&mut sb, &s)).0, TaskErrorKind::OutputTooLarge);
    let mut sb = loaded("(n) => new Uint8Array(n)");
    let mut s = spec(1, "100000", "[]");
    s.limits.result_bytes = 10_000;
    assert_eq!(kind(run(&mut sb, &s)).0, TaskErrorKind::OutputTooLarge);
    s.input = "1000".into();
    assert!(run(&mut sb, &s).is_ok());
}

#[test]
fn progress_and_console_are_relayed_and_console_is_capped() {
    let mut sb = loaded(
        "() => { progress(0.5); console.log('hi', 1, {b: 2, a: [true]}); console.warn('w'); console.error(new Error('e')); progress(); for (let i = 0; i < 1000; i++) console.log('x'.repeat(100)); return 1 }",
    );
    let mut events = Vec::new();
    let mut s = spec(1, "0", "[]");
    s.limits.console_bytes = 1000;
    let out = sb.run(&s, &mut |e| events.push(e)).unwrap();
    assert_eq!(events[0], Event::Progress { fraction: Some(0.5) });
    assert_eq!(
        events[1],
        Event::Console { level: ConsoleLevel::Log, text: r#"hi 1 {"a":[true],"b":2}"#.into() }
    );
    assert_eq!(events[2], Event::Console { level: ConsoleLevel::Warn, text: "w".into() });
    assert!(
        matches!(&events[3], Event::Console { level: ConsoleLevel::Error, text } if text.starts_with("Error: e"))
    );
    assert_eq!(events[4], Event::Progress { fraction: None });
    let console_bytes: usize = events
        .iter()
        .map(|e| if let Event::Console { text, .. } = e { text.len() } else { 0 })
        .sum();
    assert!(console_bytes <= 1000, "{console_bytes}");
    assert!(out.dropped_events > 0);
}

#[test]
fn the_progress_watchdog_stops_silent_work_but_not_chatty_work() {
    let mut sb = loaded(
        "(chatty) => { let s = 0; for (let i = 0; i < 4e8; i++) { s += i; if (chatty && i % 1e6 === 0) progress(i / 4e8) } return 1 }",
    );
    let mut s = spec(1, "false", "[]");
    s.limits.progress_watchdog_ms = Some(100);
    s.limits.timeout_ms = 30_000;
    let t = Instant::now();
    assert_eq!(kind(run(&mut sb, &s)).0, TaskErrorKind::ProgressStalled);
    assert!(t.elapsed() < Duration::from_secs(5));
    s.input = "true".into();
    s.limits.progress_watchdog_ms = Some(2_000);
    if let Err(e) = run(&mut sb, &s) {
        panic!("{e:?}");
    }
}

#[test]
fn tampering_with_the_api_and_prototypes_cannot_break_the_runtime() {
    let code = r#"
        Object.prototype.toJSON = function () { return 'hijacked' };
        Array.prototype.push = null; Array.prototype.sort = null; JSON.stringify = null; JSON.parse = null;
        String.prototype.charCodeAt = null; String.prototype.slice = null; String.prototype.indexOf = null;
        Object.keys = null; Reflect.apply = null; Function.prototype.apply = null; Function.prototype.call = null;
        Set.prototype.has = null; Promise.prototype.then = function () { throw new Error('no then') };
        Math.random = () => 4; console.log = null; globalThis.progress = 'nope';
        Object.defineProperty(Array.prototype, '0', { set() { throw new Error('setter') }, configurable: true });
        (input) => ({ b: input.v, a: [Math.random()] })
    "#;
    let mut sb = loaded(code);
    // Object.prototype.toJSON applies to every object, as in JSON.stringify: the job asked for it.
    let out = run(&mut sb, &spec(1, r#"{"v":1}"#, "[]")).unwrap();
    assert_eq!(text(&out), r#""hijacked""#);
    let mut sb =
        loaded(&code.replace("Object.prototype.toJSON = function () { return 'hijacked' };", ""));
    // Math.random is the runtime's again when the task starts (the API is reinstalled).
    let out = run(&mut sb, &spec(1, r#"{"v":1}"#, "[]")).unwrap();
    let t = text(&out);
    assert!(t.starts_with(r#"{"a":[0."#) && t.ends_with(r#"],"b":1}"#), "{t}");
    let out = run(&mut sb, &spec(2, r#"{"v":2}"#, "[]")).unwrap();
    let t = text(&out);
    assert!(t.starts_with(r#"{"a":[0."#) && t.ends_with(r#"],"b":2}"#), "{t}");
}

#[test]
fn loading_another_job_starts_from_a_clean_context_and_reset_clears_state() {
    let mut sb = loaded("globalThis.n = (globalThis.n || 0); () => ++globalThis.n");
    assert_eq!(text(&run(&mut sb, &spec(1, "0", "[]")).unwrap()), "1");
    assert_eq!(text(&run(&mut sb, &spec(1, "0", "[]")).unwrap()), "2");
    sb.reset().unwrap();
    assert_eq!(text(&run(&mut sb, &spec(1, "0", "[]")).unwrap()), "1");
    let other = "() => typeof globalThis.n";
    sb.load(ContentHash::of(other.as_bytes()), other).unwrap();
    assert_eq!(text(&run(&mut sb, &spec(1, "0", "[]")).unwrap()), r#""undefined""#);
}

#[test]
fn running_without_a_job_is_an_error() {
    let mut sb = Sandbox::new().unwrap();
    assert_eq!(kind(run(&mut sb, &spec(1, "0", "[]"))).0, TaskErrorKind::NoJob);
}

//! Regression tests for the findings of the evaluator's security review.

use std::time::{Duration, Instant};

use quorate_evaluator::{
    Error, TaskErrorKind,
    client::EvaluatorHandle,
    sandbox::{Event, Sandbox, TaskOutput},
};
use quorate_primitives::ContentHash;

use crate::{
    process::config,
    sandbox::{loaded, spec},
};

fn run(sb: &mut Sandbox, input: &str) -> Result<TaskOutput, Error> {
    sb.run(&spec(1, input, "[]"), &mut |_| {})
}

fn kind_of(r: Result<TaskOutput, Error>) -> TaskErrorKind {
    match r {
        Err(Error::Task { kind, .. }) => kind,
        other => panic!("expected a task error, got {other:?}"),
    }
}

/// Each snippet runs when the input is true; with false the job answers "alive", so the same
/// sandbox shows it is still usable.
fn guarded(body: &str) -> String {
    format!("(bad) => {{ if (!bad) return 'alive'; {body} }}")
}

const HOSTILE: [(&str, TaskErrorKind); 8] = [
    ("return { get then() { throw new Error('boom') } };", TaskErrorKind::Threw),
    (
        "return { toJSON() { throw new Proxy({}, { getPrototypeOf() { throw 9 } }) } };",
        TaskErrorKind::Threw,
    ),
    (
        "globalThis.RangeError = class { static [Symbol.hasInstance]() { throw 7 } }; return { toJSON() { throw new Error('mine') } };",
        TaskErrorKind::Threw,
    ),
    (
        "globalThis.RangeError = class { static [Symbol.hasInstance]() { return true } }; return { toJSON() { throw new Error('mine') } };",
        TaskErrorKind::Threw,
    ),
    (
        "Object.defineProperty(RangeError, Symbol.hasInstance, { value() { return true } }); return { toJSON() { throw new Error('mine') } };",
        TaskErrorKind::Threw,
    ),
    (
        "return Promise.resolve({ toJSON() { throw new Proxy({}, { getPrototypeOf() { throw 9 } }) } });",
        TaskErrorKind::Threw,
    ),
    (
        "globalThis.RangeError = class { static [Symbol.hasInstance]() { throw 7 } }; return Promise.resolve({ toJSON() { throw new Error('mine') } });",
        TaskErrorKind::Threw,
    ),
    ("return Promise.resolve([NaN]);", TaskErrorKind::BadResult),
];

#[test]
fn a_hostile_result_is_the_jobs_own_error_and_the_sandbox_survives() {
    for (body, want) in HOSTILE {
        let mut sb = loaded(&guarded(body));
        assert_eq!(kind_of(run(&mut sb, "true")), want, "{body}");
        assert_eq!(run(&mut sb, "false").unwrap().result, br#""alive""#, "{body}");
    }
}

#[test]
fn a_replaced_promise_has_instance_does_not_reach_the_runtime() {
    // The runtime no longer asks `instanceof Promise`: the job's value is its result.
    let mut sb = loaded(&guarded(
        "Object.defineProperty(Promise, Symbol.hasInstance, { value() { throw 1 } }); return 1;",
    ));
    assert_eq!(run(&mut sb, "true").unwrap().result, b"1");
    assert_eq!(run(&mut sb, "false").unwrap().result, br#""alive""#);
}

#[test]
fn a_hostile_result_through_the_process_keeps_the_process() {
    let code = guarded(
        "if (bad === 1) return { get then() { throw new Error('boom') } }; return { toJSON() { throw new Proxy({}, { getPrototypeOf() { throw 9 } }) } };",
    );
    let mut h = EvaluatorHandle::spawn(config()).unwrap_or_else(|e| panic!("{e}"));
    h.load_job(ContentHash::of(code.as_bytes()), &code).unwrap_or_else(|e| panic!("{e}"));
    let pid = h.pid();
    for input in ["1", "2"] {
        let e = h.run(&spec(1, input, "[]"), &mut |_| {}).unwrap_err();
        assert_eq!(e.task_kind(), Some(TaskErrorKind::Threw), "{e:?}");
        assert_eq!(h.pid(), pid);
    }
    assert_eq!(h.run(&spec(1, "false", "[]"), &mut |_| {}).unwrap().result, br#""alive""#);
    assert_eq!(h.pid(), pid);
    h.shutdown();
}

const TAMPERING: &str = r#"(evil) => {
  if (evil === 1) {
    Math.random = () => 0.5;
    progress = () => { throw new Error('no progress') };
    console.log = () => { throw new Error('no console') };
    Date.now = () => 1;
    globalThis.Date = function () { return 'fake' };
    gpu.compute = () => 'fake';
    return 0;
  }
  if (evil === 2) {
    delete globalThis.console;
    Object.freeze(Math);
    Object.freeze(globalThis);
    return 0;
  }
  console.log('hi');
  return [Math.random(), Math.random(), Date.now(), new Date().toISOString(), Date(), progress(0.5),
    typeof gpu.compute(), typeof console.warn];
}"#;

#[test]
fn a_task_sees_the_runtimes_api_whatever_an_earlier_task_did_to_it() {
    let fresh = run(&mut loaded(TAMPERING), "0").unwrap();
    for evil in ["1", "2"] {
        let mut sb = loaded(TAMPERING);
        run(&mut sb, evil).unwrap();
        let mut events = Vec::new();
        let out = sb.run(&spec(1, "0", "[]"), &mut |e| events.push(e)).unwrap();
        assert_eq!(
            std::str::from_utf8(&out.result).unwrap(),
            std::str::from_utf8(&fresh.result).unwrap(),
            "after task {evil}"
        );
        assert!(
            events.iter().any(|e| matches!(e, Event::Console { text, .. } if text == "hi")),
            "{events:?}"
        );
    }
}

#[test]
fn float_typed_arrays_write_every_nan_as_the_canonical_quiet_nan() {
    // Each array holds: NaN with a payload, -NaN, a signalling NaN, an infinity and 1.5; the
    // NaNs are written through a byte view, so their bits are exactly these.
    let mut sb = loaded(
        r#"() => {
          const f64 = new Float64Array(5), f32 = new Float32Array(5), f16 = new Float16Array(5);
          const d64 = new DataView(f64.buffer), d32 = new DataView(f32.buffer), b16 = new Uint8Array(f16.buffer);
          d64.setBigUint64(0, 0x7ff8000000000123n, true);
          d64.setBigUint64(8, 0xfff8000000000000n, true);
          d64.setBigUint64(16, 0x7ff0000000000001n, true);
          f64[3] = -Infinity; f64[4] = 1.5;
          d32.setUint32(0, 0x7fc00123, true);
          d32.setUint32(4, 0xffc00000, true);
          d32.setUint32(8, 0x7f800001, true);
          f32[3] = Infinity; f32[4] = 1.5;
          b16.set([0x23, 0x7e, 0x00, 0xfe, 0x01, 0x7c]);
          f16[3] = Infinity; f16[4] = 1.5;
          const raw = new Uint8Array(f64.buffer).slice();
          return { f64, f32, f16, raw, sub: f64.subarray(1, 2) };
        }"#,
    );
    let out = run(&mut sb, "0").unwrap();
    let b64 = |bytes: &[u8]| quorate_evaluator::gpu::base64_encode(bytes);
    let mut f64s = Vec::new();
    for bits in [0x7ff8_0000_0000_0000u64; 3] {
        f64s.extend(bits.to_le_bytes());
    }
    f64s.extend(f64::NEG_INFINITY.to_le_bytes());
    f64s.extend(1.5f64.to_le_bytes());
    let mut f32s = Vec::new();
    for bits in [0x7fc0_0000u32; 3] {
        f32s.extend(bits.to_le_bytes());
    }
    f32s.extend(f32::INFINITY.to_le_bytes());
    f32s.extend(1.5f32.to_le_bytes());
    let f16s = [0x00, 0x7e, 0x00, 0x7e, 0x00, 0x7e, 0x00, 0x7c, 0x00, 0x3e];
    let mut raw = Vec::new();
    for bits in [0x7ff8_0000_0000_0123u64, 0xfff8_0000_0000_0000, 0x7ff0_0000_0000_0001] {
        raw.extend(bits.to_le_bytes());
    }
    raw.extend(f64::NEG_INFINITY.to_le_bytes());
    raw.extend(1.5f64.to_le_bytes());
    let want = format!(
        r#"{{"f16":{{"$bytes":"{}","$type":"Float16Array"}},"f32":{{"$bytes":"{}","$type":"Float32Array"}},"f64":{{"$bytes":"{}","$type":"Float64Array"}},"raw":{{"$bytes":"{}","$type":"Uint8Array"}},"sub":{{"$bytes":"{}","$type":"Float64Array"}}}}"#,
        b64(&f16s),
        b64(&f32s),
        b64(&f64s),
        b64(&raw),
        b64(&0x7ff8_0000_0000_0000u64.to_le_bytes()),
    );
    assert_eq!(std::str::from_utf8(&out.result).unwrap(), want);
}

#[test]
fn a_nan_computed_by_the_job_encodes_the_same_in_every_tier() {
    let mut sb = loaded(
        "(input) => { const t = new Float64Array(1); t[0] = [input.a / input.b][0]; return t; }",
    );
    for _ in 0..20 {
        let out = run(&mut sb, r#"{"a":0,"b":0}"#).unwrap();
        assert_eq!(out.result, br#"{"$bytes":"AAAAAAAA+H8=","$type":"Float64Array"}"#);
    }
}

#[test]
fn the_float_probe_hashes_raw_f64_bytes_including_nans() {
    let rt = quorate_evaluator::engine::Runtime::global().unwrap();
    let bytes = quorate_evaluator::server::float_probe(rt).unwrap();
    assert_eq!(bytes.len() % 8, 0);
    let values: Vec<f64> =
        bytes.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect();
    assert!(values.len() > 400, "{}", values.len());
    assert!(values.iter().filter(|v| v.is_nan()).count() >= 5);
    assert_eq!(bytes, quorate_evaluator::server::float_probe(rt).unwrap());
    let caps = quorate_evaluator::server::capabilities(rt, None).unwrap();
    assert_eq!(caps.float_probe, quorate_primitives::keccak256(&bytes).to_string());
}

#[test]
fn a_settlement_is_never_lost_behind_a_flood_of_console_lines() {
    // The consumer stalls on the first event long enough for the job to fill the event queue
    // and settle behind it; the settlement must still be seen.
    let mut sb = loaded(
        "async () => { await null; for (let i = 0; i < 3000; i++) console.log(''); return 'done'; }",
    );
    let mut s = spec(1, "0", "[]");
    s.limits.timeout_ms = 4_000;
    let t = Instant::now();
    let mut first = true;
    let out = sb
        .run(&s, &mut |_| {
            if std::mem::take(&mut first) {
                std::thread::sleep(Duration::from_millis(700));
            }
        })
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(out.result, br#""done""#);
    assert!(out.dropped_events > 0);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

const ENDLESS_CONTINUATIONS: &str =
    "async (spin) => { if (!spin) return 'alive'; for (;;) await null; }";

#[test]
fn endless_promise_continuations_end_at_the_deadline_and_are_stopped() {
    let mut sb = loaded(ENDLESS_CONTINUATIONS);
    let mut s = spec(1, "true", "[]");
    s.limits.timeout_ms = 500;
    let t = Instant::now();
    assert_eq!(kind_of(sb.run(&s, &mut |_| {})), TaskErrorKind::NeverSettled);
    assert!(t.elapsed() < Duration::from_millis(1_500), "{:?}", t.elapsed());
    // Discarding the context terminated them: nothing is left running to poison the sandbox.
    assert!(!sb.is_poisoned());
    // The sandbox still answers on a fresh context.
    assert_eq!(run(&mut sb, "false").unwrap().result, br#""alive""#);
}

#[test]
fn a_promise_that_never_settles_leaves_a_fresh_usable_context() {
    let mut sb = loaded(
        "(never) => { globalThis.n = (globalThis.n || 0) + 1; return never ? new Promise(() => {}) : globalThis.n; }",
    );
    let mut s = spec(1, "true", "[]");
    s.limits.timeout_ms = 200;
    assert_eq!(kind_of(sb.run(&s, &mut |_| {})), TaskErrorKind::NeverSettled);
    assert!(!sb.is_poisoned());
    assert_eq!(run(&mut sb, "false").unwrap().result, b"1");
}

#[test]
fn endless_promise_continuations_through_the_process_are_never_settled_and_replaced() {
    let mut h = EvaluatorHandle::spawn(config()).unwrap_or_else(|e| panic!("{e}"));
    h.load_job(ContentHash::of(ENDLESS_CONTINUATIONS.as_bytes()), ENDLESS_CONTINUATIONS)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut s = spec(1, "true", "[]");
    s.limits.timeout_ms = 500;
    let t = Instant::now();
    let e = h.run(&s, &mut |_| {}).unwrap_err();
    assert_eq!(e.task_kind(), Some(TaskErrorKind::NeverSettled), "{e:?}");
    assert!(t.elapsed() < Duration::from_millis(1_500), "{:?}", t.elapsed());
    assert_eq!(h.run(&spec(1, "false", "[]"), &mut |_| {}).unwrap().result, br#""alive""#);
    h.shutdown();
}

#[test]
fn a_gpu_read_list_is_capped_at_the_number_of_buffers() {
    use quorate_evaluator::gpu::Request;
    let ok = r#"{"code":"x","data":["AQIDBA=="],"entryPoint":"main","id":7,"read":[0],"sizes":[4],"workgroups":[1,1,1]}"#;
    assert!(Request::parse(ok).is_ok());
    assert!(Request::parse(&ok.replace("[0]", "[0,0]")).is_err());
    // The runtime rejects it before making a request (where there is an adapter).
    let Some(gpu) = quorate_evaluator::gpu::Gpu::open().unwrap_or_else(|e| panic!("{e}")) else {
        return;
    };
    let mut sb = loaded(
        "async () => { try { await gpu.compute({ code: '', workgroups: [1], buffers: [{ size: 4 }], read: [0, 0] }); return 'ran' } catch (e) { return e.message } }",
    );
    sb.set_gpu(Some(std::sync::Arc::new(gpu)));
    let out = sb.run(&spec(1, "0", "[]"), &mut |_| {}).unwrap();
    let text = std::str::from_utf8(&out.result).unwrap();
    assert!(text.contains("read lists at most"), "{text}");
}

#[test]
fn a_job_that_freezes_the_api_when_loaded_still_runs_every_task_the_same() {
    let code =
        "Object.freeze(Math); Object.freeze(globalThis); (evil) => [Math.random(), Date.now()]";
    let fresh = run(&mut loaded(code), "0").unwrap();
    let mut sb = loaded(code);
    for _ in 0..3 {
        assert_eq!(run(&mut sb, "0").unwrap().result, fresh.result);
    }
}

#[test]
fn a_get_on_object_prototype_does_not_break_the_runtimes_descriptors() {
    let mut sb = loaded(
        "Object.prototype.get = function () { return 1 }; (x, y) => { delete Object.prototype.get; return [x, y, typeof console.log] }",
    );
    let out = sb.run(&spec(1, "1", "[2]"), &mut |_| {}).unwrap();
    assert_eq!(out.result, br#"[1,2,"function"]"#);
    let out = sb.run(&spec(1, "1", "[2]"), &mut |_| {}).unwrap();
    assert_eq!(out.result, br#"[1,2,"function"]"#);
}

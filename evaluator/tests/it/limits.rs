//! Load limits, memory given back after a task, GPU deadlines, and results that must be the
//! same bytes in every fresh process.

use std::time::{Duration, Instant};

use quorate_evaluator::{
    TaskErrorKind,
    client::{EvaluatorHandle, Pool},
    sandbox::{LoadLimits, Sandbox},
};
use quorate_primitives::ContentHash;

use crate::{
    process::config,
    sandbox::{loaded, spec},
};

/// A job whose code spins for a while when loaded, then answers `x`, or loops forever when `x`
/// is true.
const SLOW_LOAD: &str = "let s = 0; for (let i = 0; i < 3e8; i++) s = (s + i) | 0; (x) => { if (x === true) for (;;) {} return s === 1 ? -1 : x }";

#[test]
fn a_timed_out_task_does_not_wait_for_the_job_to_load_again() {
    let mut sb = Sandbox::new().unwrap();
    let t = Instant::now();
    sb.load(ContentHash::of(SLOW_LOAD.as_bytes()), SLOW_LOAD).unwrap();
    let load_time = t.elapsed();
    let mut s = spec(1, "true", "[]");
    s.limits.timeout_ms = 200;
    let t = Instant::now();
    let e = sb.run(&s, &mut |_| {}).unwrap_err();
    assert_eq!(e.task_kind(), Some(TaskErrorKind::Timeout), "{e:?}");
    let took = t.elapsed();
    assert!(load_time > Duration::from_millis(400), "the job loads in {load_time:?}");
    assert!(
        took < Duration::from_millis(200) + load_time / 2,
        "a 200 ms task took {took:?} (a load takes {load_time:?})"
    );
    // The next task loads the job again first, and runs.
    assert_eq!(sb.run(&spec(1, "7", "[]"), &mut |_| {}).unwrap().result, b"7");
}

#[test]
fn a_reload_past_the_load_limit_is_the_tasks_load_failed() {
    let mut sb = loaded(SLOW_LOAD);
    // A task whose context must be replaced, then a reload that cannot finish within a load
    // limit tighter than the job's load time: that task fails as `load_failed`, promptly.
    let mut s = spec(1, "true", "[]");
    s.limits.timeout_ms = 200;
    assert_eq!(sb.run(&s, &mut |_| {}).unwrap_err().task_kind(), Some(TaskErrorKind::Timeout));
    sb.set_load_limits(LoadLimits { timeout_ms: 20, ..LoadLimits::default() });
    let t = Instant::now();
    let e = sb.run(&spec(1, "5", "[]"), &mut |_| {}).unwrap_err();
    assert_eq!(e.task_kind(), Some(TaskErrorKind::LoadFailed), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    sb.set_load_limits(LoadLimits::default());
    assert_eq!(sb.run(&spec(1, "5", "[]"), &mut |_| {}).unwrap().result, b"5");
}

#[test]
fn a_dead_handle_loading_another_job_does_not_run_the_old_jobs_code() {
    let pool = Pool::new(1, &config()).unwrap();
    let slow_hash = ContentHash::of(SLOW_LOAD.as_bytes());
    let t = Instant::now();
    pool.run(slow_hash, SLOW_LOAD, &spec(1, "3", "[]"), &mut |_| {}, Duration::from_secs(30))
        .unwrap();
    let slow_time = t.elapsed();
    pool.checkout(Duration::from_secs(5)).unwrap().kill();
    let quick = "(x) => x * 2";
    let t = Instant::now();
    let out = pool
        .run(
            ContentHash::of(quick.as_bytes()),
            quick,
            &spec(1, "4", "[]"),
            &mut |_| {},
            Duration::from_secs(30),
        )
        .unwrap();
    assert_eq!(out.result, b"8");
    let quick_time = t.elapsed();
    assert!(
        quick_time < slow_time,
        "respawn and load took {quick_time:?}, the slow job {slow_time:?}"
    );
}

#[test]
fn memory_a_task_leaves_behind_is_given_back() {
    for body in [
        // Garbage: freed by a collection after the task.
        "const keep = []; for (let i = 0; i < 32; i++) keep.push(new Uint8Array(16 << 20).fill(1)); return keep.length;",
        // Kept alive by the job: the context is replaced.
        "globalThis.keep = []; for (let i = 0; i < 32; i++) globalThis.keep.push(new Uint8Array(16 << 20).fill(1)); return 32;",
        "globalThis.m = new WebAssembly.Memory({ initial: 8192 }); new Uint8Array(globalThis.m.buffer).fill(1); return 1;",
    ] {
        let mut sb = loaded(&format!("(go) => {{ if (!go) return 0; {body} }}"));
        sb.run(&spec(1, "false", "[]"), &mut |_| {}).unwrap();
        let idle = sb.resident_bytes().unwrap();
        let mut s = spec(1, "true", "[]");
        s.limits.heap_bytes = 1 << 30;
        s.limits.timeout_ms = 30_000;
        sb.run(&s, &mut |_| {}).unwrap_or_else(|e| panic!("{body}: {e:?}"));
        let after = sb.resident_bytes().unwrap();
        assert!(
            after < idle + (96 << 20),
            "{body}: {} MiB resident after the task, {} MiB idle",
            after >> 20,
            idle >> 20
        );
        assert_eq!(sb.run(&spec(1, "false", "[]"), &mut |_| {}).unwrap().result, b"0");
    }
}

/// Probes whose results are the same bytes (or the same failure) in every process.
const PROBES: [(&str, &str); 4] = [
    // A NaN made cold and hot, written through a Float64Array.
    (
        "(n) => { const t = new Float64Array(n); for (let i = 0; i < n; i++) { const z = i - i; t[i] = z / z } return t }",
        "20000",
    ),
    // How much can be allocated before it fails: always the task's memory cap.
    (
        "() => { const keep = []; for (let n = 1; ; n *= 2) { try { keep.push(new ArrayBuffer(n)) } catch (e) { return n } } }",
        "0",
    ),
    (
        "() => { const keep = []; for (;;) { try { keep.push(new Float64Array(1 << 24)) } catch (e) { return keep.length } } }",
        "0",
    ),
    (
        "() => { const m = new WebAssembly.Memory({ initial: 1, maximum: 65536 }); let pages = 1; while (m.grow(256) !== -1) pages += 256; return pages }",
        "0",
    ),
];

fn probe_results(h: &mut EvaluatorHandle) -> Vec<String> {
    PROBES
        .iter()
        .map(|(code, input)| {
            h.load_job(ContentHash::of(code.as_bytes()), code).unwrap();
            let mut s = spec(1, input, "[]");
            s.limits.heap_bytes = 256 << 20;
            s.limits.timeout_ms = 30_000;
            match h.run(&s, &mut |_| {}) {
                Ok(out) => format!("ok {}", quorate_primitives::keccak256(&out.result)),
                Err(e) => format!("error {:?}", e.task_kind()),
            }
        })
        .collect()
}

#[test]
fn probes_give_the_same_bytes_in_every_fresh_process() {
    let runs: Vec<Vec<String>> = (0..3)
        .map(|_| {
            let mut h = EvaluatorHandle::spawn(config()).unwrap();
            let r = probe_results(&mut h);
            h.shutdown();
            r
        })
        .collect();
    assert_eq!(runs[0], runs[1]);
    assert_eq!(runs[0], runs[2]);
    // The allocation probes end at the memory cap, not at what the process could get.
    for r in runs[0].iter().skip(1) {
        assert_eq!(r, "error Some(HeapLimit)", "{runs:?}");
    }
}

#[test]
fn a_shader_that_never_ends_is_bounded_by_the_tasks_deadline() {
    let Some(gpu) = quorate_evaluator::gpu::Gpu::open().unwrap_or_else(|e| panic!("{e}")) else {
        return;
    };
    // Each invocation spins until a word nobody writes changes (atomics: nothing is hoisted);
    // drivers that cut loops short still have 4e9 workgroups to run.
    let mut sb = loaded(
        "async () => { await gpu.compute({ code: '@group(0) @binding(0) var<storage, read_write> b: array<atomic<u32>>; @compute @workgroup_size(64) fn main() { loop { if (atomicLoad(&b[100]) == 1u) { break; } atomicAdd(&b[0], 1u); } }', workgroups: [65535, 65535], buffers: [{ size: 512 }] }); return 'ended' }",
    );
    sb.set_gpu(Some(std::sync::Arc::new(gpu)));
    let mut s = spec(1, "0", "[]");
    s.limits.timeout_ms = 1_000;
    let t = Instant::now();
    let e = sb.run(&s, &mut |_| {}).unwrap_err();
    assert_eq!(e.task_kind(), Some(TaskErrorKind::Timeout), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(sb.is_poisoned());
    // The device is still busy with the shader: dropping it could wait for it. The process
    // that owns such a sandbox exits without dropping it (see the binary).
    std::mem::forget(sb);
}

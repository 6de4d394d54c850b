//! Job manifests: one encoding per manifest, read back exactly, anything else refused; task
//! outcomes as the bytes voted on.

use proptest::prelude::*;
use quorate_primitives::{
    ContentHash, EvaluatorKind, GpuNeeds, JobLimits, JobManifest, Module, TaskOutcome,
    job::{MANIFEST_VERSION, MAX_ARGS_BYTES},
};

fn manifest(inputs: usize) -> JobManifest {
    JobManifest {
        evaluator: EvaluatorKind::JavaScript,
        limits: JobLimits::default(),
        gpu: GpuNeeds::NONE,
        code: ContentHash::of(b"(x) => x * 2"),
        args: "[1,\"two\"]".into(),
        modules: Vec::new(),
        inputs: (0..inputs).map(|i| ContentHash::of(i.to_string().as_bytes())).collect(),
        salt: Default::default(),
    }
}

#[test]
fn a_manifest_reads_back_as_written_and_its_hash_is_of_its_bytes() {
    let m = manifest(3);
    let bytes = m.encode().unwrap();
    assert_eq!(&bytes[..4], b"QJOB");
    assert_eq!(bytes[4], MANIFEST_VERSION);
    assert_eq!(JobManifest::decode(&bytes).unwrap(), m);
    assert_eq!(m.hash().unwrap(), ContentHash::of(&bytes));
    assert_eq!(m.task_count(), 3);
}

#[test]
fn every_field_moves_the_hash() {
    let base = manifest(2);
    let h = base.hash().unwrap();
    let changed = [
        JobManifest { evaluator: EvaluatorKind::WebGpu, gpu: GpuNeeds::any(), ..base.clone() },
        JobManifest {
            evaluator: EvaluatorKind::WebGpu,
            gpu: GpuNeeds { memory_mib: 1024, ..GpuNeeds::any() },
            ..base.clone()
        },
        JobManifest {
            evaluator: EvaluatorKind::WebGpu,
            gpu: GpuNeeds { class: "nvidia".into(), ..GpuNeeds::any() },
            ..base.clone()
        },
        JobManifest { limits: JobLimits { timeout_ms: 1, ..base.limits }, ..base.clone() },
        JobManifest { limits: JobLimits { heap_mib: 17, ..base.limits }, ..base.clone() },
        JobManifest { limits: JobLimits { result_bytes: 1, ..base.limits }, ..base.clone() },
        JobManifest { code: ContentHash::of(b"other"), ..base.clone() },
        JobManifest { salt: quorate_primitives::B256::repeat_byte(1), ..base.clone() },
        JobManifest { args: "[]".into(), ..base.clone() },
        JobManifest { inputs: base.inputs.iter().rev().copied().collect(), ..base.clone() },
        JobManifest {
            modules: vec![Module { name: "k.wasm".into(), hash: ContentHash::of(b"k") }],
            ..base.clone()
        },
        manifest(3),
    ];
    for m in changed {
        assert_ne!(m.hash().unwrap(), h, "{m:?}");
    }
}

#[test]
fn manifests_that_cannot_run_are_refused() {
    let refused = [
        manifest(0),
        JobManifest { args: "x".repeat(MAX_ARGS_BYTES + 1), ..manifest(1) },
        JobManifest { limits: JobLimits { timeout_ms: 0, ..JobLimits::default() }, ..manifest(1) },
        JobManifest { limits: JobLimits { heap_mib: 8, ..JobLimits::default() }, ..manifest(1) },
        JobManifest {
            limits: JobLimits { result_bytes: 0, ..JobLimits::default() },
            ..manifest(1)
        },
        // GPU needs: on a JavaScript job, none on a WebGPU job, out of range.
        JobManifest { gpu: GpuNeeds::any(), ..manifest(1) },
        JobManifest { evaluator: EvaluatorKind::WebGpu, ..manifest(1) },
        JobManifest {
            evaluator: EvaluatorKind::WebGpu,
            gpu: GpuNeeds { class: "NVIDIA".into(), ..GpuNeeds::any() },
            ..manifest(1)
        },
        // Modules: too many, a bad name, a name twice.
        JobManifest {
            modules: (0..17u8)
                .map(|i| Module { name: format!("m{i}"), hash: ContentHash::of(&[i]) })
                .collect(),
            ..manifest(1)
        },
        JobManifest {
            modules: vec![Module { name: "../k".into(), hash: ContentHash::of(b"k") }],
            ..manifest(1)
        },
        JobManifest {
            modules: vec![
                Module { name: "k".into(), hash: ContentHash::of(b"k") },
                Module { name: "k".into(), hash: ContentHash::of(b"l") },
            ],
            ..manifest(1)
        },
    ];
    for m in refused {
        let err = m.encode().unwrap_err();
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn malformed_bytes_are_refused_with_the_reason() {
    let good = manifest(2).encode().unwrap();
    let mut wrong_magic = good.clone();
    wrong_magic[0] = b'X';
    let mut wrong_version = good.clone();
    wrong_version[4] = 9;
    let mut wrong_kind = good.clone();
    wrong_kind[5] = 7;
    let mut trailing = good.clone();
    trailing.push(0);
    let short = &good[..good.len() - 1];
    for (bytes, says) in [
        (&wrong_magic[..], "not a job manifest"),
        (&wrong_version[..], "version 9"),
        (&wrong_kind[..], "evaluator"),
        (&trailing[..], "input count"),
        (short, "input count"),
        (&good[..10], "ends early"),
        (&[][..], "ends early"),
    ] {
        let err = JobManifest::decode(bytes).unwrap_err().to_string();
        assert!(err.contains(says), "{err}");
    }
    // A huge input count in a short manifest is refused before anything is allocated.
    let mut huge = manifest(1).encode().unwrap();
    let at = huge.len() - 36;
    huge[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(JobManifest::decode(&huge).is_err());
}

#[test]
fn outcomes_round_trip_and_an_error_never_reads_as_a_value() {
    let value = TaskOutcome::Value(br#"{"x":1}"#.to_vec());
    assert_eq!(value.to_bytes(), br#"{"x":1}"#);
    assert_eq!(TaskOutcome::from_bytes(&value.to_bytes()).unwrap(), value);
    let error = TaskOutcome::Error { kind: "threw".into(), message: "no\nway".into() };
    let bytes = error.to_bytes();
    assert_eq!(bytes[0], 0);
    assert_eq!(TaskOutcome::from_bytes(&bytes).unwrap(), error);
    assert!(TaskOutcome::from_bytes(b"").is_err());
    assert!(TaskOutcome::from_bytes(b"\0no kind").is_err());
}

proptest! {
    #[test]
    fn any_valid_manifest_round_trips(
        inputs in proptest::collection::vec(any::<[u8; 32]>(), 1..40),
        args in "[ -~]{0,200}",
        timeout_ms in 1u64..=3_600_000,
        heap_mib in 16u32..=16384,
        result_bytes in 1u32..=(256 << 20),
        gpu in any::<bool>(),
        gpu_mib in 16u32..=(1 << 20),
        gpu_class in "[a-z0-9 ./()-]{0,128}",
        modules in 0u8..=16,
    ) {
        let m = JobManifest {
            evaluator: if gpu { EvaluatorKind::WebGpu } else { EvaluatorKind::JavaScript },
            limits: JobLimits { timeout_ms, heap_mib, result_bytes },
            gpu: if gpu {
                GpuNeeds { memory_mib: gpu_mib, class: gpu_class.trim().to_string() }
            } else {
                GpuNeeds::NONE
            },
            code: ContentHash::of(&args.as_bytes()[..args.len().min(3)]),
            args,
            modules: (0..modules)
                .map(|i| Module { name: format!("m{i}.wasm"), hash: ContentHash::of(&[i]) })
                .collect(),
            inputs: inputs.into_iter().map(|b| ContentHash(b.into())).collect(),
            salt: Default::default(),
        };
        prop_assert_eq!(JobManifest::decode(&m.encode().unwrap()).unwrap(), m);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = JobManifest::decode(&bytes);
        let _ = TaskOutcome::from_bytes(&bytes);
    }
}

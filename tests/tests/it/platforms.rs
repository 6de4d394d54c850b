//! GPU jobs through the marketplace, and homogeneous redundancy, on real parts (anvil, the Hub,
//! `quorate` processes, wgpu on lavapipe where no GPU is): a WGSL job submitted from the command
//! line reaches consensus with the results `run-local` gives; workers of two float-probe classes
//! (forced, as two kinds of GPU would differ) never share a task.

use std::{collections::HashMap, ffi::OsStr, path::Path, process::Output, time::Duration};

use alloy::{
    primitives::Address,
    providers::{Provider, RootProvider},
    rpc::types::Filter,
    sol_types::SolEvent,
};
use quorate_contracts::bindings::Hub;
use quorate_devnet::Role;
use quorate_e2e::roles::Pool;
use quorate_node::adversary::FLOAT_PROBE;

use crate::common::{check, devnet_pool, finished, job, operator_view_once};

/// The example's lines, sorted (their order is the order tasks finished).
fn sorted(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

/// `quorate job run-local` of `job` (the code, the inputs, then flags).
fn run_local(pool: &Pool, job: &[&OsStr]) -> Output {
    pool.command("local").args(["job", "run-local"]).args(job).output().unwrap()
}

/// `quorate job submit` of `job` to pool 1 at `trust`, from the devnet's client.
fn submit(pool: &Pool, job: &[&OsStr], trust: u32) -> Output {
    let password = pool.files.password_file.display().to_string();
    pool.command("client")
        .args(["job", "submit"])
        .args(job)
        .args(["--trust", &trust.to_string(), "--max-price", "1", "--yes", "--pool", "1"])
        .args(["--bootstrap", &pool.address, "--wallet", "client", "--password-file", &password])
        .output()
        .unwrap()
}

/// The submission succeeded and gave `expected`'s lines.
fn assert_results(pool: &Pool, submitted: Output, expected: &str) {
    assert!(
        submitted.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&submitted.stderr),
        pool.logs_tail(30)
    );
    let got = String::from_utf8(submitted.stdout).unwrap();
    assert_eq!(sorted(&got), sorted(expected), "the pool's results are run-local's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wgsl_job_from_the_command_line_agrees_with_run_local() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let code = root.join("examples/matmul/matmul.js");
    let inputs = root.join("examples/matmul/inputs.jsonl");
    let (_dir, _net, mut pool) = devnet_pool(2, &["worker.gpu=true"]).await;

    // The reference: the same job on this machine.
    let job = [code.as_os_str(), inputs.as_os_str(), OsStr::new("--gpu")];
    let local = run_local(&pool, &job);
    let stderr = String::from_utf8_lossy(&local.stderr);
    if !local.status.success() && stderr.contains("no GPU") {
        tracing::warn!("skipped: no GPU adapter here (install mesa-vulkan-drivers for lavapipe)");
        return;
    }
    assert!(local.status.success(), "run-local: {stderr}");
    let expected = String::from_utf8(local.stdout).unwrap();
    assert_eq!(expected.lines().count(), 8);

    pool.start().unwrap();
    // Both workers joined: what the pool can run depends on them.
    let joined = |v: &serde_json::Value| v["workers"].as_array().is_some_and(|w| w.len() == 2);
    let view = operator_view_once(&pool, Duration::from_secs(90), joined).await;
    assert!(joined(&view), "the workers did not join:\n{}", pool.logs_tail(30));
    // Jobs needing a GPU no worker has are refused before anything is paid, naming the GPUs the
    // pool has.
    for (flag, value, says) in [
        ("--gpu-class", "nvidia", "of class \"nvidia\""),
        ("--gpu-memory", "1048576", "with 1048576 MiB"),
    ] {
        let needs = [code.as_os_str(), inputs.as_os_str(), OsStr::new(flag), OsStr::new(value)];
        let refused = submit(&pool, &needs, 2);
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{stderr}");
        assert!(stderr.contains(says) && stderr.contains("vulkan/cpu/"), "{stderr}");
    }
    // Two fresh workers alike agree to trust 4 at most: trust 5 is refused as well.
    let refused = submit(&pool, &job, 5);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("(2 workers) reach trust 4 at most now, not 5"), "{stderr}");
    // The lavapipe workers' device type is `cpu`: a job asking for it runs, and the client
    // is told each task's platform class.
    let needs = ["--gpu-class", "cpu", "--gpu-memory", "64", "--watch"].map(OsStr::new);
    let submitted = submit(&pool, &[&job[..2], &needs[..]].concat(), 2);
    let stderr = String::from_utf8_lossy(&submitted.stderr).into_owned();
    assert_results(&pool, submitted, &expected);
    assert!(stderr.contains(" on vulkan/cpu/"), "{stderr}");

    // Both workers voted (trust 2 on fresh workers), on one GPU class.
    let view = crate::common::operator_view(&pool).await;
    let platforms: Vec<&str> =
        view["workers"].as_array().unwrap().iter().filter_map(|w| w["platform"].as_str()).collect();
    assert_eq!(platforms.len(), 2, "{view:#}");
    assert!(platforms.iter().all(|p| p.contains("vulkan") || p.contains("gpu")), "{platforms:?}");
    // Each names its GPU's memory, as the driver reports it (lavapipe: a share of RAM).
    assert!(
        view["workers"].as_array().unwrap().iter().all(|w| w["gpu_memory_mib"].as_u64() > Some(0)),
        "{view:#}"
    );
    assert!(
        view["workers"].as_array().unwrap().iter().all(|w| w["evaluators"]
            .as_array()
            .unwrap()
            .len()
            == 2)
    );
}

#[test]
fn the_collatz_kernel_is_its_wat_assembled() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/collatz");
    let assembled = wat::parse_file(dir.join("kernel.wat")).unwrap();
    if std::env::var_os("QUORATE_UPDATE_WASM").is_some_and(|v| v == "1") {
        std::fs::write(dir.join("kernel.wasm"), &assembled).unwrap();
    }
    let checked_in = std::fs::read(dir.join("kernel.wasm")).unwrap();
    assert!(
        checked_in == assembled,
        "kernel.wasm is not kernel.wat: QUORATE_UPDATE_WASM=1 writes it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webassembly_job_shipping_its_module_agrees_with_run_local() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let example = root.join("examples/collatz");
    let (code, inputs, kernel) =
        (example.join("collatz.js"), example.join("inputs.jsonl"), example.join("kernel.wasm"));
    let (_dir, _net, mut pool) = devnet_pool(2, &[]).await;
    let job = [code.as_os_str(), inputs.as_os_str(), OsStr::new("--wasm"), kernel.as_os_str()];
    let local = run_local(&pool, &job);
    assert!(local.status.success(), "run-local: {}", String::from_utf8_lossy(&local.stderr));
    let expected = String::from_utf8(local.stdout).unwrap();
    assert_eq!(expected.lines().count(), 8);
    // The longest run below 1,600,001 (a known figure: 1,501,353 takes 530 steps).
    assert!(
        expected.contains("\"at\":1501353") && expected.contains("\"longest\":530"),
        "{expected}"
    );

    pool.start().unwrap();
    assert_results(&pool, submit(&pool, &job, 3), &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_s_replicas_stay_within_one_float_class() {
    let (_dir, net, mut pool) = devnet_pool(4, &[]).await;
    // Two classes, two workers each: as two GPU families, or two CPUs' float paths.
    let (a, b) = ("0x".to_owned() + &"a".repeat(64), "0x".to_owned() + &"b".repeat(64));
    for (i, worker) in pool.workers.iter_mut().enumerate() {
        worker.env(FLOAT_PROBE, if i < 2 { &a } else { &b });
    }
    pool.start().unwrap();
    let workers: Vec<Address> =
        net.accounts().iter().filter(|x| x.role == Role::Worker).map(|x| x.address).collect();
    let class_of = |w: &Address| usize::from(workers.iter().position(|x| x == w).unwrap() >= 2);

    // Trust 3: two fresh workers must agree on each task.
    let tasks = 8;
    let job = job(&net, &pool.address, tasks, 3).await;
    finished(job, &pool, tasks).await;
    let settled = check(&net, tasks).await;
    assert!(settled.hold(), "{settled:?}");

    // Every task's votes come from one class.
    let provider: RootProvider = RootProvider::new_http(net.endpoint().parse().unwrap());
    let filter = Filter::new()
        .address(net.deployment().hub)
        .event_signature(Hub::TaskContributed::SIGNATURE_HASH)
        .from_block(0);
    let mut voters: HashMap<alloy::primitives::B256, Vec<Address>> = HashMap::new();
    for log in provider.get_logs(&filter).await.unwrap() {
        let vote = Hub::TaskContributed::decode_log(&log.inner).unwrap();
        voters.entry(vote.taskId).or_default().push(vote.worker);
    }
    assert_eq!(voters.len(), tasks as usize, "{voters:?}");
    let mut used = [0usize; 2];
    for (task, workers) in &voters {
        assert!(workers.len() >= 2, "{task}: {workers:?}");
        let class = class_of(&workers[0]);
        assert!(workers.iter().all(|w| class_of(w) == class), "{task} mixes classes: {workers:?}");
        used[class] += 1;
    }
    // The dashboard names both classes.
    let view = crate::common::operator_view(&pool).await;
    let text = view["workers"].to_string();
    assert!(
        text.contains("float probe 0xaaaaaaaa") && text.contains("float probe 0xbbbbbbbb"),
        "{text}"
    );
    tracing::info!(?used, "tasks per float class");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_that_cannot_agree_fail_the_task_with_the_reason_and_a_refund() {
    // Three replicas at most, and three workers whose every result is their own.
    let (_dir, net, mut pool) = devnet_pool(3, &["scheduler.replica_cap=3"]).await;
    for worker in &mut pool.workers {
        worker.env(quorate_node::adversary::ADVERSARY, "noisy");
    }
    pool.start().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let provider: RootProvider = RootProvider::new_http(net.endpoint().parse().unwrap());
    let client = net.account(Role::Client).unwrap().address;
    let hub = Hub::new(net.deployment().hub, provider.clone());
    let before = hub.freeBalanceOf(client).call().await.unwrap();

    let started = std::time::Instant::now();
    let (code, inputs) =
        (root.join("examples/squares/square.js"), root.join("examples/squares/inputs.jsonl"));
    // Trust 3: two fresh workers must agree on a task.
    let out = submit(&pool, &[code.as_os_str(), inputs.as_os_str()], 3);
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    // Failed at the cap, long before the deal's final deadline (100 s on DEV), with its reason.
    assert!(started.elapsed() < Duration::from_secs(80), "{:?}", started.elapsed());
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    // As soon as the cap leaves no room for two equal votes: within it, two or three results.
    for line in stdout.lines() {
        let n: Option<u32> = line
            .split("replicas disagreed across ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok());
        assert!(n.is_some_and(|n| (2..=3).contains(&n)), "{line}\n{stderr}");
    }
    assert!(stderr.contains("refunded already"), "{stderr}");

    // The client has every task's price back and each pool stake besides; nobody lost a stake.
    let after = hub.freeBalanceOf(client).call().await.unwrap();
    assert!(after > before, "refunded and compensated: {before} → {after}");
    assert_eq!(hub.frozenBalanceOf(client).call().await.unwrap(), alloy::primitives::U256::ZERO);
    // No task is finalized: the invariants as they stand.
    let settled = check(&net, 0).await;
    assert!(settled.hold(), "credits conserved, no worker stake lost: {settled:?}");
    // The dashboard says why.
    // (once the pool has read the last claim: the client reads the chain itself, and may be
    // first).
    let view =
        operator_view_once(&pool, Duration::from_secs(30), |v| v["totals"]["failed"] == 4).await;
    assert_eq!(view["totals"]["failed"], 4, "{view:#}");
}

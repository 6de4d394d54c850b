//! `quorate scheduler run`'s loop on real parts (anvil with the real Hub, libp2p on loopback,
//! redb, a real sandbox for the job's sample task): a client takes the pool's gossiped order,
//! offers a job whose blobs only the pool may fetch, gets the pool's consent and buys the deal;
//! the scheduler initializes the tasks and assigns them to the workers that joined; the workers
//! (scripted here from the pool protocol, with their real keys and transactions) fetch what they
//! were granted, contribute, reveal when asked and upload; the scheduler checks each upload
//! against the digest revealed on chain and finalizes; the client pages the deal's status and
//! fetches each result, which nobody else may fetch.

use std::time::{Duration, Instant};

use alloy::{
    primitives::{Address, utils::parse_ether},
    signers::local::PrivateKeySigner,
    sol_types::SolValue,
};
use futures::StreamExt;
use quorate_contracts::{
    bindings::IHub::PoolOrder,
    sign::{hub_domain, pool_order_digest},
};
use quorate_devnet::Role;
use quorate_node::{
    chain::Chain,
    client::{
        Client, JobEvent,
        deal::{Purchase, buy},
        report::{self, TaskOnChain},
    },
    config::NodeConfig,
    job::Job,
    job::local::LocalOutcome,
    scheduler::{
        pool,
        service::{self, Settings},
        state::{PoolRecord, SchedulerState},
    },
    worker::{
        chain as worker_chain,
        exec::{ExecConfig, Executor, Work},
    },
};
use quorate_p2p::{
    Client as P2p, Event, Keypair, PeerId,
    data::Access,
    fetch::{FetchConfig, fetch},
    identity::{IdentityProof, Purpose},
    wire::{self, JobState, Message as Wire, TaskInput, TaskPhase},
};
use quorate_primitives::{
    ContentHash, EvaluatorKind, JobLimits, JobManifest, PoolId, ResultDigest, TaskOutcome,
};
use tokio::sync::mpsc;

use crate::common::{config, devnet, evaluator, signer};

/// A p2p node on loopback proven as `purpose` by `key`.
async fn peer(
    key: &PrivateKeySigner,
    purpose: Purpose,
    chain_id: u64,
) -> (P2p, mpsc::Receiver<Event>) {
    let keypair = Keypair::generate_ed25519();
    let id = keypair.public().to_peer_id();
    let expires =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
            + 3600;
    let proof = IdentityProof::sign(key, key.address(), &id, purpose, chain_id, expires).unwrap();
    quorate_p2p::spawn(quorate_p2p::Config::test(keypair, chain_id), proof).unwrap()
}

async fn within<T>(secs: u64, what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// A scripted worker: joins, takes every assignment, runs it in a real sandbox, contributes,
/// reveals when asked, uploads. Reports what it did on `seen`.
async fn worker(
    chain: Chain,
    hub: Address,
    scheduler: PeerId,
    mut events: mpsc::Receiver<Event>,
    p2p: P2p,
    pool: PoolId,
    seen: mpsc::Sender<String>,
) {
    let joined = p2p
        .request(
            scheduler,
            Wire::JoinRequest(wire::JoinRequest {
                pool,
                capabilities: wire::WorkerCapabilities {
                    slots: 4,
                    memory_mib: 1024,
                    evaluators: wire::evaluators::JS,
                    gpu_class: None,
                    gpu_memory_mib: 0,
                    float_probe: None,
                },
                credential: None,
            }),
        )
        .await
        .unwrap();
    assert!(matches!(joined, Wire::JoinAccepted(_)), "{joined:?}");
    let _ = seen.send("joined".into()).await;
    let mut heartbeat = tokio::time::interval(Duration::from_secs(4));
    let executor = Executor::start(&ExecConfig {
        program: evaluator(),
        sandboxes: 1,
        nice: 10,
        task_memory_mib: 512,
        gpu: false,
        gpu_slots: 1,
        gpu_memory_mib: 0,
    })
    .unwrap();
    let mut results = std::collections::HashMap::new();
    loop {
        tokio::select! {
            _ = heartbeat.tick() => {
                let beat = wire::Heartbeat { pool, free_slots: 4, running: 0 };
                let _ = p2p.request(scheduler, Wire::Heartbeat(beat)).await;
            }
            event = events.recv() => {
                let Some(Event::Request { message, responder, .. }) = event else {
                    if event.is_none() { return }
                    continue;
                };
                match message {
                    Wire::TaskAssignment(a) => {
                        p2p.respond(responder, Wire::Ack).await.unwrap();
                        let (providers, fetching) = ([scheduler], FetchConfig::default());
                        let get = |hash| fetch(&p2p, &providers, hash, &fetching);
                        let manifest = JobManifest::decode(&get(a.job).await.unwrap()).unwrap();
                        let code = get(manifest.code).await.unwrap();
                        assert!(!code.is_empty());
                        // Small inputs come inside the assignment, larger ones by hash.
                        let input = match a.input {
                            TaskInput::Inline(bytes) => {
                                assert!(bytes.len() <= 16 << 10, "a large input inline");
                                bytes
                            }
                            TaskInput::ByHash { hash, size } => {
                                assert!(size > 16 << 10, "a small input by hash");
                                get(hash).await.unwrap()
                            }
                        };
                        assert!(manifest.inputs.contains(&ContentHash::of(&input)), "an input of the job");
                        let input = String::from_utf8(input).unwrap();
                        let bytes = run_task(&executor, &manifest, &code, a.task, input).await;
                        let digest = ResultDigest::of(a.task, &bytes);
                        worker_chain::contribute(&chain, hub, a.task, digest, &a.authorization).await.unwrap();
                        results.insert(a.task, (digest, bytes));
                        let _ = seen.send(format!("contributed to {}", a.task)).await;
                    }
                    Wire::RevealRequest(r) => {
                        p2p.respond(responder, Wire::Ack).await.unwrap();
                        let (digest, bytes) = results[&r.task].clone();
                        if worker_chain::reveal(&chain, hub, r.task, digest).await.is_ok() {
                            // Refused until the scheduler has read the reveal: sent again, as a
                            // worker does.
                            let mut tries = 0;
                            loop {
                                let upload = wire::ResultUpload { task: r.task, result: bytes.clone() };
                                match p2p.request(scheduler, Wire::ResultUpload(upload)).await {
                                    Ok(answer) => {
                                        assert_eq!(answer, Wire::Ack);
                                        break;
                                    }
                                    Err(quorate_p2p::Error::Refused { reason })
                                        if reason.contains("has not read this task's reveal yet") && tries < 60 =>
                                    {
                                        tries += 1;
                                        tokio::time::sleep(Duration::from_millis(250)).await;
                                    }
                                    Err(e) => panic!("upload: {e}"),
                                }
                            }
                            let _ = seen.send("revealed".into()).await;
                        }
                    }
                    other => {
                        p2p.respond(responder, Wire::Ack).await.unwrap();
                        let _ = seen.send(format!("got {}", other.kind().name())).await;
                    }
                }
            }
        }
    }
}

/// A devnet, a pool created and its scheduler running, three scripted workers joined.
struct Pool {
    net: quorate_devnet::Devnet,
    hub: Address,
    chain_id: u64,
    owner: PrivateKeySigner,
    pool_id: PoolId,
    running: service::Running,
    scheduler: PeerId,
    addr: quorate_p2p::Multiaddr,
    seen: mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

async fn pool_with_workers() -> Pool {
    let net = devnet().await;
    let hub = net.deployment().hub;
    let chain_id = net.chain_id();
    let owner = signer(&net, Role::PoolOperator);
    let operator = crate::common::chain(&net, Role::PoolOperator).await;

    // `quorate scheduler init`, then `run`.
    let dir = tempfile::tempdir().unwrap();
    let mut node = NodeConfig::default();
    node.node.data_dir = dir.path().to_path_buf();
    node.chain.rpc_url = net.endpoint();
    node.chain.chain_id = chain_id;
    node.chain.hub = Some(hub);
    node.chain.confirmations = 0;
    node.chain.poll_interval_ms = 200;
    node.evaluator.program = evaluator();
    node.dashboard.listen = "127.0.0.1:0".into();
    let (pool_id, since_block) =
        pool::create_at(&operator, hub, pool::policy(&node.scheduler), "").await.unwrap();
    SchedulerState::open(&node)
        .unwrap()
        .set_pool(PoolRecord { pool: pool_id, owner: owner.address(), hub, since_block })
        .unwrap();
    let keypair = service::keypair(&node).unwrap();
    let running = service::start(Settings {
        config: node.clone(),
        owner: owner.clone(),
        p2p: quorate_p2p::Config::test(keypair, chain_id),
    })
    .await
    .unwrap();
    let scheduler = running.p2p.peer_id();
    let addr = running.addrs[0].clone();

    // Three workers join.
    let (seen_tx, mut seen) = mpsc::channel(64);
    for account in net.accounts().iter().filter(|a| a.role == Role::Worker).take(3) {
        let key = PrivateKeySigner::from_bytes(&account.key).unwrap();
        let (p2p, events) = peer(&key, Purpose::Worker, chain_id).await;
        p2p.dial(addr.clone()).await.unwrap();
        let chain = Chain::connect(&config(&net), key).await.unwrap();
        tokio::spawn(worker(chain, hub, scheduler, events, p2p, pool_id, seen_tx.clone()));
    }
    for _ in 0..3 {
        assert_eq!(within(30, "workers joining", seen.recv()).await.unwrap(), "joined");
    }
    Pool { net, hub, chain_id, owner, pool_id, running, scheduler, addr, seen, _dir: dir }
}

fn doubling_job() -> Job {
    Job {
        code: "(n) => n * 2".into(),
        // The third is large (3, padded): it is served by hash, the others come inline.
        inputs: vec!["1".into(), "2".into(), format!("3{}", " ".repeat(20 << 10))],
        args: "[]".into(),
        limits: JobLimits::default(),
        evaluator: EvaluatorKind::JavaScript,
        gpu: quorate_primitives::GpuNeeds::NONE,
        modules: Vec::new(),
    }
}

/// Runs one task of `manifest` in `executor`: the bytes voted on.
async fn run_task(
    executor: &Executor,
    manifest: &JobManifest,
    code: &[u8],
    task: quorate_primitives::TaskId,
    input: String,
) -> Vec<u8> {
    use quorate_evaluator::sandbox::{Limits, TaskSpec};
    let (reply, outcome) = tokio::sync::oneshot::channel();
    let spec = TaskSpec {
        task_id: task,
        now_ms: 0,
        input,
        args: manifest.args.clone(),
        limits: Limits { timeout_ms: manifest.limits.timeout_ms, ..Limits::default() },
    };
    let code: std::sync::Arc<str> = std::sync::Arc::from(String::from_utf8(code.to_vec()).unwrap());
    let mut work = Work { code_hash: manifest.code, code, spec, gpu: false, events: None, reply };
    while let Err(back) = executor.submit(work) {
        work = *back;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    match outcome.await.unwrap() {
        LocalOutcome::Agreed(outcome) => outcome.to_bytes(),
        LocalOutcome::Failed { kind, message } => panic!("{kind}: {message}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_library_submits_a_job_and_gets_verified_results() {
    let Pool { net, hub, running, addr, scheduler, .. } = pool_with_workers().await;
    let addr = addr.with(quorate_p2p::multiaddr::Protocol::P2p(scheduler));
    let client_key = signer(&net, Role::Client);
    let chain = Chain::connect(&config(&net), client_key.clone()).await.unwrap();
    let client = Client::new(chain.clone(), client_key.clone(), hub, vec![addr.clone()]);
    // No pool named: the cheapest order heard that suits the job is taken.
    let mut events = Job::builder("(n) => n * 2")
        .inputs([1, 2, 3].map(serde_json::Value::from))
        .trust(3)
        .max_price_qcr("5")
        .unwrap()
        .submit(&client)
        .unwrap();
    let mut seen = Vec::new();
    let mut values = vec![String::new(); 3];
    let finished = within(200, "the job's events", async {
        while let Some(event) = events.next().await {
            let event = event.unwrap();
            if let JobEvent::Result { index, outcome: TaskOutcome::Value(v) } = &event {
                values[*index as usize] = String::from_utf8(v.clone()).unwrap();
            }
            seen.push(event.clone());
            if let JobEvent::Finished { refundable } = event {
                return refundable;
            }
        }
        panic!("the stream ended without Finished: {seen:?}");
    })
    .await;
    assert!(finished.is_empty(), "{seen:?}");
    assert_eq!(values, ["2", "4", "6"]);
    assert!(matches!(seen[0], JobEvent::Order { pool, .. } if pool == PoolId(1)), "{seen:?}");
    assert!(seen.contains(&JobEvent::Consented), "{seen:?}");
    let Some(JobEvent::Deal { deal }) = seen.iter().find(|e| matches!(e, JobEvent::Deal { .. }))
    else {
        panic!("no deal: {seen:?}")
    };
    assert!(
        seen.iter().any(|e| matches!(e, JobEvent::Task { phase: TaskPhase::Completed, .. })),
        "{seen:?}"
    );

    // The same results from another machine with the same wallet: the deal read from the
    // chain, the scheduler found again, every result checked again.
    let elsewhere = Client::new(chain, client_key, hub, vec![addr]);
    let mut again = elsewhere.follow(*deal);
    let mut results = 0;
    within(120, "following the deal", async {
        while let Some(event) = again.next().await {
            match event.unwrap() {
                JobEvent::Result { .. } => results += 1,
                JobEvent::Finished { refundable } => {
                    assert!(refundable.is_empty());
                    break;
                }
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(results, 3);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_goes_from_offer_to_verified_results_through_the_scheduler() {
    let Pool { net, hub, chain_id, owner, pool_id, running, scheduler, addr, mut seen, .. } =
        pool_with_workers().await;
    // The client: the pool's order from gossip, its job offered, the pool's consent.
    let client_key = signer(&net, Role::Client);
    let (client_p2p, mut client_events) = peer(&client_key, Purpose::Client, chain_id).await;
    client_p2p.dial(addr.clone()).await.unwrap();
    let (order, order_signature) = within(30, "the pool's order", async {
        loop {
            if let Some(Event::Order { order, .. }) = client_events.recv().await
                && order.pool == pool_id
            {
                break (PoolOrder::abi_decode(&order.order).unwrap(), order.signature);
            }
        }
    })
    .await;
    let order_hash = pool_order_digest(&order, &hub_domain(chain_id, hub));
    let job = doubling_job();
    let manifest = job.manifest().unwrap();
    let job_hash = manifest.hash().unwrap();
    let only_pool = || Access::only([owner.address()]);
    client_p2p.put_content_for(manifest.encode().unwrap(), only_pool()).await.unwrap();
    client_p2p.put_content_for(job.code.clone().into_bytes(), only_pool()).await.unwrap();
    for input in &job.inputs {
        client_p2p.put_content_for(input.clone().into_bytes(), only_pool()).await.unwrap();
    }
    let offer =
        wire::JobOffer { pool: pool_id, job: job_hash, order: order_hash, task_count: 3, trust: 3 };
    assert_eq!(
        client_p2p.request(scheduler, Wire::JobOffer(offer.clone())).await.unwrap(),
        Wire::Ack
    );
    // Another client cannot take the same job over (its record, its consent, its results).
    let other_key = PrivateKeySigner::random();
    let (other, _other_events) = peer(&other_key, Purpose::Client, chain_id).await;
    other.dial(addr.clone().with(quorate_p2p::multiaddr::Protocol::P2p(scheduler))).await.unwrap();
    within(10, "the other client's connection", other.ready(scheduler)).await.unwrap();
    let taken = other.request(scheduler, Wire::JobOffer(offer.clone())).await;
    assert!(
        matches!(&taken, Err(quorate_p2p::Error::Refused { reason }) if reason.contains("already offered by another client")),
        "{taken:?}"
    );
    let asked = wire::JobStatusRequest { job: job_hash };
    let status = other.request(scheduler, Wire::JobStatusRequest(asked)).await.unwrap();
    assert!(
        matches!(status, Wire::JobStatus(wire::JobStatus { state: JobState::Unknown, .. })),
        "{status:?}"
    );
    let signature = within(60, "the pool's consent", async {
        loop {
            let status = client_p2p
                .request(
                    scheduler,
                    Wire::JobStatusRequest(wire::JobStatusRequest { job: job_hash }),
                )
                .await
                .unwrap();
            match status {
                Wire::JobStatus(wire::JobStatus {
                    state: JobState::Consented { signature, .. },
                    ..
                }) => {
                    break signature;
                }
                Wire::JobStatus(wire::JobStatus {
                    state: JobState::Refused { reason }, ..
                }) => {
                    panic!("refused: {reason}")
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    })
    .await;

    // The deal, bought on chain with that consent.
    let client = Chain::connect(&config(&net), client_key.clone()).await.unwrap();
    let time = client.latest_time().await.unwrap();
    let purchase = Purchase {
        order: order.clone(),
        order_signature: order_signature.to_vec().into(),
        consent: signature.to_vec().into(),
        job: job_hash,
        tasks: 3,
        trust: 3,
        max_price: parse_ether("5").unwrap(),
        beneficiary: client.address(),
    };
    let deal = buy(&client, hub, &purchase, time).await.unwrap();

    // While the deal runs (a worker has voted: the job's blobs are served to the workers
    // assigned to it), a worker that is not assigned to it cannot fetch its manifest, code
    // or the input served by hash.
    let first = within(60, "a first vote", async {
        loop {
            let line = seen.recv().await.unwrap();
            if line.starts_with("contributed") {
                break line;
            }
        }
    })
    .await;
    eprintln!("worker: {first}");
    let (stranger, _stranger_events) =
        peer(&PrivateKeySigner::random(), Purpose::Worker, chain_id).await;
    stranger
        .dial(addr.clone().with(quorate_p2p::multiaddr::Protocol::P2p(scheduler)))
        .await
        .unwrap();
    within(10, "the stranger connecting", stranger.ready(scheduler)).await.unwrap();
    let large_input = ContentHash::of(job.inputs[2].as_bytes());
    for (what, hash) in [("manifest", job_hash), ("code", manifest.code), ("input", large_input)] {
        let got = fetch(&stranger, &[scheduler], hash, &FetchConfig::default()).await;
        assert!(got.is_err(), "a worker not assigned to the deal fetched its {what}");
    }

    // Results: the client pages the deal's status until every task has a verified result.
    let started = Instant::now();
    let entries = within(120, "the deal's results", async {
        loop {
            let request = wire::DealStatusRequest { deal, from: 0, count: 10, console_from: None };
            if let Ok(Wire::DealStatus(status)) =
                client_p2p.request(scheduler, Wire::DealStatusRequest(request)).await
                && status.tasks.len() == 3
                && status
                    .tasks
                    .iter()
                    .all(|t| t.phase == TaskPhase::Completed && t.result.is_some())
            {
                break status.tasks;
            }
            while let Ok(line) = seen.try_recv() {
                eprintln!("worker: {line}");
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    eprintln!("3 tasks from deal to verified results in {:?}", started.elapsed());
    // A forged result for a revealed task (the stranger never ran it): refused, and its sender
    // reported to the network's guard, which bans it.
    let task = quorate_primitives::TaskId::derive(deal, 0);
    let forged = wire::ResultUpload { task, result: b"7".to_vec() };
    let answer = stranger.request(scheduler, Wire::ResultUpload(forged)).await;
    assert!(
        matches!(&answer, Err(quorate_p2p::Error::Refused { reason }) if reason.contains("does not match the digest revealed")),
        "{answer:?}"
    );
    let banned = within(10, "the forger banned", async {
        loop {
            let peek = wire::DealStatusRequest { deal, from: 0, count: 1, console_from: None };
            match stranger.request(scheduler, Wire::DealStatusRequest(peek)).await {
                Err(e) if !matches!(e, quorate_p2p::Error::Refused { .. }) => break e,
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    })
    .await;
    eprintln!("the forger after its ban: {banned}");
    // Nobody but the deal's client reads its status or fetches its results.
    let peek = wire::DealStatusRequest { deal, from: 0, count: 10, console_from: None };
    let status = other.request(scheduler, Wire::DealStatusRequest(peek)).await.unwrap();
    assert!(matches!(&status, Wire::DealStatus(s) if s.tasks.is_empty()), "{status:?}");
    let stolen =
        fetch(&other, &[scheduler], entries[0].result.unwrap(), &FetchConfig::default()).await;
    assert!(stolen.is_err(), "another client fetched a result");
    for (entry, expected) in entries.iter().zip(["2", "4", "6"]) {
        let hash: ContentHash = entry.result.unwrap();
        let bytes = fetch(&client_p2p, &[scheduler], hash, &FetchConfig::default()).await.unwrap();
        assert_eq!(bytes, expected.as_bytes(), "task {}", entry.index);
    }
    // On chain, every task is finalized.
    let report = within(30, "finalize on chain", async {
        loop {
            let report = report::read(client.provider(), hub, deal).await.unwrap();
            if report.count(TaskOnChain::Completed) == 3 {
                break report;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    assert_eq!(report.tasks.len(), 3);
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quorate_job_submit_pays_and_writes_verified_results_in_input_order() {
    use quorate_node::wallet::{KdfStrength, Wallets};
    let Pool { net, hub, chain_id, pool_id, running, addr, scheduler, .. } =
        pool_with_workers().await;
    let dir = tempfile::tempdir().unwrap();
    let keystores = dir.path().join("keystores");
    std::fs::create_dir_all(&keystores).unwrap();
    let client_key = signer(&net, Role::Client);
    Wallets::new(&keystores)
        .create("client", &client_key.to_bytes(), b"pw", KdfStrength::Light)
        .unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, "pw\n").unwrap();
    std::fs::set_permissions(&password, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .unwrap();
    let bootstrap = addr.with(quorate_p2p::multiaddr::Protocol::P2p(scheduler));
    let config = dir.path().join("quorate.toml");
    std::fs::write(
        &config,
        format!(
            "[node]\ndata_dir = {data:?}\n[wallet]\nkeystore_dir = {keystores:?}\n\
             [chain]\nrpc_url = {rpc:?}\nchain_id = {chain_id}\nhub = \"{hub}\"\nconfirmations = 0\npoll_interval_ms = 200\n\
             [evaluator]\nprogram = {program:?}\n[client]\npool = {pool}\nbootstrap = [{bootstrap:?}]\n",
            data = dir.path().join("data"),
            rpc = net.endpoint(),
            program = evaluator(),
            pool = pool_id.0,
            bootstrap = bootstrap.to_string(),
        ),
    )
    .unwrap();
    let code = dir.path().join("square.js");
    std::fs::write(&code, "(n) => { if (n < 0) throw new Error('negative'); return n * n }")
        .unwrap();
    let inputs = dir.path().join("in.jsonl");
    std::fs::write(&inputs, "3\n-1\n4\n").unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_quorate"));
    command
        .arg("--config")
        .arg(&config)
        .args(["job", "submit"])
        .arg(&code)
        .arg(&inputs)
        .args([
            "--trust",
            "3",
            "--max-price",
            "5",
            "--yes",
            "--wallet",
            "client",
            "--password-file",
        ])
        .arg(&password);
    let output =
        within(180, "quorate job submit", tokio::task::spawn_blocking(move || command.output()))
            .await
            .unwrap()
            .unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            r#"{"index":0,"result":9}"#,
            r#"{"index":1,"error":{"kind":"threw","message":"Error: negative"}}"#,
            r#"{"index":2,"result":16}"#,
        ],
        "{stderr}"
    );
    assert!(stderr.contains("Pool 1 asks 1 QCR per task: 3 tasks lock 3 QCR"), "{stderr}");
    assert!(stderr.contains("3 of 3 results verified."), "{stderr}");
    running.stop().await.unwrap();
}

mod hardening;
mod private;

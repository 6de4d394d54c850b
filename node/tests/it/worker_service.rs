//! The worker role on real parts: a real anvil with the real Hub, libp2p on loopback, real
//! sandboxes and real redb files. The test plays the pool's scheduler with a p2p node proven
//! as the scheduler of a pool it created; two workers (`quorate_node::worker::spawn`, on two
//! devnet worker accounts) find it, join, take assignments, run them, vote on chain, reach a
//! consensus, reveal by themselves and upload results whose digests are the revealed ones. A
//! forged authorization and an assignment beyond a worker's slots are refused; a machine
//! failure (a timeout) is reported, never voted. A worker whose scheduler goes away joins it
//! again when it comes back, and an abort drops a task not voted on yet.

use std::{sync::atomic::Ordering::SeqCst, time::Duration};

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
    rpc::types::{Filter, TransactionRequest},
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolEvent},
};
use quorate_contracts::bindings::Hub;
use quorate_devnet::{Devnet, Role};
use quorate_node::{
    chain::Chain,
    client::{
        deal::buy,
        report::{self, TaskOnChain},
    },
    config::SchedulerSection,
    scheduler::pool,
    worker::{self, Worker, WorkerConfig, exec::ExecConfig, store::WorkerStore},
};
use quorate_p2p::{
    Client, Config, Event, Keypair, Message, Multiaddr, PeerId,
    data::Access,
    identity::{IdentityProof, Purpose, VerifiedPeer},
    wire::{
        self, Abort, HeldTask, JoinAccepted, RecoveryReport, Report, RevealRequest, TaskAssignment,
        TaskInput, TaskReport,
    },
};
use quorate_primitives::{
    ContentHash, DealId, EvaluatorKind, JobLimits, JobManifest, PoolId, ResultDigest,
    TaskAuthorization, TaskId,
};
use tokio::sync::mpsc;

use crate::common::{chain, config, devnet, evaluator, signer};

/// Squares `n` at the deal's time; spins forever on `{"spin": true}` (its timeout is a
/// machine failure).
const CODE: &str = r#"(input) => {
  progress(0.5);
  if (input.spin) { for (;;) {} }
  return { n: input.n, square: input.n * input.n, now: Date.now() };
}"#;
const INPUTS: [&str; 3] = [r#"{"n":3}"#, r#"{"spin":true}"#, r#"{"n":4}"#];

/// What the test's scheduler received.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) peer: PeerId,
    pub(crate) from: VerifiedPeer,
    pub(crate) message: Message,
}

/// The test's scheduler: a p2p node proven as the scheduler of `pool` by its owner, answering
/// workers as the pool protocol says and handing what it gets to the test.
pub(crate) struct Scheduler {
    pub(crate) client: Client,
    pub(crate) addr: Multiaddr,
    /// Result uploads still to refuse (as a scheduler that has not read the reveal yet).
    pub(crate) refuse_uploads: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    received: mpsc::Receiver<Received>,
    answering: tokio::task::JoinHandle<()>,
}

impl Drop for Scheduler {
    /// Stops answering; the node stops once its last handle is gone.
    fn drop(&mut self) {
        self.answering.abort();
    }
}

pub(crate) async fn scheduler(owner: &PrivateKeySigner, pool: PoolId, chain_id: u64) -> Scheduler {
    scheduler_at(owner, pool, chain_id, Keypair::generate_ed25519(), None).await
}

/// A scheduler node with this key, listening on `listen` (default: a free loopback port).
async fn scheduler_at(
    owner: &PrivateKeySigner,
    pool: PoolId,
    chain_id: u64,
    keypair: Keypair,
    listen: Option<Multiaddr>,
) -> Scheduler {
    let peer = keypair.public().to_peer_id();
    let expires =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
            + 3600;
    let proof = IdentityProof::sign(
        owner,
        owner.address(),
        &peer,
        Purpose::Scheduler { pool },
        chain_id,
        expires,
    )
    .unwrap();
    let mut config = Config::test(keypair, chain_id);
    if let Some(listen) = listen {
        config.listen = vec![listen];
    }
    let (client, mut events) = quorate_p2p::spawn(config, proof).unwrap();
    let listen = client.listen_addrs().await.unwrap();
    let addr: Multiaddr = format!("{}/p2p/{peer}", listen[0]).parse().unwrap();
    client.provide(pool).await.unwrap();
    let (tx, received) = mpsc::channel(256);
    let answering = client.clone();
    let refuse_uploads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let refusing = std::sync::Arc::clone(&refuse_uploads);
    let answering = tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let Event::Request { peer, identity, message, responder, .. } = event else { continue };
            let answer = match &message {
                Message::JoinRequest(m) => {
                    Message::JoinAccepted(JoinAccepted { pool: m.pool, heartbeat_interval_s: 1 })
                }
                Message::RecoveryRequest(m) => Message::RecoveryReport(RecoveryReport {
                    pool: m.pool,
                    tasks: m
                        .known
                        .iter()
                        .map(|task| HeldTask { task: *task, state: wire::TaskState::Assigned })
                        .collect(),
                }),
                Message::ResultUpload(_)
                    if refusing.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)).is_ok() =>
                {
                    Message::Refused { reason: "no reveal read for this task yet".into() }
                }
                _ => Message::Ack,
            };
            let _ = answering.respond(responder, answer).await;
            if tx.send(Received { peer, from: identity, message }).await.is_err() {
                return;
            }
        }
    });
    Scheduler { client, addr, refuse_uploads, received, answering }
}

impl Scheduler {
    /// Waits for a message `pick` accepts, keeping the others it skips in `seen`.
    pub(crate) async fn wait<T>(
        &mut self,
        secs: u64,
        seen: &mut Vec<Received>,
        mut pick: impl FnMut(&Received) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        if let Some(found) = seen.iter().find_map(&mut pick) {
            return found;
        }
        loop {
            let got = tokio::time::timeout_at(deadline, self.received.recv())
                .await
                .unwrap_or_else(|_| panic!("nothing matching within {secs} s; got {seen:#?}"))
                .expect("the scheduler stopped");
            let found = pick(&got);
            seen.push(got);
            if let Some(found) = found {
                return found;
            }
        }
    }
}

/// The workers' log lines, shown when a test fails.
pub(crate) fn logs() {
    use tracing_subscriber::{filter::Targets, layer::SubscriberExt, util::SubscriberInitExt};
    let filter = Targets::new().with_target("quorate", tracing::Level::INFO);
    let _ = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_test_writer())
        .with(filter)
        .try_init();
}

/// The two workers' devnet keys.
pub(crate) fn worker_keys(net: &Devnet) -> Vec<PrivateKeySigner> {
    net.accounts()
        .iter()
        .filter(|a| a.role == Role::Worker)
        .take(2)
        .map(|a| PrivateKeySigner::from_bytes(&a.key).unwrap())
        .collect()
}

pub(crate) fn worker_config(
    net: &Devnet,
    pool: PoolId,
    dir: &std::path::Path,
    bootstrap: Multiaddr,
) -> WorkerConfig {
    WorkerConfig {
        pool,
        hub: net.deployment().hub,
        chain: config(net),
        data_dir: dir.to_path_buf(),
        exec: ExecConfig {
            program: evaluator(),
            sandboxes: 1,
            nice: 18,
            task_memory_mib: 512,
            gpu: false,
            gpu_slots: 1,
            gpu_memory_mib: 0,
        },
        listen: vec![quorate_p2p::config::loopback_tcp()],
        bootstrap: vec![bootstrap],
        mdns: false,
        fetch: quorate_p2p::fetch::FetchConfig::default(),
        proof_ttl: Duration::from_secs(3600),
        pipeline: 1,
        drain: Duration::from_secs(30),
        credential: None,
        status: None,
    }
}

pub(crate) fn assignment(
    owner: &PrivateKeySigner,
    pool: PoolId,
    worker: Address,
    task: TaskId,
    job: ContentHash,
    input: &str,
    deadline: u64,
) -> Message {
    let authorization = TaskAuthorization { worker, task, round: 0 }.sign(owner).unwrap();
    Message::TaskAssignment(TaskAssignment {
        pool,
        task,
        job,
        input: TaskInput::ByHash {
            hash: ContentHash::of(input.as_bytes()),
            size: input.len() as u64,
        },
        round: 0,
        authorization,
        deadline,
    })
}

/// A client buys a deal of `job`'s `tasks` tasks from `pool`; the operator opens them all.
pub(crate) async fn open_deal(
    net: &Devnet,
    operator: &Chain,
    pool: PoolId,
    job: ContentHash,
    tasks: u32,
) -> (DealId, report::DealReport) {
    let hub = net.deployment().hub;
    let client = chain(net, Role::Client).await;
    let owner = signer(net, Role::PoolOperator);
    let purchase =
        crate::deal::purchase(&owner, net.chain_id(), hub, pool, client.address(), job, tasks);
    let time = client.latest_time().await.unwrap();
    let deal = buy(&client, hub, &purchase, time).await.unwrap();
    let inits = (0..tasks)
        .map(|i| {
            let call = Hub::initializeCall { dealId: deal.0, index: U256::from(i) };
            TransactionRequest::default().to(hub).input(call.abi_encode().into())
        })
        .collect();
    for result in operator.send_all(inits).await {
        result.unwrap();
    }
    (deal, report::read(client.provider(), hub, deal).await.unwrap())
}

/// The digests revealed on chain for `task`, by worker.
pub(crate) async fn revealed(
    chain: &Chain,
    hub: Address,
    task: TaskId,
) -> Vec<(Address, ResultDigest)> {
    let filter = Filter::new()
        .address(hub)
        .event_signature(Hub::TaskRevealed::SIGNATURE_HASH)
        .topic1(task.0)
        .from_block(0);
    chain
        .provider()
        .get_logs(&filter)
        .await
        .unwrap()
        .iter()
        .map(|log| {
            let event = Hub::TaskRevealed::decode_log(&log.inner).unwrap();
            (event.worker, ResultDigest::from(event.resultDigest))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_join_run_vote_reveal_by_themselves_and_upload() {
    logs();
    let net = devnet().await;
    let hub = net.deployment().hub;
    let operator = chain(&net, Role::PoolOperator).await;
    let owner = signer(&net, Role::PoolOperator);
    let pool_id =
        pool::create(&operator, hub, pool::policy(&SchedulerSection::default()), "").await.unwrap();

    // The job, served by the scheduler to the two workers only.
    let keys = worker_keys(&net);
    let (a, b) = (keys[0].address(), keys[1].address());
    let manifest = JobManifest {
        evaluator: EvaluatorKind::JavaScript,
        limits: JobLimits { timeout_ms: 3_000, heap_mib: 256, result_bytes: 1 << 20 },
        gpu: quorate_primitives::GpuNeeds::NONE,
        code: ContentHash::of(CODE.as_bytes()),
        args: "[]".into(),
        modules: Vec::new(),
        inputs: INPUTS.iter().map(|i| ContentHash::of(i.as_bytes())).collect(),
        salt: Default::default(),
    };
    let job = manifest.hash().unwrap();
    let mut s = scheduler(&owner, pool_id, net.chain_id()).await;
    let access = Access::only([a, b]);
    for blob in [manifest.encode().unwrap(), CODE.as_bytes().to_vec()]
        .into_iter()
        .chain(INPUTS.iter().map(|i| i.as_bytes().to_vec()))
    {
        s.client.put_content_for(blob, access.clone()).await.unwrap();
    }

    // Two workers with one sandbox each find the scheduler and join it.
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut workers: Vec<Worker> = Vec::new();
    for (key, dir) in keys.iter().zip(&dirs) {
        let config = worker_config(&net, pool_id, dir.path(), s.addr.clone());
        let started = worker::spawn(config, key.clone()).await.unwrap();
        assert_eq!(started.ready().owner, owner.address());
        assert!(started.ready().balances.free > U256::ZERO);
        workers.push(started);
    }
    let peers: Vec<PeerId> = workers.iter().map(Worker::peer_id).collect();
    let mut seen = Vec::new();
    for address in [a, b] {
        s.wait(30, &mut seen, |r| {
            (r.from.address == address && matches!(r.message, Message::JoinRequest(_)))
                .then_some(())
        })
        .await;
    }
    // Heartbeats at the interval given.
    s.wait(10, &mut seen, |r| matches!(r.message, Message::Heartbeat(_)).then_some(())).await;

    // A client buys a deal of the job's three tasks; the operator opens them.
    let (deal, terms) = open_deal(&net, &operator, pool_id, job, INPUTS.len() as u32).await;
    let client = chain(&net, Role::Client).await;
    let tasks: Vec<TaskId> = (0..INPUTS.len() as u64).map(|i| TaskId::derive(deal, i)).collect();
    let deadline = terms.contribution_deadline;

    // Task 0 goes to both workers.
    for (peer, address) in peers.iter().zip([a, b]) {
        let message = assignment(&owner, pool_id, address, tasks[0], job, INPUTS[0], deadline);
        assert_eq!(s.client.request(*peer, message).await.unwrap(), Message::Ack);
    }
    // A forged authorization (signed by the client, not the pool owner) is refused.
    let forged =
        assignment(&signer(&net, Role::Client), pool_id, b, tasks[2], job, INPUTS[2], deadline);
    let refused = s.client.request(peers[1], forged).await.unwrap_err();
    assert!(refused.to_string().contains("not by the pool owner"), "{refused}");
    // Worker a takes the spinning task 1 once task 0 is computed; a third is beyond its slot.
    s.wait(60, &mut seen, |r| {
        (r.from.address == a
            && matches!(&r.message, Message::ContributionNotice(n) if n.task == tasks[0]))
        .then_some(())
    })
    .await;
    let spin = assignment(&owner, pool_id, a, tasks[1], job, INPUTS[1], deadline);
    assert_eq!(s.client.request(peers[0], spin).await.unwrap(), Message::Ack);
    let beyond = assignment(&owner, pool_id, a, tasks[2], job, INPUTS[2], deadline);
    let refused = s.client.request(peers[0], beyond).await.unwrap_err();
    assert!(refused.to_string().contains("no free slot"), "{refused}");

    // Both contributions land on chain and reach the consensus; both workers reveal by
    // themselves and upload the result whose digest they revealed. The first upload is refused
    // (the scheduler has not read the reveal yet): its worker keeps the result and sends it
    // again.
    s.refuse_uploads.store(1, SeqCst);
    s.wait(60, &mut seen, |r| {
        (r.from.address == b
            && matches!(&r.message, Message::ContributionNotice(n) if n.task == tasks[0]))
        .then_some(())
    })
    .await;
    let mut uploads = Vec::new();
    for address in [a, b] {
        let result = s
            .wait(60, &mut seen, |r| match &r.message {
                Message::ResultUpload(u) if r.from.address == address && u.task == tasks[0] => {
                    Some(u.result.clone())
                }
                _ => None,
            })
            .await;
        uploads.push((address, result));
    }
    // Three uploads in all: the refused one was sent again.
    let mut count = 0;
    s.wait(30, &mut seen, |r| {
        if matches!(&r.message, Message::ResultUpload(u) if u.task == tasks[0]) {
            count += 1;
        }
        (count >= 3).then_some(())
    })
    .await;
    let on_chain = revealed(&operator, hub, tasks[0]).await;
    assert_eq!(on_chain.len(), 2, "{on_chain:?}");
    for (address, result) in &uploads {
        let digest = ResultDigest::of(tasks[0], result);
        assert!(on_chain.contains(&(*address, digest)), "{address}: {on_chain:?}");
        let value: serde_json::Value = serde_json::from_slice(result).unwrap();
        assert_eq!(value["square"], 9);
        assert_eq!(value["now"], terms.start * 1000, "Date.now() is the deal's start");
    }
    let report = report::read(client.provider(), hub, deal).await.unwrap();
    let t0 = &report.tasks[0];
    assert_eq!((t0.state, t0.contributors, t0.reveals), (TaskOnChain::Revealing, 2, 2));
    // Progress came, per mille, at most once a second.
    s.wait(10, &mut seen, |r| match &r.message {
        Message::TaskReport(TaskReport { task, report: Report::Progress(500) })
            if *task == tasks[0] =>
        {
            Some(())
        }
        _ => None,
    })
    .await;

    // The spinning task times out: reported as this machine's failure, never voted.
    let (kind, message) = s
        .wait(60, &mut seen, |r| match &r.message {
            Message::TaskReport(TaskReport { task, report: Report::Failed { kind, message } })
                if *task == tasks[1] && r.from.address == a =>
            {
                Some((kind.clone(), message.clone()))
            }
            _ => None,
        })
        .await;
    assert_eq!(kind, "timeout", "{message}");
    let report = report::read(client.provider(), hub, deal).await.unwrap();
    assert_eq!(report.tasks[1].contributors, 0);

    // Assignments the chain contradicts are failed, never run nor voted: an input that is
    // another task's, and a job that is not the deal's (though the scheduler serves it).
    let mut other = manifest.clone();
    other.args = "[1]".into();
    let other_job = other.hash().unwrap();
    s.client.put_content_for(other.encode().unwrap(), Access::only([b])).await.unwrap();
    for (job, input) in [(job, INPUTS[0]), (other_job, INPUTS[2])] {
        let wrong = assignment(&owner, pool_id, b, tasks[2], job, input, deadline);
        assert_eq!(s.client.request(peers[1], wrong).await.unwrap(), Message::Ack);
        let (kind, message) = s
            .wait(60, &mut seen, |r| match &r.message {
                Message::TaskReport(TaskReport {
                    task,
                    report: Report::Failed { kind, message },
                }) if *task == tasks[2] && r.from.address == b => {
                    Some((kind.clone(), message.clone()))
                }
                _ => None,
            })
            .await;
        assert_eq!(kind, "bad_assignment", "{message}");
        let why = if job == other_job { "bought job" } else { "is not input 2" };
        assert!(message.contains(why), "{message}");
        seen.retain(|r| !matches!(&r.message, Message::TaskReport(t) if t.task == tasks[2]));
    }
    let report = report::read(client.provider(), hub, deal).await.unwrap();
    assert_eq!(report.tasks[2].contributors, 0);

    // The pool finalizes task 0: the workers forget it.
    let finalize = Hub::finalizeCall { taskId: tasks[0].0, resultsRef: Default::default() };
    operator
        .send(TransactionRequest::default().to(hub).input(finalize.abi_encode().into()))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    for worker in workers {
        worker.stop();
        tokio::time::timeout(Duration::from_secs(30), worker.join()).await.unwrap().unwrap();
    }
    for dir in &dirs {
        let store = WorkerStore::open(dir.path()).unwrap();
        let held = store.tasks().unwrap();
        assert!(held.is_empty(), "{held:?}");
        assert!(store.cursor().unwrap().is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_rejoins_its_scheduler_after_losing_it() {
    logs();
    let net = devnet().await;
    let operator = chain(&net, Role::PoolOperator).await;
    let owner = signer(&net, Role::PoolOperator);
    let policy = pool::policy(&SchedulerSection::default());
    let pool_id = pool::create(&operator, net.deployment().hub, policy, "").await.unwrap();
    let key = Keypair::generate_ed25519();
    let mut s = scheduler_at(&owner, pool_id, net.chain_id(), key.clone(), None).await;
    let dir = tempfile::tempdir().unwrap();
    let worker_key = worker_keys(&net).remove(0);
    let config = worker_config(&net, pool_id, dir.path(), s.addr.clone());
    let worker = worker::spawn(config, worker_key.clone()).await.unwrap();
    let joined = |r: &Received| matches!(r.message, Message::JoinRequest(_)).then_some(r.peer);
    let mut seen = Vec::new();
    assert_eq!(s.wait(30, &mut seen, joined).await, worker.peer_id());

    // The scheduler goes away and comes back on the same address: the worker joins again.
    let listen: Multiaddr = s.addr.iter().take(2).collect();
    drop(s);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut back = scheduler_at(&owner, pool_id, net.chain_id(), key, Some(listen)).await;
    let mut seen = Vec::new();
    assert_eq!(back.wait(60, &mut seen, joined).await, worker.peer_id());
    back.wait(10, &mut seen, |r| matches!(r.message, Message::Heartbeat(_)).then_some(())).await;

    // An abort drops a task not voted on yet: a reveal asked for it afterwards is refused.
    let task = TaskId::from(alloy::primitives::B256::repeat_byte(0x7a));
    let job = ContentHash::of(b"a job nobody serves");
    let far = u64::MAX / 2;
    let mut message = assignment(&owner, pool_id, worker_key.address(), task, job, "1", far);
    if let Message::TaskAssignment(a) = &mut message {
        a.input = TaskInput::Inline(b"1".to_vec());
    }
    assert_eq!(back.client.request(worker.peer_id(), message).await.unwrap(), Message::Ack);
    let abort = Message::Abort(Abort { task, reason: "planned elsewhere".into() });
    assert_eq!(back.client.request(worker.peer_id(), abort).await.unwrap(), Message::Ack);
    let reveal = Message::RevealRequest(RevealRequest { task });
    let refused = back.client.request(worker.peer_id(), reveal).await.unwrap_err();
    assert!(refused.to_string().contains("holds no task"), "{refused}");

    // Another worker's authorization (signed by the owner, for someone else): refused with its
    // reason. From the pool's own scheduler it is a mistake, not an attack: the scheduler is not
    // banned (a peer that is not the pool's scheduler would be).
    let other = alloy::primitives::Address::repeat_byte(0x42);
    let task = TaskId::from(alloy::primitives::B256::repeat_byte(0x7b));
    let mut stolen = assignment(&owner, pool_id, other, task, job, "1", far);
    if let Message::TaskAssignment(a) = &mut stolen {
        a.input = TaskInput::Inline(b"1".to_vec());
    }
    let refused = back.client.request(worker.peer_id(), stolen).await.unwrap_err();
    assert!(refused.to_string().contains("not by the pool owner"), "{refused}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let reveal = Message::RevealRequest(RevealRequest { task });
    let still = back.client.request(worker.peer_id(), reveal).await.unwrap_err();
    assert!(still.to_string().contains("holds no task"), "still heard: {still}");
    worker.stop();
    worker.join().await.unwrap();
}

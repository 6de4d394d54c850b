//! The scheduler against clients and workers that do not play fair, on real parts (anvil with
//! the real Hub, libp2p on loopback, redb, real sandboxes): a job that fails on a later input
//! is refused, a client's offers are capped; a swarm of fresh identities reporting
//! machine failures cannot fail a task, and only a replica's holder reports its progress;
//! uploads that come before the reveal are refused until it is read; a deal's job blobs stop being
//! served when it ends, its results stay for its client across a restart and go after the
//! retention period.

use std::time::Duration;

use alloy::{
    primitives::{Address, utils::parse_ether},
    signers::local::PrivateKeySigner,
    sol_types::SolValue,
};
use quorate_contracts::{
    bindings::IHub::PoolOrder,
    sign::{hub_domain, pool_order_digest},
};
use quorate_devnet::{Devnet, Role};
use quorate_node::{
    chain::Chain,
    client::deal::{Purchase, buy},
    config::NodeConfig,
    job::Job,
    scheduler::{
        pool,
        service::{self, Settings},
        state::{PoolRecord, SchedulerState},
    },
    worker::{
        chain as worker_chain,
        exec::{ExecConfig, Executor},
    },
};
use quorate_p2p::{
    Client as P2p, Event, Multiaddr, PeerId,
    data::Access,
    fetch::{FetchConfig, fetch},
    identity::Purpose,
    wire::{self, JobState, Message as Wire, TaskInput, TaskPhase},
};
use quorate_primitives::{
    ContentHash, DealId, EvaluatorKind, JobLimits, JobManifest, PoolId, ResultDigest, TaskId,
};
use tokio::sync::mpsc;

use super::{peer, run_task, within};
use crate::common::{config, devnet, evaluator, signer};

/// A devnet, a pool and its scheduler (no worker yet).
pub(super) struct Bare {
    pub(super) net: Devnet,
    hub: Address,
    pub(super) chain_id: u64,
    pub(super) owner: PrivateKeySigner,
    pub(super) pool_id: PoolId,
    pub(super) node: NodeConfig,
    pub(super) running: service::Running,
    pub(super) scheduler: PeerId,
    _dir: tempfile::TempDir,
}

impl Bare {
    pub(super) async fn start(tweak: impl FnOnce(&mut NodeConfig)) -> Self {
        let net = devnet().await;
        let hub = net.deployment().hub;
        let chain_id = net.chain_id();
        let owner = signer(&net, Role::PoolOperator);
        let operator = crate::common::chain(&net, Role::PoolOperator).await;
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
        tweak(&mut node);
        let (pool_id, since_block) =
            pool::create_at(&operator, hub, pool::policy(&node.scheduler), "").await.unwrap();
        SchedulerState::open(&node)
            .unwrap()
            .set_pool(PoolRecord { pool: pool_id, owner: owner.address(), hub, since_block })
            .unwrap();
        let running = run(&node, &owner, chain_id).await;
        let scheduler = running.p2p.peer_id();
        Self { net, hub, chain_id, owner, pool_id, node, running, scheduler, _dir: dir }
    }

    pub(super) fn addr(&self) -> Multiaddr {
        self.running.addrs[0].clone().with(quorate_p2p::multiaddr::Protocol::P2p(self.scheduler))
    }

    /// A p2p peer proven as `purpose` by `key`, connected to the scheduler.
    pub(super) async fn peer(
        &self,
        key: &PrivateKeySigner,
        purpose: Purpose,
    ) -> (P2p, mpsc::Receiver<Event>) {
        let (p2p, events) = peer(key, purpose, self.chain_id).await;
        p2p.dial(self.addr()).await.unwrap();
        within(10, "connecting to the scheduler", p2p.ready(self.scheduler)).await.unwrap();
        (p2p, events)
    }
}

/// `quorate scheduler run` on `node`'s data directory.
async fn run(node: &NodeConfig, owner: &PrivateKeySigner, chain_id: u64) -> service::Running {
    let keypair = service::keypair(node).unwrap();
    service::start(Settings {
        config: node.clone(),
        owner: owner.clone(),
        p2p: quorate_p2p::Config::test(keypair, chain_id),
    })
    .await
    .unwrap()
}

/// A client of the pool: its p2p peer (which heard the pool's order) and its chain handle.
struct Buyer {
    p2p: P2p,
    chain: Chain,
    order: PoolOrder,
    order_signature: [u8; 65],
    order_hash: alloy::primitives::B256,
    owner: Address,
}

impl Buyer {
    async fn new(pool: &Bare) -> Self {
        let key = signer(&pool.net, Role::Client);
        let (p2p, mut events) = pool.peer(&key, Purpose::Client).await;
        let (order, order_signature) = within(30, "the pool's order", async {
            loop {
                if let Some(Event::Order { order, .. }) = events.recv().await
                    && order.pool == pool.pool_id
                {
                    break (PoolOrder::abi_decode(&order.order).unwrap(), order.signature);
                }
            }
        })
        .await;
        // The events must keep flowing for the node to go on.
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        let order_hash = pool_order_digest(&order, &hub_domain(pool.chain_id, pool.hub));
        let chain = Chain::connect(&config(&pool.net), key).await.unwrap();
        Self { p2p, chain, order, order_signature, order_hash, owner: pool.owner.address() }
    }

    /// Serves `job`'s blobs to the pool and offers it; the answer.
    async fn offer(
        &self,
        pool: &Bare,
        job: &Job,
    ) -> (ContentHash, Result<Wire, quorate_p2p::Error>) {
        let manifest = job.manifest().unwrap();
        let only_pool = || Access::only([self.owner]);
        self.p2p.put_content_for(manifest.encode().unwrap(), only_pool()).await.unwrap();
        self.p2p.put_content_for(job.code.clone().into_bytes(), only_pool()).await.unwrap();
        for input in &job.inputs {
            self.p2p.put_content_for(input.clone().into_bytes(), only_pool()).await.unwrap();
        }
        let hash = manifest.hash().unwrap();
        let offer = wire::JobOffer {
            pool: pool.pool_id,
            job: hash,
            order: self.order_hash,
            task_count: u32::try_from(job.inputs.len()).unwrap(),
            trust: 3,
        };
        (hash, self.p2p.request(pool.scheduler, Wire::JobOffer(offer)).await)
    }

    /// The job's state once the intake is over.
    async fn verdict(&self, pool: &Bare, job: ContentHash) -> JobState {
        within(120, "the pool's verdict", async {
            loop {
                let asked = Wire::JobStatusRequest(wire::JobStatusRequest { job });
                match self.p2p.request(pool.scheduler, asked).await.unwrap() {
                    Wire::JobStatus(wire::JobStatus {
                        state: JobState::Fetching { .. }, ..
                    }) => {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Wire::JobStatus(status) => break status.state,
                    other => panic!("{other:?}"),
                }
            }
        })
        .await
    }

    /// Offers `job`, waits for the consent and buys the deal.
    async fn buy(&self, pool: &Bare, job: &Job) -> DealId {
        let (hash, answer) = self.offer(pool, job).await;
        assert_eq!(answer.unwrap(), Wire::Ack);
        let JobState::Consented { signature, .. } = self.verdict(pool, hash).await else {
            panic!("not consented")
        };
        let time = self.chain.latest_time().await.unwrap();
        let purchase = Purchase {
            order: self.order.clone(),
            order_signature: self.order_signature.to_vec().into(),
            consent: signature.to_vec().into(),
            job: hash,
            tasks: u32::try_from(job.inputs.len()).unwrap(),
            trust: 3,
            max_price: parse_ether("5").unwrap(),
            beneficiary: self.chain.address(),
        };
        buy(&self.chain, pool.hub, &purchase, time).await.unwrap()
    }

    /// The deal's tasks once every one is completed with a result.
    async fn completed(&self, pool: &Bare, deal: DealId, tasks: u32) -> Vec<wire::TaskEntry> {
        within(150, "the deal's results", async {
            loop {
                let request =
                    wire::DealStatusRequest { deal, from: 0, count: tasks, console_from: None };
                if let Ok(Wire::DealStatus(status)) =
                    self.p2p.request(pool.scheduler, Wire::DealStatusRequest(request)).await
                    && status.tasks.len() == tasks as usize
                    && status
                        .tasks
                        .iter()
                        .all(|t| t.phase == TaskPhase::Completed && t.result.is_some())
                {
                    break status.tasks;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        })
        .await
    }
}

fn job(code: &str, inputs: &[&str], args: &str) -> Job {
    Job {
        code: code.into(),
        inputs: inputs.iter().map(|i| (*i).to_owned()).collect(),
        args: args.into(),
        limits: JobLimits::default(),
        evaluator: EvaluatorKind::JavaScript,
        gpu: quorate_primitives::GpuNeeds::NONE,
        modules: Vec::new(),
    }
}

async fn join(p2p: &P2p, scheduler: PeerId, pool: PoolId) {
    let capabilities = wire::WorkerCapabilities {
        slots: 4,
        memory_mib: 1024,
        evaluators: wire::evaluators::JS,
        gpu_class: None,
        gpu_memory_mib: 0,
        float_probe: None,
    };
    let join = wire::JoinRequest { pool, capabilities, credential: None };
    let joined = p2p.request(scheduler, Wire::JoinRequest(join)).await.unwrap();
    assert!(matches!(joined, Wire::JoinAccepted(_)), "{joined:?}");
}

/// An honest worker on a devnet account that uploads its result *before* sending its reveal
/// (so the scheduler must keep it until it reads the reveal). Returns its p2p handle.
async fn honest(pool: &Bare, account: usize, seen: mpsc::Sender<String>) -> P2p {
    let key = pool
        .net
        .accounts()
        .iter()
        .filter(|a| a.role == Role::Worker)
        .nth(account)
        .map(|a| PrivateKeySigner::from_bytes(&a.key).unwrap())
        .unwrap();
    let (p2p, mut events) = pool.peer(&key, Purpose::Worker).await;
    let chain = Chain::connect(&config(&pool.net), key).await.unwrap();
    let (scheduler, hub, pool_id) = (pool.scheduler, pool.hub, pool.pool_id);
    join(&p2p, scheduler, pool_id).await;
    let me = p2p.clone();
    tokio::spawn(async move {
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
        let mut heartbeat = tokio::time::interval(Duration::from_secs(4));
        loop {
            tokio::select! {
                _ = heartbeat.tick() => {
                    let beat = wire::Heartbeat { pool: pool_id, free_slots: 4, running: 0 };
                    let _ = p2p.request(scheduler, Wire::Heartbeat(beat)).await;
                }
                event = events.recv() => {
                    let Some(event) = event else { return };
                    let Event::Request { message, responder, .. } = event else { continue };
                    p2p.respond(responder, Wire::Ack).await.unwrap();
                    match message {
                        Wire::TaskAssignment(a) => {
                            let (providers, fetching) = ([scheduler], FetchConfig::default());
                            let get = |hash| fetch(&p2p, &providers, hash, &fetching);
                            let manifest = JobManifest::decode(&get(a.job).await.unwrap()).unwrap();
                            let code = get(manifest.code).await.unwrap();
                            let input = match a.input {
                                TaskInput::Inline(bytes) => bytes,
                                TaskInput::ByHash { hash, .. } => get(hash).await.unwrap(),
                            };
                            let input = String::from_utf8(input).unwrap();
                            let bytes = run_task(&executor, &manifest, &code, a.task, input).await;
                            let digest = ResultDigest::of(a.task, &bytes);
                            worker_chain::contribute(&chain, hub, a.task, digest, &a.authorization).await.unwrap();
                            results.insert(a.task, (digest, bytes));
                        }
                        Wire::RevealRequest(r) => {
                            let (digest, bytes) = results[&r.task].clone();
                            let upload = wire::ResultUpload { task: r.task, result: bytes.clone() };
                            let early = p2p.request(scheduler, Wire::ResultUpload(upload)).await;
                            let _ = seen.send(format!("early upload: {early:?}")).await;
                            if worker_chain::reveal(&chain, hub, r.task, digest).await.is_ok() {
                                let _ = seen.send("revealed".into()).await;
                            }
                            // Sent again until the scheduler has read the reveal.
                            for _ in 0..60 {
                                let upload = wire::ResultUpload { task: r.task, result: bytes.clone() };
                                let answer = p2p.request(scheduler, Wire::ResultUpload(upload)).await;
                                if matches!(answer, Ok(Wire::Ack)) {
                                    let _ = seen.send("uploaded".into()).await;
                                    break;
                                }
                                tokio::time::sleep(Duration::from_millis(250)).await;
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    });
    me
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_failing_past_its_first_input_is_refused_and_offers_are_capped() {
    let pool = Bare::start(|node| node.scheduler.max_pending_offers_per_client = 2).await;
    let buyer = Buyer::new(&pool).await;
    // Built to fail past its first input (it spins on the last): every input of three is
    // sampled, so the pool sees it before it consents.
    let mut sly = job("(n) => { if (n === 3) { for (;;) {} } return n }", &["1", "2", "3"], "[]");
    sly.limits.timeout_ms = 1_000;
    let (hash, answer) = buyer.offer(&pool, &sly).await;
    assert_eq!(answer.unwrap(), Wire::Ack);
    let verdict = buyer.verdict(&pool, hash).await;
    assert!(
        matches!(&verdict, JobState::Refused { reason } if reason.contains("task 2 failed")),
        "{verdict:?}"
    );
    // Two offers not bought are what this client may have; the third waits for them.
    for args in ["[1]", "[2]"] {
        let (hash, answer) = buyer.offer(&pool, &job("(n) => n * 2", &["1", "2"], args)).await;
        assert_eq!(answer.unwrap(), Wire::Ack);
        // Offered again as it is: answered as before.
        let (_, again) = buyer.offer(&pool, &job("(n) => n * 2", &["1", "2"], args)).await;
        assert_eq!(again.unwrap(), Wire::Ack);
        assert!(matches!(buyer.verdict(&pool, hash).await, JobState::Consented { .. }));
    }
    let (_, third) = buyer.offer(&pool, &job("(n) => n * 2", &["1", "2"], "[3]")).await;
    assert!(
        matches!(&third, Err(quorate_p2p::Error::Refused { reason }) if reason.contains("not bought")),
        "{third:?}"
    );
    pool.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_identities_reporting_failures_cannot_fail_a_task() {
    let pool = Bare::start(|_| {}).await;
    // Three sybils (fresh keys, no score): each takes what it is given, says it progresses,
    // then that its machine failed.
    let (failures_tx, mut failures) = mpsc::channel::<TaskId>(16);
    for _ in 0..3 {
        let key = PrivateKeySigner::random();
        let (p2p, mut events) = pool.peer(&key, Purpose::Worker).await;
        join(&p2p, pool.scheduler, pool.pool_id).await;
        let (scheduler, failures) = (pool.scheduler, failures_tx.clone());
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                let Event::Request { message, responder, .. } = event else { continue };
                p2p.respond(responder, Wire::Ack).await.unwrap();
                let Wire::TaskAssignment(a) = message else { continue };
                let progress =
                    wire::TaskReport { task: a.task, report: wire::Report::Progress(10) };
                let taken = p2p.request(scheduler, Wire::TaskReport(progress)).await;
                assert_eq!(taken.unwrap(), Wire::Ack, "a replica's holder reports progress");
                let failed =
                    wire::Report::Failed { kind: "timeout".into(), message: "slow".into() };
                let report = wire::TaskReport { task: a.task, report: failed };
                assert_eq!(
                    p2p.request(scheduler, Wire::TaskReport(report)).await.unwrap(),
                    Wire::Ack
                );
                let _ = failures.send(a.task).await;
            }
        });
    }
    let buyer = Buyer::new(&pool).await;
    let deal = buyer.buy(&pool, &job("(n) => n * 2", &["21"], "[]")).await;
    let task = TaskId::derive(deal, 0);
    // Every sybil failed the task: as many failures as give a task up when they count.
    for _ in 0..3 {
        assert_eq!(within(60, "the sybils' failures", failures.recv()).await, Some(task));
    }
    // Someone holding no replica of it cannot report its progress.
    let (stranger, _events) = pool.peer(&PrivateKeySigner::random(), Purpose::Worker).await;
    let progress = wire::TaskReport { task, report: wire::Report::Progress(999) };
    let refused = stranger.request(pool.scheduler, Wire::TaskReport(progress)).await;
    assert!(
        matches!(&refused, Err(quorate_p2p::Error::Refused { reason }) if reason.contains("no replica")),
        "{refused:?}"
    );
    // Honest workers join: the task is still planned, and completes.
    let (seen, mut lines) = mpsc::channel(64);
    for account in 0..3 {
        honest(&pool, account, seen.clone()).await;
    }
    let entries = buyer.completed(&pool, deal, 1).await;
    while let Ok(line) = lines.try_recv() {
        eprintln!("worker: {line}");
    }
    let bytes =
        fetch(&buyer.p2p, &[pool.scheduler], entries[0].result.unwrap(), &FetchConfig::default())
            .await
            .unwrap();
    assert_eq!(bytes, b"42");
    pool.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_uploads_are_refused_until_the_reveal_is_read_and_results_go_when_their_time_is_up() {
    let mut pool = Bare::start(|_| {}).await;
    let (seen, mut lines) = mpsc::channel(64);
    let mut workers = Vec::new();
    for account in 0..3 {
        workers.push(honest(&pool, account, seen.clone()).await);
    }
    let buyer = Buyer::new(&pool).await;
    let doubling = job("(n) => n * 2", &["1", "2", "3"], "[]");
    let manifest = doubling.manifest().unwrap();
    let deal = buyer.buy(&pool, &doubling).await;
    // Every worker uploaded before revealing: refused (a result is acknowledged only once the
    // scheduler has read its reveal and stored it), then sent again and taken.
    let entries = buyer.completed(&pool, deal, 3).await;
    let mut early = Vec::new();
    while let Ok(line) = lines.try_recv() {
        early.push(line);
    }
    assert!(
        early
            .iter()
            .any(|l| l.starts_with("early upload: Err")
                && l.contains("not read this task's reveal yet")),
        "{early:?}"
    );
    assert!(early.iter().any(|l| l == "uploaded"), "{early:?}");
    // Once every task is finalized on chain, the job's code is served no more.
    within(60, "the job's blobs withdrawn", async {
        loop {
            let got =
                fetch(&workers[0], &[pool.scheduler], manifest.code, &FetchConfig::default()).await;
            if got.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
    .await;
    // The results outlive the deal, and a restart: its client fetches them from the new run.
    pool.running.stop().await.unwrap();
    pool.running = run(&pool.node, &pool.owner, pool.chain_id).await;
    buyer.p2p.dial(pool.addr()).await.unwrap();
    within(10, "reconnecting", buyer.p2p.ready(pool.scheduler)).await.unwrap();
    let result = entries[1].result.unwrap();
    let bytes =
        fetch(&buyer.p2p, &[pool.scheduler], result, &FetchConfig::default()).await.unwrap();
    assert_eq!(bytes, b"4");
    // Past the retention period they are gone (from memory and from the data directory).
    pool.running.stop().await.unwrap();
    pool.node.scheduler.result_retention_secs = 1;
    tokio::time::sleep(Duration::from_secs(2)).await;
    pool.running = run(&pool.node, &pool.owner, pool.chain_id).await;
    buyer.p2p.dial(pool.addr()).await.unwrap();
    within(10, "reconnecting", buyer.p2p.ready(pool.scheduler)).await.unwrap();
    let gone = fetch(&buyer.p2p, &[pool.scheduler], result, &FetchConfig::default()).await;
    assert!(gone.is_err(), "a result past its retention period is still served");
    pool.running.stop().await.unwrap();
}

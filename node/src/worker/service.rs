//! The worker's event loop: one `select!` that only translates between the edges (the
//! network's events, the Hub's events from the follower, the sandboxes' outcomes and progress,
//! the chain actor's receipts, timers) and the held tasks' state machines ([`super::task`]),
//! storing every task after each change and before acting on it. What each input does is in
//! `actions`; this file sets the edges up and runs the loop.
//!
//! Every channel is bounded; every action runs on its own tokio task (one per held task at
//! most) and comes back as a [`Done`].

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, keccak256},
    providers::Provider,
    rpc::types::TransactionReceipt,
    signers::local::PrivateKeySigner,
};
use quorate_evaluator::sandbox::Event as SandboxEvent;
use quorate_p2p::{
    Client, Event, Keypair, Message, PeerId,
    identity::{IdentityProof, JoinCredential, Purpose, VerifyPolicy},
};
use quorate_primitives::{PoolId, TaskId};
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
};
use tracing::{info, warn};

use super::{
    WorkerConfig, WorkerError,
    exec::Executor,
    link::Link,
    preflight::{self, Ready},
    run::Runner,
    store::WorkerStore,
    task::HeldTask,
};
use crate::{
    chain::{Chain, ChainError, Cursor, EventBatch, Follower},
    job::local::LocalOutcome,
};

/// Capacity of the channel the actions answer on.
const DONE_CAPACITY: usize = 256;
/// Capacity of the sandboxes' progress channel; more is dropped (progress is advisory).
const PROGRESS_CAPACITY: usize = 256;
/// Chain batches waiting for the loop.
const CHAIN_CAPACITY: usize = 8;
/// How often waiting work is looked at again (retries, deadlines, backoffs).
const TICK: Duration = Duration::from_secs(1);

/// What an action sends back to the loop.
#[derive(Debug)]
pub(super) enum Done {
    /// The network found the pool's scheduler.
    Found(PeerId),
    /// A join request was answered.
    Joined { peer: PeerId, answer: Result<Message, quorate_p2p::Error> },
    /// A heartbeat was answered.
    Heartbeat { peer: PeerId, answer: Result<Message, quorate_p2p::Error> },
    /// The recovery request was answered.
    Recovered { answer: Result<Message, quorate_p2p::Error> },
    /// A task ran (or could not run).
    Ran {
        task: TaskId,
        outcome: LocalOutcome,
        /// When the run started (its data fetched from here on).
        started: std::time::Instant,
        /// The part spent queued for and in a sandbox.
        sandbox: std::time::Duration,
        /// When the run ended (what follows is the wait for the loop, and the store).
        ended: std::time::Instant,
    },
    /// A `contribute` was mined or refused.
    /// `on_chain`: refused, but this worker's vote on the task is on chain (sent before a
    /// crash).
    Contributed { task: TaskId, result: Result<TransactionReceipt, ChainError>, on_chain: bool },
    /// A `reveal` was mined or refused.
    /// `on_chain`: refused, but this worker's reveal is on chain (sent before a crash).
    Revealed { task: TaskId, result: Result<TransactionReceipt, ChainError>, on_chain: bool },
    /// A failure report was answered.
    Reported { task: TaskId, answer: Result<Message, quorate_p2p::Error> },
    /// A result upload was answered.
    Uploaded { task: TaskId, answer: Result<Message, quorate_p2p::Error> },
    /// The scheduler asked for a reveal: the task's reveal deadline on chain, if it reveals.
    RevealAsked { task: TaskId, deadline: Result<Option<u64>, String> },
}

/// The worker's loop state.
pub(super) struct Service {
    pub(super) pool: PoolId,
    /// The pool owner's join credential, for a private pool.
    pub(super) credential: Option<JoinCredential>,
    pub(super) owner: Address,
    pub(super) me: Address,
    pub(super) hub: Address,
    pub(super) chain: Chain,
    pub(super) client: Client,
    pub(super) store: WorkerStore,
    pub(super) runner: Arc<Runner>,
    pub(super) slots: usize,
    pub(super) memory_mib: u32,
    pub(super) gpu: bool,
    /// Held tasks, as stored.
    pub(super) tasks: HashMap<TaskId, HeldTask>,
    /// Tasks with an action in flight (at most one each).
    pub(super) busy: HashSet<TaskId>,
    /// Tasks whose last action failed for a passing reason: not before, and the next wait.
    pub(super) retry: HashMap<TaskId, (Instant, Duration)>,
    /// Sends of a task's current call that reverted for a reason not read, so far.
    pub(super) unread: HashMap<TaskId, u32>,
    /// Machine failures' messages, for the report (the store keeps the kind).
    pub(super) failures: HashMap<TaskId, String>,
    /// When each running task's progress was last sent.
    pub(super) progress_sent: HashMap<TaskId, Instant>,
    /// Console lines of running tasks, waiting to be relayed.
    pub(super) console: super::console::ConsoleRelay,
    pub(super) link: Link,
    pub(super) heartbeat: Option<tokio::time::Interval>,
    pub(super) done: mpsc::Sender<Done>,
    /// Set on stop: no new tasks; the loop ends once the running ones are voted, or then.
    pub(super) draining: Option<Instant>,
    /// When the cursor was last stored without a change.
    pub(super) cursor_stored: Instant,
    /// Since when no scheduler is connected (said in the log every minute).
    pub(super) searching: Option<Instant>,
    /// The scheduler joined, for [`Worker::joined`].
    pub(super) joined: watch::Sender<Option<PeerId>>,
    /// What the status counts.
    pub(super) meter: super::status::Meter,
    /// Where the status goes every second.
    pub(super) status: watch::Sender<Arc<super::status::WorkerStatus>>,
    /// The status server, while the loop runs.
    pub(super) _server: Option<crate::http::Server>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("pool", &self.pool)
            .field("me", &self.me)
            .field("tasks", &self.tasks.len())
            .finish_non_exhaustive()
    }
}

/// A running worker. [`Worker::stop`] then [`Worker::join`] end it; dropping the handle stops it
/// the same way (a drain), without waiting.
#[derive(Debug)]
pub struct Worker {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), WorkerError>>,
    peer: PeerId,
    ready: Ready,
    joined: watch::Receiver<Option<PeerId>>,
    status: watch::Receiver<Arc<super::status::WorkerStatus>>,
    balances: watch::Receiver<crate::http::balances::Balances>,
    status_url: Option<String>,
}

impl Worker {
    /// What the worker says of itself, every second.
    pub fn status(&self) -> watch::Receiver<Arc<super::status::WorkerStatus>> {
        self.status.clone()
    }

    /// Its balances, as last read.
    pub fn balances(&self) -> watch::Receiver<crate::http::balances::Balances> {
        self.balances.clone()
    }

    /// Where its status and metrics are served, if they are.
    pub fn status_url(&self) -> Option<&str> {
        self.status_url.as_deref()
    }

    /// The worker's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer
    }

    /// What the checks before joining found (the pool's owner, the worker's balances).
    pub fn ready(&self) -> &Ready {
        &self.ready
    }

    /// The scheduler the worker is joined to (`None` while it looks for one or is turned
    /// away), as it changes.
    pub fn joined(&self) -> watch::Receiver<Option<PeerId>> {
        self.joined.clone()
    }

    /// Stops taking tasks; the loop ends once its running tasks are computed and voted (or
    /// the drain time is over). What the store says is owed is finished by the next start.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Waits for the loop to end.
    pub async fn join(self) -> Result<(), WorkerError> {
        self.task.await.map_err(|e| WorkerError::Stopped(e.to_string()))?
    }
}

/// Runs a worker until `shutdown` completes, then drains it.
pub async fn run(
    config: WorkerConfig,
    signer: PrivateKeySigner,
    shutdown: impl Future<Output = ()>,
) -> Result<(), WorkerError> {
    let mut worker = spawn(config, signer).await?;
    let ended = tokio::select! {
        () = shutdown => None,
        ended = &mut worker.task => Some(ended),
    };
    match ended {
        None => {
            worker.stop();
            worker.join().await
        }
        Some(ended) => ended.map_err(|e| WorkerError::Stopped(e.to_string()))?,
    }
}

use crate::unix_now;

/// The worker's libp2p key, derived from its Ethereum key (one-way): the same peer id across
/// restarts, and no second secret to keep.
fn keypair(signer: &PrivateKeySigner) -> Result<Keypair, WorkerError> {
    let mut seed = b"quorate worker p2p key v1".to_vec();
    seed.extend_from_slice(signer.to_bytes().as_slice());
    let secret = keccak256(&seed);
    Keypair::ed25519_from_bytes(secret.0)
        .map_err(|e| WorkerError::Config(format!("cannot derive the peer key: {e}")))
}

/// A join credential that cannot get this worker into `pool` is refused before anything
/// starts, with what is wrong with it.
fn check_credential(
    credential: &JoinCredential,
    pool: PoolId,
    owner: Address,
    me: Address,
    chain_id: u64,
) -> Result<(), WorkerError> {
    let policy = VerifyPolicy { chain_id, max_validity_s: u64::MAX };
    credential.verify(pool, owner, me, unix_now(), &policy).map_err(|e| {
        WorkerError::Credential(match e {
            quorate_p2p::Error::Expired { .. } => {
                "expired: ask the pool's operator for a new one".to_owned()
            }
            e => format!("is not for this worker in {pool}: {e}; ask the pool's operator for one signed for {me}"),
        })
    })
}

fn proof(
    signer: &PrivateKeySigner,
    peer: &PeerId,
    chain_id: u64,
    ttl: Duration,
) -> Result<IdentityProof, WorkerError> {
    let expires = unix_now().saturating_add(ttl.as_secs());
    Ok(IdentityProof::sign(signer, signer.address(), peer, Purpose::Worker, chain_id, expires)?)
}

/// Starts a worker: checks (the pool, gas, stake), opens the store, starts the sandboxes, the
/// network and the chain follower, and spawns the loop, which then finds the scheduler, joins
/// and resumes whatever the store holds.
pub async fn spawn(config: WorkerConfig, signer: PrivateKeySigner) -> Result<Worker, WorkerError> {
    config.validate()?;
    let chain = Chain::connect(&config.chain, signer.clone()).await?;
    let me = chain.address();
    let ready = preflight::check(chain.provider(), config.hub, config.pool, me).await?;
    info!(target: "quorate::worker", pool = config.pool.0, owner = %ready.owner, "{ready}");
    if let Some(credential) = &config.credential {
        check_credential(credential, config.pool, ready.owner, me, chain.chain_id())?;
    }
    let store = WorkerStore::open(&config.data_dir)?;
    let tasks: HashMap<TaskId, HeldTask> =
        store.tasks()?.into_iter().map(|t| (t.assignment.task, t)).collect();
    let jobs: Vec<_> = tasks.values().map(|t| t.assignment.job).collect();
    store.prune_jobs(&jobs)?;

    let pipeline = config.pipeline.max(1);
    let executor = Executor::start_queued(&config.exec, pipeline).map_err(WorkerError::Sandbox)?;
    let slots = executor.sandboxes().saturating_mul(pipeline);
    let keypair = keypair(&signer)?;
    let peer = keypair.public().to_peer_id();
    let network = quorate_p2p::Config {
        listen: config.listen.clone(),
        bootstrap: config.bootstrap.clone(),
        mdns: config.mdns,
        dht_server: false,
        pool_owners: vec![(config.pool, ready.owner)],
        ..quorate_p2p::Config::new(keypair, chain.chain_id())
    };
    let (client, events) =
        quorate_p2p::spawn(network, proof(&signer, &peer, chain.chain_id(), config.proof_ttl)?)?;

    let cursor = match store.cursor()? {
        Some(cursor) => cursor,
        None => {
            // The first start: nothing held yet, the Hub followed from now on (stored at once,
            // so a task taken before the first batch is never followed from a later block).
            let head = chain
                .provider()
                .get_block_number()
                .await
                .map_err(|e| ChainError::from_rpc("eth_blockNumber", "the chain node", &e))?;
            let cursor = Cursor::at(head);
            store.apply_chain(&[], &[], cursor)?;
            cursor
        }
    };
    let follower = Follower::new(chain.provider().clone(), config.hub, cursor, &config.chain);
    let (chain_tx, chain_rx) = mpsc::channel(CHAIN_CAPACITY);
    tokio::spawn(follow(follower, chain_tx));

    let (progress_tx, progress_rx) = mpsc::channel(PROGRESS_CAPACITY);
    let runner = Runner::new(
        client.clone(),
        store.clone(),
        chain.provider().clone(),
        config.hub,
        executor,
        progress_tx,
        config.fetch.clone(),
        config.exec.gpu,
        config.exec.task_memory_mib,
        config.chain.log_block_range,
    );
    let (done, done_rx) = mpsc::channel(DONE_CAPACITY);
    {
        let (client, done, pool, owner) = (client.clone(), done.clone(), config.pool, ready.owner);
        tokio::spawn(async move {
            if let Ok(peer) = client.find_scheduler(pool, owner).await {
                let _ = done.send(Done::Found(peer)).await;
            }
        });
    }
    if !tasks.is_empty() {
        info!(target: "quorate::worker", held = tasks.len(), "resuming the tasks the store holds");
    }
    let (joined_tx, joined) = watch::channel(None);
    let (status_tx, status) = watch::channel(Arc::new(super::status::WorkerStatus::default()));
    let (balances_tx, balances) = watch::channel(crate::http::balances::Balances::default());
    tokio::spawn(crate::http::balances::follow(
        chain.provider().clone(),
        config.hub,
        me,
        balances_tx,
    ));
    let url_file = config.data_dir.join("worker").join(super::status::URL_FILE);
    let _ = std::fs::remove_file(&url_file);
    let server = match &config.status {
        Some(listen) => {
            let router = super::status::router(status.clone(), balances.clone());
            let server = crate::http::serve(listen, router)
                .await
                .map_err(|e| WorkerError::Config(format!("worker.status_listen: {e:#}")))?;
            if let Err(e) = std::fs::write(&url_file, &server.url) {
                warn!(target: "quorate::worker", "cannot write {}: {e}", url_file.display());
            }
            info!(target: "quorate::worker", url = %server.url, "status served");
            Some(server)
        }
        None => None,
    };
    let status_url = server.as_ref().map(|s| s.url.clone());
    // Where the Hub pays this worker's rewards, for the status's earnings.
    let payout = quorate_contracts::bindings::Hub::new(config.hub, chain.provider().clone())
        .payoutOf(me)
        .call()
        .await
        .ok()
        .filter(|p| *p != me);
    let service = Service {
        pool: config.pool,
        credential: config.credential.clone(),
        owner: ready.owner,
        me,
        hub: config.hub,
        chain,
        client,
        store,
        runner: Arc::new(runner),
        slots,
        memory_mib: u32::try_from(config.exec.task_memory_mib).unwrap_or(u32::MAX),
        gpu: config.exec.gpu,
        tasks,
        busy: HashSet::new(),
        retry: HashMap::new(),
        unread: HashMap::new(),
        failures: HashMap::new(),
        progress_sent: HashMap::new(),
        console: super::console::ConsoleRelay::default(),
        link: Link::new(),
        heartbeat: None,
        done,
        draining: None,
        cursor_stored: Instant::now(),
        searching: Some(Instant::now()),
        joined: joined_tx,
        meter: super::status::Meter { payout, ..Default::default() },
        status: status_tx,
        _server: server,
    };
    let (stop, stop_rx) = watch::channel(false);
    let inputs =
        Inputs { events, chain: chain_rx, done: done_rx, progress: progress_rx, stop: stop_rx };
    let task = tokio::spawn(service.run(inputs, signer, config.proof_ttl, config.drain));
    Ok(Worker { stop, task, peer, ready, joined, status, balances, status_url })
}

/// Hands the Hub's events to the loop, batch by batch; an error ends it.
async fn follow(mut follower: Follower, tx: mpsc::Sender<Result<EventBatch, ChainError>>) {
    loop {
        let batch = follower.next().await;
        let failed = batch.is_err();
        if tx.send(batch).await.is_err() || failed {
            return;
        }
    }
}

/// The loop's inputs.
struct Inputs {
    events: mpsc::Receiver<Event>,
    chain: mpsc::Receiver<Result<EventBatch, ChainError>>,
    done: mpsc::Receiver<Done>,
    progress: mpsc::Receiver<(TaskId, SandboxEvent)>,
    stop: watch::Receiver<bool>,
}

impl Service {
    async fn run(
        mut self,
        mut inputs: Inputs,
        signer: PrivateKeySigner,
        proof_ttl: Duration,
        drain: Duration,
    ) -> Result<(), WorkerError> {
        let mut tick = tokio::time::interval(TICK);
        let mut renew = tokio::time::interval(proof_ttl / 2);
        renew.tick().await;
        self.drive_all();
        let result = loop {
            let heartbeat = async {
                match self.heartbeat.as_mut() {
                    Some(interval) => interval.tick().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                changed = inputs.stop.changed(), if self.draining.is_none() => {
                    if changed.is_err() || *inputs.stop.borrow() {
                        self.draining = Some(Instant::now() + drain);
                        let running = self.tasks.values().filter(|t| t.holds_slot()).count();
                        info!(target: "quorate::worker", running, "stopping: no new tasks; the running ones are finished first");
                    }
                }
                Some(done) = inputs.done.recv() => {
                    if let Err(e) = self.on_done(done).await {
                        break Err(e);
                    }
                }
                batch = inputs.chain.recv() => match batch {
                    Some(Ok(batch)) => {
                        if let Err(e) = self.on_chain(&batch) {
                            break Err(e);
                        }
                    }
                    Some(Err(e)) => break Err(e.into()),
                    None => break Err(ChainError::Closed.into()),
                },
                event = inputs.events.recv() => match event {
                    Some(event) => {
                        if let Err(e) = self.on_network(event).await {
                            break Err(e);
                        }
                    }
                    None => break Err(quorate_p2p::Error::Shutdown.into()),
                },
                Some((task, event)) = inputs.progress.recv() => self.on_event(task, &event),
                _ = heartbeat => self.send_heartbeat(),
                _ = tick.tick() => self.on_tick(),
                _ = renew.tick() => {
                    let peer = self.client.peer_id();
                    match proof(&signer, &peer, self.chain.chain_id(), proof_ttl) {
                        Ok(proof) => {
                            if let Err(e) = self.client.set_identity(proof).await {
                                break Err(e.into());
                            }
                        }
                        Err(e) => break Err(e),
                    }
                }
            }
            if let Some(until) = self.draining {
                if self.drained() {
                    info!(target: "quorate::worker", held = self.tasks.len(), "drained: stopped");
                    break Ok(());
                }
                if Instant::now() >= until {
                    warn!(target: "quorate::worker", held = self.tasks.len(), "drain time over: stopped with tasks running; the next start resumes them");
                    break Ok(());
                }
            }
        };
        // The sandbox threads are joined off the async threads.
        let runner = Arc::clone(&self.runner);
        drop(self);
        let _ = tokio::task::spawn_blocking(move || drop(runner)).await;
        result
    }

    /// True once no task runs or waits for its vote.
    fn drained(&self) -> bool {
        self.tasks.values().all(|t| {
            !t.holds_slot()
                && !matches!(t.phase, super::task::Phase::Computed(_))
                && !self.busy.contains(&t.assignment.task)
        })
    }
}

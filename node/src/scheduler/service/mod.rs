//! `quorate scheduler run`: one `select!` loop that only moves things between the edges and
//! the core (ROLES.md): Hub events from the follower, requests from the network, the results
//! of job intakes, chain calls and assignments, and the core's timer, in; the core's batches
//! (store first, then chain calls and messages), job consents, orders and announcements, out.
//!
//! ```text
//! Follower ─batch─┐                          ┌─▶ store (core records + cursor, one commit)
//! p2p requests ───┼─▶ loop ─▶ core (handle_*) ┼─▶ chain calls (initializeRange, finalize, reopen)
//! intakes, calls ─┘      ▲   poll_ready        └─▶ messages (assign + authorization, reveal, abort)
//!                        └── tick at poll_timeout
//! ```

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use alloy::{
    primitives::{Address, B256, U256},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    sol_types::{SolCall, SolValue},
};
use anyhow::Context as _;
use quorate_contracts::{
    bindings::Hub,
    sign::{JobConsent, hub_domain, sign_job_consent},
};
use quorate_p2p::{
    Client as P2p, Event, Keypair, Multiaddr, PeerId,
    data::Access,
    guard::Offence,
    identity::{IdentityProof, JoinCredential, Purpose, VerifyPolicy},
    wire::{
        self, DealStatus, JobState, JobStatus, Message as Wire, PoolAnnouncement, RefusalReason,
        TaskAssignment, TaskEntry, TaskInput, TaskPhase,
    },
};
use quorate_primitives::{
    ContentHash, DealId, JobManifest, PoolId, ResultDigest, TaskAuthorization, TaskId,
};
use quorate_scheduler::{
    ChainCall, ChainEvent, Platform, Ready, Scheduler, SchedulerConfig, WorkerCaps,
    effect::Message as CoreMessage,
};
use tokio::sync::mpsc;

use crate::scheduler::platform;

/// The longest a join credential may still be valid for, seconds (`quorate scheduler
/// credential --days` stays within it).
pub const CREDENTIAL_MAX_SECS: u64 = 400 * 24 * 3600;

mod dashboard;
mod gossip;
mod lifecycle;
mod offers;
mod outputs;
mod requests;
mod uploads;

use super::{
    events::{self, Translated},
    jobs::{self, DEAL_JOBS, Intake, IntakeLimits, JOBS, JobRecord, Pinned},
    pool,
    state::{PoolRecord, SchedulerState},
    store::CoreStore,
};
use crate::{
    chain::{Chain, Cursor, EventBatch, Follower},
    config::NodeConfig,
    store::{Batch, CURSORS, Table},
    units::{Currency, parse_amount},
};

/// How long an identity proof and an order stay valid; both are renewed at half.
const PROOF_VALIDITY: Duration = Duration::from_secs(24 * 3600);
/// How often the pool is announced (gossip and the DHT).
const ANNOUNCE_EVERY: Duration = Duration::from_secs(5);
/// How often a worker sends a heartbeat.
const HEARTBEAT_SECS: u32 = 5;

/// Verified results by task: their content hash (the blob the deal's client fetches).
const RESULTS: Table<B256, ContentHash> = Table::new("results");
/// Tasks that ended on chain with a revealed digest before their result arrived: the digest
/// the result must match, kept across restarts until it does (or the deal's results expire).
pub(super) const AWAITING: Table<B256, ResultDigest> = Table::new("awaiting_results");
/// Tasks of a deal that ended on chain (finalized or claimed), until the whole deal has.
const TASKS_ENDED: Table<B256, B256> = Table::new("tasks_ended");
/// Deals whose every task ended, and when (unix seconds): their job's blobs are no longer
/// served, their results until the retention period has passed.
const DEALS_ENDED: Table<B256, u64> = Table::new("deals_ended");

/// What the loop needs to start.
#[derive(Debug)]
pub struct Settings {
    /// The configuration in force (derived).
    pub config: NodeConfig,
    /// The pool owner's key: signs orders, consents, authorizations, identity and transactions.
    pub owner: PrivateKeySigner,
    /// The p2p settings (listen and bootstrap addresses; its keypair is the scheduler's).
    pub p2p: quorate_p2p::Config,
}

/// A running scheduler: its network handle and where it listens.
#[derive(Debug)]
pub struct Running {
    /// The scheduler's network.
    pub p2p: P2p,
    /// Its pool.
    pub pool: PoolId,
    /// Where it listens.
    pub addrs: Vec<Multiaddr>,
    /// The dashboard's URL, when it is served.
    pub dashboard: Option<String>,
    /// The loop; ends with its error, or `Ok` once stopped.
    pub task: tokio::task::JoinHandle<anyhow::Result<()>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Running {
    /// Waits until the loop ends by itself (an error it could not go on after).
    pub async fn finished(&mut self) -> anyhow::Result<()> {
        (&mut self.task).await.context("the scheduler's loop panicked")?
    }

    /// Stops the loop after its current step, and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.context("the scheduler's loop panicked")?
    }
}

/// The p2p keypair of a scheduler's data directory, made once and kept (0600), so its peer id
/// survives restarts.
pub fn keypair(config: &NodeConfig) -> anyhow::Result<Keypair> {
    let path = SchedulerState::path_in(config).with_file_name("p2p.key");
    if let Ok(bytes) = std::fs::read(&path) {
        return Keypair::from_protobuf_encoding(&bytes).with_context(|| {
            format!("{} is not a p2p key: move it away to make a new one", path.display())
        });
    }
    let keypair = Keypair::generate_ed25519();
    let bytes = keypair.to_protobuf_encoding().context("encoding the p2p key")?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_private(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
    Ok(keypair)
}

/// Writes a new file only its owner may read (refused when `path` exists).
pub(crate) fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Starts the scheduler of the pool `init` created in this data directory.
pub async fn start(settings: Settings) -> anyhow::Result<Running> {
    let Settings { config, owner, p2p: p2p_config } = settings;
    let state = SchedulerState::open(&config)?;
    let record = state.pool()?.ok_or_else(|| {
        anyhow::anyhow!(
            "no pool in {}: create one with `quorate scheduler init`",
            state.path().display()
        )
    })?;
    if record.owner != owner.address() {
        anyhow::bail!(
            "pool {} is owned by {}, not by this wallet ({}): run with the owner's wallet",
            record.pool.0,
            record.owner,
            owner.address()
        );
    }
    // For readers while this process holds the store (a directory from before the file).
    state.write_pool_file(&record);
    let chain_config = config.chain_config()?;
    let chain = Chain::connect(&chain_config, owner.clone()).await?;
    let chain_id = chain.chain_id();

    let peer = p2p_config.keypair.public().to_peer_id();
    let proof = identity(&owner, &peer, record.pool, chain_id)?;
    let (p2p, p2p_events) = quorate_p2p::spawn(p2p_config, proof)?;
    let addrs = wait_for_listen_addrs(&p2p).await;

    let (core_store, image) = CoreStore::load(state.store())?;
    let now = unix_now();
    let seed = u64::from_be_bytes(record.owner.0[..8].try_into().unwrap_or_default());
    let (core, skipped) = Scheduler::restore(
        SchedulerConfig {
            max_replicas_per_task: config.scheduler.replica_cap,
            ..SchedulerConfig::default()
        },
        record.owner,
        seed,
        &image,
        now,
    )?;
    // The digests revealed before a restart, from the core's records: an upload after the
    // restart is checked against them as against those the follower shows from now on.
    let mut revealed: HashMap<TaskId, HashSet<ResultDigest>> = HashMap::new();
    for (task, records) in &image.tasks {
        for record in records {
            if let quorate_scheduler::effect::TaskRecord::Revealed { digest, .. } = record {
                revealed.entry(*task).or_default().insert(*digest);
            }
        }
    }
    for (task, e) in skipped {
        tracing::warn!(target: "quorate::scheduler", %task, error = %e, "a task's records could not be replayed");
    }
    let cursor = CURSORS
        .get(state.store(), &"hub".to_owned())?
        .unwrap_or_else(|| Cursor::at(record.since_block));
    let follower = Follower::new(chain.provider().clone(), record.hub, cursor, &chain_config);
    let evaluator = config.evaluator.program();

    let dashboard = match config
        .dashboard
        .listen()
        .map_err(|e| anyhow::anyhow!("dashboard.listen: {e}"))?
    {
        Some(listen) => {
            let token = crate::http::auth::OperatorToken::load_or_create(
                &state.path().with_file_name(crate::scheduler::dashboard::TOKEN_FILE),
            )?;
            let accounts = crate::scheduler::dashboard::Accounts {
                provider: chain.provider().clone(),
                hub: record.hub,
                owner: record.owner,
            };
            let dashboard = crate::scheduler::dashboard::start(
                &listen,
                token,
                chain_id,
                record.pool.0,
                accounts,
            )
            .await
            .context("dashboard.listen")?;
            tracing::info!(target: "quorate::scheduler", url = %dashboard.running.server.url, "dashboard served");
            // For `quorate scheduler dashboard`, which prints the operator's link.
            let url_file = state.path().with_file_name(crate::scheduler::dashboard::URL_FILE);
            if let Err(e) = std::fs::write(&url_file, &dashboard.running.server.url) {
                tracing::warn!(target: "quorate::scheduler", path = %url_file.display(), "cannot write the dashboard's URL: {e}");
            }
            Some(dashboard)
        }
        None => None,
    };
    let dashboard_url = dashboard.as_ref().map(|d| d.running.server.url.clone());
    let (publish, commands, meters, server) = match dashboard {
        Some(crate::scheduler::dashboard::Dashboard { running, publish, commands, meters }) => {
            (Some(publish), Some(commands), meters, Some(running))
        }
        None => (None, None, Arc::default(), None),
    };

    let revocations = crate::scheduler::credentials::Revocations::new(
        crate::scheduler::credentials::Register::path(&config),
    );
    let mut service = Service {
        pool: record,
        chain,
        chain_id,
        owner: Arc::new(owner),
        p2p: p2p.clone(),
        core,
        pinned: Pinned::new(state.path().with_file_name("blobs")),
        state,
        limits: IntakeLimits {
            max_tasks: config.scheduler.max_tasks_per_job,
            max_bytes: config.scheduler.max_job_mib.saturating_mul(1 << 20),
            evaluator,
            samples: config.scheduler.sample_inputs,
            gpus: Vec::new(),
            trust: 1,
        },
        intake_slots: Arc::new(tokio::sync::Semaphore::new(
            usize::try_from(config.scheduler.max_concurrent_intakes).unwrap_or(1).max(1),
        )),
        config,
        jobs: HashMap::new(),
        manifests: HashMap::new(),
        deal_jobs: HashMap::new(),
        tasks: HashMap::new(),
        served: HashMap::new(),
        ended: HashMap::new(),
        deals_ended: HashMap::new(),
        scores: HashMap::new(),
        failed_by: HashMap::new(),
        peers: HashMap::new(),
        offences: Vec::new(),
        addresses: HashMap::new(),
        revealed,
        results: HashMap::new(),
        progress: HashMap::new(),
        console: crate::scheduler::console::Consoles::default(),
        at_join: HashMap::new(),
        revocations,
        orders: BTreeMap::new(),
        sequence: 0,
        addrs: addrs.clone(),
        dashboard: publish,
        server,
        published_at: 0,
        observed: Default::default(),
        paused: false,
        drained: HashMap::new(),
        declared: HashMap::new(),
        platforms: HashMap::new(),
        gpu_classes: HashMap::new(),
        claimed: HashSet::new(),
        meters,
    };
    service.load()?;
    service.expire_results(now).await;
    service.serve_results().await?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        service.run(core_store, follower, p2p_events, commands, stop_rx).await
    });
    Ok(Running {
        p2p,
        pool: record.pool,
        addrs,
        dashboard: dashboard_url,
        task,
        stop: Some(stop_tx),
    })
}

fn identity(
    owner: &PrivateKeySigner,
    peer: &PeerId,
    pool: PoolId,
    chain_id: u64,
) -> anyhow::Result<IdentityProof> {
    let expires = unix_now().saturating_add(PROOF_VALIDITY.as_secs());
    Ok(IdentityProof::sign(
        owner,
        owner.address(),
        peer,
        Purpose::Scheduler { pool },
        chain_id,
        expires,
    )?)
}

async fn wait_for_listen_addrs(p2p: &P2p) -> Vec<Multiaddr> {
    for _ in 0..100 {
        if let Ok(addrs) = p2p.listen_addrs().await
            && !addrs.is_empty()
        {
            return addrs;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Vec::new()
}

use crate::unix_now;

/// The offer an intake checks: its consent is for exactly this.
#[derive(Debug, Clone, Copy)]
struct Offered {
    client: Address,
    task_count: u32,
}

/// What background work reports to the loop.
enum Done {
    /// An intake moved on or ended.
    Intake(ContentHash, Offered, Result<JobManifest, String>),
    /// A worker did not take a task.
    NotTaken { worker: Address, task: TaskId },
}

struct Service {
    pool: PoolRecord,
    config: NodeConfig,
    chain: Chain,
    chain_id: u64,
    owner: Arc<PrivateKeySigner>,
    p2p: P2p,
    core: Scheduler,
    state: SchedulerState,
    pinned: Pinned,
    limits: IntakeLimits,
    /// Intakes running at once (fetches and sample sandboxes).
    intake_slots: Arc<tokio::sync::Semaphore>,
    /// Offered jobs by job hash.
    jobs: HashMap<ContentHash, JobRecord>,
    /// Manifests of consented jobs.
    manifests: HashMap<ContentHash, JobManifest>,
    /// The job of each deal.
    deal_jobs: HashMap<DealId, ContentHash>,
    /// Each task of those deals: its deal and index.
    tasks: HashMap<TaskId, (DealId, u32)>,
    /// Blobs handed to the network's store, and their sizes (read and hashed once).
    served: HashMap<ContentHash, u64>,
    /// Tasks that ended on chain, by deal, while the deal has tasks left.
    ended: HashMap<DealId, HashSet<TaskId>>,
    /// Deals whose every task ended, and when.
    deals_ended: HashMap<DealId, u64>,
    /// Workers' scores in the owner's domain, as they joined and as the chain moves them.
    scores: HashMap<Address, U256>,
    /// The workers whose machine failures were counted, by task (once each).
    failed_by: HashMap<TaskId, HashSet<Address>>,
    /// Workers' peers by address, and back.
    peers: HashMap<Address, PeerId>,
    /// Offences noted while a request was handled, reported once it is answered.
    offences: Vec<(PeerId, Offence)>,
    addresses: HashMap<PeerId, Address>,
    /// Digests revealed on chain, by task (an upload must match one).
    revealed: HashMap<TaskId, HashSet<ResultDigest>>,
    /// Verified results by task.
    results: HashMap<TaskId, ContentHash>,
    /// Progress reported by workers, per mille.
    progress: HashMap<TaskId, u16>,
    /// What the work functions wrote, per deal, for its client.
    console: crate::scheduler::console::Consoles,
    /// The replicas each worker was counted on for when it last joined, until its recovery
    /// request says which it holds.
    at_join: HashMap<Address, Vec<TaskId>>,
    /// The workers the owner revoked (`quorate scheduler credential revoke`).
    revocations: crate::scheduler::credentials::Revocations,
    /// Orders published and still valid, by EIP-712 hash.
    orders:
        BTreeMap<B256, (alloy::primitives::Bytes, quorate_contracts::bindings::IHub::PoolOrder)>,
    sequence: u64,
    addrs: Vec<Multiaddr>,
    /// Where the view goes, when the dashboard is served.
    dashboard: Option<tokio::sync::watch::Sender<Arc<crate::scheduler::dashboard::view::PoolView>>>,
    /// The dashboard's server: stops with the loop.
    #[allow(dead_code, reason = "held for its lifetime")]
    server: Option<crate::scheduler::dashboard::Running>,
    /// When the view was last published, unix seconds.
    published_at: u64,
    /// What the dashboard counts.
    observed: crate::scheduler::dashboard::observe::Observed,
    /// True while the operator paused the pool.
    paused: bool,
    /// Workers the operator drains, and since when.
    drained: HashMap<Address, u64>,
    /// What each worker declared when it joined (draining changes what the core is told).
    declared: HashMap<Address, WorkerCaps>,
    /// Platform classes as people read them, by class number.
    platforms: HashMap<u64, String>,
    /// GPU adapter classes as the workers reported them, by class number.
    gpu_classes: HashMap<u32, String>,
    /// Tasks claimed (failed, refunded) since this start, for their clients' status.
    claimed: HashSet<TaskId>,
    /// Gas and errors, for `/metrics`.
    meters: Arc<crate::scheduler::dashboard::Meters>,
}

impl Service {
    /// Reads what the store keeps besides the core's records.
    fn load(&mut self) -> anyhow::Result<()> {
        let store = self.state.store();
        for (job, mut record) in JOBS.all(store)? {
            let job = ContentHash(job);
            if matches!(record.intake, Intake::Fetching { .. }) {
                // Its intake stopped with the last run: the client offers it again.
                record.intake = Intake::Refused {
                    reason: "the pool restarted while checking the job: offer it again".into(),
                };
            }
            if matches!(record.intake, Intake::Consented { .. })
                && let Some(bytes) = self.pinned.get(&job)
                && let Ok(manifest) = JobManifest::decode(&bytes)
            {
                self.manifests.insert(job, manifest);
            }
            self.jobs.insert(job, record);
        }
        let deals = DEAL_JOBS.all(store)?;
        for (task, result) in RESULTS.all(store)? {
            self.results.insert(TaskId::from(task), result);
        }
        for (task, digest) in AWAITING.all(store)? {
            self.revealed.entry(TaskId::from(task)).or_default().insert(digest);
        }
        for (deal, job) in deals {
            self.index_deal(DealId::from(deal), job);
        }
        let store = self.state.store();
        for (deal, at) in DEALS_ENDED.all(store)? {
            self.deals_ended.insert(DealId::from(deal), at);
        }
        for (task, deal) in TASKS_ENDED.all(store)? {
            self.ended.entry(DealId::from(deal)).or_default().insert(TaskId::from(task));
        }
        if let Some(observed) = dashboard::OBSERVED.get(store, &dashboard::key("observed"))? {
            self.observed = observed;
        }
        self.paused = dashboard::SWITCHES.get(store, &dashboard::key("paused"))?.unwrap_or(false);
        self.drained = dashboard::DRAINED.all(store)?.into_iter().collect();
        Ok(())
    }

    /// Serves again, to each deal's client, the results kept before a restart.
    async fn serve_results(&mut self) -> anyhow::Result<()> {
        let kept: Vec<(TaskId, ContentHash)> = self.results.iter().map(|(t, h)| (*t, *h)).collect();
        for (task, hash) in kept {
            let client = self.deal_of(task).and_then(|(deal, _)| self.client_of(deal));
            if let Some(bytes) = self.pinned.get(&hash) {
                self.p2p.put_content_for(bytes, Access::only(client)).await?;
            }
        }
        Ok(())
    }

    async fn run(
        mut self,
        mut core_store: CoreStore,
        follower: Follower,
        mut p2p_events: mpsc::Receiver<Event>,
        mut commands: Option<mpsc::Receiver<crate::scheduler::dashboard::Order>>,
        mut stop: tokio::sync::oneshot::Receiver<()>,
    ) -> anyhow::Result<()> {
        let (batches_tx, mut batches) = mpsc::channel::<EventBatch>(8);
        let follow = tokio::spawn(follow(follower, batches_tx));
        let (done_tx, mut done) = mpsc::channel::<Done>(256);
        let (intake_tx, mut intakes) = mpsc::channel::<(ContentHash, Intake)>(256);
        let mut announce = tokio::time::interval(ANNOUNCE_EVERY);
        let mut orders = tokio::time::interval(PROOF_VALIDITY / 2);
        let mut publish = tokio::time::interval(Duration::from_secs(1));
        self.p2p.provide(self.pool.pool).await.ok();
        tracing::info!(target: "quorate::scheduler", pool = self.pool.pool.0, addrs = ?self.addrs, "scheduler running");
        let result = loop {
            let wake = self.core.poll_timeout().map_or(Duration::from_secs(3600), |at| {
                Duration::from_secs(at.saturating_sub(unix_now()))
            });
            let step: anyhow::Result<()> = tokio::select! {
                _ = &mut stop => break Ok(()),
                batch = batches.recv() => match batch {
                    Some(batch) => self.on_batch(&mut core_store, batch, &done_tx).await,
                    None => break Err(anyhow::anyhow!("the chain follower stopped")),
                },
                event = p2p_events.recv() => match event {
                    Some(event) => self.on_p2p(event, &intake_tx, &done_tx).await,
                    None => break Err(anyhow::anyhow!("the network stopped")),
                },
                Some((job, intake)) = intakes.recv() => self.on_intake_progress(job, intake),
                Some(event) = done.recv() => self.on_done(event, &done_tx).await,
                _ = tokio::time::sleep(wake) => {
                    self.core.handle_tick(unix_now());
                    tracing::debug!(target: "quorate::scheduler", stats = ?self.core.stats(), "tick");
                    Ok(())
                },
                _ = announce.tick() => {
                    self.expire_results(unix_now()).await;
                    self.announce().await
                }
                _ = orders.tick() => self.renew_orders().await,
                _ = publish.tick() => {
                    self.publish_view();
                    Ok(())
                }
                Some(order) = next_order(&mut commands) => {
                    self.on_command(order);
                    Ok(())
                }
            };
            if let Err(e) = step {
                tracing::error!(target: "quorate::scheduler", error = %e, "step failed");
                break Err(e);
            }
            if let Err(e) = self.flush(&mut core_store, None, &done_tx).await {
                break Err(e);
            }
        };
        follow.abort();
        result
    }

    /// Applies the core's batch, if any: its store writes (with the follower's cursor, when
    /// the batch came from chain events) in one commit, then its chain calls and messages.
    async fn flush(
        &mut self,
        core_store: &mut CoreStore,
        cursor: Option<Cursor>,
        done: &mpsc::Sender<Done>,
    ) -> anyhow::Result<()> {
        let ready = self.core.poll_ready();
        if ready.is_none() && cursor.is_none() {
            return Ok(());
        }
        let mut batch = Batch::default();
        if let Some(ready) = &ready {
            core_store.write(&mut batch, &ready.store)?;
        }
        if let Some(cursor) = cursor {
            batch.put(&CURSORS, &"hub".to_owned(), &cursor)?;
            if self.observed.dirty {
                batch.put(&dashboard::OBSERVED, &dashboard::key("observed"), &self.observed)?;
                self.observed.dirty = false;
            }
        }
        self.state.store().commit(batch)?;
        let Some(ready) = ready else { return Ok(()) };
        let Ready { number, chain, messages, .. } = ready;
        for call in chain {
            crate::crash::at("scheduler", call_stage(&call, "send"));
            self.send_call(call);
        }
        for message in messages {
            self.send_message(message, done).await;
        }
        self.core.advance(number)?;
        Ok(())
    }

    async fn on_batch(
        &mut self,
        core_store: &mut CoreStore,
        batch: EventBatch,
        done: &mpsc::Sender<Done>,
    ) -> anyhow::Result<()> {
        let now = unix_now();
        let mut stages = Vec::new();
        for log in &batch.events {
            self.observe(log);
            let cursor = events::cursor(log);
            let event = match events::translate(log, self.pool.pool, self.pool.owner) {
                Translated::Skip => continue,
                Translated::Event(event) => event,
                Translated::Deal { deal, job, client } => {
                    match self.deal(deal, job, client).await {
                        Some(deal) => ChainEvent::DealCreated(deal),
                        None => continue,
                    }
                }
            };
            match event {
                ChainEvent::Revealed { task, digest, .. } if self.tasks.contains_key(&task) => {
                    self.revealed.entry(task).or_default().insert(digest);
                }
                ChainEvent::Finalized { task } | ChainEvent::Claimed { task }
                    if self.tasks.contains_key(&task) =>
                {
                    if matches!(event, ChainEvent::Claimed { .. }) {
                        self.claimed.insert(task);
                    }
                    self.task_ended(task).await;
                }
                ChainEvent::ScoreChanged { worker, score } => {
                    self.scores.insert(worker, score);
                }
                _ => {}
            }
            let stage = match &event {
                ChainEvent::DealCreated(_) => Some("deal"),
                ChainEvent::Contributed { .. } => Some("contribution"),
                ChainEvent::Revealed { .. } => Some("reveal"),
                _ => None,
            };
            match self.core.handle_chain_event(now, cursor, event) {
                Ok(()) => stages.extend(stage),
                Err(e) if !e.is_stale() => {
                    tracing::warn!(target: "quorate::scheduler", error = %e, "a chain event was refused by the core");
                }
                Err(_) => {}
            }
        }
        self.flush(core_store, Some(batch.cursor), done).await?;
        self.report_offences().await;
        for stage in stages {
            crate::crash::at("scheduler", stage);
        }
        Ok(())
    }

    /// The core's deal for a `DealCreated` of this pool: its terms from the Hub, its job's
    /// needs from the consented manifest.
    async fn deal(
        &mut self,
        deal: DealId,
        job: ContentHash,
        client: Address,
    ) -> Option<quorate_scheduler::Deal> {
        let Some(manifest) = self.manifests.get(&job).cloned() else {
            tracing::error!(target: "quorate::scheduler", %deal, %job, %client, "a deal of a job this pool never consented to");
            return None;
        };
        let consented_to = self.jobs.get(&job).map(|record| (record.client, record.task_count));
        if consented_to.is_none_or(|(c, _)| c != client) {
            tracing::error!(target: "quorate::scheduler", %deal, %job, %client, "a deal by a client this pool did not consent to");
            return None;
        }
        let hub = Hub::new(self.pool.hub, self.chain.provider().clone());
        // A node that fails to answer is asked again: a deal skipped here would be claimed
        // against the pool's stake.
        let mut wait = Duration::from_millis(200);
        let view = loop {
            match hub.deal(deal.0).call().await {
                Ok(view) => break view,
                Err(e) if wait < Duration::from_secs(60) => {
                    tracing::warn!(target: "quorate::scheduler", %deal, error = %e, "cannot read the deal yet; retrying");
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                }
                Err(e) => {
                    tracing::error!(target: "quorate::scheduler", %deal, error = %e, "cannot read the deal");
                    return None;
                }
            }
        };
        if consented_to.is_none_or(|(_, n)| n != view.taskCount)
            || view.taskCount != manifest.task_count()
        {
            tracing::error!(target: "quorate::scheduler", %deal, tasks = view.taskCount, "a deal whose task count is not the consented job's");
            return None;
        }
        self.index_deal(deal, job);
        let mut batch = Batch::default();
        if batch.put(&DEAL_JOBS, &deal.0, &job).is_ok() {
            let _ = self.state.store().commit(batch);
        }
        // The deal's results go to its client only; its blobs are served from now on.
        tracing::info!(target: "quorate::scheduler", %deal, %job, tasks = view.taskCount, "deal created");
        Some(events::deal(&view, &manifest))
    }
}

/// The operator's next command; never, without a dashboard.
async fn next_order(
    commands: &mut Option<mpsc::Receiver<crate::scheduler::dashboard::Order>>,
) -> Option<crate::scheduler::dashboard::Order> {
    match commands {
        Some(commands) => commands.recv().await,
        None => std::future::pending().await,
    }
}

/// Feeds the follower's batches to the loop, in order.
async fn follow(mut follower: Follower, batches: mpsc::Sender<EventBatch>) {
    loop {
        match follower.next().await {
            Ok(batch) => {
                if batches.send(batch).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::error!(target: "quorate::scheduler", error = %e, "the chain follower stopped");
                return;
            }
        }
    }
}

/// The crash point of a chain call at `when` (`send`, `mined`): `send-initialize`, ….
pub(super) fn call_stage(call: &ChainCall, when: &str) -> &'static str {
    match (call, when) {
        (ChainCall::Initialize { .. }, "send") => "send-initialize",
        (ChainCall::Initialize { .. }, _) => "mined-initialize",
        (ChainCall::Finalize { .. }, "send") => "send-finalize",
        (ChainCall::Finalize { .. }, _) => "mined-finalize",
        (ChainCall::Reopen { .. }, "send") => "send-reopen",
        (ChainCall::Reopen { .. }, _) => "mined-reopen",
        (ChainCall::GiveUp { .. }, "send") => "send-give-up",
        (ChainCall::GiveUp { .. }, _) => "mined-give-up",
    }
}

//! The pool of `quorate devnet`: the operator's pool created on the devnet's Hub, its scheduler
//! and one worker per devnet worker account, all in this process, each with a data directory
//! under the devnet's; and `devnet.toml` pointed at the pool, so `quorate --config devnet.toml
//! job submit …` from another terminal reaches it.

use std::{path::Path, time::Duration};

use alloy::signers::local::PrivateKeySigner;
use quorate_devnet::{Devnet, Role};
use quorate_p2p::{Multiaddr, multiaddr::Protocol};
use quorate_primitives::PoolId;

use crate::{
    chain::Chain,
    config::{self, NodeConfig},
    devnet::node_config,
    scheduler::{
        pool,
        service::{self, Running, Settings},
        state::{PoolRecord, SchedulerState},
    },
    worker::{self, WorkerConfig, exec::ExecConfig},
};

/// A devnet's pool, running.
#[derive(Debug)]
pub struct DevnetPool {
    /// The pool.
    pub pool: PoolId,
    /// The scheduler's address, with its peer id: what clients and workers bootstrap from.
    pub scheduler: Multiaddr,
    running: Running,
    workers: Vec<worker::Worker>,
}

impl DevnetPool {
    /// The operator's link to the pool's dashboard (its token in the URL's fragment).
    pub fn dashboard(&self, dir: &Path) -> Option<String> {
        let mut config = crate::config::NodeConfig::default();
        config.node.data_dir = dir.join("pool");
        self.running.dashboard.as_ref()?;
        crate::scheduler::dashboard::operator_link(&config).ok()
    }

    /// Where each worker serves its status and metrics.
    pub fn worker_status_urls(&self) -> Vec<String> {
        self.workers.iter().filter_map(|w| w.status_url().map(str::to_owned)).collect()
    }

    /// How many workers joined.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Stops the workers (they drain), then the scheduler.
    pub async fn stop(self) -> anyhow::Result<()> {
        for worker in &self.workers {
            worker.stop();
        }
        for worker in self.workers {
            let _ = worker.join().await;
        }
        self.running.stop().await
    }
}

/// How the devnet's workers run tasks.
#[derive(Debug, Clone)]
pub struct Options {
    /// Sandboxes per worker.
    pub sandboxes: usize,
    /// The `quorate-evaluator` executable.
    pub program: std::path::PathBuf,
    /// Tasks each worker takes per sandbox ([`WorkerConfig::pipeline`]).
    pub pipeline: usize,
    /// The pool's `[scheduler]` settings: its policy, orders and limits (the category of its
    /// orders: the devnet's 0 is DEV, 10-s time reference, a deal's final deadline 100 s after
    /// it starts; 1 is DEV-LONG, 60 s).
    pub scheduler: crate::config::SchedulerSection,
    /// Offer WebGPU (`worker.gpu`): every sandbox opens a GPU (lavapipe without one).
    pub gpu: bool,
    /// WebGPU tasks at once per worker (`worker.gpu_slots`).
    pub gpu_slots: usize,
    /// GPU memory per worker, MiB (`worker.gpu_memory_mib`; 0: all the device has).
    pub gpu_memory_mib: u64,
}

impl Options {
    /// `sandboxes` sandboxes of `program` per worker, taking [`DEVNET_PIPELINE`] tasks each.
    pub fn new(sandboxes: usize, program: std::path::PathBuf) -> Self {
        Self {
            sandboxes,
            program,
            pipeline: DEVNET_PIPELINE,
            scheduler: crate::config::SchedulerSection::default(),
            gpu: false,
            gpu_slots: 1,
            gpu_memory_mib: 0,
        }
    }
}

/// Tasks a devnet worker takes per sandbox: devnet jobs are short, and a worker holding only
/// as many tasks as sandboxes idles while each vote is mined.
pub const DEVNET_PIPELINE: usize = 4;

/// Creates the operator's pool on `net`, starts its scheduler and a worker per worker
/// account (each with `sandboxes` sandboxes of the evaluator `program`), under `dir`.
pub async fn start(
    net: &Devnet,
    dir: &Path,
    sandboxes: usize,
    program: std::path::PathBuf,
) -> anyhow::Result<DevnetPool> {
    start_with(net, dir, Options::new(sandboxes, program)).await
}

/// As [`start`], with every option.
pub async fn start_with(net: &Devnet, dir: &Path, options: Options) -> anyhow::Result<DevnetPool> {
    let Options { sandboxes, program, pipeline, scheduler, gpu, gpu_slots, gpu_memory_mib } =
        options;
    let mut base = node_config(net, dir);
    base.evaluator.program = program;
    base.scheduler = scheduler;
    let key = |role: Role| -> anyhow::Result<PrivateKeySigner> {
        let account =
            net.account(role).ok_or_else(|| anyhow::anyhow!("the devnet has no {role:?}"))?;
        Ok(PrivateKeySigner::from_bytes(&account.key)?)
    };
    let owner = key(Role::PoolOperator)?;

    // The pool's data directory is the devnet's: a pool of an earlier devnet there is gone
    // with that devnet's chain.
    let mut scheduler_config = base.clone();
    scheduler_config.node.data_dir = dir.join("pool");
    let _ = std::fs::remove_dir_all(&scheduler_config.node.data_dir);
    let chain_config = base.chain_config()?;
    let operator = Chain::connect(&chain_config, owner.clone()).await?;
    let (pool, since_block) = pool::create_at(
        &operator,
        net.deployment().hub,
        pool::policy(&scheduler_config.scheduler),
        "quorate devnet",
    )
    .await?;
    SchedulerState::open(&scheduler_config)?.set_pool(PoolRecord {
        pool,
        owner: owner.address(),
        hub: net.deployment().hub,
        since_block,
    })?;
    let mut p2p = quorate_p2p::Config::new(service::keypair(&scheduler_config)?, net.chain_id());
    p2p.listen = vec!["/ip4/127.0.0.1/tcp/0".parse()?];
    let running = service::start(Settings { config: scheduler_config, owner, p2p }).await?;
    let first = running
        .addrs
        .first()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the scheduler listens nowhere"))?;
    let scheduler = first.with(Protocol::P2p(running.p2p.peer_id()));

    let mut workers = Vec::new();
    for (i, account) in net.accounts().iter().filter(|a| a.role == Role::Worker).enumerate() {
        let data_dir = dir.join(format!("worker-{}", i.saturating_add(1)));
        let _ = std::fs::remove_dir_all(&data_dir);
        let config = WorkerConfig {
            pool,
            hub: net.deployment().hub,
            chain: chain_config.clone(),
            data_dir,
            exec: ExecConfig {
                program: base.evaluator.program.clone(),
                sandboxes: sandboxes.max(1),
                nice: 10,
                task_memory_mib: 1024,
                gpu,
                gpu_slots,
                gpu_memory_mib,
            },
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse()?],
            bootstrap: vec![scheduler.clone()],
            mdns: false,
            fetch: quorate_p2p::fetch::FetchConfig::default(),
            proof_ttl: Duration::from_secs(24 * 3600),
            drain: Duration::from_secs(10),
            pipeline,
            credential: None,
            status: Some(crate::http::Listen {
                addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                tls: None,
            }),
        };
        let signer = PrivateKeySigner::from_bytes(&account.key)?;
        workers.push(worker::spawn(config, signer).await?);
    }
    Ok(DevnetPool { pool, scheduler, running, workers })
}

/// Rewrites `devnet.toml` under `dir` so that clients submit to `pool` and workers join it,
/// through `scheduler`.
pub fn point_config_at(
    net: &Devnet,
    dir: &Path,
    pool: PoolId,
    scheduler: &Multiaddr,
) -> std::io::Result<()> {
    let mut config: NodeConfig = node_config(net, dir);
    config.client.pool = pool.0;
    config.client.bootstrap = vec![scheduler.to_string()];
    config.worker.pool = pool.0;
    config.worker.bootstrap = vec![scheduler.to_string()];
    let text = config::file_text(
        &config,
        None,
        &["Written by `quorate devnet`: pass it to any command with --config.".into()],
    );
    std::fs::write(dir.join("devnet.toml"), text)
}

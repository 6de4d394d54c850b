//! The worker role (`quorate worker run`): joins one pool's scheduler, runs the tasks it is
//! assigned in sandboxes, votes and reveals on chain, and uploads its results, following the
//! pool protocol of docs/architecture.md §4.
//!
//! | module | does |
//! |---|---|
//! | [`task`] | one held task: assigned → computed (stored) → contributed → revealing → revealed → done |
//! | [`chain`] | `contribute` and `reveal` |
//! | [`exec`] | the sandboxes on their own threads behind a bounded queue |
//! | [`store`] | the data directory's redb: held tasks, the chain cursor, job data once per job |
//! | [`preflight`] | before joining: the pool's owner, ETH for gas and QCR for stakes, said with numbers |
//! | `link` | the link to the scheduler: searching, joining, joined, backoff (pure) |
//! | `deal` | an assignment checked against the chain: the deal's job, the task's index and input |
//! | `run` | one task's data (manifest and code once per job, the input, the deal's start) and its run |
//! | [`status`] | what the worker says of itself: `/status`, `/metrics`, the terminal dashboard |
//! | [`service`] | the `select!` loop between the network, the chain, the sandboxes and the store |
//! | `requests` | the scheduler's requests, the link (join, heartbeats, recovery), progress reports |
//! | `actions` | the Hub's events and the actions coming back: each task's next state, stored, then acted on |
//!
//! ```text
//!  scheduler ──TaskAssignment──▶ service ──store──▶ redb (held task, before anything else)
//!      ▲  ◀──Ack / Refused──────┘   │ fetch manifest, code, input (hash-checked) ─▶ Executor
//!      │                            │◀── outcome ── sandbox thread
//!      │                            ├── contribute(hash, seal, authorization) ─▶ Chain actor
//!      ├◀── ContributionNotice ─────┤
//!      │                            │◀── TaskConsensus (Follower, cursor stored with the change)
//!      │                            ├── reveal(digest) ─▶ Chain actor
//!      └◀── ResultUpload ───────────┘   TaskFinalized / TaskClaimed: forgotten
//! ```

/// The failure kind a worker reports for a replica it dropped because a consensus came before
/// it computed: no one's machine failed, the scheduler only frees the slot.
pub const OVERTAKEN: &str = "overtaken";

mod actions;
pub mod chain;
mod console;
mod deal;
pub mod exec;
mod link;
pub mod preflight;
mod requests;
mod run;
pub mod service;
pub mod status;
pub mod store;
pub mod task;

use std::{path::PathBuf, time::Duration};

use alloy::primitives::{Address, U256};
use quorate_p2p::{Multiaddr, fetch::FetchConfig};
use quorate_primitives::PoolId;

use crate::{
    chain::{ChainConfig, ChainError},
    store::StoreError,
    units::{Currency, short},
};

pub use service::{Worker, run, spawn};

/// How a worker runs: the library side of `quorate worker run` (the CLI builds it from the
/// `[chain]`, `[evaluator]` and `[worker]` sections).
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The pool to join.
    pub pool: PoolId,
    /// The Hub.
    pub hub: Address,
    /// The chain.
    pub chain: ChainConfig,
    /// The data directory (the store goes in its `worker/`).
    pub data_dir: PathBuf,
    /// The sandboxes.
    pub exec: exec::ExecConfig,
    /// Where to listen (none: only dial out).
    pub listen: Vec<Multiaddr>,
    /// Peers to start from.
    pub bootstrap: Vec<Multiaddr>,
    /// Find peers with mDNS.
    pub mdns: bool,
    /// How job data and inputs are fetched.
    pub fetch: FetchConfig,
    /// How long the worker's identity proof is valid; it is renewed halfway.
    pub proof_ttl: Duration,
    /// On stop: how long running tasks may take to finish.
    pub drain: Duration,
    /// Tasks taken per sandbox (at least 1): above 1, the next tasks wait here while the last
    /// result's vote is mined, which keeps the sandboxes busy when tasks are short.
    pub pipeline: usize,
    /// For a private pool: the owner's join credential for this worker.
    pub credential: Option<quorate_p2p::identity::JoinCredential>,
    /// Where to serve `/status` and `/metrics` (none: nowhere).
    pub status: Option<crate::http::Listen>,
}

impl WorkerConfig {
    /// Checks what parses but cannot work.
    pub fn validate(&self) -> Result<(), WorkerError> {
        let bad = |reason: &str| Err(WorkerError::Config(reason.to_owned()));
        if self.pool.0 == 0 {
            return bad("no pool to join: give --pool N or set worker.pool");
        }
        if self.exec.sandboxes == 0 {
            return bad("a worker needs at least one sandbox: set worker.cores to 1 or more");
        }
        if !(0..=19).contains(&self.exec.nice) {
            return bad("worker.nice must be 0 (normal) to 19 (lowest priority)");
        }
        if self.bootstrap.is_empty() && !self.mdns {
            return bad(
                "no peer to start from: give --bootstrap ADDR (any node of the network, e.g. the pool's scheduler) or set worker.mdns = true on a local network",
            );
        }
        if self.proof_ttl < Duration::from_secs(120) {
            return bad("the identity proof must live at least two minutes");
        }
        self.chain.validate().map_err(WorkerError::Config)
    }
}

/// Why the worker cannot run; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// A setting that cannot work.
    #[error("{0}")]
    Config(String),
    /// The pool's scheduler turned the worker away for good (a private pool and no good
    /// credential, or the address denied).
    #[error("{0}")]
    Refused(String),
    /// The configured join credential cannot work.
    #[error("worker.credential {0}")]
    Credential(String),
    /// The pool is not on this Hub.
    #[error("there is no pool {} on the Hub {hub}: check --pool (or worker.pool) and chain.hub", pool.0)]
    UnknownPool {
        /// The pool.
        pool: PoolId,
        /// The Hub.
        hub: Address,
    },
    /// The worker's account cannot pay for gas.
    #[error(
        "the worker {account} holds 0 ETH and cannot pay gas for its votes: send it some, e.g. `quorate wallet send {account} 0.1eth --wallet FUNDED`"
    )]
    NoGas {
        /// The worker's address.
        account: Address,
    },
    /// The worker has nothing in the Hub to stake on its votes.
    #[error(
        "the worker {account} has 0 QCR free in the Hub ({} QCR frozen) and cannot stake on its votes: deposit some with `quorate wallet deposit 10 --wallet NAME`",
        short(*frozen, Currency::Qcr)
    )]
    NoStake {
        /// The worker's address.
        account: Address,
        /// What it has frozen.
        frozen: U256,
    },
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The chain.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The network.
    #[error("the network failed: {0}")]
    Network(#[from] quorate_p2p::Error),
    /// The sandboxes.
    #[error("{0}")]
    Sandbox(String),
    /// The worker's loop itself failed (a bug): the store keeps what it held.
    #[error("the worker stopped unexpectedly ({0}): start it again; it resumes from its store")]
    Stopped(String),
}

//! The client library's front: a [`Client`] (a wallet on a chain with the Hub, and a way into
//! the network), jobs built with [`Job::builder`], and a submitted job followed as a stream of
//! [`JobEvent`]s, from the pool's order to the last verified result.
//!
//! ```no_run
//! # async fn demo(client: quorate_node::client::Client) -> anyhow::Result<()> {
//! use futures::StreamExt;
//! use quorate_node::{client::JobEvent, job::Job};
//!
//! let mut events = Job::builder("(n) => n * n")
//!     .inputs([1, 2, 3].map(serde_json::Value::from))
//!     .trust(3)
//!     .max_price_qcr("1")?
//!     .submit(&client)?;
//! while let Some(event) = events.next().await {
//!     match event? {
//!         JobEvent::Result { index, outcome } => println!("task {index}: {outcome:?}"),
//!         JobEvent::Finished { refundable } => println!("{} to claim", refundable.len()),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use alloy::{
    primitives::{Address, U256},
    signers::local::PrivateKeySigner,
};
use futures::Stream;
use quorate_p2p::{
    Multiaddr,
    wire::{ConsoleLevel, TaskPhase},
};
use quorate_primitives::{DealId, EvaluatorKind, JobLimits, PoolId, TaskOutcome};
use serde_json::value::RawValue;
use tokio::{sync::mpsc, task::JoinHandle};

use super::{
    session::{Channel, Session},
    submit::{Progress, Request, SubmitError, submit},
};
use crate::{
    chain::Chain,
    job::{Job, JobError},
    units::{Currency, parse_amount},
};

/// Events a stream holds for a slow reader before the job's following waits for it.
const EVENTS_BUFFERED: usize = 256;

/// A client: a wallet on a chain with the Hub, and peers to reach the network through.
#[derive(Debug, Clone)]
pub struct Client {
    chain: Chain,
    signer: PrivateKeySigner,
    hub: Address,
    bootstrap: Vec<Multiaddr>,
}

impl Client {
    /// A client paying from `signer` (connected as `chain`) on the Hub at `hub`, reaching the
    /// network through `bootstrap` (a pool's scheduler, or any node).
    pub fn new(
        chain: Chain,
        signer: PrivateKeySigner,
        hub: Address,
        bootstrap: Vec<Multiaddr>,
    ) -> Self {
        Self { chain, signer, hub, bootstrap }
    }

    /// The wallet's address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// The Hub.
    pub fn hub(&self) -> Address {
        self.hub
    }

    /// Submits `job` on `terms`: the events run from the pool's order to the last result.
    pub fn submit(&self, job: Job, terms: Terms) -> JobStream {
        let client = self.clone();
        JobStream::spawn(move |tx| async move {
            let request = Request {
                pool: terms.pool,
                trust: terms.trust,
                max_price: terms.max_price,
                bootstrap: client.bootstrap.clone(),
            };
            let mut pending = Vec::new();
            let session = submit(&client.chain, &client.signer, client.hub, &job, &request, |p| {
                let (event, go_on) = match *p {
                    Progress::Order { pool, price, total } => (
                        JobEvent::Order { pool, price, total },
                        terms.approve.as_ref().is_none_or(|ok| ok(pool, price, total)),
                    ),
                    Progress::Fetching { fetched, total } => {
                        (JobEvent::Fetching { fetched, total }, true)
                    }
                    Progress::Consented => (JobEvent::Consented, true),
                    Progress::Deal(deal) => (JobEvent::Deal { deal }, true),
                    Progress::Done { .. } => return true,
                };
                pending.push(event);
                go_on
            })
            .await;
            for event in pending {
                if tx.send(Ok(event)).await.is_err() {
                    return Ok(());
                }
            }
            follow(&client, &session?, &tx).await
        })
    }

    /// Follows a deal this wallet bought (here or on another machine) to its end: every
    /// result verified, or the final deadline passed.
    pub fn follow(&self, deal: DealId) -> JobStream {
        let client = self.clone();
        JobStream::spawn(move |tx| async move {
            let session =
                Session::attach(&client.chain, &client.signer, client.hub, deal, &client.bootstrap)
                    .await?;
            if tx.send(Ok(JobEvent::Deal { deal })).await.is_err() {
                return Ok(());
            }
            follow(&client, &session, &tx).await
        })
    }
}

async fn follow(
    client: &Client,
    session: &Session,
    tx: &mpsc::Sender<Result<JobEvent, SubmitError>>,
) -> Result<(), SubmitError> {
    let ending = session.follow(&client.chain, client.hub, Channel(tx)).await?;
    let _ = tx.send(Ok(JobEvent::Finished { refundable: ending.refundable() })).await;
    Ok(())
}

/// What a submitted job's stream tells, in order: the order and the purchase, then the tasks'
/// progress and each verified result, then the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEvent {
    /// The pool's order taken: price per task and what the deal locks (wei of QCR).
    Order {
        /// The pool.
        pool: PoolId,
        /// Price per task.
        price: U256,
        /// Price × tasks.
        total: U256,
    },
    /// The pool is fetching the job's blobs.
    Fetching {
        /// Fetched.
        fetched: u32,
        /// In all.
        total: u32,
    },
    /// The pool consented; the deal is being bought.
    Consented,
    /// The deal exists on chain.
    Deal {
        /// The deal.
        deal: DealId,
    },
    /// A task changed phase or progress (per mille, from its work function's `progress()`).
    Task {
        /// Its index (its input's line).
        index: u32,
        /// Its phase, as the pool's scheduler tells it.
        phase: TaskPhase,
        /// Per mille.
        per_mille: u16,
        /// The platform class its replicas run on (homogeneous redundancy), once the pool
        /// sent the first: the GPU adapter class for a GPU job, and the float probe.
        platform: Option<String>,
    },
    /// A line a task's work function wrote to its console (from one of its replicas), as the
    /// worker relayed it: untrusted text, to be shown escaped (`job submit --watch` does).
    Console {
        /// The task's index.
        index: u32,
        /// Which console method.
        level: ConsoleLevel,
        /// What it wrote (it may hold line breaks).
        text: String,
    },
    /// Console lines the caps dropped (per task on the worker and the pool, per deal on the
    /// pool) before the next [`JobEvent::Console`].
    ConsoleDropped {
        /// How many.
        lines: u64,
    },
    /// A task's result, checked against the digest revealed on chain.
    Result {
        /// Its index.
        index: u32,
        /// The value or the work function's agreed error.
        outcome: TaskOutcome,
    },
    /// A task failed on chain before its deadline, its price refunded: the pool gave it up
    /// because its replicas disagreed up to the replica cap (a nondeterministic job).
    Failed {
        /// Its index.
        index: u32,
        /// Why, e.g. "replicas disagreed across 3 results".
        reason: String,
    },
    /// The pool's scheduler has not answered for a while (the stream goes on trying until the
    /// deal's final deadline).
    SchedulerUnreachable,
    /// The end: every task has its result, or the final deadline passed and these tasks are
    /// the client's to claim (`quorate job claim`).
    Finished {
        /// Indices left unfinished.
        refundable: Vec<u32>,
    },
}

/// A submitted job's events; dropping it stops following the job (a deal already bought stays
/// bought: follow it again with [`Client::follow`]).
#[derive(Debug)]
pub struct JobStream {
    events: mpsc::Receiver<Result<JobEvent, SubmitError>>,
    task: JoinHandle<()>,
}

impl JobStream {
    fn spawn<F, Fut>(run: F) -> Self
    where
        F: FnOnce(mpsc::Sender<Result<JobEvent, SubmitError>>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), SubmitError>> + Send + 'static,
    {
        let (tx, events) = mpsc::channel(EVENTS_BUFFERED);
        let task = tokio::spawn(async move {
            let errors = tx.clone();
            if let Err(e) = run(tx).await {
                let _ = errors.send(Err(e)).await;
            }
        });
        Self { events, task }
    }
}

impl Stream for JobStream {
    type Item = Result<JobEvent, SubmitError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}

impl Drop for JobStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Asked before paying: `(pool, price per task, total)` → pay or not.
pub type Approve = Arc<dyn Fn(PoolId, U256, U256) -> bool + Send + Sync>;

/// What the client buys a job on.
#[derive(Clone)]
pub struct Terms {
    /// The pool; `None` for the cheapest order heard that suits the job.
    pub pool: Option<PoolId>,
    /// The trust level (1: one worker; more: more replicas).
    pub trust: u32,
    /// The most paid per task, in wei of QCR.
    pub max_price: U256,
    /// Asked once the price is known; `None` pays any price up to `max_price`.
    pub approve: Option<Approve>,
}

impl std::fmt::Debug for Terms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terms")
            .field("pool", &self.pool)
            .field("trust", &self.trust)
            .field("max_price", &self.max_price)
            .field("approve", &self.approve.is_some())
            .finish()
    }
}

impl Default for Terms {
    fn default() -> Self {
        Self { pool: None, trust: 1, max_price: U256::ZERO, approve: None }
    }
}

/// Builds a [`Job`] and its [`Terms`] ([`Job::builder`]).
#[derive(Debug, Clone)]
pub struct JobBuilder {
    job: Job,
    terms: Terms,
    error: Option<String>,
}

impl Job {
    /// A job of the work function `code` (JavaScript that evaluates to a function, or defines
    /// `work`), with no inputs yet, default limits.
    pub fn builder(code: impl Into<String>) -> JobBuilder {
        JobBuilder {
            job: Job {
                code: code.into(),
                inputs: Vec::new(),
                args: "[]".into(),
                limits: JobLimits::default(),
                evaluator: EvaluatorKind::JavaScript,
                gpu: quorate_primitives::GpuNeeds::NONE,
                modules: Vec::new(),
            },
            terms: Terms::default(),
            error: None,
        }
    }
}

impl JobBuilder {
    /// Ships a WebAssembly module with the job: the work function finds it compiled as
    /// `modules[name]`.
    #[must_use]
    pub fn module(mut self, name: impl Into<String>, bytes: Vec<u8>) -> Self {
        self.job.modules.push((name.into(), bytes));
        self
    }

    /// Adds a task with this input.
    #[must_use]
    pub fn input(mut self, input: &serde_json::Value) -> Self {
        self.job.inputs.push(input.to_string());
        self
    }

    /// Adds a task per input.
    #[must_use]
    pub fn inputs(mut self, inputs: impl IntoIterator<Item = serde_json::Value>) -> Self {
        self.job.inputs.extend(inputs.into_iter().map(|i| i.to_string()));
        self
    }

    /// Extra arguments after the input (a JSON array).
    #[must_use]
    pub fn args(mut self, args: &serde_json::Value) -> Self {
        let text = args.to_string();
        match serde_json::from_str::<Vec<&RawValue>>(&text) {
            Ok(_) => self.job.args = text,
            Err(e) => self.error = Some(format!("the arguments must be a JSON array: {e}")),
        }
        self
    }

    /// Wall-clock limit per task.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.job.limits.timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self
    }

    /// Memory per task, in MiB.
    #[must_use]
    pub fn memory_mib(mut self, mib: u32) -> Self {
        self.job.limits.heap_mib = mib;
        self
    }

    /// Largest result per task, in bytes.
    #[must_use]
    pub fn result_cap(mut self, bytes: u32) -> Self {
        self.job.limits.result_bytes = bytes;
        self
    }

    /// The tasks use `gpu.compute` (WebGPU compute shaders), on any GPU, with the default GPU
    /// memory.
    #[must_use]
    pub fn gpu(mut self) -> Self {
        self.job.use_gpu(None, None);
        self
    }

    /// GPU memory per task, in MiB (a WebGPU job): only workers whose GPU has as much run it,
    /// and a `gpu.compute` call needing more is refused.
    #[must_use]
    pub fn gpu_memory_mib(mut self, mib: u32) -> Self {
        self.job.use_gpu(Some(mib), None);
        self
    }

    /// Only GPUs of this adapter class, or with it as one part (`discretegpu`, `nvidia`,
    /// `nvidia h200`), run the tasks (a WebGPU job).
    #[must_use]
    pub fn gpu_class(mut self, class: &str) -> Self {
        self.job.use_gpu(None, Some(class));
        self
    }

    /// Buy from this pool (default: the cheapest order heard that suits the job).
    #[must_use]
    pub fn pool(mut self, pool: u64) -> Self {
        self.terms.pool = Some(PoolId(pool));
        self
    }

    /// The trust level.
    #[must_use]
    pub fn trust(mut self, trust: u32) -> Self {
        self.terms.trust = trust;
        self
    }

    /// The most paid per task, in wei of QCR.
    #[must_use]
    pub fn max_price(mut self, wei: U256) -> Self {
        self.terms.max_price = wei;
        self
    }

    /// The most paid per task, in QCR (`"2.5"`).
    pub fn max_price_qcr(mut self, qcr: &str) -> Result<Self, JobError> {
        let wei = parse_amount(qcr)
            .and_then(|a| a.in_currency(Currency::Qcr))
            .map_err(|e| JobError::Manifest(format!("max price: {e}")))?;
        self.terms.max_price = wei;
        Ok(self)
    }

    /// Asked once the price is known, before anything is paid.
    #[must_use]
    pub fn approve(
        mut self,
        approve: impl Fn(PoolId, U256, U256) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.terms.approve = Some(Arc::new(approve));
        self
    }

    /// The job and its terms, checked by the manifest's rules.
    pub fn build(self) -> Result<(Job, Terms), JobError> {
        if let Some(reason) = self.error {
            return Err(JobError::Args { reason });
        }
        if self.job.code.trim().is_empty() {
            return Err(JobError::EmptyCode { path: "(builder)".into() });
        }
        self.job.manifest()?;
        Ok((self.job, self.terms))
    }

    /// Builds the job and submits it through `client`.
    pub fn submit(self, client: &Client) -> Result<JobStream, JobError> {
        let (job, terms) = self.build()?;
        Ok(client.submit(job, terms))
    }
}

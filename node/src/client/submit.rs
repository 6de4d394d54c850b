//! A job submitted to a pool, as the client's side of the pool protocol (docs/architecture.md
//! §4): the pool's order from gossip, the job's blobs served to the pool alone, the offer, the
//! pool's consent, the deal bought on chain; then the deal watched until every task has a
//! result, each checked against the digest revealed on chain before it is returned.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
    rpc::types::Filter,
    signers::local::PrivateKeySigner,
    sol_types::{SolEvent, SolValue},
};
use quorate_contracts::{
    bindings::{Hub, IHub::PoolOrder},
    sign::{hub_domain, pool_order_digest},
};
use quorate_p2p::{
    Client as P2p, Event, Keypair, Multiaddr, PeerId,
    data::Access,
    fetch::{FetchConfig, fetch},
    identity::{IdentityProof, Purpose},
    wire::{self, JobState, Message as Wire, TaskPhase},
};
use quorate_primitives::{DealId, JobManifest, PoolId, ResultDigest, TaskId, TaskOutcome};
use tokio::sync::mpsc;

use super::deal::{Purchase, buy};
use crate::{
    accounts,
    chain::Chain,
    job::Job,
    units::{Currency, short},
};

/// How long to wait for the pool's order on gossip.
const ORDER_WAIT: Duration = Duration::from_secs(30);
/// How often the deal's status is asked.
const POLL: Duration = Duration::from_millis(500);

/// What the client asks for.
#[derive(Debug, Clone)]
pub struct Request {
    /// The pool.
    pub pool: PoolId,
    /// The trust level (1 or more).
    pub trust: u32,
    /// The most it pays per task, in wei of QCR.
    pub max_price: U256,
    /// Peers to reach the network through (the pool's scheduler, or any node).
    pub bootstrap: Vec<Multiaddr>,
}

/// What happens, for the caller to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// The pool's order: price per task (wei of QCR), and what the deal will lock.
    Order {
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
    /// The deal exists.
    Deal(DealId),
    /// Tasks with a verified result, of all.
    Done {
        /// Finished.
        done: usize,
        /// In all.
        total: usize,
    },
}

/// Why a submission stopped; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The pool's order never came.
    #[error(
        "no order of pool {0} arrived within 30 s: check the pool id and that its scheduler is running and reachable (--bootstrap)"
    )]
    NoOrder(u64),
    /// The pool refused the job.
    #[error("pool {pool} refused the job: {reason}")]
    Refused {
        /// The pool.
        pool: u64,
        /// Its reason.
        reason: String,
    },
    /// A result did not match the digest revealed on chain.
    #[error(
        "the result of task {0} does not match the digest revealed on chain: the pool served a wrong result"
    )]
    Mismatch(u32),
    /// The caller declined the price.
    #[error("nothing was paid: the job was not submitted")]
    Declined,
    /// Anything else (the network, the chain, the order's terms).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A submitted job's handle: the client's network and the pool's scheduler.
#[derive(Debug)]
pub struct Session {
    p2p: P2p,
    scheduler: PeerId,
    manifest: JobManifest,
    /// The deal.
    pub deal: DealId,
    /// Its block (results are searched for from there).
    pub block: u64,
}

/// Offers `job` to the pool and buys the deal once the pool consents.
pub async fn submit(
    chain: &Chain,
    signer: &PrivateKeySigner,
    hub: Address,
    job: &Job,
    request: &Request,
    mut on_progress: impl FnMut(&Progress) -> bool,
) -> Result<Session, SubmitError> {
    let manifest = job.manifest().map_err(anyhow::Error::from)?;
    let job_hash = manifest.hash().map_err(|e| anyhow::anyhow!("{e}"))?;
    let chain_id = chain.chain_id();
    let hub_contract = Hub::new(hub, chain.provider().clone());
    let owner = hub_contract
        .pool(request.pool.0)
        .call()
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot read pool {} from the Hub {hub}: {e}", request.pool.0)
        })?
        .owner;

    let (p2p, mut events) = network(signer, chain_id, &request.bootstrap)?;
    // The pool's order from gossip, taken only when it is the pool's indeed: for this pool,
    // signed by its owner, published by a peer proven as that pool's scheduler (which the job
    // is then offered to). Anyone can gossip; only the owner's signature counts.
    let domain = hub_domain(chain_id, hub);
    let deadline = Instant::now() + ORDER_WAIT;
    // The pool's scheduler, found through the DHT and proven as the scheduler of this pool by
    // its owner's signature.
    let scheduler =
        match tokio::time::timeout(ORDER_WAIT, p2p.find_scheduler(request.pool, owner)).await {
            Ok(Ok(peer)) => peer,
            _ => return Err(SubmitError::NoOrder(request.pool.0)),
        };
    let (order, signature) = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some(Event::Order { source, order })) if order.pool == request.pool => {
                let Ok(decoded) = PoolOrder::abi_decode(&order.order) else { continue };
                let signer = alloy::primitives::Signature::from_raw_array(&order.signature)
                    .and_then(|sig| {
                        sig.recover_address_from_prehash(&pool_order_digest(&decoded, &domain))
                    });
                if decoded.pool == request.pool.0
                    && signer.is_ok_and(|s| s == owner)
                    && source == scheduler
                    && decoded.trust >= request.trust
                {
                    break (decoded, order.signature);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return Err(SubmitError::NoOrder(request.pool.0)),
        }
    };
    let price = U256::from(order.price);
    let tasks = manifest.task_count();
    let total = price.saturating_mul(U256::from(tasks));
    if price > request.max_price {
        return Err(anyhow::anyhow!(
            "pool {} asks {} QCR per task, above your --max-price {} QCR",
            request.pool.0,
            short(price, Currency::Qcr),
            short(request.max_price, Currency::Qcr)
        )
        .into());
    }
    let free = accounts::balances(chain.provider(), hub, chain.address())
        .await
        .map_err(anyhow::Error::from)?
        .free;
    if free < total {
        return Err(anyhow::anyhow!(
            "the Hub holds {} QCR free for {}, {} needed ({tasks} tasks at {} QCR): deposit more with `quorate wallet deposit`",
            short(free, Currency::Qcr),
            chain.address(),
            short(total, Currency::Qcr),
            short(price, Currency::Qcr)
        )
        .into());
    }
    if !on_progress(&Progress::Order { price, total }) {
        return Err(SubmitError::Declined);
    }

    // The job's blobs, for the pool's owner alone.
    let only_pool = || Access::only([owner]);
    p2p.put_content_for(manifest.encode().map_err(|e| anyhow::anyhow!("{e}"))?, only_pool())
        .await
        .map_err(anyhow::Error::from)?;
    p2p.put_content_for(job.code.clone().into_bytes(), only_pool())
        .await
        .map_err(anyhow::Error::from)?;
    for input in &job.inputs {
        p2p.put_content_for(input.clone().into_bytes(), only_pool())
            .await
            .map_err(anyhow::Error::from)?;
    }
    let order_hash = pool_order_digest(&order, &hub_domain(chain_id, hub));
    let offer = wire::JobOffer {
        pool: request.pool,
        job: job_hash,
        order: order_hash,
        task_count: tasks,
        trust: request.trust,
    };
    match p2p.request(scheduler, Wire::JobOffer(offer)).await.map_err(anyhow::Error::from)? {
        Wire::Ack => {}
        Wire::Refused { reason } => {
            return Err(SubmitError::Refused { pool: request.pool.0, reason });
        }
        other => {
            return Err(anyhow::anyhow!(
                "the pool answered the offer with a {}",
                other.kind().name()
            )
            .into());
        }
    }
    let consent = loop {
        let ask = Wire::JobStatusRequest(wire::JobStatusRequest { job: job_hash });
        match p2p.request(scheduler, ask).await.map_err(anyhow::Error::from)? {
            Wire::JobStatus(wire::JobStatus {
                state: JobState::Consented { signature, .. },
                ..
            }) => break signature,
            Wire::JobStatus(wire::JobStatus { state: JobState::Refused { reason }, .. }) => {
                return Err(SubmitError::Refused { pool: request.pool.0, reason });
            }
            Wire::JobStatus(wire::JobStatus {
                state: JobState::Fetching { fetched, total },
                ..
            }) => {
                on_progress(&Progress::Fetching { fetched, total });
            }
            _ => {}
        }
        tokio::time::sleep(POLL).await;
    };
    on_progress(&Progress::Consented);
    let purchase = Purchase {
        order,
        order_signature: signature.to_vec().into(),
        consent: consent.to_vec().into(),
        job: job_hash,
        tasks,
        trust: request.trust,
        max_price: request.max_price,
        beneficiary: chain.address(),
    };
    let block = chain.provider().get_block_number().await.map_err(anyhow::Error::from)?;
    let now = chain.latest_time().await.map_err(anyhow::Error::from)?;
    let deal = buy(chain, hub, &purchase, now).await.map_err(anyhow::Error::from)?;
    on_progress(&Progress::Deal(deal));
    Ok(Session { p2p, scheduler, manifest, deal, block })
}

/// The client's network: a node proven as a client, joined through `bootstrap`.
fn network(
    signer: &PrivateKeySigner,
    chain_id: u64,
    bootstrap: &[Multiaddr],
) -> anyhow::Result<(P2p, mpsc::Receiver<Event>)> {
    let keypair = Keypair::generate_ed25519();
    let peer = keypair.public().to_peer_id();
    let expires = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_add(24 * 3600);
    let proof =
        IdentityProof::sign(signer, signer.address(), &peer, Purpose::Client, chain_id, expires)?;
    let mut config = quorate_p2p::Config::new(keypair, chain_id);
    config.listen = vec!["/ip4/0.0.0.0/tcp/0".parse()?];
    config.bootstrap = bootstrap.to_vec();
    config.dht_server = false;
    Ok(quorate_p2p::spawn(config, proof)?)
}

impl Session {
    /// Waits for every task's result, fetches each from the pool and checks it against the
    /// digest revealed on chain; returns them in task order.
    pub async fn results(
        &self,
        chain: &Chain,
        hub: Address,
        mut on_progress: impl FnMut(&Progress),
    ) -> Result<Vec<TaskOutcome>, SubmitError> {
        let total = self.manifest.task_count();
        let mut outcomes: HashMap<u32, TaskOutcome> = HashMap::new();
        let mut reported = usize::MAX;
        while outcomes.len() < total as usize {
            let mut from = 0;
            while from < total {
                let ask = wire::DealStatusRequest {
                    deal: self.deal,
                    from,
                    count: wire::MAX_DEAL_TASKS as u32,
                };
                let status =
                    match self.p2p.request(self.scheduler, Wire::DealStatusRequest(ask)).await {
                        Ok(Wire::DealStatus(status)) => status,
                        _ => break,
                    };
                let fresh: Vec<_> = status
                    .tasks
                    .iter()
                    .filter(|t| t.phase == TaskPhase::Completed && !outcomes.contains_key(&t.index))
                    .filter_map(|t| t.result.map(|hash| (t.index, hash)))
                    .collect();
                if !fresh.is_empty() {
                    let digests =
                        revealed(chain, hub, self.deal, self.block, fresh.iter().map(|(i, _)| *i))
                            .await?;
                    for (index, hash) in fresh {
                        let task = TaskId::derive(self.deal, u64::from(index));
                        let Some(digests) = digests.get(&task) else { continue };
                        // No more than a result of this job can be (an error's text aside).
                        let cap = u64::from(self.manifest.limits.result_bytes).max(64 << 10);
                        let fetching = FetchConfig { max_size: cap, ..FetchConfig::default() };
                        let bytes = fetch(&self.p2p, &[self.scheduler], hash, &fetching)
                            .await
                            .map_err(anyhow::Error::from)?;
                        if !digests.contains(&ResultDigest::of(task, &bytes)) {
                            return Err(SubmitError::Mismatch(index));
                        }
                        let outcome =
                            TaskOutcome::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
                        outcomes.insert(index, outcome);
                    }
                }
                from = from.saturating_add(wire::MAX_DEAL_TASKS as u32);
            }
            if outcomes.len() != reported {
                reported = outcomes.len();
                on_progress(&Progress::Done { done: reported, total: total as usize });
            }
            if outcomes.len() < total as usize {
                tokio::time::sleep(POLL).await;
            }
        }
        Ok((0..total).filter_map(|i| outcomes.remove(&i)).collect())
    }
}

/// The digests revealed on chain for tasks `indices` of `deal`, from `from_block` on.
async fn revealed(
    chain: &Chain,
    hub: Address,
    deal: DealId,
    from_block: u64,
    indices: impl Iterator<Item = u32>,
) -> anyhow::Result<HashMap<TaskId, Vec<ResultDigest>>> {
    let ids: Vec<_> = indices.map(|i| TaskId::derive(deal, u64::from(i)).0).collect();
    let mut out: HashMap<TaskId, Vec<ResultDigest>> = HashMap::new();
    for chunk in ids.chunks(100) {
        let filter = Filter::new()
            .address(hub)
            .event_signature(Hub::TaskRevealed::SIGNATURE_HASH)
            .topic1(chunk.to_vec())
            .from_block(from_block);
        for log in chain.provider().get_logs(&filter).await? {
            if let Ok(event) = Hub::TaskRevealed::decode_log(&log.inner) {
                out.entry(TaskId::from(event.taskId))
                    .or_default()
                    .push(ResultDigest::from(event.resultDigest));
            }
        }
    }
    Ok(out)
}

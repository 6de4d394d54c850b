//! A job submitted to a pool, as the client's side of the pool protocol (docs/architecture.md
//! §4): the pool's order from gossip, the job's blobs served to the pool alone, the offer, the
//! pool's consent, the deal bought on chain; then the deal watched until every task has a
//! result, each checked against the digest revealed on chain before it is returned.

use std::time::Duration;

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use quorate_contracts::sign::{hub_domain, pool_order_digest};
use quorate_p2p::{
    Client as P2p, Event, Keypair, Multiaddr, PeerId,
    data::Access,
    identity::{IdentityProof, Purpose},
    wire::{self, JobState, Message as Wire},
};
use quorate_primitives::{DealId, PoolId};
use tokio::sync::mpsc;

use super::{
    deal::{Purchase, buy},
    orders::{self, Offer, Verifier},
    report,
    session::{Session, cap_of},
};
use crate::{
    accounts,
    chain::Chain,
    job::Job,
    units::{Currency, short},
};

/// How long to wait for the pool's order on gossip.
const ORDER_WAIT: Duration = Duration::from_secs(30);
/// How long orders are listened for when no pool is named (pools announce every 5 s).
const ORDER_SCAN: Duration = Duration::from_secs(6);
/// How often the deal's status is asked.
pub(super) const POLL: Duration = Duration::from_millis(500);

/// What the client asks for.
#[derive(Debug, Clone)]
pub struct Request {
    /// The pool; `None` for the one whose order suits the job at the lowest price.
    pub pool: Option<PoolId>,
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
    /// No order heard suits the job.
    #[error(
        "none of the {heard} pool orders heard suits {tasks} tasks at trust {trust} for at most {max_price} QCR each: raise --max-price, lower --trust, or name a pool with --pool (`quorate pool orders` lists them)"
    )]
    NoMatch {
        /// Orders heard.
        heard: usize,
        /// The job's tasks.
        tasks: u32,
        /// The trust asked.
        trust: u32,
        /// The price limit, in QCR.
        max_price: String,
    },
    /// The pool's scheduler could not be found.
    #[error(
        "the scheduler of pool {0} cannot be reached: check that it is running, and --bootstrap (or client.bootstrap)"
    )]
    NoScheduler(u64),
    /// Tasks were left unfinished at the deal's final deadline.
    #[error(
        "{tasks} tasks of deal {deal} did not finish by its final deadline: get their price back with `quorate job claim {deal}`"
    )]
    Unfinished {
        /// The deal.
        deal: DealId,
        /// How many.
        tasks: usize,
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

/// Offers `job` to the pool and buys the deal once the pool consents.
pub async fn submit(
    chain: &Chain,
    signer: &PrivateKeySigner,
    hub: Address,
    job: &Job,
    request: &Request,
    mut on_progress: impl FnMut(&Progress) -> bool,
) -> Result<Session, SubmitError> {
    let mut manifest = job.manifest().map_err(anyhow::Error::from)?;
    // A fresh salt: this submission is its own job, even with code and inputs sent before.
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt)
        .map_err(|e| anyhow::anyhow!("no randomness for the job's salt: {e}"))?;
    manifest.salt = salt.into();
    let job_hash = manifest.hash().map_err(|e| anyhow::anyhow!("{e}"))?;
    let chain_id = chain.chain_id();
    let tasks = manifest.task_count();
    let (p2p, mut events) = network(signer, chain_id, &request.bootstrap)?;
    let mut verifier = Verifier::new(chain.provider().clone(), chain_id, hub);

    // The pool: the one asked for, or the one with the cheapest order heard that suits the
    // job.
    // Orders heard while choosing: the chosen pool's own is taken from them when its
    // scheduler published it, without waiting for the next announcement.
    let mut heard: Vec<Offer> = Vec::new();
    let pool = match request.pool {
        Some(pool) => pool,
        None => {
            let now = chain.latest_time().await.map_err(anyhow::Error::from)?;
            heard = orders::gather(&mut events, &mut verifier, ORDER_SCAN, |_| false).await;
            orders::cheapest(&heard, tasks, request.trust, request.max_price, now)
                .map(Offer::pool)
                .ok_or(SubmitError::NoMatch {
                    heard: heard.len(),
                    tasks,
                    trust: request.trust,
                    max_price: short(request.max_price, Currency::Qcr),
                })?
        }
    };
    let owner = verifier.owner(pool.0).await.ok_or_else(|| {
        anyhow::anyhow!(
            "pool {} does not exist on the Hub {hub}: check the pool id (`quorate pool orders` lists those selling)",
            pool.0
        )
    })?;
    // The pool's scheduler, found through the DHT and proven as the scheduler of this pool by
    // its owner's signature; the job is offered to it, on the order it published itself.
    let Some(scheduler) = find_scheduler(&p2p, pool, owner).await else {
        return Err(SubmitError::NoOrder(pool.0));
    };
    // Its own order, published by it, that this job can buy now (the price is checked below,
    // to say so).
    let now = chain.latest_time().await.map_err(anyhow::Error::from)?;
    let me = chain.address();
    let ours = |o: &Offer| {
        o.pool() == pool
            && o.source == scheduler
            && o.order.trust >= request.trust
            && o.order.volume >= tasks
            && o.order.expiry > now
            && (o.order.requester == Address::ZERO || o.order.requester == me)
    };
    let offer = match heard.into_iter().filter(ours).min_by_key(Offer::price) {
        Some(offer) => Some(offer),
        None => orders::gather(&mut events, &mut verifier, ORDER_WAIT, ours)
            .await
            .into_iter()
            .find(ours),
    };
    let Some(offer) = offer else {
        return Err(SubmitError::NoOrder(pool.0));
    };
    let (order, signature) = (offer.order, offer.signature);
    let price = U256::from(order.price);
    let total = price.saturating_mul(U256::from(tasks));
    if price > request.max_price {
        return Err(anyhow::anyhow!(
            "pool {} asks {} QCR per task, above your --max-price {} QCR",
            pool.0,
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
    if !on_progress(&Progress::Order { pool, price, total }) {
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
    for (_, bytes) in &job.modules {
        p2p.put_content_for(bytes.clone(), only_pool()).await.map_err(anyhow::Error::from)?;
    }
    for input in &job.inputs {
        p2p.put_content_for(input.clone().into_bytes(), only_pool())
            .await
            .map_err(anyhow::Error::from)?;
    }
    let order_hash = pool_order_digest(&order, &hub_domain(chain_id, hub));
    let offer = wire::JobOffer {
        pool,
        job: job_hash,
        order: order_hash,
        task_count: tasks,
        trust: request.trust,
    };
    match p2p.request(scheduler, Wire::JobOffer(offer)).await.map_err(anyhow::Error::from)? {
        Wire::Ack => {}
        Wire::Refused { reason } => {
            return Err(SubmitError::Refused {
                pool: pool.0,
                reason: super::terminal_safe(&reason),
            });
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
                let reason = super::terminal_safe(&reason);
                return Err(SubmitError::Refused { pool: pool.0, reason });
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
    let terms = report::terms(chain.provider(), hub, deal).await.map_err(anyhow::Error::from)?;
    Ok(Session {
        p2p,
        scheduler,
        deal,
        block,
        tasks,
        result_cap: cap_of(&manifest),
        final_deadline: terms.final_deadline,
    })
}

/// The scheduler of `pool`, found through the DHT and proven by `owner`'s signature; `None`
/// when none answers within [`ORDER_WAIT`].
pub(super) async fn find_scheduler(p2p: &P2p, pool: PoolId, owner: Address) -> Option<PeerId> {
    tokio::time::timeout(ORDER_WAIT, p2p.find_scheduler(pool, owner)).await.ok()?.ok()
}

/// The client's network: a node proven as a client, joined through `bootstrap`.
pub fn network(
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

//! Pools' signed orders as clients see them on gossip: each decoded and kept only when its
//! pool's owner on the Hub signed it (anyone may relay an order; only the owner's signature
//! counts), and the cheapest that suits a job picked from them.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, B256, Signature, U256},
    providers::RootProvider,
    sol_types::SolValue,
};
use quorate_contracts::{
    bindings::{Hub, IHub::PoolOrder},
    sign::{hub_domain, pool_order_digest},
};
use quorate_p2p::{Event, PeerId};
use quorate_primitives::PoolId;
use tokio::sync::mpsc;

/// A pool order whose signature was checked against its pool's owner.
#[derive(Debug, Clone)]
pub struct Offer {
    /// The order.
    pub order: PoolOrder,
    /// Its EIP-712 hash.
    pub hash: B256,
    /// The owner's signature.
    pub signature: [u8; 65],
    /// The pool's owner.
    pub owner: Address,
    /// The peer that published it.
    pub source: PeerId,
}

impl Offer {
    /// The pool.
    pub fn pool(&self) -> PoolId {
        PoolId(self.order.pool)
    }

    /// Price per task, in wei of QCR.
    pub fn price(&self) -> U256 {
        U256::from(self.order.price)
    }

    /// True when a job of `tasks` tasks at `trust`, paying at most `max_price` per task, can
    /// buy from this order at chain time `now`.
    pub fn suits(&self, tasks: u32, trust: u32, max_price: U256, now: u64) -> bool {
        self.order.trust >= trust
            && self.price() <= max_price
            && self.order.volume >= tasks
            && self.order.expiry > now
            && self.order.requester == Address::ZERO
    }
}

/// Checks orders against their pools' owners on the Hub, each owner read once.
#[derive(Debug)]
pub struct Verifier {
    hub: Hub::HubInstance<RootProvider>,
    domain: alloy::sol_types::Eip712Domain,
    owners: HashMap<u64, Option<Address>>,
}

impl Verifier {
    /// A verifier for the Hub at `hub` on chain `chain_id`.
    pub fn new(provider: RootProvider, chain_id: u64, hub: Address) -> Self {
        Self {
            hub: Hub::new(hub, provider),
            domain: hub_domain(chain_id, hub),
            owners: HashMap::new(),
        }
    }

    /// The pool's owner, from the Hub (cached; `None` for a pool that does not exist).
    pub async fn owner(&mut self, pool: u64) -> Option<Address> {
        if let Some(owner) = self.owners.get(&pool) {
            return *owner;
        }
        let owner = match self.hub.pool(pool).call().await {
            Ok(view) if view.owner != Address::ZERO => Some(view.owner),
            Ok(_) => None,
            // Not cached: the node may answer next time.
            Err(_) => return None,
        };
        self.owners.insert(pool, owner);
        owner
    }

    /// The order in a gossiped `SignedOrder`, when its pool's owner signed it.
    pub async fn check(
        &mut self,
        source: PeerId,
        order: &quorate_p2p::wire::SignedOrder,
    ) -> Option<Offer> {
        let decoded = PoolOrder::abi_decode(&order.order).ok()?;
        if decoded.pool != order.pool.0 {
            return None;
        }
        let hash = pool_order_digest(&decoded, &self.domain);
        let signer = Signature::from_raw_array(&order.signature)
            .and_then(|sig| sig.recover_address_from_prehash(&hash))
            .ok()?;
        let owner = self.owner(decoded.pool).await?;
        (signer == owner).then_some(Offer {
            order: decoded,
            hash,
            signature: order.signature,
            owner,
            source,
        })
    }
}

/// Gathers the verified orders heard on `events` for `wait` (the newest per pool and order),
/// or until `enough` says the ones heard suffice.
pub async fn gather(
    events: &mut mpsc::Receiver<Event>,
    verifier: &mut Verifier,
    wait: Duration,
    mut enough: impl FnMut(&Offer) -> bool,
) -> Vec<Offer> {
    let deadline = Instant::now() + wait;
    let mut heard: HashMap<B256, Offer> = HashMap::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.recv()).await {
            Ok(Some(Event::Order { source, order })) => {
                if let Some(offer) = verifier.check(source, &order).await {
                    let stop = enough(&offer);
                    heard.insert(offer.hash, offer);
                    if stop {
                        break;
                    }
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let mut offers: Vec<Offer> = heard.into_values().collect();
    offers.sort_by_key(|o| (o.price(), o.order.pool, std::cmp::Reverse(o.order.expiry)));
    offers
}

/// The cheapest of `offers` that suits the job (ties: the lower pool id, then the later
/// expiry).
pub fn cheapest(
    offers: &[Offer],
    tasks: u32,
    trust: u32,
    max_price: U256,
    now: u64,
) -> Option<&Offer> {
    offers
        .iter()
        .filter(|o| o.suits(tasks, trust, max_price, now))
        .min_by_key(|o| (o.price(), o.order.pool, std::cmp::Reverse(o.order.expiry)))
}

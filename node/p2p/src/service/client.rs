//! The network's public face: the cloneable [`Client`] handle, the [`Event`]s the loop emits
//! and the commands between them.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use alloy_primitives::Address;
use libp2p::{Multiaddr, PeerId, request_response};
use quorate_primitives::ContentHash;
use tokio::sync::{mpsc, oneshot};

use crate::{
    Error,
    data::{Access, Blob, DATA_PROTOCOL, Store},
    direct::DirectTls,
    guard::Offence,
    identity::{IdentityProof, PoolId, VerifiedPeer},
    wire::{Message, PoolAnnouncement, SignedOrder},
};

/// The handle to answer one inbound request, given with [`Event::Request`].
#[derive(Debug)]
pub struct Responder(pub(super) request_response::ResponseChannel<Message>);

/// What the network tells the application.
#[derive(Debug)]
pub enum Event {
    /// A peer proved its identity.
    PeerVerified {
        /// The peer.
        peer: PeerId,
        /// Who it is.
        identity: VerifiedPeer,
    },
    /// A peer's proof was refused (by us), or ours by it; the connection is closed.
    PeerRefused {
        /// The peer.
        peer: PeerId,
        /// Why: our verification error, or [`Error::Refused`] with the remote's reason.
        error: Error,
    },
    /// The last connection to a peer closed.
    PeerDisconnected {
        /// The peer.
        peer: PeerId,
    },
    /// A verified peer sent a request; answer it with [`Client::respond`].
    Request {
        /// The peer.
        peer: PeerId,
        /// Who it is.
        identity: VerifiedPeer,
        /// The IP address its connection comes from, when known.
        remote_ip: Option<std::net::IpAddr>,
        /// The request.
        message: Message,
        /// Where the answer goes.
        responder: Responder,
    },
    /// A pool announcement whose scheduler proof verified. `owner_confirmed` is true when the
    /// pool's owner is known here and signed it; otherwise the application checks the chain.
    Announcement {
        /// The scheduler that published it.
        source: PeerId,
        /// The announcement.
        announcement: PoolAnnouncement,
        /// Whether the owner was checked against a known owner.
        owner_confirmed: bool,
    },
    /// A signed pool order from gossip; its EIP-712 signature is the application's to check.
    Order {
        /// The peer that published it.
        source: PeerId,
        /// The order.
        order: SignedOrder,
    },
    /// A scheduler of a pool looked for with [`Client::find_scheduler`] is connected and proven.
    SchedulerConnected {
        /// The pool.
        pool: PoolId,
        /// The scheduler.
        peer: PeerId,
    },
    /// That scheduler's connection was lost; the loop redials with backoff.
    SchedulerLost {
        /// The pool.
        pool: PoolId,
        /// The scheduler.
        peer: PeerId,
    },
    /// A peer was banned for misbehaving.
    Banned {
        /// The peer.
        peer: PeerId,
        /// The offence that crossed the threshold.
        offence: Offence,
    },
}

/// Counters, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Peers with an open connection.
    pub connected: usize,
    /// Peers whose identity is verified.
    pub verified: usize,
    /// Peers banned now.
    pub banned: usize,
    /// Events dropped because the event channel was full.
    pub events_dropped: u64,
    /// Offences recorded.
    pub offences: u64,
    /// Blobs (or their missing parts) sent whole on direct connections.
    pub direct_transfers: u64,
}

pub(super) enum Command {
    ListenAddrs { reply: oneshot::Sender<Vec<Multiaddr>> },
    Dial { addr: Multiaddr, reply: oneshot::Sender<Result<(), Error>> },
    Request { peer: PeerId, message: Message, reply: oneshot::Sender<Result<Message, Error>> },
    Respond { responder: Responder, message: Message, reply: oneshot::Sender<Result<(), Error>> },
    Publish { message: Message, reply: oneshot::Sender<Result<(), Error>> },
    Provide { pool: PoolId, reply: oneshot::Sender<Result<(), Error>> },
    FindScheduler { pool: PoolId, owner: Address, reply: oneshot::Sender<PeerId> },
    Ready { peer: PeerId, reply: oneshot::Sender<Result<Option<IpAddr>, Error>> },
    Report { peer: PeerId, offence: Offence },
    SetIdentity { proof: IdentityProof },
    Stats { reply: oneshot::Sender<Stats> },
    Identity { peer: PeerId, reply: oneshot::Sender<Option<VerifiedPeer>> },
}

/// A cloneable handle to the event loop. Every method sends one bounded command and awaits its
/// reply; when the loop has stopped they fail with [`Error::Shutdown`].
#[derive(Clone)]
pub struct Client {
    pub(super) commands: mpsc::Sender<Command>,
    pub(super) peer_id: PeerId,
    /// The blobs this node serves (shared with the serving tasks).
    pub(super) store: Store,
    pub(super) max_content_bytes: u64,
    /// Opens data streams.
    pub(super) data: libp2p_stream::Control,
    /// This node's certificate for direct data connections.
    pub(super) tls: DirectTls,
    pub(super) direct_port: Option<u16>,
    /// Providers whose direct port could not be reached, and when.
    pub(super) direct_failures: Arc<std::sync::Mutex<HashMap<PeerId, Instant>>>,
    /// Paces this node's requests to each peer under the rate peers admit by default.
    pub(super) pacer: Arc<std::sync::Mutex<Pacer>>,
}

/// Requests per second this node sends one peer at most, sustained: under the rate a peer's
/// guard admits by default (200/s), so bulk work (a pool fetching a job's thousands of inputs,
/// a client its results) is slowed, never scored as a flood.
const OUTBOUND_RATE: f64 = 180.0;
/// The burst above that rate (under the guard's 400).
const OUTBOUND_BURST: f64 = 360.0;
/// Most peers paced at once; the longest idle is forgotten first.
const PACED_PEERS: usize = 4096;

/// A token bucket per peer for outbound requests.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    buckets: HashMap<PeerId, (f64, Instant)>,
}

impl Pacer {
    /// How long to wait before the next request to `peer` (taking its token now).
    fn delay(&mut self, peer: PeerId, now: Instant) -> Duration {
        if self.buckets.len() >= PACED_PEERS && !self.buckets.contains_key(&peer) {
            let idle = self.buckets.iter().min_by_key(|(_, (_, at))| *at).map(|(p, _)| *p);
            if let Some(idle) = idle {
                self.buckets.remove(&idle);
            }
        }
        let (tokens, at) = self.buckets.entry(peer).or_insert((OUTBOUND_BURST, now));
        let refilled = now.saturating_duration_since(*at).as_secs_f64() * OUTBOUND_RATE;
        *tokens = (*tokens + refilled).min(OUTBOUND_BURST) - 1.0;
        *at = now;
        if *tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-*tokens / OUTBOUND_RATE)
        }
    }
}

/// How long a provider whose direct port failed is asked on the libp2p stream instead.
const DIRECT_RETRY_AFTER: Duration = Duration::from_secs(600);
/// Most providers remembered as having an unreachable direct port.
const MAX_DIRECT_FAILURES: usize = 4096;

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("peer_id", &self.peer_id).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

impl Client {
    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).await.map_err(|_| Error::Shutdown)?;
        rx.await.map_err(|_| Error::Shutdown)
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The addresses this node listens on, once at least one is open.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, Error> {
        self.call(|reply| Command::ListenAddrs { reply }).await
    }

    /// Dials an address (ending in `/p2p/<peer id>` or not).
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), Error> {
        self.call(|reply| Command::Dial { addr, reply }).await?
    }

    /// Sends a request to `peer` and awaits its answer. Dials the peer when it is not connected
    /// (with the addresses known for it) and waits until it has acknowledged our identity.
    /// A [`Message::Refused`] answer becomes [`Error::Refused`].
    pub async fn request(&self, peer: PeerId, message: Message) -> Result<Message, Error> {
        self.pace(peer).await;
        match self.call(|reply| Command::Request { peer, message, reply }).await?? {
            Message::Refused { reason } => Err(Error::Refused { reason }),
            answer => Ok(answer),
        }
    }

    /// Answers a request received as [`Event::Request`].
    pub async fn respond(&self, responder: Responder, message: Message) -> Result<(), Error> {
        self.call(|reply| Command::Respond { responder, message, reply }).await?
    }

    /// Waits until a request to `peer` stays within the rate peers admit.
    pub(crate) async fn pace(&self, peer: PeerId) {
        let delay = match self.pacer.lock() {
            Ok(mut pacer) => pacer.delay(peer, Instant::now()),
            Err(_) => Duration::ZERO,
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    /// Publishes a pool announcement or a signed order on gossipsub.
    pub async fn publish(&self, message: Message) -> Result<(), Error> {
        self.call(|reply| Command::Publish { message, reply }).await?
    }

    /// Announces in the DHT that this node schedules `pool` (a provider record), and waits until
    /// the record is stored (or the lookup ends).
    pub async fn provide(&self, pool: PoolId) -> Result<(), Error> {
        self.call(|reply| Command::Provide { pool, reply }).await?
    }

    /// Finds the scheduler of `pool`, whose proof must be signed by `owner`, through the DHT
    /// and gossip, dials it and waits until it is proven; keeps it connected afterwards,
    /// redialing with backoff when it is lost. Wrap in a timeout: this waits until found.
    pub async fn find_scheduler(&self, pool: PoolId, owner: Address) -> Result<PeerId, Error> {
        self.call(|reply| Command::FindScheduler { pool, owner, reply }).await
    }

    /// Serves `bytes` to every proven peer that asks for them by content hash
    /// ([`Access::Public`]); returns the hash. See [`Client::put_content_for`].
    pub async fn put_content(&self, bytes: Vec<u8>) -> Result<ContentHash, Error> {
        self.put_content_for(bytes, Access::Public).await
    }

    /// Serves `bytes` by content hash to the peers `access` allows (checked against the address
    /// each requester proved); returns the hash. Any other requester is answered as if the blob
    /// were not held. Putting a blob already held widens its access ([`Access::merge`]: the
    /// allowed sets merge, public wins). Hashes the blob piece by piece once (on a blocking
    /// thread), so serving it costs no hashing.
    pub async fn put_content_for(
        &self,
        bytes: Vec<u8>,
        access: Access,
    ) -> Result<ContentHash, Error> {
        if bytes.len() as u64 > self.max_content_bytes {
            let (size, max) = (bytes.len() as u64, self.max_content_bytes);
            return Err(Error::ContentTooLarge { size, max });
        }
        let blob = tokio::task::spawn_blocking(move || Blob::new(bytes))
            .await
            .map_err(|e| Error::Transport { reason: format!("hashing the blob: {e}") })?;
        self.store.put(blob, access, self.max_content_bytes)
    }

    /// Lets the peer proven with `address` fetch the held blob `hash` from now on (a scheduler
    /// grants a task's input to the worker it assigns, a result to the deal's client). A public
    /// blob stays public. [`Error::ContentUnavailable`] when the blob is not held.
    pub async fn grant(&self, hash: ContentHash, address: Address) -> Result<(), Error> {
        self.store.grant(&hash, address)
    }

    /// Stops the peer proven with `address` from fetching the held, restricted blob `hash`
    /// (transfers already under way finish). [`Error::ContentUnavailable`] when the blob is not
    /// held, [`Error::PublicContent`] when it is public.
    pub async fn revoke(&self, hash: ContentHash, address: Address) -> Result<(), Error> {
        self.store.revoke(&hash, &address)
    }

    /// Who may fetch the held blob `hash`; `None` when it is not held.
    pub async fn access(&self, hash: ContentHash) -> Result<Option<Access>, Error> {
        Ok(self.store.access(&hash))
    }

    /// Stops serving a blob.
    pub async fn remove_content(&self, hash: ContentHash) -> Result<(), Error> {
        self.store.remove(&hash);
        Ok(())
    }

    /// Waits until `peer` is connected and has acknowledged our identity, dialing it when needed
    /// (with the addresses known for it). Returns the peer's IP address on that connection, when
    /// it has one (the direct data path dials it).
    pub async fn ready(&self, peer: PeerId) -> Result<Option<IpAddr>, Error> {
        self.call(|reply| Command::Ready { peer, reply }).await?
    }

    /// Remembers that `provider`'s direct port could not be reached.
    pub(crate) fn direct_failed(&self, provider: PeerId) {
        let now = Instant::now();
        let mut failures =
            self.direct_failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if failures.len() >= MAX_DIRECT_FAILURES {
            failures.retain(|_, at| now.duration_since(*at) < DIRECT_RETRY_AFTER);
            if failures.len() >= MAX_DIRECT_FAILURES {
                failures.clear();
            }
        }
        failures.insert(provider, now);
    }

    /// True when `provider`'s direct port failed within [`DIRECT_RETRY_AFTER`].
    pub(crate) fn direct_failed_recently(&self, provider: PeerId) -> bool {
        self.direct_failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&provider)
            .is_some_and(|at| at.elapsed() < DIRECT_RETRY_AFTER)
    }

    /// The port of this node's direct data listener, when it has one.
    pub fn direct_port(&self) -> Option<u16> {
        self.direct_port
    }

    /// This node's TLS identity for direct data connections.
    pub(crate) fn direct_tls(&self) -> &DirectTls {
        &self.tls
    }

    /// Opens a data stream to a ready peer.
    pub(crate) async fn open_data_stream(&self, peer: PeerId) -> Result<libp2p::Stream, Error> {
        self.data
            .clone()
            .open_stream(peer, DATA_PROTOCOL)
            .await
            .map_err(|e| Error::Request { reason: e.to_string() })
    }

    /// Reports a peer's misbehaviour seen by the application (bad content, bad results…).
    pub async fn report(&self, peer: PeerId, offence: Offence) -> Result<(), Error> {
        self.commands.send(Command::Report { peer, offence }).await.map_err(|_| Error::Shutdown)
    }

    /// Replaces this node's identity proof (before the old one expires). Peers connecting from
    /// now on get the new one.
    pub async fn set_identity(&self, proof: IdentityProof) -> Result<(), Error> {
        self.commands.send(Command::SetIdentity { proof }).await.map_err(|_| Error::Shutdown)
    }

    /// Counters.
    pub async fn stats(&self) -> Result<Stats, Error> {
        self.call(|reply| Command::Stats { reply }).await
    }

    /// The verified identity of a connected peer.
    pub async fn identity_of(&self, peer: PeerId) -> Result<Option<VerifiedPeer>, Error> {
        self.call(|reply| Command::Identity { peer, reply }).await
    }
}

#[cfg(test)]
mod pacing {
    use super::*;

    #[test]
    fn a_peer_gets_a_burst_then_the_sustained_rate_and_others_are_apart() {
        let (mut pacer, peer, other, t0) =
            (Pacer::default(), PeerId::random(), PeerId::random(), Instant::now());
        for _ in 0..360 {
            assert_eq!(pacer.delay(peer, t0), Duration::ZERO, "within the burst");
        }
        let wait = pacer.delay(peer, t0);
        assert!(wait > Duration::ZERO && wait < Duration::from_millis(10), "{wait:?}");
        assert_eq!(pacer.delay(other, t0), Duration::ZERO, "each peer has its own bucket");
        // A second later about 180 more may go at once (one already owed).
        let t1 = t0 + Duration::from_secs(1);
        let free = (0..400).take_while(|_| pacer.delay(peer, t1).is_zero()).count();
        assert!((178..=180).contains(&free), "{free}");
    }
}

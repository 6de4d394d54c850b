//! The network as an actor: one task owns the libp2p [`Swarm`]; a cloneable [`Client`] sends it
//! bounded commands with oneshot replies; [`Event`]s come out through a bounded channel.
//!
//! ```text
//!   Client ──Command (bounded mpsc, oneshot reply)──▶ EventLoop ──owns──▶ Swarm
//!   application ◀──────────── Event (bounded mpsc, overflow dropped and counted)
//! ```
//!
//! Per connected peer the loop keeps a session:
//!
//! ```text
//! connected ──Hello sent──▶ our proof acked (ready) ─┐
//!     └──Hello received, proof verified (verified) ──┴─▶ requests flow both ways
//! any refusal ─▶ Refused{reason} answered, PeerRefused emitted, disconnected (forgeries banned)
//! ```
//!
//! Application requests to a peer wait in a bounded queue until the peer has acknowledged our
//! proof, so the remote never sees a request before the identity it comes from.
//!
//! Blobs travel on their own stream protocol ([`crate::data`]): the loop only admits each
//! inbound data stream (identity, rate limit, ban, concurrency cap) and hands it to a serving
//! task, so bulk bytes never queue behind, or in front of, control messages.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy_primitives::Address;
use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, Swarm, allow_block_list, connection_limits, gossipsub, identify, kad, mdns,
    noise, ping, request_response,
    swarm::{
        NetworkBehaviour, SwarmEvent,
        behaviour::toggle::Toggle,
        dial_opts::{DialOpts, PeerCondition},
    },
    tcp, yamux,
};
use quorate_primitives::ContentHash;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use crate::{
    Error,
    config::Config,
    data::{self, Blob, DATA_PROTOCOL, Server, Slots, Store, ToLoop},
    direct::DirectTls,
    guard::{Guard, Offence, Verdict},
    identity::{IdentityProof, PoolId, Purpose, VerifiedPeer, VerifyPolicy},
    protocol::{PROTOCOL, WireCodec, decode_failure},
    wire::{Kind, Message, PoolAnnouncement, SignedOrder},
};

/// Gossipsub topic of pool announcements.
pub const ANNOUNCEMENTS_TOPIC: &str = "quorate/announcements/1";
/// Gossipsub topic of signed pool orders.
pub const ORDERS_TOPIC: &str = "quorate/orders/1";
/// The identify protocol version string.
pub const IDENTIFY_VERSION: &str = "/quorate/1";

const TICK: Duration = Duration::from_millis(250);
/// Delay between answering a refused Hello and closing the connection, so the reason arrives.
const REFUSE_LINGER: Duration = Duration::from_millis(500);
const MAX_ADDRS_PER_PEER: usize = 8;
const MAX_WAITERS: usize = 64;
/// Most schedulers remembered per looked-for pool.
const MAX_CANDIDATES: usize = 32;
/// Most peers whose addresses are remembered.
const MAX_KNOWN_PEERS: usize = 4096;

/// The DHT key under which a pool's scheduler provides.
pub fn pool_key(pool: PoolId) -> kad::RecordKey {
    let mut key = b"/quorate/pool/".to_vec();
    key.extend_from_slice(pool.0.as_slice());
    kad::RecordKey::new(&key)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    limits: connection_limits::Behaviour,
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    identify: identify::Behaviour,
    ping: ping::Behaviour,
    kad: kad::Behaviour<kad::store::MemoryStore>,
    gossipsub: gossipsub::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
    wire: request_response::Behaviour<WireCodec>,
    data: libp2p_stream::Behaviour,
}

/// The handle to answer one inbound request, given with [`Event::Request`].
#[derive(Debug)]
pub struct Responder(request_response::ResponseChannel<Message>);

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

enum Command {
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
    commands: mpsc::Sender<Command>,
    peer_id: PeerId,
    /// The blobs this node serves (shared with the serving tasks).
    store: Store,
    max_content_bytes: u64,
    /// Opens data streams.
    data: libp2p_stream::Control,
    /// This node's certificate for direct data connections.
    tls: DirectTls,
    direct_port: Option<u16>,
    /// Providers whose direct port could not be reached, and when.
    direct_failures: Arc<std::sync::Mutex<HashMap<PeerId, Instant>>>,
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
        match self.call(|reply| Command::Request { peer, message, reply }).await?? {
            Message::Refused { reason } => Err(Error::Refused { reason }),
            answer => Ok(answer),
        }
    }

    /// Answers a request received as [`Event::Request`].
    pub async fn respond(&self, responder: Responder, message: Message) -> Result<(), Error> {
        self.call(|reply| Command::Respond { responder, message, reply }).await?
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

    /// Serves `bytes` to peers that ask for them by content hash; returns the hash. Hashes the
    /// blob piece by piece once (on a blocking thread), so serving it costs no hashing.
    pub async fn put_content(&self, bytes: Vec<u8>) -> Result<ContentHash, Error> {
        if bytes.len() as u64 > self.max_content_bytes {
            let (size, max) = (bytes.len() as u64, self.max_content_bytes);
            return Err(Error::ContentTooLarge { size, max });
        }
        let blob = tokio::task::spawn_blocking(move || Blob::new(bytes))
            .await
            .map_err(|e| Error::Transport { reason: format!("hashing the blob: {e}") })?;
        self.store.put(blob, self.max_content_bytes)
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

/// Starts the network: builds the swarm, opens the listeners, dials the bootstrap peers and
/// spawns the event loop on the current tokio runtime. `proof` is this node's identity proof
/// for `config.keypair`'s peer id, sent as is to every peer.
pub fn spawn(
    config: Config,
    proof: IdentityProof,
) -> Result<(Client, mpsc::Receiver<Event>), Error> {
    config.validate()?;
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::Config {
        reason: "spawn must be called inside a tokio runtime".into(),
    })?;
    let peer_id = config.keypair.public().to_peer_id();
    let mut swarm = build_swarm(&config)?;
    let mut data = swarm.behaviour().data.new_control();
    let incoming = data
        .accept(DATA_PROTOCOL)
        .map_err(|e| Error::Transport { reason: format!("data protocol: {e}") })?;
    for addr in &config.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| Error::Transport { reason: format!("listen on {addr}: {e}") })?;
    }
    for addr in &config.bootstrap {
        if let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() {
            swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
            swarm.add_peer_address(peer, addr.clone());
        }
        if let Err(e) = swarm.dial(addr.clone()) {
            warn!(target: "quorate::p2p", %addr, "bootstrap dial failed: {e}");
        }
    }
    for topic in [ANNOUNCEMENTS_TOPIC, ORDERS_TOPIC] {
        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&gossipsub::IdentTopic::new(topic))
            .map_err(|e| Error::Transport { reason: format!("subscribe {topic}: {e}") })?;
    }
    let (commands_tx, commands_rx) = mpsc::channel(config.command_buffer);
    let (events_tx, events_rx) = mpsc::channel(config.event_buffer);
    let (to_loop_tx, from_serving) = mpsc::channel(config.command_buffer);
    let (stop_direct, stopped) = watch::channel(());
    let store = Store::default();
    let tls = DirectTls::new(&config.keypair)?;
    let data_slots = Slots::new(config.max_data_streams, config.max_data_streams_per_peer);
    let mut server = Server {
        store: store.clone(),
        to_loop: to_loop_tx.downgrade(),
        deadline: config.request_timeout,
        direct_port: 0,
        direct_transfers: Arc::default(),
    };
    if let Some(addr) = config.direct_listen {
        let listener = {
            let _runtime = runtime.enter();
            std::net::TcpListener::bind(addr)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .and_then(tokio::net::TcpListener::from_std)
                .map_err(|e| Error::Transport {
                    reason: format!("direct listener on {addr}: {e}"),
                })?
        };
        server.direct_port = listener
            .local_addr()
            .map_err(|e| Error::Transport { reason: format!("direct listener: {e}") })?
            .port();
        runtime.spawn(data::accept_direct(
            listener,
            tls.clone(),
            server.clone(),
            data_slots.clone(),
            stopped,
        ));
    }
    let client = Client {
        commands: commands_tx,
        peer_id,
        store,
        max_content_bytes: config.max_content_bytes,
        data,
        tls,
        direct_port: (server.direct_port != 0).then_some(server.direct_port),
        direct_failures: Arc::default(),
    };
    let event_loop = EventLoop {
        incoming,
        server,
        data_slots,
        _serving_open: to_loop_tx,
        from_serving,
        _stop_direct: stop_direct,
        policy: VerifyPolicy {
            chain_id: config.chain_id,
            max_validity_s: config.max_proof_validity.as_secs(),
        },
        pool_owners: config.pool_owners.iter().copied().collect(),
        guard: Guard::new(config.guard.clone()),
        config,
        swarm,
        proof,
        commands: commands_rx,
        events: events_tx,
        events_dropped: 0,
        offences: 0,
        sessions: HashMap::new(),
        pending: HashMap::new(),
        addresses: HashMap::new(),
        listen_addrs: Vec::new(),
        listen_waiters: Vec::new(),
        providing: HashMap::new(),
        targets: HashMap::new(),
        provider_queries: HashMap::new(),
        disconnect_at: Vec::new(),
    };
    runtime.spawn(event_loop.run());
    Ok((client, events_rx))
}

fn build_swarm(config: &Config) -> Result<Swarm<Behaviour>, Error> {
    let transport = |e: &dyn std::fmt::Display| Error::Transport { reason: e.to_string() };
    let limits = connection_limits::ConnectionLimits::default()
        .with_max_established(Some(config.max_connections))
        .with_max_pending_incoming(Some(config.max_pending_incoming))
        .with_max_established_per_peer(Some(config.max_connections_per_peer));
    let (mesh_n, mesh_low, mesh_high) = config.gossip_mesh;
    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .max_transmit_size(8 * 1024)
        .mesh_n(mesh_n)
        .mesh_n_low(mesh_low)
        .mesh_n_high(mesh_high)
        .mesh_outbound_min(mesh_low.min(2).min(mesh_n / 2))
        .build()
        .map_err(|e| transport(&e))?;
    let mdns_on = config.mdns;
    let dht_server = config.dht_server;
    let request_timeout = config.request_timeout;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(config.keypair.clone())
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| transport(&e))?
        .with_quic()
        .with_behaviour(|key| {
            let peer_id = key.public().to_peer_id();
            let mut kad_config = kad::Config::new(kad::PROTOCOL_NAME);
            kad_config.set_query_timeout(Duration::from_secs(15));
            let mut kad = kad::Behaviour::with_config(
                peer_id,
                kad::store::MemoryStore::new(peer_id),
                kad_config,
            );
            kad.set_mode(Some(if dht_server { kad::Mode::Server } else { kad::Mode::Client }));
            let mdns = if mdns_on {
                Some(mdns::tokio::Behaviour::new(mdns::Config::default(), peer_id)?)
            } else {
                None
            };
            Ok(Behaviour {
                limits: connection_limits::Behaviour::new(limits),
                blocked: allow_block_list::Behaviour::default(),
                identify: identify::Behaviour::new(
                    identify::Config::new(IDENTIFY_VERSION.into(), key.public())
                        .with_agent_version(format!("quorate-p2p/{}", env!("CARGO_PKG_VERSION"))),
                ),
                ping: ping::Behaviour::new(ping::Config::new()),
                kad,
                gossipsub: gossipsub::Behaviour::new(
                    gossipsub::MessageAuthenticity::Signed(key.clone()),
                    gossip_config,
                )?,
                mdns: Toggle::from(mdns),
                wire: request_response::Behaviour::with_codec(
                    WireCodec,
                    [(PROTOCOL, request_response::ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(request_timeout)
                        .with_max_concurrent_streams(256),
                ),
                data: libp2p_stream::Behaviour::new(),
            })
        })
        .map_err(|e| transport(&e))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_timeout))
        .with_connection_timeout(config.handshake_timeout)
        .build();
    Ok(swarm)
}

/// A request waiting for its answer.
enum Pending {
    Hello { peer: PeerId },
    App { reply: oneshot::Sender<Result<Message, Error>> },
}

/// What waits for a peer to become ready.
enum Queued {
    /// An application request, sent then.
    Request(Box<Message>, oneshot::Sender<Result<Message, Error>>),
    /// A caller of [`Client::ready`] (a fetch about to open a data stream).
    Ready(oneshot::Sender<Result<Option<IpAddr>, Error>>),
}

impl Queued {
    fn fail(self, error: Error) {
        match self {
            Self::Request(_, reply) => {
                let _ = reply.send(Err(error));
            }
            Self::Ready(reply) => {
                let _ = reply.send(Err(error));
            }
        }
    }
}

#[derive(Default)]
struct Session {
    /// The peer's identity, once its proof verified.
    verified: Option<VerifiedPeer>,
    /// True once the peer acknowledged our proof.
    ready: bool,
    /// Our Hello is in flight.
    hello_sent: bool,
    /// Connected now.
    connected: bool,
    /// Requests waiting for `ready`.
    queued: VecDeque<Queued>,
    /// The peer's IP address on its latest connection.
    remote_ip: Option<IpAddr>,
}

/// A pool whose scheduler this node looks for and keeps connected.
struct Target {
    owner: Address,
    scheduler: Option<PeerId>,
    waiters: Vec<oneshot::Sender<PeerId>>,
    backoff: Duration,
    next_attempt: Instant,
    /// Schedulers found but not connected yet (dialed at each attempt).
    candidates: HashSet<PeerId>,
}

impl Target {
    /// Remembers a possible scheduler; the set is bounded, so fake providers cannot grow it.
    fn add_candidate(&mut self, peer: PeerId) {
        if self.candidates.len() < MAX_CANDIDATES {
            self.candidates.insert(peer);
        }
    }
}

struct EventLoop {
    config: Config,
    policy: VerifyPolicy,
    pool_owners: HashMap<PoolId, Address>,
    guard: Guard,
    swarm: Swarm<Behaviour>,
    proof: IdentityProof,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    events_dropped: u64,
    offences: u64,
    sessions: HashMap<PeerId, Session>,
    pending: HashMap<request_response::OutboundRequestId, Pending>,
    addresses: HashMap<PeerId, Vec<Multiaddr>>,
    listen_addrs: Vec<Multiaddr>,
    listen_waiters: Vec<oneshot::Sender<Vec<Multiaddr>>>,
    providing: HashMap<kad::QueryId, oneshot::Sender<Result<(), Error>>>,
    targets: HashMap<PoolId, Target>,
    provider_queries: HashMap<kad::QueryId, PoolId>,
    /// Inbound data streams, admitted here and served by their own tasks.
    incoming: libp2p_stream::IncomingStreams,
    server: Server,
    /// Data streams served at once.
    data_slots: Slots,
    /// Offences and admission questions from data serving, which holds only weak senders; this
    /// one keeps the channel open while the loop runs.
    _serving_open: mpsc::Sender<ToLoop>,
    from_serving: mpsc::Receiver<ToLoop>,
    /// Dropped with the loop: stops the direct listener.
    _stop_direct: watch::Sender<()>,
    /// Peers to disconnect (and penalise) once a refusal's reason has gone out.
    disconnect_at: Vec<(PeerId, Option<Offence>, Instant)>,
}

impl EventLoop {
    async fn run(mut self) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                Some((peer, stream)) = self.incoming.next() => self.on_data_stream(peer, stream),
                Some(message) = self.from_serving.recv() => self.on_serving(message),
                _ = tick.tick() => self.on_tick(),
            }
        }
        debug!(target: "quorate::p2p", "event loop stopped");
    }

    fn emit(&mut self, event: Event) {
        if self.events.try_send(event).is_err() {
            self.events_dropped = self.events_dropped.saturating_add(1);
        }
    }

    // ---------------------------------------------------------------- commands

    fn on_command(&mut self, command: Command) {
        match command {
            Command::ListenAddrs { reply } => {
                if self.listen_addrs.is_empty() && self.listen_waiters.len() < MAX_WAITERS {
                    self.listen_waiters.push(reply);
                } else {
                    let _ = reply.send(self.listen_addrs.clone());
                }
            }
            Command::Dial { addr, reply } => {
                if let Some(libp2p::multiaddr::Protocol::P2p(peer)) = addr.iter().last() {
                    self.remember_addr(peer, addr.clone());
                }
                let result =
                    self.swarm.dial(addr).map_err(|e| Error::Transport { reason: e.to_string() });
                let _ = reply.send(result);
            }
            Command::Request { peer, message, reply } => {
                if message.kind().is_response()
                    || message.kind().is_gossip()
                    || matches!(message.kind(), Kind::Hello | Kind::DataRequest)
                {
                    let reason = "not a request kind of the wire protocol";
                    let _ = reply.send(Err(Error::ProtocolViolation { reason }));
                } else {
                    self.wait_ready(peer, Queued::Request(Box::new(message), reply));
                }
            }
            Command::Respond { responder, message, reply } => {
                let result = if message.kind().is_response() {
                    self.swarm
                        .behaviour_mut()
                        .wire
                        .send_response(responder.0, message)
                        .map_err(|_| Error::Request { reason: "the requester is gone".into() })
                } else {
                    Err(Error::ProtocolViolation { reason: "an answer must be a response kind" })
                };
                let _ = reply.send(result);
            }
            Command::Publish { message, reply } => {
                let _ = reply.send(self.publish(&message));
            }
            Command::Provide { pool, reply } => {
                match self.swarm.behaviour_mut().kad.start_providing(pool_key(pool)) {
                    Ok(query) => {
                        self.providing.insert(query, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(Error::Transport { reason: e.to_string() }));
                    }
                }
            }
            Command::FindScheduler { pool, owner, reply } => {
                self.find_scheduler(pool, owner, reply);
            }
            Command::Ready { peer, reply } => self.wait_ready(peer, Queued::Ready(reply)),
            Command::Report { peer, offence } => self.penalise(peer, offence),
            Command::SetIdentity { proof } => self.proof = proof,
            Command::Stats { reply } => {
                let stats = Stats {
                    connected: self.swarm.connected_peers().count(),
                    verified: self.sessions.values().filter(|s| s.verified.is_some()).count(),
                    banned: self.guard.banned(),
                    events_dropped: self.events_dropped,
                    offences: self.offences,
                    direct_transfers: self
                        .server
                        .direct_transfers
                        .load(std::sync::atomic::Ordering::Relaxed),
                };
                let _ = reply.send(stats);
            }
            Command::Identity { peer, reply } => {
                let _ = reply.send(self.sessions.get(&peer).and_then(|s| s.verified));
            }
        }
    }

    /// Sends a request, or answers a ready waiter, once `peer` has acknowledged our identity:
    /// now if it has, else after dialing it and sending our proof.
    fn wait_ready(&mut self, peer: PeerId, waiter: Queued) {
        if self.guard.is_banned(&peer, Instant::now()) {
            waiter.fail(Error::Banned { peer });
            return;
        }
        let max_queued = self.config.max_queued_per_peer;
        let session = self.sessions.entry(peer).or_default();
        if session.ready && session.connected {
            self.release(peer, waiter);
            return;
        }
        if session.queued.len() >= max_queued {
            waiter.fail(Error::Request { reason: "too many requests queued".into() });
            return;
        }
        session.queued.push_back(waiter);
        if !self.swarm.is_connected(&peer) {
            self.dial_peer(peer);
        } else if !session.hello_sent && !session.ready {
            self.send_hello(peer);
        }
    }

    /// Sends a queued request or answers a ready waiter: the peer is ready.
    fn release(&mut self, peer: PeerId, waiter: Queued) {
        match waiter {
            Queued::Request(message, reply) => {
                let id = self.swarm.behaviour_mut().wire.send_request(&peer, Ok(*message));
                self.pending.insert(id, Pending::App { reply });
            }
            Queued::Ready(reply) => {
                let ip = self.sessions.get(&peer).and_then(|s| s.remote_ip);
                let _ = reply.send(Ok(ip));
            }
        }
    }

    fn dial_peer(&mut self, peer: PeerId) {
        let addrs = self.addresses.get(&peer).cloned().unwrap_or_default();
        let opts = DialOpts::peer_id(peer)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .addresses(addrs)
            .extend_addresses_through_behaviour()
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            debug!(target: "quorate::p2p", %peer, "dial: {e}");
            if !matches!(e, libp2p::swarm::DialError::DialPeerConditionFalse(_)) {
                self.fail_queued(peer, &Error::Request { reason: format!("dial failed: {e}") });
            }
        }
    }

    fn remember_addr(&mut self, peer: PeerId, addr: Multiaddr) {
        if self.addresses.len() >= MAX_KNOWN_PEERS && !self.addresses.contains_key(&peer) {
            // Forget a peer we are not connected to, to stay bounded.
            let idle = self.addresses.keys().find(|p| !self.swarm.is_connected(p)).copied();
            if let Some(idle) = idle {
                self.addresses.remove(&idle);
            } else {
                return;
            }
        }
        let addrs = self.addresses.entry(peer).or_default();
        if !addrs.contains(&addr) {
            if addrs.len() >= MAX_ADDRS_PER_PEER {
                addrs.remove(0);
            }
            addrs.push(addr);
        }
    }

    fn publish(&mut self, message: &Message) -> Result<(), Error> {
        let topic = match message.kind() {
            Kind::PoolAnnouncement => ANNOUNCEMENTS_TOPIC,
            Kind::SignedOrder => ORDERS_TOPIC,
            _ => {
                return Err(Error::ProtocolViolation {
                    reason: "only announcements and orders are gossiped",
                });
            }
        };
        let bytes = message.encode_frame()?;
        self.swarm
            .behaviour_mut()
            .gossipsub
            .publish(gossipsub::IdentTopic::new(topic), bytes)
            .map(|_| ())
            .map_err(|e| Error::Request { reason: format!("publish: {e}") })
    }

    fn find_scheduler(&mut self, pool: PoolId, owner: Address, reply: oneshot::Sender<PeerId>) {
        self.pool_owners.insert(pool, owner);
        let now = Instant::now();
        let initial = self.config.reconnect_initial;
        let target = self.targets.entry(pool).or_insert_with(|| Target {
            owner,
            scheduler: None,
            waiters: Vec::new(),
            backoff: initial,
            next_attempt: now,
            candidates: HashSet::new(),
        });
        target.owner = owner;
        if let Some(peer) = target.scheduler {
            let _ = reply.send(peer);
            return;
        }
        target.waiters.retain(|w| !w.is_closed());
        if target.waiters.len() < MAX_WAITERS {
            target.waiters.push(reply);
        }
        // A connected peer may already be that scheduler.
        let proven = self.sessions.iter().find_map(|(peer, s)| {
            s.verified
                .filter(|v| v.purpose == Purpose::Scheduler { pool } && v.address == owner)
                .map(|_| *peer)
        });
        match proven {
            Some(peer) => self.scheduler_proven(pool, peer),
            None => self.attempt(pool),
        }
    }

    /// One discovery attempt: a provider lookup, and dials to candidates already known.
    fn attempt(&mut self, pool: PoolId) {
        let Some(target) = self.targets.get_mut(&pool) else { return };
        target.next_attempt = Instant::now() + target.backoff;
        target.backoff = (target.backoff * 2).min(self.config.reconnect_max);
        let now = Instant::now();
        let guard = &self.guard;
        target.candidates.retain(|peer| !guard.is_banned(peer, now));
        let candidates: Vec<PeerId> = target.candidates.iter().copied().collect();
        let query = self.swarm.behaviour_mut().kad.get_providers(pool_key(pool));
        self.provider_queries.insert(query, pool);
        for peer in candidates {
            self.dial_peer(peer);
        }
    }

    fn scheduler_proven(&mut self, pool: PoolId, peer: PeerId) {
        let initial = self.config.reconnect_initial;
        let Some(target) = self.targets.get_mut(&pool) else { return };
        if target.scheduler == Some(peer) {
            return;
        }
        target.scheduler = Some(peer);
        target.backoff = initial;
        target.add_candidate(peer);
        for waiter in target.waiters.drain(..) {
            let _ = waiter.send(peer);
        }
        info!(target: "quorate::p2p", %pool, %peer, "scheduler connected");
        self.emit(Event::SchedulerConnected { pool, peer });
    }

    // ---------------------------------------------------------------- swarm events

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                self.listen_addrs.push(address);
                let addrs = self.listen_addrs.clone();
                for waiter in self.listen_waiters.drain(..) {
                    let _ = waiter.send(addrs.clone());
                }
            }
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => {
                if endpoint.is_dialer() {
                    self.remember_addr(peer_id, endpoint.get_remote_address().clone());
                }
                let remote_ip = endpoint.get_remote_address().iter().find_map(|p| match p {
                    libp2p::multiaddr::Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
                    libp2p::multiaddr::Protocol::Ip6(ip) => Some(IpAddr::V6(ip).to_canonical()),
                    _ => None,
                });
                let session = self.sessions.entry(peer_id).or_default();
                session.connected = true;
                session.remote_ip = remote_ip.or(session.remote_ip);
                if !session.hello_sent && !session.ready {
                    self.send_hello(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                self.on_disconnected(peer_id);
            }
            SwarmEvent::OutgoingConnectionError { peer_id: Some(peer), error, .. }
                if !self.swarm.is_connected(&peer) =>
            {
                self.fail_queued(peer, &Error::Request { reason: format!("dial failed: {error}") });
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(event),
            _ => {}
        }
    }

    fn on_disconnected(&mut self, peer: PeerId) {
        self.guard.disconnected(&peer);
        let Some(session) = self.sessions.remove(&peer) else { return };
        for waiter in session.queued {
            waiter.fail(Error::Request { reason: "connection closed".into() });
        }
        let lost: Vec<PoolId> = self
            .targets
            .iter_mut()
            .filter(|(_, t)| t.scheduler == Some(peer))
            .map(|(pool, t)| {
                t.scheduler = None;
                t.next_attempt = Instant::now() + t.backoff;
                *pool
            })
            .collect();
        for pool in lost {
            info!(target: "quorate::p2p", %pool, %peer, "scheduler lost; redialing with backoff");
            self.emit(Event::SchedulerLost { pool, peer });
        }
        self.emit(Event::PeerDisconnected { peer });
    }

    fn fail_queued(&mut self, peer: PeerId, error: &Error) {
        if let Some(session) = self.sessions.get_mut(&peer) {
            for waiter in session.queued.drain(..) {
                waiter.fail(error.clone());
            }
            session.hello_sent = false;
            if !session.connected {
                self.sessions.remove(&peer);
            }
        }
    }

    fn send_hello(&mut self, peer: PeerId) {
        let id = self
            .swarm
            .behaviour_mut()
            .wire
            .send_request(&peer, Ok(Message::Hello(self.proof.clone())));
        self.pending.insert(id, Pending::Hello { peer });
        self.sessions.entry(peer).or_default().hello_sent = true;
    }

    fn on_behaviour_event(&mut self, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Wire(event) => self.on_wire_event(event),
            BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            }) => {
                let acceptance = self.on_gossip(propagation_source, &message);
                self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                    &message_id,
                    &propagation_source,
                    acceptance,
                );
            }
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                let serves_kad = info.protocols.contains(&kad::PROTOCOL_NAME);
                for addr in info.listen_addrs.into_iter().take(MAX_ADDRS_PER_PEER) {
                    if serves_kad {
                        self.swarm.behaviour_mut().kad.add_address(&peer_id, addr.clone());
                    }
                    self.remember_addr(peer_id, addr);
                }
            }
            BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
                id, result, step, ..
            }) => {
                self.on_kad_result(id, result, step.last);
            }
            BehaviourEvent::Mdns(mdns::Event::Discovered(found)) => {
                for (peer, addr) in found {
                    self.swarm.behaviour_mut().kad.add_address(&peer, addr.clone());
                    self.remember_addr(peer, addr);
                    if !self.swarm.is_connected(&peer) {
                        self.dial_peer(peer);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_kad_result(&mut self, id: kad::QueryId, result: kad::QueryResult, last: bool) {
        match result {
            kad::QueryResult::StartProviding(result) => {
                if let Some(reply) = self.providing.remove(&id) {
                    // With no other DHT server reachable the record is still held locally and
                    // served to whoever asks this node: not an error.
                    let result = match result {
                        Ok(_) | Err(kad::AddProviderError::Timeout { .. }) => Ok(()),
                    };
                    let _ = reply.send(result);
                }
            }
            kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders {
                providers,
                ..
            })) => {
                let Some(pool) = self.provider_queries.get(&id).copied() else { return };
                let local = *self.swarm.local_peer_id();
                for peer in providers {
                    if peer == local || self.guard.is_banned(&peer, Instant::now()) {
                        continue;
                    }
                    if let Some(target) = self.targets.get_mut(&pool) {
                        target.add_candidate(peer);
                    }
                    // Dial while the query still holds the provider's addresses.
                    if !self.swarm.is_connected(&peer) {
                        self.dial_peer(peer);
                    }
                }
            }
            _ => {}
        }
        if last {
            self.provider_queries.remove(&id);
        }
    }

    fn on_gossip(
        &mut self,
        from: PeerId,
        message: &gossipsub::Message,
    ) -> gossipsub::MessageAcceptance {
        use gossipsub::MessageAcceptance::{Accept, Ignore, Reject};
        let decoded = match Message::decode_frame(&message.data) {
            Ok(decoded) => decoded,
            Err(e) => {
                self.penalise_for(from, &e);
                return Reject;
            }
        };
        let Some(source) = message.source else { return Reject };
        match decoded {
            Message::PoolAnnouncement(announcement)
                if message.topic == gossipsub::IdentTopic::new(ANNOUNCEMENTS_TOPIC).hash() =>
            {
                let pool = announcement.pool;
                let owner = self.pool_owners.get(&pool).copied();
                let verified = announcement.scheduler.verify_as(
                    &source,
                    unix_now(),
                    &self.policy,
                    Purpose::Scheduler { pool },
                    owner,
                );
                match verified {
                    Ok(_) => {
                        for addr in announcement.addrs.iter().take(MAX_ADDRS_PER_PEER) {
                            self.remember_addr(source, addr.clone());
                        }
                        let wanted = self.targets.get_mut(&pool).and_then(|t| {
                            (t.scheduler.is_none() && owner == Some(t.owner))
                                .then(|| t.add_candidate(source))
                        });
                        if wanted.is_some() && !self.swarm.is_connected(&source) {
                            self.dial_peer(source);
                        }
                        self.emit(Event::Announcement {
                            source,
                            announcement,
                            owner_confirmed: owner.is_some(),
                        });
                        Accept
                    }
                    Err(e) => {
                        debug!(target: "quorate::p2p", %source, "announcement refused: {e}");
                        if Offence::of(&e).is_some() && source == from {
                            self.penalise_for(from, &e);
                        }
                        if e.is_bad_peer() { Reject } else { Ignore }
                    }
                }
            }
            Message::SignedOrder(order)
                if message.topic == gossipsub::IdentTopic::new(ORDERS_TOPIC).hash() =>
            {
                self.emit(Event::Order { source, order });
                Accept
            }
            _ => {
                self.penalise(from, Offence::ProtocolViolation);
                Reject
            }
        }
    }

    fn on_wire_event(&mut self, event: request_response::Event<Result<Message, Error>, Message>) {
        use request_response::{Event as E, Message as M};
        match event {
            E::Message { peer, message: M::Request { request, channel, .. }, .. } => {
                self.on_request(peer, request, channel);
            }
            E::Message { peer, message: M::Response { request_id, response }, .. } => {
                self.on_response(peer, request_id, response);
            }
            E::OutboundFailure { peer, request_id, error, .. } => {
                if let request_response::OutboundFailure::Io(e) = &error
                    && let Some(e) = decode_failure(e)
                {
                    let e = e.clone();
                    self.penalise_for(peer, &e);
                }
                let reason = error.to_string();
                match self.pending.remove(&request_id) {
                    Some(Pending::Hello { peer }) => {
                        self.fail_queued(
                            peer,
                            &Error::Request { reason: format!("hello: {reason}") },
                        );
                    }
                    Some(Pending::App { reply }) => {
                        let _ = reply.send(Err(Error::Request { reason }));
                    }
                    None => {}
                }
            }
            E::InboundFailure { peer, error: request_response::InboundFailure::Io(e), .. } => {
                if let Some(e) = decode_failure(&e) {
                    let e = e.clone();
                    debug!(target: "quorate::p2p", %peer, "undecodable request: {e}");
                    self.penalise_for(peer, &e);
                }
            }
            _ => {}
        }
    }

    fn on_request(
        &mut self,
        peer: PeerId,
        request: Result<Message, Error>,
        channel: request_response::ResponseChannel<Message>,
    ) {
        let now = Instant::now();
        if !self.guard.admit(peer, now) {
            // Dropping the channel answers nothing: a flood gets no work out of us.
            self.penalise(peer, Offence::Flood);
            return;
        }
        let request = match request {
            Ok(request) => request,
            Err(error) => {
                debug!(target: "quorate::p2p", %peer, "malformed request: {error}");
                self.penalise_for(peer, &error);
                return;
            }
        };
        let kind = request.kind();
        if let Message::Hello(proof) = request {
            self.on_hello(peer, &proof, channel);
            return;
        }
        let Some(identity) = self.sessions.get(&peer).and_then(|s| s.verified) else {
            self.refuse(channel, "identity not proven");
            self.penalise(peer, Offence::ProtocolViolation);
            return;
        };
        if !request.allowed_from(&identity.purpose) {
            debug!(target: "quorate::p2p", %peer, kind = kind.name(), purpose = %identity.purpose, "message not allowed");
            self.refuse(channel, "message not allowed for this peer's purpose");
            self.penalise(peer, Offence::ProtocolViolation);
            return;
        }
        if let Message::DataRequest(_) = request {
            self.refuse(channel, "data requests go on the data stream");
            self.penalise(peer, Offence::ProtocolViolation);
            return;
        }
        self.emit(Event::Request {
            peer,
            identity,
            message: request,
            responder: Responder(channel),
        });
    }

    /// Admits an inbound data stream as [`Self::on_request`] admits a request, and hands it to a
    /// serving task.
    fn on_data_stream(&mut self, peer: PeerId, stream: libp2p::Stream) {
        let deadline = self.server.deadline;
        match self.admit_data(peer) {
            Ok(()) => {}
            Err(Some(reason)) => {
                tokio::spawn(data::refuse(stream, reason, deadline));
                return;
            }
            Err(None) => return, // dropped: the stream is reset
        }
        match self.data_slots.take(peer) {
            Ok(slot) => {
                tokio::spawn(self.server.clone().serve(peer, stream, slot));
            }
            Err(reason) => {
                tokio::spawn(data::refuse(stream, reason, deadline));
            }
        }
    }

    fn on_serving(&mut self, message: ToLoop) {
        match message {
            ToLoop::Offence(peer, offence) => self.penalise(peer, offence),
            ToLoop::AdmitIp(ip, reply) => {
                let proven = self
                    .sessions
                    .values()
                    .any(|s| s.connected && s.verified.is_some() && s.remote_ip == Some(ip));
                let _ = reply.send(proven);
            }
            ToLoop::AdmitPeer(peer, reply) => {
                let _ = reply.send(self.admit_data(peer).is_ok());
            }
        }
    }

    /// Whether `peer` may be served data now (by stream or direct connection): not banned,
    /// within its rate limit, identity proven. Scores the failures; `Err(Some(reason))` is worth
    /// telling the peer.
    fn admit_data(&mut self, peer: PeerId) -> Result<(), Option<&'static str>> {
        let now = Instant::now();
        if self.guard.is_banned(&peer, now) {
            return Err(None);
        }
        if !self.guard.admit(peer, now) {
            self.penalise(peer, Offence::Flood);
            return Err(None);
        }
        if self.sessions.get(&peer).and_then(|s| s.verified).is_none() {
            self.penalise(peer, Offence::ProtocolViolation);
            return Err(Some("identity not proven"));
        }
        Ok(())
    }

    fn refuse(&mut self, channel: request_response::ResponseChannel<Message>, reason: &str) {
        let _ = self
            .swarm
            .behaviour_mut()
            .wire
            .send_response(channel, Message::Refused { reason: reason.into() });
    }

    fn verify_peer(&self, peer: PeerId, proof: &IdentityProof) -> Result<VerifiedPeer, Error> {
        let verified = proof.verify(&peer, unix_now(), &self.policy)?;
        if let Purpose::Scheduler { pool } = verified.purpose
            && let Some(owner) = self.pool_owners.get(&pool)
        {
            verified.check_owner(*owner)?;
        }
        Ok(verified)
    }

    fn on_hello(
        &mut self,
        peer: PeerId,
        proof: &IdentityProof,
        channel: request_response::ResponseChannel<Message>,
    ) {
        match self.verify_peer(peer, proof) {
            Ok(identity) => {
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .wire
                    .send_response(channel, Message::HelloAck(self.proof.clone()));
                self.peer_verified(peer, identity);
            }
            Err(error) => {
                let reason = error.to_string();
                self.refuse(channel, &reason);
                self.peer_refused(peer, error);
            }
        }
    }

    fn on_response(
        &mut self,
        peer: PeerId,
        request_id: request_response::OutboundRequestId,
        response: Message,
    ) {
        match self.pending.remove(&request_id) {
            Some(Pending::Hello { .. }) => match response {
                Message::HelloAck(proof) => match self.verify_peer(peer, &proof) {
                    Ok(identity) => {
                        self.peer_verified(peer, identity);
                        self.peer_ready(peer);
                    }
                    Err(error) => {
                        self.fail_queued(peer, &error);
                        self.peer_refused(peer, error);
                    }
                },
                Message::Refused { reason } => {
                    let error = Error::Refused { reason };
                    self.fail_queued(peer, &error);
                    self.emit(Event::PeerRefused { peer, error });
                    self.disconnect_soon(peer);
                }
                _ => {
                    self.fail_queued(
                        peer,
                        &Error::ProtocolViolation { reason: "bad hello answer" },
                    );
                    self.penalise(peer, Offence::ProtocolViolation);
                }
            },
            Some(Pending::App { reply }) => {
                if response.kind().is_response() {
                    let _ = reply.send(Ok(response));
                } else {
                    let _ = reply.send(Err(Error::ProtocolViolation {
                        reason: "answer is not a response kind",
                    }));
                    self.penalise(peer, Offence::ProtocolViolation);
                }
            }
            None => {}
        }
    }

    fn peer_verified(&mut self, peer: PeerId, identity: VerifiedPeer) {
        let session = self.sessions.entry(peer).or_default();
        let first = session.verified.is_none();
        session.verified = Some(identity);
        if first {
            debug!(target: "quorate::p2p", %peer, address = %identity.address, purpose = %identity.purpose, "peer verified");
            self.emit(Event::PeerVerified { peer, identity });
        }
        if let Purpose::Scheduler { pool } = identity.purpose
            && self.targets.get(&pool).is_some_and(|t| t.owner == identity.address)
        {
            self.scheduler_proven(pool, peer);
        }
    }

    fn peer_ready(&mut self, peer: PeerId) {
        let Some(session) = self.sessions.get_mut(&peer) else { return };
        session.ready = true;
        session.hello_sent = false;
        let queued: Vec<Queued> = session.queued.drain(..).collect();
        for waiter in queued {
            self.release(peer, waiter);
        }
    }

    fn peer_refused(&mut self, peer: PeerId, error: Error) {
        warn!(target: "quorate::p2p", %peer, "identity refused: {error}");
        if let Some(session) = self.sessions.get_mut(&peer) {
            session.verified = None;
        }
        let offence = Offence::of(&error);
        self.emit(Event::PeerRefused { peer, error });
        // The refusal's reason goes out first; the disconnect (and a forger's ban) follows.
        if self.disconnect_at.len() < self.config.max_connections as usize {
            self.disconnect_at.push((peer, offence, Instant::now() + REFUSE_LINGER));
        } else if let Some(offence) = offence {
            self.penalise(peer, offence);
        }
    }

    fn disconnect_soon(&mut self, peer: PeerId) {
        if self.disconnect_at.len() < self.config.max_connections as usize {
            self.disconnect_at.push((peer, None, Instant::now() + REFUSE_LINGER));
        }
    }

    fn penalise_for(&mut self, peer: PeerId, error: &Error) {
        if let Some(offence) = Offence::of(error) {
            self.penalise(peer, offence);
        }
    }

    fn penalise(&mut self, peer: PeerId, offence: Offence) {
        self.offences = self.offences.saturating_add(1);
        match self.guard.penalise(peer, offence, Instant::now()) {
            Verdict::Keep { score } => {
                debug!(target: "quorate::p2p", %peer, ?offence, score, "offence");
            }
            Verdict::Ban { .. } => {
                if self.swarm.behaviour_mut().blocked.block_peer(peer) {
                    warn!(target: "quorate::p2p", %peer, ?offence, "peer banned");
                    self.swarm.behaviour_mut().kad.remove_peer(&peer);
                    self.fail_queued(peer, &Error::Banned { peer });
                    self.emit(Event::Banned { peer, offence });
                }
            }
        }
    }

    // ---------------------------------------------------------------- timers

    fn on_tick(&mut self) {
        let now = Instant::now();
        for peer in self.guard.expire_bans(now) {
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }
        let due: Vec<(PeerId, Option<Offence>)> = self
            .disconnect_at
            .iter()
            .filter(|(_, _, at)| *at <= now)
            .map(|(peer, offence, _)| (*peer, *offence))
            .collect();
        self.disconnect_at.retain(|(_, _, at)| *at > now);
        for (peer, offence) in due {
            match offence {
                Some(offence) => self.penalise(peer, offence),
                None => {
                    let _ = self.swarm.disconnect_peer_id(peer);
                }
            }
        }
        let retry: Vec<PoolId> = self
            .targets
            .iter()
            .filter(|(_, t)| t.scheduler.is_none() && t.next_attempt <= now)
            .map(|(pool, _)| *pool)
            .collect();
        for pool in retry {
            self.attempt(pool);
        }
        // A proof is checked once per connection: drop peers whose proof has run out since.
        let unix = unix_now();
        let expired: Vec<(PeerId, u64)> = self
            .sessions
            .iter()
            .filter_map(|(peer, s)| s.verified.map(|v| (*peer, v.expires_at)))
            .filter(|(_, expires_at)| *expires_at <= unix)
            .collect();
        for (peer, expires_at) in expired {
            self.peer_refused(peer, Error::Expired { expires_at, now: unix });
        }
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::B256;
    use libp2p::identity::Keypair;

    use super::*;

    #[test]
    fn spawn_outside_a_runtime_is_an_error_not_a_panic() {
        let keypair = Keypair::generate_ed25519();
        let proof = IdentityProof {
            peer: keypair.public().to_peer_id().to_bytes(),
            address: Address::ZERO,
            purpose: Purpose::Client,
            chain_id: 1,
            expires_at: 0,
            signature: [0; 65],
        };
        let result = spawn(Config::test(keypair, 1), proof);
        assert!(matches!(result, Err(Error::Config { .. })));
    }

    #[test]
    fn pool_keys_are_distinct_per_pool() {
        let a = pool_key(PoolId(B256::repeat_byte(1)));
        assert_eq!(a, pool_key(PoolId(B256::repeat_byte(1))));
        assert_ne!(a, pool_key(PoolId(B256::repeat_byte(2))));
        assert!(a.as_ref().starts_with(b"/quorate/pool/"));
    }
}

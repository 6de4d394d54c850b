//! The event loop: it owns the swarm and moves events between it, the application's commands
//! and the pure state machines ([`Sessions`], [`Discovery`], [`admission`], the [`Guard`]),
//! doing what they decide. No decision is made here that one of them could make. The loop's
//! handlers are grouped by what they serve: [`inbound`] (requests, Hellos and data streams
//! from peers), [`finding`] (gossip, the DHT and scheduler discovery); the rest (commands,
//! connections, penalties, timers) is here.

mod finding;
mod inbound;

use std::{collections::HashMap, net::IpAddr, time::Instant};

use alloy_primitives::Address;
use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, Swarm, gossipsub, identify, kad, mdns, request_response,
    swarm::{
        SwarmEvent,
        dial_opts::{DialOpts, PeerCondition},
    },
};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use super::{
    ANNOUNCEMENTS_TOPIC, ORDERS_TOPIC,
    admission::{self, Data, Request},
    client::{Command, Event, Responder, Stats},
    discovery::Discovery,
    pool_key,
    session::{QueueStep, Queued, Sessions},
    swarm::{Behaviour, BehaviourEvent},
    unix_now,
};
use crate::{
    Error,
    config::Config,
    data::{self, Server, Slots, ToLoop},
    guard::{Guard, Offence, Verdict},
    identity::{IdentityProof, PoolId, Purpose, VerifiedPeer, VerifyPolicy},
    protocol::decode_failure,
    wire::{Kind, Message},
};

const TICK: std::time::Duration = std::time::Duration::from_millis(250);
/// Delay between answering a refused Hello and closing the connection, so the reason arrives.
const REFUSE_LINGER: std::time::Duration = std::time::Duration::from_millis(500);
pub(super) const MAX_ADDRS_PER_PEER: usize = 8;
const MAX_WAITERS: usize = 64;
/// Most peers whose addresses are remembered.
const MAX_KNOWN_PEERS: usize = 4096;

/// A request waiting for its answer.
enum Pending {
    Hello { peer: PeerId },
    App { reply: oneshot::Sender<Result<Message, Error>> },
}

pub(super) struct EventLoop {
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
    sessions: Sessions,
    discovery: Discovery,
    pending: HashMap<request_response::OutboundRequestId, Pending>,
    addresses: HashMap<PeerId, Vec<Multiaddr>>,
    listen_addrs: Vec<Multiaddr>,
    listen_waiters: Vec<oneshot::Sender<Vec<Multiaddr>>>,
    providing: HashMap<kad::QueryId, oneshot::Sender<Result<(), Error>>>,
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

/// The parts of a loop that [`super::spawn`] builds.
pub(super) struct Parts {
    pub(super) config: Config,
    pub(super) swarm: Swarm<Behaviour>,
    pub(super) proof: IdentityProof,
    pub(super) commands: mpsc::Receiver<Command>,
    pub(super) events: mpsc::Sender<Event>,
    pub(super) incoming: libp2p_stream::IncomingStreams,
    pub(super) server: Server,
    pub(super) data_slots: Slots,
    pub(super) serving_open: mpsc::Sender<ToLoop>,
    pub(super) from_serving: mpsc::Receiver<ToLoop>,
    pub(super) stop_direct: watch::Sender<()>,
}

impl EventLoop {
    pub(super) fn new(parts: Parts) -> Self {
        let Parts {
            config,
            swarm,
            proof,
            commands,
            events,
            incoming,
            server,
            data_slots,
            serving_open,
            from_serving,
            stop_direct,
        } = parts;
        Self {
            policy: VerifyPolicy {
                chain_id: config.chain_id,
                max_validity_s: config.max_proof_validity.as_secs(),
            },
            pool_owners: config.pool_owners.iter().copied().collect(),
            guard: Guard::new(config.guard.clone()),
            discovery: Discovery::new(config.reconnect_initial, config.reconnect_max),
            config,
            swarm,
            proof,
            commands,
            events,
            events_dropped: 0,
            offences: 0,
            sessions: Sessions::default(),
            pending: HashMap::new(),
            addresses: HashMap::new(),
            listen_addrs: Vec::new(),
            listen_waiters: Vec::new(),
            providing: HashMap::new(),
            provider_queries: HashMap::new(),
            incoming,
            server,
            data_slots,
            _serving_open: serving_open,
            from_serving,
            _stop_direct: stop_direct,
            disconnect_at: Vec::new(),
        }
    }

    pub(super) async fn run(mut self) {
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
                    verified: self.sessions.verified_count(),
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
                let _ = reply.send(self.sessions.identity(&peer));
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
        let connected = self.swarm.is_connected(&peer);
        match self.sessions.handle_queue(peer, waiter, self.config.max_queued_per_peer, connected) {
            QueueStep::Release(waiter) => self.release(peer, waiter),
            QueueStep::Refuse(waiter, error) => waiter.fail(error),
            QueueStep::Dial => self.dial_peer(peer),
            QueueStep::SendHello => self.send_hello(peer),
            QueueStep::Wait => {}
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
                let _ = reply.send(Ok(self.sessions.remote_ip(&peer)));
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
                if self.sessions.handle_connected(peer_id, remote_ip) {
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
        let Some(waiters) = self.sessions.handle_disconnected(peer) else { return };
        for waiter in waiters {
            waiter.fail(Error::Request { reason: "connection closed".into() });
        }
        for pool in self.discovery.handle_lost(peer, Instant::now()) {
            info!(target: "quorate::p2p", %pool, %peer, "scheduler lost; redialing with backoff");
            self.emit(Event::SchedulerLost { pool, peer });
        }
        self.emit(Event::PeerDisconnected { peer });
    }

    fn fail_queued(&mut self, peer: PeerId, error: &Error) {
        for waiter in self.sessions.handle_failed(peer) {
            waiter.fail(error.clone());
        }
    }

    fn send_hello(&mut self, peer: PeerId) {
        let id = self
            .swarm
            .behaviour_mut()
            .wire
            .send_request(&peer, Ok(Message::Hello(self.proof.clone())));
        self.pending.insert(id, Pending::Hello { peer });
        self.sessions.handle_hello_sent(peer);
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
        for pool in self.discovery.due(now) {
            self.attempt(pool);
        }
        // A proof is checked once per connection: drop peers whose proof has run out since.
        let unix = unix_now();
        for (peer, expires_at) in self.sessions.expired(unix) {
            self.peer_refused(peer, Error::Expired { expires_at, now: unix });
        }
    }
}

//! Per-peer sessions, as a pure state machine: the event loop tells it what happened
//! (`handle_*`) and does what it answers (dial, send our Hello, release or fail waiters).
//!
//! ```text
//!             queue (not connected)
//!   (none) ─────────────────────────▶ Dialing ──connected──▶ Connected ──hello sent──▶ HelloSent
//!     │ connected                        │ dial failed: waiters fail, session dropped       │
//!     └──────────────────────────────────┴──────────────▶ Connected ◀── hello failed ───────┤
//!                                                                             hello acked   ▼
//!                                                                                       Ready
//! ```
//!
//! Independently of that, the peer's own proof is either unverified or verified (an identity
//! kept until it is refused or expires). Any state ends when the last connection closes.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
};

use libp2p::PeerId;
use tokio::sync::oneshot;

use crate::{
    Error,
    identity::{PoolId, Purpose, VerifiedPeer},
    wire::Message,
};

/// What waits for a peer to become ready.
pub(super) enum Queued {
    /// An application request, sent then.
    Request(Box<Message>, oneshot::Sender<Result<Message, Error>>),
    /// A caller of [`super::Client::ready`] (a fetch about to open a data stream).
    Ready(oneshot::Sender<Result<Option<IpAddr>, Error>>),
}

impl Queued {
    /// Answers the waiter with `error`.
    pub(super) fn fail(self, error: Error) {
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

/// Where our side of the handshake with one peer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Link {
    /// Not connected; waiters wait for the dial.
    Dialing,
    /// Connected; our Hello not (or no longer) in flight.
    Connected,
    /// Connected; our Hello is in flight.
    HelloSent,
    /// The peer acknowledged our proof: requests flow.
    Ready,
}

/// One peer's session.
struct Session {
    link: Link,
    /// The peer's identity, once its proof verified.
    identity: Option<VerifiedPeer>,
    /// Waiters for `Ready`.
    queued: VecDeque<Queued>,
    /// The peer's IP address on its latest connection.
    remote_ip: Option<IpAddr>,
}

impl Session {
    fn new(link: Link) -> Self {
        Self { link, identity: None, queued: VecDeque::new(), remote_ip: None }
    }
}

/// What the loop must do after [`Sessions::handle_queue`].
pub(super) enum QueueStep {
    /// The peer is ready: hand the waiter over now.
    Release(Queued),
    /// The waiter could not be queued.
    Refuse(Queued, Error),
    /// Queued; dial the peer.
    Dial,
    /// Queued; send our Hello.
    SendHello,
    /// Queued; our Hello is already in flight (or a dial is).
    Wait,
}

/// Every peer's session.
#[derive(Default)]
pub(super) struct Sessions {
    peers: HashMap<PeerId, Session>,
}

impl Sessions {
    /// A waiter for `peer` to be ready, with at most `max_queued` waiting per peer.
    pub(super) fn handle_queue(
        &mut self,
        peer: PeerId,
        waiter: Queued,
        max_queued: usize,
        connected: bool,
    ) -> QueueStep {
        let session = self.peers.entry(peer).or_insert_with(|| Session::new(Link::Dialing));
        if session.link == Link::Ready && connected {
            return QueueStep::Release(waiter);
        }
        if session.queued.len() >= max_queued {
            return QueueStep::Refuse(
                waiter,
                Error::Request { reason: "too many requests queued".into() },
            );
        }
        session.queued.push_back(waiter);
        if !connected {
            QueueStep::Dial
        } else if session.link == Link::Connected || session.link == Link::Dialing {
            QueueStep::SendHello
        } else {
            QueueStep::Wait
        }
    }

    /// A connection to `peer` is up. True when our Hello should be sent now.
    pub(super) fn handle_connected(&mut self, peer: PeerId, ip: Option<IpAddr>) -> bool {
        let session = self.peers.entry(peer).or_insert_with(|| Session::new(Link::Connected));
        session.remote_ip = ip.or(session.remote_ip);
        if session.link == Link::Dialing {
            session.link = Link::Connected;
        }
        session.link == Link::Connected
    }

    /// Our Hello to `peer` is in flight.
    pub(super) fn handle_hello_sent(&mut self, peer: PeerId) {
        let session = self.peers.entry(peer).or_insert_with(|| Session::new(Link::Connected));
        if session.link != Link::Ready {
            session.link = Link::HelloSent;
        }
    }

    /// The peer acknowledged our proof: the waiters to release, in order.
    pub(super) fn handle_acked(&mut self, peer: PeerId) -> Vec<Queued> {
        let Some(session) = self.peers.get_mut(&peer) else { return Vec::new() };
        session.link = Link::Ready;
        session.queued.drain(..).collect()
    }

    /// A dial or our Hello failed: the waiters to fail. A session that never connected ends;
    /// a connected one may send its Hello again later.
    pub(super) fn handle_failed(&mut self, peer: PeerId) -> Vec<Queued> {
        let Some(session) = self.peers.get_mut(&peer) else { return Vec::new() };
        let waiters = session.queued.drain(..).collect();
        match session.link {
            Link::Dialing => {
                self.peers.remove(&peer);
            }
            Link::HelloSent => session.link = Link::Connected,
            Link::Connected | Link::Ready => {}
        }
        waiters
    }

    /// The last connection to `peer` closed: its waiters, to fail. `None` when there was no
    /// session.
    pub(super) fn handle_disconnected(&mut self, peer: PeerId) -> Option<Vec<Queued>> {
        self.peers.remove(&peer).map(|s| s.queued.into_iter().collect())
    }

    /// The peer's proof verified. True the first time.
    pub(super) fn handle_verified(&mut self, peer: PeerId, identity: VerifiedPeer) -> bool {
        let session = self.peers.entry(peer).or_insert_with(|| Session::new(Link::Connected));
        let first = session.identity.is_none();
        session.identity = Some(identity);
        first
    }

    /// The peer's proof was refused (or expired).
    pub(super) fn handle_refused(&mut self, peer: PeerId) {
        if let Some(session) = self.peers.get_mut(&peer) {
            session.identity = None;
        }
    }

    /// The peer's verified identity.
    pub(super) fn identity(&self, peer: &PeerId) -> Option<VerifiedPeer> {
        self.peers.get(peer).and_then(|s| s.identity)
    }

    /// The peer's IP on its latest connection.
    pub(super) fn remote_ip(&self, peer: &PeerId) -> Option<IpAddr> {
        self.peers.get(peer).and_then(|s| s.remote_ip)
    }

    /// Where our handshake with `peer` stands.
    #[cfg(test)]
    pub(super) fn link(&self, peer: &PeerId) -> Option<Link> {
        self.peers.get(peer).map(|s| s.link)
    }

    /// True when a connected, verified peer uses `ip` (the direct data path admits only such).
    pub(super) fn proven_at(&self, ip: IpAddr) -> bool {
        self.peers
            .values()
            .any(|s| s.link != Link::Dialing && s.identity.is_some() && s.remote_ip == Some(ip))
    }

    /// How many peers are verified.
    pub(super) fn verified_count(&self) -> usize {
        self.peers.values().filter(|s| s.identity.is_some()).count()
    }

    /// A connected peer proven to be `pool`'s scheduler signed by `owner`.
    pub(super) fn proven_scheduler(
        &self,
        pool: PoolId,
        owner: alloy_primitives::Address,
    ) -> Option<PeerId> {
        self.peers.iter().find_map(|(peer, s)| {
            s.identity
                .filter(|v| v.purpose == Purpose::Scheduler { pool } && v.address == owner)
                .map(|_| *peer)
        })
    }

    /// Verified peers whose proof has expired by `unix_now`, with its expiry.
    pub(super) fn expired(&self, unix_now: u64) -> Vec<(PeerId, u64)> {
        self.peers
            .iter()
            .filter_map(|(peer, s)| s.identity.map(|v| (*peer, v.expires_at)))
            .filter(|(_, expires_at)| *expires_at <= unix_now)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::Address;

    use super::*;

    fn waiter() -> (Queued, oneshot::Receiver<Result<Option<IpAddr>, Error>>) {
        let (tx, rx) = oneshot::channel();
        (Queued::Ready(tx), rx)
    }

    fn identity(expires_at: u64) -> VerifiedPeer {
        VerifiedPeer { address: Address::repeat_byte(1), purpose: Purpose::Worker, expires_at }
    }

    #[test]
    fn a_request_to_an_unknown_peer_dials_then_hellos_then_releases() {
        let mut sessions = Sessions::default();
        let peer = PeerId::random();
        let (w, mut rx) = waiter();
        assert!(matches!(sessions.handle_queue(peer, w, 4, false), QueueStep::Dial));
        assert_eq!(sessions.link(&peer), Some(Link::Dialing));
        assert!(sessions.handle_connected(peer, None), "connected: send our Hello");
        sessions.handle_hello_sent(peer);
        assert_eq!(sessions.link(&peer), Some(Link::HelloSent));
        let (w2, _) = waiter();
        assert!(
            matches!(sessions.handle_queue(peer, w2, 4, true), QueueStep::Wait),
            "one Hello at a time"
        );
        let released = sessions.handle_acked(peer);
        assert_eq!(released.len(), 2);
        assert_eq!(sessions.link(&peer), Some(Link::Ready));
        assert!(rx.try_recv().is_err(), "released waiters are the loop's to answer");
        let (w3, _) = waiter();
        assert!(matches!(sessions.handle_queue(peer, w3, 4, true), QueueStep::Release(_)));
    }

    #[test]
    fn queues_are_bounded_and_failures_answer_every_waiter() {
        let mut sessions = Sessions::default();
        let peer = PeerId::random();
        let mut receivers = Vec::new();
        for _ in 0..2 {
            let (w, rx) = waiter();
            receivers.push(rx);
            sessions.handle_queue(peer, w, 2, false);
        }
        let (w, _) = waiter();
        assert!(matches!(sessions.handle_queue(peer, w, 2, false), QueueStep::Refuse(..)));
        for w in sessions.handle_failed(peer) {
            w.fail(Error::Shutdown);
        }
        assert_eq!(sessions.link(&peer), None, "a dial that failed ends the session");
        for mut rx in receivers {
            assert!(matches!(rx.try_recv(), Ok(Err(Error::Shutdown))));
        }
    }

    #[test]
    fn a_failed_hello_can_be_sent_again_and_a_ready_peer_stays_ready() {
        let mut sessions = Sessions::default();
        let peer = PeerId::random();
        assert!(sessions.handle_connected(peer, None));
        sessions.handle_hello_sent(peer);
        assert!(sessions.handle_failed(peer).is_empty());
        assert_eq!(sessions.link(&peer), Some(Link::Connected));
        let (w, _) = waiter();
        assert!(matches!(sessions.handle_queue(peer, w, 4, true), QueueStep::SendHello));
        sessions.handle_hello_sent(peer);
        sessions.handle_acked(peer);
        assert!(!sessions.handle_connected(peer, None), "a second connection sends no Hello");
        assert_eq!(sessions.link(&peer), Some(Link::Ready));
    }

    #[test]
    fn identities_are_kept_refused_and_expired() {
        let mut sessions = Sessions::default();
        let (a, b) = (PeerId::random(), PeerId::random());
        let ip: IpAddr = "10.1.2.3".parse().unwrap();
        sessions.handle_connected(a, Some(ip));
        assert!(!sessions.proven_at(ip), "connected is not proven");
        assert!(sessions.handle_verified(a, identity(100)));
        assert!(!sessions.handle_verified(a, identity(100)), "reported once");
        assert!(sessions.proven_at(ip));
        sessions.handle_verified(b, identity(50));
        assert_eq!(sessions.verified_count(), 2);
        assert_eq!(sessions.expired(60), vec![(b, 50)]);
        sessions.handle_refused(b);
        assert_eq!(sessions.identity(&b), None);
        assert!(sessions.handle_disconnected(a).is_some());
        assert!(!sessions.proven_at(ip));
        assert!(sessions.handle_disconnected(a).is_none());
    }

    #[test]
    fn the_proven_scheduler_of_a_pool_is_found() {
        let mut sessions = Sessions::default();
        let (peer, pool, owner) = (PeerId::random(), PoolId(0), Address::repeat_byte(7));
        sessions.handle_verified(
            peer,
            VerifiedPeer { address: owner, purpose: Purpose::Scheduler { pool }, expires_at: 9 },
        );
        assert_eq!(sessions.proven_scheduler(pool, owner), Some(peer));
        assert_eq!(sessions.proven_scheduler(pool, Address::ZERO), None);
    }
}

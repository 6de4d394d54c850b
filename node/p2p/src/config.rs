//! The network's settings: a plain struct with documented defaults and [`Config::validate`].

use std::time::Duration;

use alloy_primitives::Address;
use libp2p::{Multiaddr, identity::Keypair, multiaddr::Protocol};

use crate::{Error, guard::GuardConfig, identity::PoolId};

/// Settings of one node's network.
#[derive(Debug, Clone)]
pub struct Config {
    /// The libp2p key: the peer id is derived from it. Keep it across restarts so peers and the
    /// DHT recognise the node.
    pub keypair: Keypair,
    /// The chain id identity proofs must name.
    pub chain_id: u64,
    /// Where to listen. Default: TCP and QUIC on every IPv4 interface, ports picked by the OS.
    /// A worker may listen nowhere: it dials out.
    pub listen: Vec<Multiaddr>,
    /// Bootstrap peers, each ending in `/p2p/<peer id>`. Default: none.
    pub bootstrap: Vec<Multiaddr>,
    /// Discover peers on the local network with mDNS. Default: off (on in [`Config::devnet`]).
    pub mdns: bool,
    /// Answer DHT queries (Kademlia server mode). Default: on. A worker behind NAT turns it off.
    pub dht_server: bool,
    /// Pools whose owner is known (read from the chain): a scheduler proof for one of them must
    /// be signed by that owner. Default: none.
    pub pool_owners: Vec<(PoolId, Address)>,
    /// The longest remaining validity accepted in a peer's identity proof. Default: 7 days.
    pub max_proof_validity: Duration,
    /// Most established connections. Default: 512.
    pub max_connections: u32,
    /// Most connections still handshaking from outside. Default: 64.
    pub max_pending_incoming: u32,
    /// Most connections to one peer. Default: 4.
    pub max_connections_per_peer: u32,
    /// A connection that has not finished its security and multiplexing handshake after this is
    /// dropped (half-open connections). Default: 10 s.
    pub handshake_timeout: Duration,
    /// A request without a response after this fails. Default: 30 s.
    pub request_timeout: Duration,
    /// A connection with nothing to do is closed after this. Default: 120 s.
    pub idle_timeout: Duration,
    /// First delay before redialing a lost scheduler; doubled on each failure. Default: 500 ms.
    pub reconnect_initial: Duration,
    /// Longest delay between redials. Default: 30 s.
    pub reconnect_max: Duration,
    /// Rate limits, scores and bans.
    pub guard: GuardConfig,
    /// Capacity of the command channel. Default: 256.
    pub command_buffer: usize,
    /// Capacity of the event channel; events beyond it are dropped and counted. Default: 1024.
    pub event_buffer: usize,
    /// Requests queued per peer while its identity is being proven. Default: 64.
    pub max_queued_per_peer: usize,
    /// Bytes of content this node serves from memory. Default: 1 GiB.
    pub max_content_bytes: u64,
    /// Data streams and direct connections served at once; more are refused as busy. Default: 32.
    pub max_data_streams: usize,
    /// Of those, at most this many for one peer. Default: 4.
    pub max_data_streams_per_peer: usize,
    /// Where to listen for direct data connections (TCP, TLS 1.3 with AES-GCM, see
    /// [`crate::direct`]), which move blobs over twice as fast as the libp2p stream. Port 0
    /// picks a free port; peers learn it from the data header. Default: none (blobs go on the
    /// libp2p data stream only); [`Config::devnet`] listens on a free port.
    pub direct_listen: Option<std::net::SocketAddr>,
    /// Gossipsub mesh size (target, low, high). Default: (6, 5, 12).
    pub gossip_mesh: (usize, usize, usize),
}

impl Config {
    /// Defaults for a node with `keypair` on chain `chain_id`.
    pub fn new(keypair: Keypair, chain_id: u64) -> Self {
        Self {
            keypair,
            chain_id,
            listen: vec![tcp_on([0, 0, 0, 0]), quic_on([0, 0, 0, 0])],
            bootstrap: Vec::new(),
            mdns: false,
            dht_server: true,
            pool_owners: Vec::new(),
            max_proof_validity: Duration::from_secs(7 * 24 * 3600),
            max_connections: 512,
            max_pending_incoming: 64,
            max_connections_per_peer: 4,
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            reconnect_initial: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(30),
            guard: GuardConfig::default(),
            command_buffer: 256,
            event_buffer: 1024,
            max_queued_per_peer: 64,
            max_content_bytes: 1 << 30,
            max_data_streams: 32,
            max_data_streams_per_peer: 4,
            direct_listen: None,
            gossip_mesh: (6, 5, 12),
        }
    }

    /// A node for tests and devnets: listens on loopback only (TCP; add QUIC with
    /// [`Config::with_quic`]), mDNS off so parallel tests do not find each other.
    pub fn test(keypair: Keypair, chain_id: u64) -> Self {
        Self { listen: vec![loopback_tcp()], ..Self::new(keypair, chain_id) }
    }

    /// A devnet node: like [`Config::new`] with mDNS on and a direct data listener on a free
    /// port (a devnet's peers share a network).
    pub fn devnet(keypair: Keypair, chain_id: u64) -> Self {
        let direct_listen = Some(std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
        Self { mdns: true, direct_listen, ..Self::new(keypair, chain_id) }
    }

    /// Adds a loopback QUIC listener.
    pub fn with_quic(mut self) -> Self {
        self.listen.push(loopback_quic());
        self
    }

    /// Refuses settings that cannot work.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |reason: String| Err(Error::Config { reason });
        for addr in &self.bootstrap {
            if !matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
                return bad(format!("bootstrap address {addr} does not end in /p2p/<peer id>"));
            }
        }
        if self.command_buffer == 0
            || self.event_buffer == 0
            || self.max_queued_per_peer == 0
            || self.max_data_streams == 0
            || self.max_data_streams_per_peer == 0
        {
            return bad("channel and queue capacities must be positive".into());
        }
        if self.max_connections == 0 || self.max_connections_per_peer == 0 {
            return bad("connection limits must be positive".into());
        }
        let (n, low, high) = self.gossip_mesh;
        if !(low <= n && n <= high && low > 0) {
            return bad(format!("gossip mesh needs 0 < low <= n <= high, got {low}, {n}, {high}"));
        }
        if self.reconnect_initial.is_zero() || self.reconnect_max < self.reconnect_initial {
            return bad("reconnect backoff needs 0 < initial <= max".into());
        }
        if self.handshake_timeout.is_zero() || self.request_timeout.is_zero() {
            return bad("timeouts must be positive".into());
        }
        self.guard.validate()
    }
}

fn tcp_on(ip: [u8; 4]) -> Multiaddr {
    Multiaddr::empty().with(Protocol::Ip4(ip.into())).with(Protocol::Tcp(0))
}

fn quic_on(ip: [u8; 4]) -> Multiaddr {
    Multiaddr::empty().with(Protocol::Ip4(ip.into())).with(Protocol::Udp(0)).with(Protocol::QuicV1)
}

/// `/ip4/127.0.0.1/tcp/0`.
pub fn loopback_tcp() -> Multiaddr {
    tcp_on([127, 0, 0, 1])
}

/// `/ip4/127.0.0.1/udp/0/quic-v1`.
pub fn loopback_quic() -> Multiaddr {
    quic_on([127, 0, 0, 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_are_refused() {
        let config = Config::new(Keypair::generate_ed25519(), 1);
        assert!(config.validate().is_ok());
        assert!(!config.mdns && Config::devnet(config.keypair.clone(), 1).mdns);
        let bootstrap_without_peer = Config {
            bootstrap: vec![loopback_tcp()],
            ..Config::test(Keypair::generate_ed25519(), 1)
        };
        assert!(matches!(bootstrap_without_peer.validate(), Err(Error::Config { .. })));
        let zero_buffer = Config { event_buffer: 0, ..config.clone() };
        assert!(zero_buffer.validate().is_err());
        let bad_mesh = Config { gossip_mesh: (3, 4, 12), ..config };
        assert!(bad_mesh.validate().is_err());
    }
}

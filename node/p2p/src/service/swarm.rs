//! Building the libp2p swarm: transports, and the behaviours Quorate runs on them.

use std::time::Duration;

use libp2p::{
    Swarm, allow_block_list, connection_limits, gossipsub, identify, kad, mdns, noise, ping,
    request_response,
    swarm::{NetworkBehaviour, behaviour::toggle::Toggle},
    tcp, yamux,
};

use super::IDENTIFY_VERSION;
use crate::{
    Error,
    config::Config,
    protocol::{PROTOCOL, WireCodec},
};

#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    pub(super) limits: connection_limits::Behaviour,
    pub(super) blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub(super) identify: identify::Behaviour,
    pub(super) ping: ping::Behaviour,
    pub(super) kad: kad::Behaviour<kad::store::MemoryStore>,
    pub(super) gossipsub: gossipsub::Behaviour,
    pub(super) mdns: Toggle<mdns::tokio::Behaviour>,
    pub(super) wire: request_response::Behaviour<WireCodec>,
    pub(super) data: libp2p_stream::Behaviour,
}

pub(super) fn build(config: &Config) -> Result<Swarm<Behaviour>, Error> {
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

//! The network as an actor: one task owns the libp2p swarm; a cloneable [`Client`] sends it
//! bounded commands with oneshot replies; [`Event`]s come out through a bounded channel.
//!
//! ```text
//!   Client ──Command (bounded mpsc, oneshot reply)──▶ EventLoop ──owns──▶ Swarm
//!   application ◀──────────── Event (bounded mpsc, overflow dropped and counted)
//! ```
//!
//! The loop is thin: it moves events between the swarm, the commands and pure state machines
//! that decide, each tested without sockets:
//!
//! | module | decides |
//! |---|---|
//! | [`session`] | per peer, one enum of states: dialing, connected, our Hello sent, ready; which waiters to release or fail |
//! | [`discovery`] | which pools' schedulers to look for, their candidates, backoff, who is proven |
//! | [`admission`] | whether an inbound request or data stream is served, refused or dropped, and what it costs the peer |
//! | `crate::guard` | rate limits, scores and bans |
//!
//! Application requests to a peer wait in a bounded queue until the peer has acknowledged our
//! proof, so the remote never sees a request before the identity it comes from. Blobs travel on
//! their own stream protocol ([`crate::data`]): the loop only admits each inbound data stream
//! and hands it to a serving task, so bulk bytes never queue behind, or in front of, control
//! messages.

mod admission;
mod client;
mod discovery;
mod event_loop;
mod session;
mod swarm;

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use libp2p::{gossipsub, kad};
use tokio::sync::{mpsc, watch};
use tracing::warn;

pub use client::{Client, Event, Responder, Stats};
use event_loop::{EventLoop, Parts};

use crate::{
    Error,
    config::Config,
    data::{self, DATA_PROTOCOL, Server, Slots, Store},
    direct::DirectTls,
    identity::{IdentityProof, PoolId},
};

/// Gossipsub topic of pool announcements.
pub const ANNOUNCEMENTS_TOPIC: &str = "quorate/announcements/1";
/// Gossipsub topic of signed pool orders.
pub const ORDERS_TOPIC: &str = "quorate/orders/1";
/// The identify protocol version string.
pub const IDENTIFY_VERSION: &str = "/quorate/1";

/// The DHT key under which a pool's scheduler provides.
pub fn pool_key(pool: PoolId) -> kad::RecordKey {
    let mut key = b"/quorate/pool/".to_vec();
    key.extend_from_slice(&pool.0.to_be_bytes());
    kad::RecordKey::new(&key)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
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
    let mut swarm = swarm::build(&config)?;
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
        pacer: Arc::default(),
    };
    let event_loop = EventLoop::new(Parts {
        config,
        swarm,
        proof,
        commands: commands_rx,
        events: events_tx,
        incoming,
        server,
        data_slots,
        serving_open: to_loop_tx,
        from_serving,
        stop_direct,
    });
    runtime.spawn(event_loop.run());
    Ok((client, events_rx))
}

#[cfg(test)]
mod tests {
    use alloy_primitives::Address;
    use libp2p::identity::Keypair;

    use super::*;
    use crate::identity::Purpose;

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
        let a = pool_key(PoolId(1));
        assert_eq!(a, pool_key(PoolId(1)));
        assert_ne!(a, pool_key(PoolId(2)));
        assert!(a.as_ref().starts_with(b"/quorate/pool/"));
    }
}

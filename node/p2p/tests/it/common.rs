//! Helpers: nodes with real keys, proofs signed by real alloy signers, event waiting.

use std::{
    future::Future,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy_primitives::B256;
use alloy_signer_local::PrivateKeySigner;
use libp2p::{Multiaddr, PeerId, identity::Keypair, multiaddr::Protocol};
use quorate_p2p::{
    Client, Config, Event,
    identity::{IdentityProof, PoolId, Purpose},
};
use tokio::sync::mpsc;

pub(crate) const CHAIN: u64 = 31337;
pub(crate) const POOL: PoolId = PoolId(0x42);

pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub(crate) fn signer(seed: u8) -> PrivateKeySigner {
    PrivateKeySigner::from_bytes(&B256::repeat_byte(seed)).unwrap()
}

pub(crate) fn keypair(seed: u8) -> Keypair {
    Keypair::ed25519_from_bytes([seed; 32]).unwrap()
}

/// A proof for `keypair`'s peer id signed by `signer`, expiring `ttl` seconds from now
/// (negative: already expired).
pub(crate) fn proof(
    signer: &PrivateKeySigner,
    keypair: &Keypair,
    purpose: Purpose,
    ttl: i64,
) -> IdentityProof {
    let expires_at = now().saturating_add_signed(ttl);
    let peer = keypair.public().to_peer_id();
    IdentityProof::sign(signer, signer.address(), &peer, purpose, CHAIN, expires_at).unwrap()
}

#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) client: Client,
    pub(crate) events: mpsc::Receiver<Event>,
    pub(crate) peer: PeerId,
    /// The first listen address, ending in /p2p/<peer>.
    pub(crate) addr: Multiaddr,
}

pub(crate) async fn start(config: Config, proof: IdentityProof) -> Node {
    let peer = config.keypair.public().to_peer_id();
    let (client, events) = quorate_p2p::spawn(config, proof).unwrap();
    let listen = client.listen_addrs().await.unwrap();
    let addr = listen.first().cloned().unwrap_or_else(Multiaddr::empty).with(Protocol::P2p(peer));
    Node { client, events, peer, addr }
}

/// A loopback node for `signer` with `purpose`, proof valid for an hour.
pub(crate) async fn node(seed: u8, signer: &PrivateKeySigner, purpose: Purpose) -> Node {
    let config = Config::test(keypair(seed), CHAIN);
    start(config.clone(), proof(signer, &config.keypair, purpose, 3600)).await
}

/// Waits up to `secs` for an event `pick` accepts, skipping others.
pub(crate) async fn wait_for<T>(
    events: &mut mpsc::Receiver<Event>,
    secs: u64,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(event)) => {
                if let Some(found) = pick(event) {
                    return found;
                }
            }
            Ok(None) => panic!("event channel closed"),
            Err(_) => panic!("no matching event within {secs} s"),
        }
    }
}

/// Runs `f` with a deadline.
pub(crate) async fn within<T>(secs: u64, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f).await.expect("timed out")
}

//! Identity binding over real connections: forged, expired and wrong-owner proofs are refused
//! with their reasons, and nothing else gets through from such a peer.

use quorate_p2p::{
    Config, Error, Event, Message,
    identity::Purpose,
    wire::{Heartbeat, RevealRequest},
};
use quorate_primitives::TaskId;

use crate::common::{CHAIN, Node, POOL, keypair, node, proof, signer, start, wait_for, within};

/// The honest side: a worker that knows the pool's owner.
async fn honest_worker(owner: alloy_primitives::Address) -> Node {
    let config = Config { pool_owners: vec![(POOL, owner)], ..Config::test(keypair(10), CHAIN) };
    start(config.clone(), proof(&signer(10), &config.keypair, Purpose::Worker, 3600)).await
}

async fn refused_reason(worker: &mut Node, peer: libp2p::PeerId) -> Error {
    wait_for(&mut worker.events, 10, |e| match e {
        Event::PeerRefused { peer: p, error } if p == peer => Some(error),
        _ => None,
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_proof_is_refused_and_banned() {
    let owner = signer(2);
    let mut worker = honest_worker(owner.address()).await;
    // The intruder claims the owner's address but signs with its own key.
    let intruder_key = keypair(11);
    let mut forged = proof(&signer(3), &intruder_key, Purpose::Scheduler { pool: POOL }, 3600);
    forged.address = owner.address();
    let mut intruder = start(Config::test(intruder_key, CHAIN), forged).await;
    intruder.client.dial(worker.addr.clone()).await.unwrap();

    let error = refused_reason(&mut worker, intruder.peer).await;
    assert_eq!(
        error,
        Error::SignerMismatch { claimed: owner.address(), recovered: signer(3).address() }
    );
    wait_for(&mut worker.events, 10, |e| {
        matches!(e, Event::Banned { peer, .. } if peer == intruder.peer).then_some(())
    })
    .await;
    // The intruder hears why, and can send nothing.
    let heard = wait_for(&mut intruder.events, 10, |e| match e {
        Event::PeerRefused { error: Error::Refused { reason }, .. } => Some(reason),
        _ => None,
    })
    .await;
    assert!(heard.contains("signed by"), "{heard}");
    let task = Message::RevealRequest(RevealRequest { task: TaskId::default() });
    assert!(within(15, intruder.client.request(worker.peer, task)).await.is_err());
    assert_eq!(worker.client.identity_of(intruder.peer).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_proof_is_refused_with_its_reason() {
    let mut worker = honest_worker(signer(2).address()).await;
    let late_key = keypair(12);
    let expired = proof(&signer(4), &late_key, Purpose::Worker, -60);
    let late = start(Config::test(late_key, CHAIN), expired).await;
    late.client.dial(worker.addr.clone()).await.unwrap();
    let error = refused_reason(&mut worker, late.peer).await;
    assert!(matches!(error, Error::Expired { .. }), "{error:?}");
    // Not a forgery: refused and disconnected, not banned.
    assert_eq!(worker.client.stats().await.unwrap().banned, 0);
    let heartbeat = Message::Heartbeat(Heartbeat { pool: POOL, free_slots: 1, running: 0 });
    assert!(within(15, late.client.request(worker.peer, heartbeat)).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduler_not_signed_by_the_pool_owner_is_refused() {
    let owner = signer(2);
    let mut worker = honest_worker(owner.address()).await;
    // A real signature, but from an address that does not own the pool.
    let fake = node(13, &signer(5), Purpose::Scheduler { pool: POOL }).await;
    worker.client.dial(fake.addr.clone()).await.unwrap();
    let error = refused_reason(&mut worker, fake.peer).await;
    assert_eq!(
        error,
        Error::NotPoolOwner { pool: POOL, owner: owner.address(), signer: signer(5).address() }
    );

    // The real owner's scheduler is accepted by the same worker.
    let real = node(14, &owner, Purpose::Scheduler { pool: POOL }).await;
    worker.client.dial(real.addr.clone()).await.unwrap();
    let found = within(20, worker.client.find_scheduler(POOL, owner.address())).await.unwrap();
    assert_eq!(found, real.peer);
    let identity = worker.client.identity_of(real.peer).await.unwrap().expect("verified");
    assert_eq!(identity.address, owner.address());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_proof_runs_out_while_connected_is_dropped() {
    let mut worker = honest_worker(signer(2).address()).await;
    let short_key = keypair(15);
    let short = start(
        Config::test(short_key.clone(), CHAIN),
        proof(&signer(6), &short_key, Purpose::Client, 2),
    )
    .await;
    short.client.dial(worker.addr.clone()).await.unwrap();
    wait_for(&mut worker.events, 5, |e| {
        matches!(e, Event::PeerVerified { peer, .. } if peer == short.peer).then_some(())
    })
    .await;
    let error = refused_reason(&mut worker, short.peer).await;
    assert!(matches!(error, Error::Expired { .. }), "{error:?}");
    wait_for(&mut worker.events, 5, |e| {
        matches!(e, Event::PeerDisconnected { peer } if peer == short.peer).then_some(())
    })
    .await;
}

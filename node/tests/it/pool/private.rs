//! A private pool (`scheduler.private`), on real parts: only a worker holding the pool owner's
//! join credential for its own address, on this chain and not expired, gets in; a denied
//! address does not, credential or not. A real worker turned away stops with the reason and
//! the fix; one whose configured credential cannot work is refused before it starts; one
//! revoked while it runs is turned away at its next heartbeat.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use alloy::signers::local::PrivateKeySigner;
use quorate_node::{
    scheduler::credentials::Register,
    worker::{self, WorkerError},
};
use quorate_p2p::{
    identity::{JoinCredential, Purpose},
    wire::{JoinRequest, Message as Wire, RefusalReason, WorkerCapabilities, evaluators},
};

use super::{hardening::Bare, within};
use crate::worker_service::{worker_config, worker_keys};

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// What the scheduler answers a worker `key` asking to join with `credential`.
async fn join(pool: &Bare, key: &PrivateKeySigner, credential: Option<JoinCredential>) -> Wire {
    let (p2p, _events) = pool.peer(key, Purpose::Worker).await;
    let request = JoinRequest {
        pool: pool.pool_id,
        capabilities: WorkerCapabilities {
            slots: 1,
            memory_mib: 512,
            evaluators: evaluators::JS,
            gpu_class: None,
            gpu_memory_mib: 0,
            float_probe: None,
        },
        credential,
    };
    p2p.request(pool.scheduler, Wire::JoinRequest(request)).await.unwrap()
}

fn refusal(answer: Wire) -> (RefusalReason, String) {
    match answer {
        Wire::JoinRefused(refused) => (refused.reason, refused.detail),
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_pool_takes_only_workers_holding_the_owners_credential() {
    let denied = PrivateKeySigner::random();
    let denied_address = denied.address().to_string();
    let pool = Bare::start(|node| {
        node.scheduler.private = true;
        node.scheduler.deny_workers = vec![denied_address];
    })
    .await;
    let (owner, id, chain) = (&pool.owner, pool.pool_id, pool.chain_id);
    let credential = |worker: &PrivateKeySigner, expires: u64| {
        JoinCredential::sign(owner, id, worker.address(), chain, expires).unwrap()
    };
    let month = now() + 30 * 86_400;

    // On the wire: no credential, another worker's, one the owner did not sign, another
    // chain's, an expired one, a denied address: each refused with its reason.
    let stranger = PrivateKeySigner::random();
    let (reason, detail) = refusal(join(&pool, &stranger, None).await);
    assert_eq!(reason, RefusalReason::CredentialRequired);
    assert!(
        detail.contains("private") && detail.contains("quorate scheduler credential"),
        "{detail}"
    );
    let someone_else = PrivateKeySigner::random();
    let theirs = credential(&someone_else, month);
    assert_eq!(
        refusal(join(&pool, &stranger, Some(theirs)).await).0,
        RefusalReason::CredentialInvalid
    );
    let forged = JoinCredential::sign(&stranger, id, stranger.address(), chain, month).unwrap();
    assert_eq!(
        refusal(join(&pool, &stranger, Some(forged)).await).0,
        RefusalReason::CredentialInvalid
    );
    let other_chain =
        JoinCredential::sign(owner, id, stranger.address(), chain + 1, month).unwrap();
    assert_eq!(
        refusal(join(&pool, &stranger, Some(other_chain)).await).0,
        RefusalReason::CredentialInvalid
    );
    let (reason, detail) =
        refusal(join(&pool, &stranger, Some(credential(&stranger, now() - 1))).await);
    assert_eq!(reason, RefusalReason::CredentialExpired);
    assert!(detail.contains("expired"), "{detail}");
    let revoked = credential(&denied, month);
    assert_eq!(refusal(join(&pool, &denied, Some(revoked)).await).0, RefusalReason::NotAllowed);
    // The owner's credential for this very worker gets it in.
    let answer = join(&pool, &stranger, Some(credential(&stranger, month))).await;
    assert!(matches!(answer, Wire::JoinAccepted(_)), "{answer:?}");

    // A real worker with no credential is turned away and stops with the reason and the fix.
    let key = worker_keys(&pool.net).remove(0);
    let dir = tempfile::tempdir().unwrap();
    let config = worker_config(&pool.net, id, dir.path(), pool.addr());
    let turned_away = worker::spawn(config.clone(), key.clone()).await.unwrap();
    let ended = within(60, "the refused worker stopping", turned_away.join()).await;
    let Err(WorkerError::Refused(reason)) = ended else { panic!("{ended:?}") };
    assert!(reason.contains("private") && reason.contains("worker.credential"), "{reason}");
    // A configured credential that is not its own never starts.
    let wrong = worker_config(&pool.net, id, dir.path(), pool.addr());
    let wrong = worker::WorkerConfig { credential: Some(credential(&stranger, month)), ..wrong };
    let refused = worker::spawn(wrong, key.clone()).await.unwrap_err();
    assert!(
        matches!(&refused, WorkerError::Credential(m) if m.contains(&key.address().to_string())),
        "{refused}"
    );
    // With its credential it joins.
    let config = worker::WorkerConfig { credential: Some(credential(&key, month)), ..config };
    let worker = worker::spawn(config.clone(), key.clone()).await.unwrap();
    let mut joined = worker.joined();
    within(60, "the worker joining", joined.wait_for(|j| *j == Some(pool.scheduler)))
        .await
        .unwrap();
    // Revoked while it runs (as `quorate scheduler credential revoke` does): turned away at
    // its next heartbeat, it stops with the reason; it cannot come back until issued again.
    let path = Register::path(&pool.node);
    let mut register = Register::load(&path).unwrap();
    assert!(register.revoke(key.address(), now()));
    register.save(&path).unwrap();
    let revoked = Instant::now();
    let ended = within(60, "the revoked worker stopping", worker.join()).await;
    let Err(WorkerError::Refused(reason)) = ended else { panic!("{ended:?}") };
    assert!(reason.contains("revoked"), "{reason}");
    eprintln!("a revoked worker was turned away {:?} after the revocation", revoked.elapsed());
    let back = worker::spawn(config.clone(), key.clone()).await.unwrap();
    let ended = within(60, "the revoked worker refused", back.join()).await;
    assert!(matches!(ended, Err(WorkerError::Refused(_))), "{ended:?}");
    // Issued again: back in.
    register.issue(key.address(), now(), month);
    register.save(&path).unwrap();
    let worker = worker::spawn(config, key).await.unwrap();
    let mut joined = worker.joined();
    within(60, "the worker joining again", joined.wait_for(|j| *j == Some(pool.scheduler)))
        .await
        .unwrap();
    worker.stop();
    within(60, "the worker stopping", worker.join()).await.unwrap();
    pool.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_takes_workers_only_from_its_allow_lists() {
    let (listed, stranger) = (PrivateKeySigner::random(), PrivateKeySigner::random());
    let only = vec![listed.address().to_string()];
    // Workers from 10.0.0.0/8 only: a worker on loopback is turned away, listed or not.
    let far = Bare::start(|node| {
        node.scheduler.allow_networks = vec!["10.0.0.0/8".into()];
        node.scheduler.allow_workers.clone_from(&only);
    })
    .await;
    let (reason, detail) = refusal(join(&far, &listed, None).await);
    assert_eq!(reason, RefusalReason::NotAllowed);
    assert!(detail.contains("not from 127.0.0.1"), "{detail}");
    far.running.stop().await.unwrap();
    // Loopback allowed: the listed worker gets in, another address does not.
    let near = Bare::start(|node| {
        node.scheduler.allow_networks = vec!["127.0.0.0/8".into(), "::1/128".into()];
        node.scheduler.allow_workers = only;
    })
    .await;
    let answer = join(&near, &listed, None).await;
    assert!(matches!(answer, Wire::JoinAccepted(_)), "{answer:?}");
    assert_eq!(refusal(join(&near, &stranger, None).await).0, RefusalReason::NotAllowed);
    near.running.stop().await.unwrap();
}

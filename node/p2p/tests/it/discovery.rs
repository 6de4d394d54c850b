//! 30 nodes on loopback: every worker finds the pool's scheduler by pool id with only a
//! bootstrap address configured, and the scheduler's announcements reach everyone.

use std::time::{Duration, Instant};

use futures::future::join_all;
use quorate_p2p::{Config, Event, Message, identity::Purpose, wire::PoolAnnouncement};

use crate::common::{CHAIN, Node, POOL, keypair, proof, signer, start, within};

const WORKERS: u8 = 25;
const CLIENTS: u8 = 3;

async fn spawn_with_bootstrap(
    seed: u8,
    purpose: Purpose,
    signer_seed: u8,
    bootstrap: &libp2p::Multiaddr,
    dht_server: bool,
) -> Node {
    let config = Config {
        bootstrap: vec![bootstrap.clone()],
        dht_server,
        ..Config::test(keypair(seed), CHAIN)
    };
    start(config.clone(), proof(&signer(signer_seed), &config.keypair, purpose, 3600)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_nodes_find_the_scheduler_and_hear_its_announcements() {
    let owner = signer(100);
    let bootstrap = start(
        Config::test(keypair(100), CHAIN),
        proof(&signer(101), &keypair(100), Purpose::Client, 3600),
    )
    .await;
    let scheduler_purpose = Purpose::Scheduler { pool: POOL };
    let scheduler = spawn_with_bootstrap(102, scheduler_purpose, 100, &bootstrap.addr, true).await;
    within(20, scheduler.client.provide(POOL)).await.unwrap();

    let cold = Instant::now();
    let mut others = Vec::new();
    for i in 0..WORKERS {
        others.push(
            spawn_with_bootstrap(110 + i, Purpose::Worker, 110 + i, &bootstrap.addr, false).await,
        );
    }
    for i in 0..CLIENTS {
        others.push(
            spawn_with_bootstrap(140 + i, Purpose::Client, 140 + i, &bootstrap.addr, false).await,
        );
    }
    let found = join_all(
        others[..usize::from(WORKERS)]
            .iter()
            .map(|w| within(45, w.client.find_scheduler(POOL, owner.address()))),
    )
    .await;
    let discovery = cold.elapsed();
    for peer in found {
        assert_eq!(peer.unwrap(), scheduler.peer);
    }
    assert!(discovery < Duration::from_secs(30), "25 workers took {discovery:?}");
    eprintln!("25 workers found the scheduler {discovery:?} after their start");

    // Announcements: published repeatedly (as a scheduler does) until every node heard one.
    let announcement = PoolAnnouncement {
        pool: POOL,
        scheduler: proof(&owner, &keypair(102), scheduler_purpose, 3600),
        public: true,
        wanted_workers: 25,
        sequence: 0,
        addrs: Vec::new(),
        metadata: String::new(),
    };
    let mut heard = vec![false; others.len() + 1];
    let mut listeners: Vec<&mut tokio::sync::mpsc::Receiver<Event>> =
        others.iter_mut().map(|n| &mut n.events).collect();
    let mut bootstrap = bootstrap;
    listeners.push(&mut bootstrap.events);
    let started = Instant::now();
    for sequence in 0..120u64 {
        let message =
            Message::PoolAnnouncement(PoolAnnouncement { sequence, ..announcement.clone() });
        let _ = scheduler.client.publish(message).await;
        tokio::time::sleep(Duration::from_millis(250)).await;
        for (i, events) in listeners.iter_mut().enumerate() {
            while let Ok(event) = events.try_recv() {
                if let Event::Announcement { source, announcement, .. } = event {
                    assert_eq!((source, announcement.pool), (scheduler.peer, POOL));
                    heard[i] = true;
                }
            }
        }
        if heard.iter().all(|h| *h) {
            break;
        }
    }
    let missing = heard.iter().filter(|h| !**h).count();
    assert_eq!(missing, 0, "{missing} of {} nodes never heard an announcement", heard.len());
    eprintln!("announcements reached all {} other nodes in {:?}", heard.len(), started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_reconnects_to_a_restarted_scheduler_with_backoff() {
    let owner = signer(150);
    let purpose = Purpose::Scheduler { pool: POOL };
    let config = Config::test(keypair(150), CHAIN);
    let scheduler = start(config.clone(), proof(&owner, &config.keypair, purpose, 3600)).await;
    let listen: libp2p::Multiaddr = scheduler.addr.iter().take(2).collect();
    let mut worker = start(
        Config::test(keypair(151), CHAIN),
        proof(&signer(151), &keypair(151), Purpose::Worker, 3600),
    )
    .await;
    worker.client.dial(scheduler.addr.clone()).await.unwrap();
    let found = within(15, worker.client.find_scheduler(POOL, owner.address())).await.unwrap();
    assert_eq!(found, scheduler.peer);

    drop(scheduler);
    crate::common::wait_for(&mut worker.events, 10, |e| {
        matches!(e, Event::SchedulerLost { pool, .. } if pool == POOL).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let restarted = start(
        Config { listen: vec![listen], ..config },
        proof(&owner, &keypair(150), purpose, 3600),
    )
    .await;
    let back = crate::common::wait_for(&mut worker.events, 20, |e| match e {
        Event::SchedulerConnected { pool, peer } if pool == POOL => Some(peer),
        _ => None,
    })
    .await;
    assert_eq!(back, restarted.peer);
}

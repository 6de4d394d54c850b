//! Two peers: every message of the wire protocol crosses real sockets and arrives intact.

use alloy_primitives::B256;
use libp2p::{Multiaddr, PeerId};
use quorate_p2p::{
    Client, Config, Error, Event, Message,
    fetch::{FetchConfig, fetch},
    identity::{JoinCredential, Purpose, VerifyPolicy},
    wire::{
        Abort, ContributionNotice, DataRequest, Heartbeat, HeldTask, JoinAccepted, JoinRefused,
        JoinRequest, PoolAnnouncement, RecoveryReport, RecoveryRequest, RefusalReason, Report,
        ResultUpload, RevealRequest, SignedOrder, TaskAssignment, TaskInput, TaskReport, TaskState,
        WorkerCapabilities, evaluators,
    },
};
use quorate_primitives::{ContentHash, ResultHash, TaskAuthorization, TaskId};
use tokio::sync::mpsc;

use crate::common::{CHAIN, POOL, keypair, node, proof, signer, start, wait_for, within};

/// Answers every request the way a scheduler or worker would, and reports what it received.
fn answer_requests(
    client: Client,
    mut events: mpsc::Receiver<Event>,
    seen: mpsc::Sender<(PeerId, Message)>,
) {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let (peer, message, responder) = match event {
                Event::Request { peer, message, responder, .. } => (peer, message, responder),
                Event::Announcement { source, announcement, .. } => {
                    let _ = seen.send((source, Message::PoolAnnouncement(announcement))).await;
                    continue;
                }
                Event::Order { source, order } => {
                    let _ = seen.send((source, Message::SignedOrder(order))).await;
                    continue;
                }
                _ => continue,
            };
            let answer = match &message {
                Message::JoinRequest(m) if m.capabilities.slots == 0 => {
                    Message::JoinRefused(JoinRefused {
                        pool: m.pool,
                        reason: RefusalReason::Incompatible,
                        detail: "no free slot".into(),
                    })
                }
                Message::JoinRequest(m) => {
                    Message::JoinAccepted(JoinAccepted { pool: m.pool, heartbeat_interval_s: 5 })
                }
                Message::RecoveryRequest(m) => Message::RecoveryReport(RecoveryReport {
                    pool: m.pool,
                    tasks: m
                        .known
                        .iter()
                        .map(|task| HeldTask { task: *task, state: TaskState::RevealRequested })
                        .collect(),
                }),
                _ => Message::Ack,
            };
            client.respond(responder, answer).await.unwrap();
            let _ = seen.send((peer, message)).await;
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_round_trips_between_two_peers() {
    let owner = signer(2);
    let scheduler = node(2, &owner, Purpose::Scheduler { pool: POOL }).await;
    let worker_signer = signer(1);
    let worker_config =
        Config { pool_owners: vec![(POOL, owner.address())], ..Config::test(keypair(1), CHAIN) };
    let mut worker = start(
        worker_config.clone(),
        proof(&worker_signer, &worker_config.keypair, Purpose::Worker, 3600),
    )
    .await;

    let (s_client, w_client) = (scheduler.client.clone(), worker.client.clone());
    let (s_seen_tx, mut s_seen) = mpsc::channel(64);
    answer_requests(s_client.clone(), scheduler.events, s_seen_tx);

    // Identity: the worker checks the scheduler's proof against the pool owner it was given.
    w_client.dial(scheduler.addr.clone()).await.unwrap();
    let identity = wait_for(&mut worker.events, 10, |e| match e {
        Event::PeerVerified { peer, identity } if peer == scheduler.peer => Some(identity),
        _ => None,
    })
    .await;
    assert_eq!(
        (identity.address, identity.purpose),
        (owner.address(), Purpose::Scheduler { pool: POOL })
    );
    let (w_seen_tx, mut w_seen) = mpsc::channel(64);
    answer_requests(w_client.clone(), worker.events, w_seen_tx);

    // Worker → scheduler.
    let capabilities = WorkerCapabilities {
        slots: 3,
        memory_mib: 2048,
        evaluators: evaluators::ALL,
        gpu_class: Some("llvmpipe".into()),
        gpu_memory_mib: 2048,
        float_probe: Some("0x8f96".into()),
    };
    let task = TaskId(B256::repeat_byte(9));
    let expiry = crate::common::now() + 600;
    let credential =
        JoinCredential::sign(&owner, POOL, worker_signer.address(), CHAIN, expiry).unwrap();
    let to_scheduler = vec![
        Message::JoinRequest(JoinRequest {
            pool: POOL,
            capabilities: capabilities.clone(),
            credential: None,
        }),
        Message::JoinRequest(JoinRequest {
            pool: POOL,
            capabilities: WorkerCapabilities { slots: 0, ..capabilities },
            credential: Some(credential),
        }),
        Message::Heartbeat(Heartbeat { pool: POOL, free_slots: 2, running: 1 }),
        Message::ContributionNotice(ContributionNotice {
            task,
            result_hash: ResultHash(B256::repeat_byte(1)),
            tx: B256::repeat_byte(2),
        }),
        Message::ResultUpload(ResultUpload { task, result: vec![7; 300_000] }),
        Message::RecoveryRequest(RecoveryRequest { pool: POOL, known: vec![task] }),
        Message::TaskReport(TaskReport { task, report: Report::Progress(420) }),
        Message::TaskReport(TaskReport {
            task,
            report: Report::Failed { kind: "heap_limit".into(), message: "512 MiB".into() },
        }),
    ];
    for message in to_scheduler {
        let answer = within(10, w_client.request(scheduler.peer, message.clone())).await.unwrap();
        let (from, received) = within(5, s_seen.recv()).await.unwrap();
        assert_eq!((from, &received), (worker.peer, &message));
        if let Message::JoinRequest(JoinRequest { credential: Some(c), .. }) = &received {
            let policy = VerifyPolicy { chain_id: CHAIN, max_validity_s: 3600 };
            let now = crate::common::now();
            c.verify(POOL, owner.address(), worker_signer.address(), now, &policy).unwrap();
        }
        let expected_kind = match message {
            Message::JoinRequest(m) if m.capabilities.slots == 0 => "join refused",
            Message::JoinRequest(_) => "join accepted",
            Message::RecoveryRequest(_) => "recovery report",
            _ => "ack",
        };
        assert_eq!(answer.kind().name(), expected_kind);
        if let Message::RecoveryReport(report) = answer {
            assert_eq!(report.tasks, vec![HeldTask { task, state: TaskState::RevealRequested }]);
        }
    }

    // Scheduler → worker, with the owner's real authorization.
    let authorization =
        TaskAuthorization::first_round(worker_signer.address(), task).sign(&owner).unwrap();
    let to_worker = vec![
        Message::TaskAssignment(TaskAssignment {
            pool: POOL,
            task,
            job: ContentHash::of(b"work"),
            input: TaskInput::Inline(b"[1,2,3]".to_vec()),
            round: 0,
            authorization,
            deadline: 1_900_000_000,
        }),
        Message::RevealRequest(RevealRequest { task }),
        Message::Abort(Abort { task, reason: "deadline".into() }),
    ];
    for message in to_worker {
        let answer = within(10, s_client.request(worker.peer, message.clone())).await.unwrap();
        assert_eq!(answer, Message::Ack);
        let (from, received) = within(5, w_seen.recv()).await.unwrap();
        assert_eq!((from, &received), (scheduler.peer, &message));
        if let Message::TaskAssignment(a) = received {
            a.check_authorization(worker_signer.address(), owner.address()).unwrap();
            assert!(a.check_authorization(owner.address(), owner.address()).is_err());
        }
    }

    // Data fetch: on the data stream, verified piece by piece.
    let blob = b"the job's code".to_vec();
    let hash = s_client.put_content(blob.clone()).await.unwrap();
    let fetched = fetch(&w_client, &[scheduler.peer], hash, &FetchConfig::default()).await;
    assert_eq!(fetched.unwrap(), blob);
    let missing = ContentHash::of(b"nobody has this");
    let once = FetchConfig { attempts: 1, ..FetchConfig::default() };
    let answer = fetch(&w_client, &[scheduler.peer], missing, &once).await;
    assert!(
        matches!(&answer, Err(Error::ContentUnavailable { reason, .. }) if reason.contains("does not hold")),
        "{answer:?}"
    );
    // Data requests do not travel as wire requests.
    let request = Message::DataRequest(DataRequest { hash, offset: 0, len: 1, direct: false });
    assert!(matches!(
        w_client.request(scheduler.peer, request).await,
        Err(Error::ProtocolViolation { .. })
    ));

    // Role checks: a worker may not assign tasks, a request kind may not be an answer.
    let forged = Message::RevealRequest(RevealRequest { task });
    assert!(matches!(
        w_client.request(scheduler.peer, forged).await,
        Err(quorate_p2p::Error::Refused { .. })
    ));
    assert!(w_client.request(scheduler.peer, Message::Ack).await.is_err());

    // Gossip: the announcement (with the scheduler's proof) and a signed order reach the worker.
    let announcement = PoolAnnouncement {
        pool: POOL,
        scheduler: proof(&owner, &keypair(2), Purpose::Scheduler { pool: POOL }, 3600),
        public: true,
        wanted_workers: 10,
        sequence: 0,
        addrs: vec![scheduler.addr.iter().take(2).collect::<Multiaddr>()],
        metadata: "ipfs://pool".into(),
    };
    let order = SignedOrder { pool: POOL, order: vec![5; 320], signature: [3; 65] };
    let mut got = (false, false);
    for sequence in 0..40u64 {
        let announcement =
            Message::PoolAnnouncement(PoolAnnouncement { sequence, ..announcement.clone() });
        let _ = s_client.publish(announcement).await;
        let _ = s_client
            .publish(Message::SignedOrder(SignedOrder {
                order: sequence.to_be_bytes().repeat(40),
                ..order.clone()
            }))
            .await;
        while let Ok((from, message)) = w_seen.try_recv() {
            assert_eq!(from, scheduler.peer);
            match message {
                Message::PoolAnnouncement(a) => {
                    assert_eq!(
                        (a.pool, a.scheduler.address, &a.metadata[..]),
                        (POOL, owner.address(), "ipfs://pool")
                    );
                    got.0 = true;
                }
                Message::SignedOrder(o) => {
                    assert_eq!((o.pool, o.signature), (POOL, [3; 65]));
                    got.1 = true;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        if got == (true, true) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(got, (true, true), "announcement and order must arrive by gossip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_cross_quic_too() {
    let quic = |seed: u8| Config {
        listen: vec![quorate_p2p::config::loopback_quic()],
        ..Config::test(keypair(seed), CHAIN)
    };
    let server = start(quic(20), proof(&signer(20), &keypair(20), Purpose::Client, 3600)).await;
    let client = start(quic(21), proof(&signer(21), &keypair(21), Purpose::Worker, 3600)).await;
    assert!(server.addr.iter().any(|p| matches!(p, libp2p::multiaddr::Protocol::QuicV1)));
    let blob: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let hash = server.client.put_content(blob.clone()).await.unwrap();
    client.client.dial(server.addr.clone()).await.unwrap();
    let fetched =
        within(10, fetch(&client.client, &[server.peer], hash, &FetchConfig::default())).await;
    assert!(fetched.unwrap() == blob, "fetched bytes differ");
}

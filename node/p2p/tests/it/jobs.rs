//! The client and its pool's scheduler over real sockets: a job offer, the scheduler fetching
//! the client's manifest restricted to it, job and deal status; a worker can neither offer a job
//! nor fetch the manifest until it is granted, on the data stream and the direct path alike.

use std::{net::IpAddr, time::Duration};

use alloy_primitives::{Address, B256};
use libp2p::{PeerId, identity::Keypair};
use quorate_p2p::{
    Config, Error, Event, Message, Responder,
    data::Access,
    direct::{self, DirectTls},
    fetch::{FetchConfig, fetch},
    identity::{Purpose, VerifiedPeer},
    wire::{
        ConsoleEntry, ConsoleLevel, ConsoleLine, DataRequest, DealStatus, DealStatusRequest,
        JobOffer, JobState, JobStatus, JobStatusRequest, TaskEntry, TaskPhase,
    },
};
use quorate_primitives::{ContentHash, DealId, EvaluatorKind, GpuNeeds, JobLimits, JobManifest};
use tokio::sync::mpsc;

use crate::common::{CHAIN, Node, POOL, keypair, node, proof, signer, start, within};

const LOOPBACK: [u8; 4] = [127, 0, 0, 1];

/// Waits for the next request the application gets; panics on one from another kind than
/// `kind` (a request the admission should have refused must never get here).
async fn next_request(
    events: &mut mpsc::Receiver<Event>,
    kind: &str,
) -> (PeerId, VerifiedPeer, Message, Responder) {
    crate::common::wait_for(events, 10, |event| match event {
        Event::Request { peer, identity, message, responder, .. } => {
            assert_eq!(message.kind().name(), kind, "unexpected request {message:?}");
            Some((peer, identity, message, responder))
        }
        _ => None,
    })
    .await
}

/// `from` asks `to` with `request`; `to`'s application (this test) answers `answer`. Returns
/// what `to` received and what `from` got back.
async fn ask(
    from: &Node,
    to: &mut Node,
    request: Message,
    answer: Message,
) -> ((PeerId, VerifiedPeer, Message), Message) {
    let (client, peer) = (from.client.clone(), to.peer);
    let kind = request.kind().name();
    let asking = tokio::spawn(async move { client.request(peer, request).await });
    let (sender, identity, received, responder) = next_request(&mut to.events, kind).await;
    to.client.respond(responder, answer).await.unwrap();
    let answered = within(10, asking).await.unwrap().unwrap();
    ((sender, identity, received), answered)
}

/// Asks `provider`'s direct port for `hash` straight, as the peer of `key` (which must be
/// proven to `provider` over libp2p), and returns the provider's first answer.
async fn ask_direct(key: Keypair, provider: PeerId, port: u16, hash: ContentHash) -> Message {
    tokio::task::spawn_blocking(move || {
        let tls = DirectTls::new(&key)?;
        let timeout = Duration::from_secs(5);
        let mut session = direct::connect(&tls, provider, IpAddr::from(LOOPBACK), port, timeout)?;
        let request = DataRequest { hash, offset: 0, len: u64::MAX, direct: false };
        direct::write_frame(&mut session, &Message::DataRequest(request))?;
        direct::read_frame(&mut session)
    })
    .await
    .unwrap()
    .unwrap()
}

fn unavailable(result: &Result<Vec<u8>, Error>) -> bool {
    reason(result).contains("does not hold")
}

/// Why a fetch found the content unavailable.
fn reason(result: &Result<Vec<u8>, Error>) -> String {
    match result {
        Err(Error::ContentUnavailable { reason, .. }) => reason.clone(),
        other => panic!("expected unavailable content, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_offers_a_job_and_only_the_scheduler_may_fetch_its_manifest() {
    let (client_key, owner, worker_key) = (signer(30), signer(31), signer(32));
    // The client serves on a direct port too, so the access rule is checked on both paths.
    let config = Config {
        direct_listen: Some(std::net::SocketAddr::from((LOOPBACK, 0))),
        ..Config::test(keypair(30), CHAIN)
    };
    let client =
        start(config.clone(), proof(&client_key, &config.keypair, Purpose::Client, 3600)).await;
    let port = client.client.direct_port().unwrap();
    let mut scheduler = node(31, &owner, Purpose::Scheduler { pool: POOL }).await;
    let worker = node(32, &worker_key, Purpose::Worker).await;

    // The client's job: its manifest, served to the pool's scheduler alone.
    let manifest = JobManifest {
        evaluator: EvaluatorKind::JavaScript,
        limits: JobLimits::default(),
        gpu: GpuNeeds::NONE,
        code: ContentHash::of(b"(x) => x * 2"),
        args: "[]".into(),
        modules: Vec::new(),
        inputs: (0..3u8).map(|i| ContentHash::of(&[i])).collect(),
        salt: Default::default(),
    };
    let bytes = manifest.encode().unwrap();
    let restricted = Access::only([owner.address()]);
    let job = client.client.put_content_for(bytes.clone(), restricted.clone()).await.unwrap();
    assert_eq!(job, manifest.hash().unwrap());
    assert_eq!(client.client.access(job).await.unwrap(), Some(restricted));

    // The offer reaches the scheduler's application from a proven client, and is acked.
    client.client.dial(scheduler.addr.clone()).await.unwrap();
    let offer = JobOffer {
        pool: POOL,
        job,
        order: B256::repeat_byte(0x0d),
        task_count: manifest.task_count(),
        trust: 1,
    };
    let ((from, identity, received), answer) =
        ask(&client, &mut scheduler, Message::JobOffer(offer.clone()), Message::Ack).await;
    assert_eq!(
        (from, identity.purpose, identity.address),
        (client.peer, Purpose::Client, client_key.address())
    );
    assert_eq!((received, answer), (Message::JobOffer(offer.clone()), Message::Ack));

    // The scheduler fetches the manifest from the client: on the direct path, then the stream.
    let fetched =
        within(30, fetch(&scheduler.client, &[client.peer], job, &FetchConfig::default())).await;
    assert!(fetched.as_ref().is_ok_and(|b| *b == bytes), "{fetched:?}");
    assert_eq!(JobManifest::decode(&fetched.unwrap()).unwrap(), manifest);
    let stream_only = FetchConfig { direct: false, ..FetchConfig::default() };
    let fetched = within(30, fetch(&scheduler.client, &[client.peer], job, &stream_only)).await;
    assert!(fetched.is_ok_and(|b| b == bytes));

    // A worker may not: answered exactly as for a blob the client does not hold.
    worker.client.dial(client.addr.clone()).await.unwrap();
    within(10, worker.client.ready(client.peer)).await.unwrap();
    let once = FetchConfig { attempts: 1, ..FetchConfig::default() };
    let denied = within(30, fetch(&worker.client, &[client.peer], job, &once)).await;
    assert!(unavailable(&denied), "{denied:?}");
    let missing = ContentHash::of(b"held by nobody");
    let not_held = within(30, fetch(&worker.client, &[client.peer], missing, &once)).await;
    assert_eq!(reason(&denied), reason(&not_held));
    // The same on the client's direct port, asked straight with the worker's own certificate.
    let answer = ask_direct(keypair(32), client.peer, port, job).await;
    assert_eq!(answer, Message::DataUnavailable { hash: job });
    let answer = ask_direct(keypair(31), client.peer, port, job).await;
    assert!(
        matches!(&answer, Message::DataHeader(h) if h.hash == job && h.total == bytes.len() as u64),
        "{answer:?}"
    );

    // The client asks how its job stands: consented, with the scheduler's signature.
    let consent = JobState::Consented {
        order: offer.order,
        task_count: offer.task_count,
        signature: [0x5c; 65],
    };
    let status = JobStatus { job, state: consent };
    let ((from, _, received), answer) = ask(
        &client,
        &mut scheduler,
        Message::JobStatusRequest(JobStatusRequest { job }),
        Message::JobStatus(status.clone()),
    )
    .await;
    assert_eq!(
        (from, received),
        (client.peer, Message::JobStatusRequest(JobStatusRequest { job }))
    );
    assert_eq!(answer, Message::JobStatus(status));

    // And how its deal's tasks stand.
    let deal = DealId(B256::repeat_byte(0xde));
    let tasks = vec![
        TaskEntry {
            index: 0,
            phase: TaskPhase::Completed,
            progress: 1000,
            result: Some(ContentHash::of(b"0")),
            platform: 1,
        },
        TaskEntry { index: 1, phase: TaskPhase::Running, progress: 420, result: None, platform: 1 },
        TaskEntry { index: 2, phase: TaskPhase::Waiting, progress: 0, result: None, platform: 0 },
    ];
    let request = Message::DealStatusRequest(DealStatusRequest {
        deal,
        from: 0,
        count: 3,
        console_from: Some(0),
    });
    let console = vec![ConsoleEntry {
        seq: 0,
        index: 1,
        line: ConsoleLine { level: ConsoleLevel::Log, text: "tile 1 of 4".into() },
    }];
    let platforms = vec!["float probe 0x8f96".into()];
    let reply = Message::DealStatus(DealStatus { deal, tasks, platforms, console, console_end: 1 });
    let (_, answer) = ask(&client, &mut scheduler, request, reply.clone()).await;
    assert_eq!(answer, reply);

    // A worker offering a job is refused with the rule; the scheduler's application never sees
    // the offer (the next request it gets is the client's), and one mistake bans nobody.
    worker.client.dial(scheduler.addr.clone()).await.unwrap();
    let refused = within(10, worker.client.request(scheduler.peer, Message::JobOffer(offer))).await;
    assert!(
        matches!(&refused, Err(Error::Refused { reason })
            if reason.contains("job offer is accepted only from peers proven as clients")),
        "{refused:?}"
    );
    let status = JobStatus { job, state: JobState::Unknown };
    let ((from, ..), _) = ask(
        &client,
        &mut scheduler,
        Message::JobStatusRequest(JobStatusRequest { job }),
        Message::JobStatus(status),
    )
    .await;
    assert_eq!(from, client.peer);
    let stats = scheduler.client.stats().await.unwrap();
    assert!(stats.offences >= 1 && stats.banned == 0, "{stats:?}");
    within(10, worker.client.ready(scheduler.peer)).await.unwrap();

    // Granted, the worker fetches the manifest, on both paths; revoked, it cannot any more.
    client.client.grant(job, worker_key.address()).await.unwrap();
    let fetched = within(30, fetch(&worker.client, &[client.peer], job, &once)).await;
    assert!(fetched.is_ok_and(|b| b == bytes));
    let answer = ask_direct(keypair(32), client.peer, port, job).await;
    assert!(matches!(&answer, Message::DataHeader(h) if h.hash == job), "{answer:?}");
    client.client.revoke(job, worker_key.address()).await.unwrap();
    let denied = within(30, fetch(&worker.client, &[client.peer], job, &once)).await;
    assert!(unavailable(&denied), "{denied:?}");
    let answer = ask_direct(keypair(32), client.peer, port, job).await;
    assert_eq!(answer, Message::DataUnavailable { hash: job });
    // Revoking from a public blob is refused, not silently ignored.
    let public = client.client.put_content(b"public".to_vec()).await.unwrap();
    assert_eq!(
        client.client.revoke(public, Address::ZERO).await,
        Err(Error::PublicContent { hash: public })
    );
}

//! Byte snapshots, round-trip properties and the stable-toolchain fuzz of every decoder.

use alloy_primitives::{Address, B256};
use libp2p::{Multiaddr, multiaddr::Protocol};
use proptest::{collection::vec, option, prelude::*};
use quorate_primitives::{ContentHash, DealId, ResultHash, TaskId};

use super::*;
use crate::identity::{IdentityProof, JoinCredential, PoolId, Purpose};

fn b(byte: u8) -> B256 {
    B256::repeat_byte(byte)
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = vec![1];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn proof() -> IdentityProof {
    IdentityProof {
        peer: vec![0xaa, 0xbb],
        address: Address::repeat_byte(0x22),
        purpose: Purpose::Scheduler { pool: PoolId(0x33) },
        chain_id: 31337,
        expires_at: 1_700_000_000,
        signature: [0x44; 65],
    }
}

fn proof_bytes() -> Vec<u8> {
    let mut out = vec![0, 0, 0, 2, 0xaa, 0xbb];
    out.extend_from_slice(&[0x22; 20]);
    out.push(2);
    out.extend_from_slice(&0x33u64.to_be_bytes());
    out.extend_from_slice(&31337u64.to_be_bytes());
    out.extend_from_slice(&1_700_000_000u64.to_be_bytes());
    out.extend_from_slice(&[0x44; 65]);
    out
}

/// Each snapshot spells out the layout field by field: a change to the wire format must change
/// this test, on purpose.
#[test]
fn byte_snapshots() {
    let heartbeat = Message::Heartbeat(Heartbeat { pool: PoolId(0x11), free_slots: 3, running: 1 });
    let mut payload = vec![8];
    payload.extend_from_slice(&0x11u64.to_be_bytes());
    payload.extend_from_slice(&[0, 3, 0, 1]);
    assert_eq!(heartbeat.encode_frame().unwrap(), frame(&payload));

    let request = Message::DataRequest(DataRequest {
        hash: ContentHash(b(0x55)),
        offset: 1 << 20,
        len: u64::MAX,
        direct: true,
    });
    let mut payload = vec![16];
    payload.extend_from_slice(&[0x55; 32]);
    payload.extend_from_slice(&[0, 0, 0, 0, 0, 0x10, 0, 0]);
    payload.extend_from_slice(&[0xff; 8]);
    payload.push(1);
    assert_eq!(request.encode_frame().unwrap(), frame(&payload));

    let header = Message::DataHeader(DataHeader {
        hash: ContentHash(b(0x55)),
        total: 3,
        pieces: vec![b(0x66)],
        direct_port: 0x1234,
    });
    let mut payload = vec![17];
    payload.extend_from_slice(&[0x55; 32]);
    payload.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 3, 0, 1]);
    payload.extend_from_slice(&[0x66; 32]);
    payload.extend_from_slice(&[0x12, 0x34]);
    assert_eq!(header.encode_frame().unwrap(), frame(&payload));

    let hello = Message::Hello(proof());
    let mut payload = vec![3];
    payload.extend_from_slice(&proof_bytes());
    assert_eq!(hello.encode_frame().unwrap(), frame(&payload));

    let refused = Message::JoinRefused(JoinRefused {
        pool: PoolId(0x01),
        reason: RefusalReason::CredentialExpired,
        detail: "late".into(),
    });
    let mut payload = vec![7];
    payload.extend_from_slice(&1u64.to_be_bytes());
    payload.extend_from_slice(&[3, 0, 0, 0, 4, b'l', b'a', b't', b'e']);
    assert_eq!(refused.encode_frame().unwrap(), frame(&payload));

    let assignment = Message::TaskAssignment(TaskAssignment {
        pool: PoolId(0x01),
        task: TaskId(b(0x02)),
        job: ContentHash(b(0x03)),
        input: TaskInput::ByHash { hash: ContentHash(b(0x04)), size: 9 },
        round: 7,
        authorization: [0x05; 65],
        deadline: 10,
    });
    let mut payload = vec![9];
    payload.extend_from_slice(&1u64.to_be_bytes());
    for byte in 2..=3 {
        payload.extend_from_slice(&[byte; 32]);
    }
    payload.push(1);
    payload.extend_from_slice(&[0x04; 32]);
    payload.extend_from_slice(&9u64.to_be_bytes());
    payload.extend_from_slice(&7u64.to_be_bytes());
    payload.extend_from_slice(&[0x05; 65]);
    payload.extend_from_slice(&10u64.to_be_bytes());
    assert_eq!(assignment.encode_frame().unwrap(), frame(&payload));

    let join = Message::JoinRequest(JoinRequest {
        pool: PoolId(0x01),
        capabilities: WorkerCapabilities {
            slots: 2,
            memory_mib: 256,
            evaluators: evaluators::JS | evaluators::WASM,
            gpu_class: Some("v".into()),
            gpu_memory_mib: 2,
            float_probe: Some("p".into()),
        },
        credential: Some(JoinCredential {
            pool: PoolId(0x01),
            worker: Address::repeat_byte(0x09),
            chain_id: 1,
            expires_at: 2,
            signature: [0x07; 65],
        }),
    });
    let mut payload = vec![5];
    payload.extend_from_slice(&1u64.to_be_bytes());
    payload.extend_from_slice(&[0, 2, 0, 0, 1, 0, 3, 1, 0, 0, 0, 1, b'v', 0, 0, 0, 2]);
    payload.extend_from_slice(&[1, 0, 0, 0, 1, b'p', 1]);
    payload.extend_from_slice(&1u64.to_be_bytes());
    payload.extend_from_slice(&[0x09; 20]);
    payload.extend_from_slice(&1u64.to_be_bytes());
    payload.extend_from_slice(&2u64.to_be_bytes());
    payload.extend_from_slice(&[0x07; 65]);
    assert_eq!(join.encode_frame().unwrap(), frame(&payload));

    let offer = Message::JobOffer(JobOffer {
        pool: PoolId(0x01),
        job: ContentHash(b(0x02)),
        order: b(0x03),
        task_count: 4,
        trust: 5,
    });
    let mut payload = vec![21];
    payload.extend_from_slice(&1u64.to_be_bytes());
    payload.extend_from_slice(&[0x02; 32]);
    payload.extend_from_slice(&[0x03; 32]);
    payload.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 5]);
    assert_eq!(offer.encode_frame().unwrap(), frame(&payload));

    let status_request = Message::JobStatusRequest(JobStatusRequest { job: ContentHash(b(0x02)) });
    let mut payload = vec![22];
    payload.extend_from_slice(&[0x02; 32]);
    assert_eq!(status_request.encode_frame().unwrap(), frame(&payload));

    let consented = Message::JobStatus(JobStatus {
        job: ContentHash(b(0x02)),
        state: JobState::Consented { order: b(0x03), task_count: 4, signature: [0x06; 65] },
    });
    let mut payload = vec![23];
    payload.extend_from_slice(&[0x02; 32]);
    payload.push(2);
    payload.extend_from_slice(&[0x03; 32]);
    payload.extend_from_slice(&[0, 0, 0, 4]);
    payload.extend_from_slice(&[0x06; 65]);
    assert_eq!(consented.encode_frame().unwrap(), frame(&payload));
    let fetching = Message::JobStatus(JobStatus {
        job: ContentHash(b(0x02)),
        state: JobState::Fetching { fetched: 1, total: 2 },
    });
    let mut payload = vec![23];
    payload.extend_from_slice(&[0x02; 32]);
    payload.extend_from_slice(&[1, 0, 0, 0, 1, 0, 0, 0, 2]);
    assert_eq!(fetching.encode_frame().unwrap(), frame(&payload));
    let refused_job = Message::JobStatus(JobStatus {
        job: ContentHash(b(0x02)),
        state: JobState::Refused { reason: "no".into() },
    });
    let mut payload = vec![23];
    payload.extend_from_slice(&[0x02; 32]);
    payload.extend_from_slice(&[3, 0, 0, 0, 2, b'n', b'o']);
    assert_eq!(refused_job.encode_frame().unwrap(), frame(&payload));
    let unknown =
        Message::JobStatus(JobStatus { job: ContentHash(b(0x02)), state: JobState::Unknown });
    let mut payload = vec![23];
    payload.extend_from_slice(&[0x02; 32]);
    payload.push(0);
    assert_eq!(unknown.encode_frame().unwrap(), frame(&payload));

    let deal_request = Message::DealStatusRequest(DealStatusRequest {
        deal: DealId(b(0x07)),
        from: 8,
        count: 9,
        console_from: Some(3),
    });
    let mut payload = vec![24];
    payload.extend_from_slice(&[0x07; 32]);
    payload.extend_from_slice(&[0, 0, 0, 8, 0, 0, 0, 9, 1, 0, 0, 0, 0, 0, 0, 0, 3]);
    assert_eq!(deal_request.encode_frame().unwrap(), frame(&payload));

    let deal = Message::DealStatus(DealStatus {
        deal: DealId(b(0x07)),
        tasks: vec![
            TaskEntry {
                index: 1,
                phase: TaskPhase::Running,
                progress: 500,
                result: None,
                platform: 1,
            },
            TaskEntry {
                index: 2,
                phase: TaskPhase::Completed,
                progress: 1000,
                result: Some(ContentHash(b(0x08))),
                platform: 0,
            },
        ],
        platforms: vec!["c".into()],
        console: vec![ConsoleEntry {
            seq: 5,
            index: 2,
            line: ConsoleLine { level: ConsoleLevel::Warn, text: "hi".into() },
        }],
        console_end: 9,
    });
    let mut payload = vec![25];
    payload.extend_from_slice(&[0x07; 32]);
    payload.extend_from_slice(&[0, 2]);
    payload.extend_from_slice(&[0, 0, 0, 1, 1, 0x01, 0xf4, 0, 1]);
    payload.extend_from_slice(&[0, 0, 0, 2, 3, 0x03, 0xe8, 1]);
    payload.extend_from_slice(&[0x08; 32]);
    payload.extend_from_slice(&[0, 0, 1, 0, 0, 0, 1, b'c']);
    payload.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 2, 1, 0, 0, 0, 2]);
    payload.extend_from_slice(b"hi");
    payload.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 9]);
    assert_eq!(deal.encode_frame().unwrap(), frame(&payload));

    let progress =
        Message::TaskReport(TaskReport { task: TaskId(b(0x02)), report: Report::Progress(1000) });
    let mut payload = vec![26];
    payload.extend_from_slice(&[0x02; 32]);
    payload.extend_from_slice(&[0, 0x03, 0xe8]);
    assert_eq!(progress.encode_frame().unwrap(), frame(&payload));
    let failed = Message::TaskReport(TaskReport {
        task: TaskId(b(0x02)),
        report: Report::Failed { kind: "timeout".into(), message: "60 s".into() },
    });
    let mut payload = vec![26];
    payload.extend_from_slice(&[0x02; 32]);
    payload.extend_from_slice(&[1, 0, 0, 0, 7]);
    payload.extend_from_slice(b"timeout");
    payload.extend_from_slice(&[0, 0, 0, 4]);
    payload.extend_from_slice(b"60 s");
    assert_eq!(failed.encode_frame().unwrap(), frame(&payload));
    let console = Message::TaskReport(TaskReport {
        task: TaskId(b(0x02)),
        report: Report::Console {
            lines: vec![ConsoleLine { level: ConsoleLevel::Error, text: "x".into() }],
            dropped: 7,
        },
    });
    let mut payload = vec![26];
    payload.extend_from_slice(&[0x02; 32]);
    payload.extend_from_slice(&[2, 0, 0, 0, 7, 0, 1, 2, 0, 0, 0, 1, b'x']);
    assert_eq!(console.encode_frame().unwrap(), frame(&payload));

    assert_eq!(Message::Ack.encode_frame().unwrap(), frame(&[19]));
    assert_eq!(
        Message::Refused { reason: "no".into() }.encode_frame().unwrap(),
        frame(&[20, 0, 0, 0, 2, b'n', b'o'])
    );
}

#[test]
fn strict_decoding_refuses_with_reasons() {
    let ack = Message::Ack.encode().unwrap();
    assert_eq!(Message::decode(&[]), Err(Error::Truncated { field: "kind" }));
    assert_eq!(Message::decode(&[0]), Err(Error::UnknownKind { tag: 0 }));
    assert_eq!(Message::decode(&[27]), Err(Error::UnknownKind { tag: 27 }));
    // A field this version does not know.
    assert_eq!(Message::decode(&[ack[0], 0]), Err(Error::TrailingBytes { count: 1 }));
    // Another wire version.
    let mut v2 = Message::Ack.encode_frame().unwrap();
    v2[0] = 2;
    assert_eq!(Message::decode_frame(&v2), Err(Error::UnsupportedVersion { found: 2 }));
    // Bad tags and text.
    let mut refused = vec![7];
    refused.extend_from_slice(&[0; 8]);
    refused.extend_from_slice(&[9, 0, 0, 0, 0]);
    assert_eq!(
        Message::decode(&refused),
        Err(Error::InvalidTag { field: "refusal.reason", tag: 9 })
    );
    let bad_utf8 = [20, 0, 0, 0, 1, 0xff];
    assert_eq!(Message::decode(&bad_utf8), Err(Error::InvalidUtf8 { field: "refused.reason" }));
    // A field that declares more than its cap is refused before anything is read.
    let long_reason = [20, 0, 0, 1, 1];
    assert_eq!(
        Message::decode(&long_reason),
        Err(Error::FieldTooLarge { field: "refused.reason", len: 257, max: MAX_TEXT })
    );
    // A small kind padded past its cap.
    let mut padded = vec![19];
    padded.resize(Kind::Ack.max_len() + 1, 0);
    assert!(matches!(Message::decode(&padded), Err(Error::MessageTooLarge { kind: "ack", .. })));
    // A frame header declaring 4 GiB.
    assert!(matches!(
        Message::decode_frame(&[1, 0xff, 0xff, 0xff, 0xff]),
        Err(Error::FrameTooLarge { .. })
    ));
    // Data headers with more piece hashes than the cap: refused both ways.
    let big = Message::DataHeader(DataHeader {
        hash: ContentHash::default(),
        total: 0,
        pieces: vec![B256::ZERO; MAX_PIECES + 1],
        direct_port: 0,
    });
    assert!(matches!(big.encode(), Err(Error::FieldTooLarge { field: "header.pieces", .. })));
    let mut raw = vec![17];
    raw.extend_from_slice(&[0; 40]);
    raw.extend_from_slice(&(MAX_PIECES as u16 + 1).to_be_bytes());
    assert!(matches!(
        Message::decode(&raw),
        Err(Error::FieldTooLarge { field: "header.pieces", .. })
    ));
    // Encoding refuses over-cap values.
    let long = Message::Abort(Abort { task: TaskId::default(), reason: "x".repeat(MAX_TEXT + 1) });
    assert!(matches!(long.encode(), Err(Error::FieldTooLarge { field: "abort.reason", .. })));
    let upload = Message::ResultUpload(ResultUpload {
        task: TaskId::default(),
        result: vec![0; MAX_CHUNK + 1],
    });
    assert!(upload.encode().is_err());
    // Job states and task phases with no meaning; progress over 1000 per mille.
    let mut status = vec![23];
    status.extend_from_slice(&[0; 32]);
    status.push(4);
    assert_eq!(Message::decode(&status), Err(Error::InvalidTag { field: "job.state", tag: 4 }));
    let entry = |phase: u8, progress: u16| {
        let mut raw = vec![25];
        raw.extend_from_slice(&[0; 32]);
        raw.extend_from_slice(&[0, 1, 0, 0, 0, 0, phase]);
        raw.extend_from_slice(&progress.to_be_bytes());
        raw.extend_from_slice(&[0; 14]);
        raw
    };
    assert!(Message::decode(&entry(4, 1000)).is_ok());
    // A task naming a platform the answer does not list.
    let mut unnamed = entry(1, 0);
    let at = 1 + 32 + 2 + 4 + 1 + 2 + 1;
    unnamed[at] = 1;
    assert_eq!(
        Message::decode(&unnamed),
        Err(Error::InvalidTag { field: "deal.task.platform", tag: 1 })
    );
    assert_eq!(
        Message::decode(&entry(5, 0)),
        Err(Error::InvalidTag { field: "deal.task.phase", tag: 5 })
    );
    assert!(matches!(
        Message::decode(&entry(0, 1001)),
        Err(Error::FieldTooLarge { field: "deal.task.progress", len: 1001, max: 1000 })
    ));
    let task = TaskEntry {
        index: 0,
        phase: TaskPhase::Waiting,
        progress: 1001,
        result: None,
        platform: 0,
    };
    let over = Message::DealStatus(DealStatus {
        deal: DealId::default(),
        tasks: vec![task],
        platforms: vec![],
        console: vec![],
        console_end: 0,
    });
    assert!(matches!(over.encode(), Err(Error::FieldTooLarge { field: "deal.task.progress", .. })));
    // More task entries than the cap: refused both ways, before anything is allocated.
    let task = TaskEntry { progress: 0, ..task };
    let big = Message::DealStatus(DealStatus {
        deal: DealId::default(),
        tasks: vec![task; MAX_DEAL_TASKS + 1],
        platforms: vec![],
        console: vec![],
        console_end: 0,
    });
    assert!(matches!(big.encode(), Err(Error::FieldTooLarge { field: "deal.tasks", .. })));
    let mut raw = vec![25];
    raw.extend_from_slice(&[0; 32]);
    raw.extend_from_slice(&(MAX_DEAL_TASKS as u16 + 1).to_be_bytes());
    assert!(matches!(Message::decode(&raw), Err(Error::FieldTooLarge { field: "deal.tasks", .. })));
    // Task reports: progress over 1000 per mille, an unknown report, over-long kinds, refused
    // both ways.
    let report = |tail: &[u8]| {
        let mut raw = vec![26];
        raw.extend_from_slice(&[0; 32]);
        raw.extend_from_slice(tail);
        raw
    };
    assert!(Message::decode(&report(&[0, 0x03, 0xe8])).is_ok());
    assert!(matches!(
        Message::decode(&report(&[0, 0x03, 0xe9])),
        Err(Error::FieldTooLarge { field: "report.progress", len: 1001, max: 1000 })
    ));
    assert_eq!(Message::decode(&report(&[3])), Err(Error::InvalidTag { field: "report", tag: 3 }));
    // Console reports: more lines than a batch, longer lines than the cap, an unknown level.
    assert!(Message::decode(&report(&[2, 0, 0, 0, 0, 0, 0])).is_ok());
    assert!(matches!(
        Message::decode(&report(&[2, 0, 0, 0, 0, 0, 33])),
        Err(Error::FieldTooLarge { field: "report.console", len: 33, max: MAX_CONSOLE_BATCH })
    ));
    assert!(matches!(
        Message::decode(&report(&[2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 1])),
        Err(Error::FieldTooLarge { field: "console.text", len: 513, max: MAX_CONSOLE_LINE })
    ));
    assert_eq!(
        Message::decode(&report(&[2, 0, 0, 0, 0, 0, 1, 3, 0, 0, 0, 0])),
        Err(Error::InvalidTag { field: "console.level", tag: 3 })
    );
    let line = ConsoleLine { level: ConsoleLevel::Log, text: "l".repeat(MAX_CONSOLE_LINE + 1) };
    let long_line = Report::Console { lines: vec![line], dropped: 0 };
    assert!(matches!(
        Message::TaskReport(TaskReport { task: TaskId::default(), report: long_line }).encode(),
        Err(Error::FieldTooLarge { field: "console.text", .. })
    ));
    assert!(matches!(
        Message::decode(&report(&[1, 0, 0, 0, 65])),
        Err(Error::FieldTooLarge { field: "report.kind", len: 65, max: MAX_FAILURE_KIND })
    ));
    let over = |report| Message::TaskReport(TaskReport { task: TaskId::default(), report });
    assert!(matches!(
        over(Report::Progress(1001)).encode(),
        Err(Error::FieldTooLarge { field: "report.progress", .. })
    ));
    let long_kind =
        Report::Failed { kind: "k".repeat(MAX_FAILURE_KIND + 1), message: String::new() };
    assert!(matches!(
        over(long_kind).encode(),
        Err(Error::FieldTooLarge { field: "report.kind", .. })
    ));
    let long_message = Report::Failed { kind: "timeout".into(), message: "m".repeat(MAX_TEXT + 1) };
    assert!(matches!(
        over(long_message).encode(),
        Err(Error::FieldTooLarge { field: "report.message", .. })
    ));
}

#[test]
fn fit_text_cuts_on_a_character_boundary_within_the_cap() {
    assert_eq!(fit_text("short", MAX_TEXT), "short");
    let long = "é".repeat(MAX_TEXT);
    let cut = fit_text(&long, MAX_TEXT);
    assert!(cut.len() <= MAX_TEXT && cut.ends_with('…'), "{} bytes", cut.len());
    let report = TaskReport {
        task: TaskId::default(),
        report: Report::Failed { kind: "internal".into(), message: cut },
    };
    assert!(Message::TaskReport(report).encode().is_ok());
    assert_eq!(fit_text("abcdef", 2), "ab");
    assert_eq!(fit_text("abcdef", 0), "");
}

#[test]
fn requests_name_who_may_send_them_and_answers_are_never_requests() {
    let (worker, client) = (Purpose::Worker, Purpose::Client);
    let scheduler = Purpose::Scheduler { pool: PoolId(1) };
    let offer = Message::JobOffer(JobOffer {
        pool: PoolId(1),
        job: ContentHash::default(),
        order: B256::ZERO,
        task_count: 1,
        trust: 1,
    });
    assert_eq!(offer.senders(), Some(Senders::Clients));
    assert!(offer.allowed_from(&client));
    assert!(!offer.allowed_from(&worker) && !offer.allowed_from(&scheduler));
    let heartbeat = Message::Heartbeat(Heartbeat { pool: PoolId(1), free_slots: 0, running: 0 });
    assert!(heartbeat.allowed_from(&worker) && !heartbeat.allowed_from(&client));
    let report =
        Message::TaskReport(TaskReport { task: TaskId::default(), report: Report::Progress(10) });
    assert_eq!(report.senders(), Some(Senders::Workers));
    assert!(report.allowed_from(&worker));
    assert!(!report.allowed_from(&client) && !report.allowed_from(&scheduler));
    assert!(!report.kind().is_response() && !report.kind().is_gossip());
    assert_eq!(
        Senders::SchedulerOf(PoolId(1)).to_string(),
        "the peer proven as the scheduler of pool 1"
    );
    assert!(Senders::SchedulerOf(PoolId(1)).admit(&scheduler));
    assert!(!Senders::SchedulerOf(PoolId(2)).admit(&scheduler));
    for answer in [
        Message::Ack,
        Message::JobStatus(JobStatus { job: ContentHash::default(), state: JobState::Unknown }),
        Message::DealStatus(DealStatus {
            deal: DealId::default(),
            tasks: vec![],
            platforms: vec![],
            console: vec![],
            console_end: 0,
        }),
    ] {
        assert!(answer.kind().is_response());
        assert_eq!(answer.senders(), None);
        assert!(!answer.allowed_from(&client));
    }
}

#[test]
fn every_kind_has_a_tag_that_round_trips() {
    for tag in 0..=u8::MAX {
        if let Ok(kind) = Kind::from_tag(tag) {
            assert_eq!(kind as u8, tag);
            assert!(kind.max_len() <= MAX_MESSAGE);
        }
    }
    assert_eq!(Kind::ALL.len(), 26);
}

// ---------------------------------------------------------------- strategies

fn b256() -> impl Strategy<Value = B256> {
    any::<[u8; 32]>().prop_map(B256::from)
}

fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 20]>().prop_map(Address::from)
}

fn sig() -> impl Strategy<Value = [u8; 65]> {
    vec(any::<u8>(), 65).prop_map(|v| {
        let mut out = [0u8; 65];
        out.copy_from_slice(&v);
        out
    })
}

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[a-zA-Z0-9 éλ✓]{{0,{}}}", max / 4)).unwrap()
}

fn purpose() -> impl Strategy<Value = Purpose> {
    prop_oneof![
        Just(Purpose::Worker),
        Just(Purpose::Client),
        any::<u64>().prop_map(|p| Purpose::Scheduler { pool: PoolId(p) }),
    ]
}

fn identity_proof() -> impl Strategy<Value = IdentityProof> {
    (vec(any::<u8>(), 0..=64), address(), purpose(), any::<u64>(), any::<u64>(), sig()).prop_map(
        |(peer, address, purpose, chain_id, expires_at, signature)| IdentityProof {
            peer,
            address,
            purpose,
            chain_id,
            expires_at,
            signature,
        },
    )
}

fn credential() -> impl Strategy<Value = JoinCredential> {
    (any::<u64>(), address(), any::<u64>(), any::<u64>(), sig()).prop_map(
        |(pool, worker, chain_id, expires_at, signature)| JoinCredential {
            pool: PoolId(pool),
            worker,
            chain_id,
            expires_at,
            signature,
        },
    )
}

fn multiaddr() -> impl Strategy<Value = Multiaddr> {
    (any::<[u8; 4]>(), any::<u16>(), any::<bool>()).prop_map(|(ip, port, quic)| {
        let base = Multiaddr::empty().with(Protocol::Ip4(ip.into()));
        if quic {
            base.with(Protocol::Udp(port)).with(Protocol::QuicV1)
        } else {
            base.with(Protocol::Tcp(port))
        }
    })
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..=max)
}

fn task() -> impl Strategy<Value = TaskId> {
    b256().prop_map(TaskId)
}

fn pool() -> impl Strategy<Value = PoolId> {
    any::<u64>().prop_map(PoolId)
}

fn job_state() -> impl Strategy<Value = JobState> {
    prop_oneof![
        Just(JobState::Unknown),
        (any::<u32>(), any::<u32>())
            .prop_map(|(fetched, total)| JobState::Fetching { fetched, total }),
        (b256(), any::<u32>(), sig()).prop_map(|(order, task_count, signature)| {
            JobState::Consented { order, task_count, signature }
        }),
        text(MAX_TEXT).prop_map(|reason| JobState::Refused { reason }),
    ]
}

fn task_entry() -> impl Strategy<Value = TaskEntry> {
    let phase = prop_oneof![
        Just(TaskPhase::Waiting),
        Just(TaskPhase::Running),
        Just(TaskPhase::Revealing),
        Just(TaskPhase::Completed),
        Just(TaskPhase::Failed),
    ];
    (any::<u32>(), phase, 0..=MAX_PROGRESS, option::of(b256()), any::<u8>()).prop_map(
        |(index, phase, progress, result, platform)| TaskEntry {
            index,
            phase,
            progress,
            platform,
            result: result.map(ContentHash),
        },
    )
}

fn console_line() -> impl Strategy<Value = ConsoleLine> {
    let level =
        prop_oneof![Just(ConsoleLevel::Log), Just(ConsoleLevel::Warn), Just(ConsoleLevel::Error)];
    (level, text(MAX_CONSOLE_LINE)).prop_map(|(level, text)| ConsoleLine { level, text })
}

fn console_entry() -> impl Strategy<Value = ConsoleEntry> {
    (any::<u64>(), any::<u32>(), console_line()).prop_map(|(seq, index, line)| ConsoleEntry {
        seq,
        index,
        line,
    })
}

/// The client ↔ scheduler messages.
fn job_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (pool(), b256(), b256(), any::<u32>(), any::<u32>()).prop_map(
            |(pool, job, order, task_count, trust)| Message::JobOffer(JobOffer {
                pool,
                job: ContentHash(job),
                order,
                task_count,
                trust,
            })
        ),
        b256()
            .prop_map(|job| Message::JobStatusRequest(JobStatusRequest { job: ContentHash(job) })),
        (b256(), job_state()).prop_map(|(job, state)| Message::JobStatus(JobStatus {
            job: ContentHash(job),
            state
        })),
        (b256(), any::<u32>(), any::<u32>(), option::of(any::<u64>())).prop_map(
            |(deal, from, count, console_from)| {
                Message::DealStatusRequest(DealStatusRequest {
                    deal: DealId(deal),
                    from,
                    count,
                    console_from,
                })
            }
        ),
        (
            b256(),
            vec(task_entry(), 0..64),
            vec(text(MAX_PLATFORM_NAME), 0..=MAX_STATUS_PLATFORMS),
            vec(console_entry(), 0..=MAX_CONSOLE_ENTRIES),
            any::<u64>()
        )
            .prop_map(|(deal, tasks, platforms, console, console_end)| {
                // Each task names one of the platforms, or none.
                let names = u8::try_from(platforms.len() + 1).unwrap_or(u8::MAX);
                let tasks = tasks
                    .into_iter()
                    .map(|t| TaskEntry { platform: t.platform % names, ..t })
                    .collect();
                Message::DealStatus(DealStatus {
                    deal: DealId(deal),
                    tasks,
                    platforms,
                    console,
                    console_end,
                })
            }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![4 => wire_message(), 1 => job_message()]
}

fn wire_message() -> impl Strategy<Value = Message> {
    let announcement = (
        pool(),
        identity_proof(),
        any::<bool>(),
        any::<u32>(),
        any::<u64>(),
        vec(multiaddr(), 0..=MAX_ADDRS),
        text(MAX_METADATA),
    )
        .prop_map(|(pool, scheduler, public, wanted_workers, sequence, addrs, metadata)| {
            Message::PoolAnnouncement(PoolAnnouncement {
                pool,
                scheduler,
                public,
                wanted_workers,
                sequence,
                addrs,
                metadata,
            })
        });
    let order = (pool(), bytes(MAX_ORDER), sig()).prop_map(|(pool, order, signature)| {
        Message::SignedOrder(SignedOrder { pool, order, signature })
    });
    let join = (
        pool(),
        any::<u16>(),
        any::<u32>(),
        0..=evaluators::ALL,
        option::of(text(MAX_GPU_CLASS)),
        option::of(text(MAX_FLOAT_PROBE)),
        option::of(credential()),
    )
        .prop_map(
            |(pool, slots, memory_mib, evaluators, gpu_class, float_probe, credential)| {
                Message::JoinRequest(JoinRequest {
                    pool,
                    capabilities: WorkerCapabilities {
                        slots,
                        memory_mib,
                        evaluators,
                        gpu_memory_mib: memory_mib / 2,
                        gpu_class,
                        float_probe,
                    },
                    credential,
                })
            },
        );
    let refusal = prop_oneof![
        Just(RefusalReason::Full),
        Just(RefusalReason::CredentialRequired),
        Just(RefusalReason::CredentialInvalid),
        Just(RefusalReason::CredentialExpired),
        Just(RefusalReason::NotAllowed),
        Just(RefusalReason::Incompatible),
        Just(RefusalReason::Other),
    ];
    let input = prop_oneof![
        bytes(4096).prop_map(TaskInput::Inline),
        (b256(), any::<u64>())
            .prop_map(|(h, size)| TaskInput::ByHash { hash: ContentHash(h), size }),
    ];
    let assignment = (pool(), task(), b256(), input, any::<u64>(), sig(), any::<u64>()).prop_map(
        |(pool, task, job, input, round, authorization, deadline)| {
            Message::TaskAssignment(TaskAssignment {
                pool,
                task,
                job: ContentHash(job),
                input,
                round,
                authorization,
                deadline,
            })
        },
    );
    let state = prop_oneof![
        Just(TaskState::Assigned),
        Just(TaskState::RevealRequested),
        Just(TaskState::Aborted),
        Just(TaskState::Done),
    ];
    prop_oneof![
        announcement,
        order,
        identity_proof().prop_map(Message::Hello),
        identity_proof().prop_map(Message::HelloAck),
        join,
        (pool(), any::<u32>()).prop_map(|(pool, heartbeat_interval_s)| Message::JoinAccepted(
            JoinAccepted { pool, heartbeat_interval_s }
        )),
        (pool(), refusal, text(MAX_TEXT)).prop_map(|(pool, reason, detail)| Message::JoinRefused(
            JoinRefused { pool, reason, detail }
        )),
        (pool(), any::<u16>(), any::<u16>()).prop_map(|(pool, free_slots, running)| {
            Message::Heartbeat(Heartbeat { pool, free_slots, running })
        }),
        assignment,
        (task(), b256(), b256()).prop_map(|(task, r, tx)| Message::ContributionNotice(
            ContributionNotice { task, result_hash: ResultHash(r), tx }
        )),
        task().prop_map(|task| Message::RevealRequest(RevealRequest { task })),
        (task(), bytes(4096))
            .prop_map(|(task, result)| Message::ResultUpload(ResultUpload { task, result })),
        (task(), text(MAX_TEXT)).prop_map(|(task, reason)| Message::Abort(Abort { task, reason })),
        (pool(), vec(task(), 0..32))
            .prop_map(|(pool, known)| Message::RecoveryRequest(RecoveryRequest { pool, known })),
        (pool(), vec((task(), state).prop_map(|(task, state)| HeldTask { task, state }), 0..32))
            .prop_map(|(pool, tasks)| Message::RecoveryReport(RecoveryReport { pool, tasks })),
        (b256(), any::<u64>(), any::<u64>(), any::<bool>()).prop_map(|(h, offset, len, direct)| {
            Message::DataRequest(DataRequest { hash: ContentHash(h), offset, len, direct })
        }),
        (b256(), any::<u64>(), vec(b256(), 0..64), any::<u16>()).prop_map(
            |(h, total, pieces, direct_port)| {
                Message::DataHeader(DataHeader { hash: ContentHash(h), total, pieces, direct_port })
            }
        ),
        b256().prop_map(|h| Message::DataUnavailable { hash: ContentHash(h) }),
        Just(Message::Ack),
        text(MAX_TEXT).prop_map(|reason| Message::Refused { reason }),
        task_report(),
    ]
}

/// The worker's task reports: progress within 1000 per mille, or a machine failure.
fn task_report() -> impl Strategy<Value = Message> {
    let report = prop_oneof![
        (0..=MAX_PROGRESS).prop_map(Report::Progress),
        (text(MAX_FAILURE_KIND), text(MAX_TEXT))
            .prop_map(|(kind, message)| Report::Failed { kind, message }),
        (vec(console_line(), 0..=MAX_CONSOLE_BATCH), any::<u32>())
            .prop_map(|(lines, dropped)| Report::Console { lines, dropped }),
    ];
    (task(), report).prop_map(|(task, report)| Message::TaskReport(TaskReport { task, report }))
}

/// The decoder fuzz, on stable: whatever the bytes, decoding never panics, and whatever it
/// accepts re-encodes to exactly the same bytes (one value, one encoding).
fn fuzz_one(bytes: &[u8]) {
    if let Ok(message) = Message::decode(bytes) {
        assert_eq!(message.encode().as_deref(), Ok(bytes), "accepted bytes must be canonical");
    }
    if let Ok(message) = Message::decode_frame(bytes) {
        assert_eq!(message.encode_frame().as_deref(), Ok(bytes));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_message_round_trips(message in message()) {
        let payload = message.encode().unwrap();
        prop_assert!(payload.len() <= message.kind().max_len());
        prop_assert_eq!(&Message::decode(&payload).unwrap(), &message);
        let framed = message.encode_frame().unwrap();
        prop_assert_eq!(Message::decode_frame(&framed).unwrap(), message);
    }

    #[test]
    fn truncations_are_refused_never_panic(message in message(), cut in any::<prop::sample::Index>()) {
        let payload = message.encode().unwrap();
        let cut = cut.index(payload.len());
        prop_assert!(Message::decode(&payload[..cut]).is_err());
    }

    #[test]
    fn fuzz_arbitrary_bytes(bytes in vec(any::<u8>(), 0..512)) {
        fuzz_one(&bytes);
    }

    #[test]
    fn fuzz_mutated_messages(message in message(), flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut bytes = message.encode().unwrap();
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        fuzz_one(&bytes);
        let mut framed = message.encode_frame().unwrap();
        framed.truncate(framed.len() - 1);
        fuzz_one(&framed);
    }
}

/// The largest value of each big kind fits its cap, so caps never refuse honest maximal messages.
#[test]
fn maximal_messages_fit_their_caps() {
    let long_addr = Multiaddr::empty()
        .with(Protocol::Dns("a".repeat(100).into()))
        .with(Protocol::Udp(u16::MAX))
        .with(Protocol::QuicV1);
    assert!(long_addr.as_ref().len() <= MAX_ADDR_LEN);
    let mut proof = proof();
    proof.peer = vec![0xaa; crate::identity::MAX_PEER_ID_LEN];
    let maximal = [
        Message::PoolAnnouncement(PoolAnnouncement {
            pool: PoolId(1),
            scheduler: proof,
            public: false,
            wanted_workers: u32::MAX,
            sequence: u64::MAX,
            addrs: vec![long_addr; MAX_ADDRS],
            metadata: "m".repeat(MAX_METADATA),
        }),
        Message::SignedOrder(SignedOrder {
            pool: PoolId(1),
            order: vec![1; MAX_ORDER],
            signature: [2; 65],
        }),
        Message::TaskAssignment(TaskAssignment {
            pool: PoolId(1),
            task: TaskId(b(2)),
            job: ContentHash(b(3)),
            input: TaskInput::Inline(vec![4; MAX_CHUNK]),
            round: u64::MAX,
            authorization: [5; 65],
            deadline: u64::MAX,
        }),
        Message::ResultUpload(ResultUpload { task: TaskId(b(2)), result: vec![6; MAX_CHUNK] }),
        Message::DataHeader(DataHeader {
            hash: ContentHash(b(3)),
            total: u64::MAX,
            pieces: vec![b(7); MAX_PIECES],
            direct_port: u16::MAX,
        }),
        Message::RecoveryRequest(RecoveryRequest {
            pool: PoolId(1),
            known: vec![TaskId(b(2)); MAX_RECOVERY_TASKS],
        }),
        Message::RecoveryReport(RecoveryReport {
            pool: PoolId(1),
            tasks: vec![
                HeldTask { task: TaskId(b(2)), state: TaskState::Done };
                MAX_RECOVERY_TASKS
            ],
        }),
        Message::JoinRequest(JoinRequest {
            pool: PoolId(1),
            capabilities: WorkerCapabilities {
                slots: u16::MAX,
                memory_mib: u32::MAX,
                evaluators: evaluators::ALL,
                gpu_class: Some("g".repeat(MAX_GPU_CLASS)),
                gpu_memory_mib: u32::MAX,
                float_probe: Some("f".repeat(MAX_FLOAT_PROBE)),
            },
            credential: Some(JoinCredential {
                pool: PoolId(1),
                worker: Address::ZERO,
                chain_id: 1,
                expires_at: 1,
                signature: [0; 65],
            }),
        }),
        Message::Abort(Abort { task: TaskId(b(2)), reason: "r".repeat(MAX_TEXT) }),
        Message::Refused { reason: "r".repeat(MAX_TEXT) },
        Message::TaskReport(TaskReport {
            task: TaskId(b(2)),
            report: Report::Failed {
                kind: "k".repeat(MAX_FAILURE_KIND),
                message: "m".repeat(MAX_TEXT),
            },
        }),
        Message::JobOffer(JobOffer {
            pool: PoolId(u64::MAX),
            job: ContentHash(b(2)),
            order: b(3),
            task_count: u32::MAX,
            trust: u32::MAX,
        }),
        Message::JobStatus(JobStatus {
            job: ContentHash(b(2)),
            state: JobState::Refused { reason: "r".repeat(MAX_TEXT) },
        }),
        Message::JobStatus(JobStatus {
            job: ContentHash(b(2)),
            state: JobState::Consented { order: b(3), task_count: u32::MAX, signature: [4; 65] },
        }),
        Message::DealStatusRequest(DealStatusRequest {
            deal: DealId(b(5)),
            from: u32::MAX,
            count: u32::MAX,
            console_from: Some(u64::MAX),
        }),
        Message::DealStatus(DealStatus {
            deal: DealId(b(5)),
            tasks: vec![
                TaskEntry {
                    index: u32::MAX,
                    phase: TaskPhase::Completed,
                    progress: MAX_PROGRESS,
                    result: Some(ContentHash(b(6))),
                    platform: u8::try_from(MAX_STATUS_PLATFORMS).unwrap(),
                };
                MAX_DEAL_TASKS
            ],
            platforms: vec!["é".repeat(MAX_PLATFORM_NAME / 2); MAX_STATUS_PLATFORMS],
            console: vec![
                ConsoleEntry {
                    seq: u64::MAX,
                    index: u32::MAX,
                    line: ConsoleLine {
                        level: ConsoleLevel::Error,
                        text: "é".repeat(MAX_CONSOLE_LINE / 2),
                    },
                };
                MAX_CONSOLE_ENTRIES
            ],
            console_end: u64::MAX,
        }),
        Message::TaskReport(TaskReport {
            task: TaskId(b(7)),
            report: Report::Console {
                lines: vec![
                    ConsoleLine {
                        level: ConsoleLevel::Log,
                        text: "c".repeat(MAX_CONSOLE_LINE)
                    };
                    MAX_CONSOLE_BATCH
                ],
                dropped: u32::MAX,
            },
        }),
    ];
    for message in maximal {
        let bytes = message.encode().unwrap_or_else(|e| panic!("{}: {e}", message.kind().name()));
        assert_eq!(Message::decode(&bytes).unwrap(), message);
    }
}

//! Who may ask what of this node: the pure decisions on inbound requests and data streams.
//! The event loop applies them (answers, refuses, scores) and owns nothing of the logic.
//!
//! A request is judged in order: the sender's rate, decoding, its proven identity, then whether
//! its proven purpose may send this kind ([`Message::senders`]):
//!
//! | requests | accepted only from |
//! |---|---|
//! | `JoinRequest`, `Heartbeat`, `ContributionNotice`, `ResultUpload`, `RecoveryRequest`, `TaskReport` | workers |
//! | `TaskAssignment` | the scheduler of the pool it names |
//! | `RevealRequest`, `Abort` | schedulers |
//! | `JobOffer`, `JobStatusRequest`, `DealStatusRequest` | clients |
//! | `Hello` (and `DataRequest`, on the data stream only) | any peer |
//!
//! A request from another purpose is refused with the rule as the reason and costs the sender
//! [`Offence::WrongPurpose`]; an answer or gossip sent as a request is a protocol violation. A
//! data stream is served to a proven peer, and the blob it asks for only if the blob's access
//! allows the peer's proven address ([`crate::data`]).

use std::time::Instant;

use alloy_primitives::Address;
use libp2p::PeerId;

use crate::{
    Error,
    guard::{Guard, Offence},
    identity::VerifiedPeer,
    wire::Message,
};

/// What to do with one inbound request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Request {
    /// Over the peer's rate: drop it unanswered (a flood gets no work out of us) and score it.
    Flood,
    /// It did not decode: drop it and score the decoding error.
    Malformed,
    /// A Hello: verify the proof it carries.
    Hello,
    /// Refuse with this reason and score the offence.
    Refuse(String, Offence),
    /// Hand it to the application, from this identity.
    Deliver(VerifiedPeer),
}

/// Judges an inbound request from `peer`, whose verified identity is `identity`.
pub(super) fn judge_request(
    guard: &mut Guard,
    peer: PeerId,
    identity: Option<VerifiedPeer>,
    request: Result<&Message, &Error>,
    now: Instant,
) -> Request {
    if !guard.admit(peer, now) {
        return Request::Flood;
    }
    let Ok(request) = request else { return Request::Malformed };
    if let Message::Hello(_) = request {
        return Request::Hello;
    }
    let Some(identity) = identity else {
        return Request::Refuse("identity not proven".into(), Offence::ProtocolViolation);
    };
    let kind = request.kind().name();
    let Some(senders) = request.senders() else {
        return Request::Refuse(format!("{kind} is not a request"), Offence::ProtocolViolation);
    };
    if !senders.admit(&identity.purpose) {
        let reason = format!(
            "{kind} is accepted only from {senders}; this peer is proven as {}",
            identity.purpose
        );
        return Request::Refuse(reason, Offence::WrongPurpose);
    }
    if let Message::DataRequest(_) = request {
        let reason = "data requests go on the data stream".into();
        return Request::Refuse(reason, Offence::ProtocolViolation);
    }
    Request::Deliver(identity)
}

/// What to do with one inbound data stream (or direct connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Data {
    /// Banned: drop it, nothing to score.
    Banned,
    /// Over the peer's rate: drop it and score it.
    Flood,
    /// No proven identity: refuse with this reason and score it.
    Unproven,
    /// Serve it the blobs this proven address may fetch.
    Admit(Address),
}

impl Data {
    /// The proven address to serve, or what is worth telling the peer: `Err(Some(reason))` to
    /// refuse, `Err(None)` to drop.
    pub(super) fn reason(self) -> Result<Address, Option<&'static str>> {
        match self {
            Self::Admit(address) => Ok(address),
            Self::Banned | Self::Flood => Err(None),
            Self::Unproven => Err(Some("identity not proven")),
        }
    }

    /// The offence to score, if any.
    pub(super) fn offence(self) -> Option<Offence> {
        match self {
            Self::Flood => Some(Offence::Flood),
            Self::Unproven => Some(Offence::ProtocolViolation),
            Self::Banned | Self::Admit(_) => None,
        }
    }
}

/// Judges whether `peer` may be served data now: not banned, within its rate, identity proven.
pub(super) fn judge_data(
    guard: &mut Guard,
    peer: PeerId,
    identity: Option<VerifiedPeer>,
    now: Instant,
) -> Data {
    if guard.is_banned(&peer, now) {
        Data::Banned
    } else if !guard.admit(peer, now) {
        Data::Flood
    } else {
        identity.map_or(Data::Unproven, |identity| Data::Admit(identity.address))
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::Address;

    use super::*;
    use crate::{
        guard::GuardConfig,
        identity::{PoolId, Purpose},
        wire::{
            Abort, ContributionNotice, DataRequest, DealStatusRequest, Heartbeat, JobOffer,
            JobState, JobStatus, JobStatusRequest, JoinRequest, MAX_TEXT, RecoveryRequest, Report,
            ResultUpload, RevealRequest, TaskAssignment, TaskInput, TaskReport, WorkerCapabilities,
        },
    };
    use quorate_primitives::{ContentHash, DealId, ResultHash, TaskId};

    fn worker() -> VerifiedPeer {
        VerifiedPeer {
            address: Address::repeat_byte(1),
            purpose: Purpose::Worker,
            expires_at: u64::MAX,
        }
    }

    #[test]
    fn requests_are_judged_in_order_rate_decoding_identity_purpose() {
        let mut guard = Guard::new(GuardConfig::default());
        let (peer, now) = (PeerId::random(), Instant::now());
        let pool = PoolId(3);
        let heartbeat = Message::Heartbeat(Heartbeat { pool, free_slots: 1, running: 0 });
        let malformed = Error::ProtocolViolation { reason: "test" };
        assert_eq!(judge_request(&mut guard, peer, None, Err(&malformed), now), Request::Malformed);
        assert_eq!(
            judge_request(&mut guard, peer, None, Ok(&heartbeat), now),
            Request::Refuse("identity not proven".into(), Offence::ProtocolViolation)
        );
        assert_eq!(
            judge_request(&mut guard, peer, Some(worker()), Ok(&heartbeat), now),
            Request::Deliver(worker())
        );
        let scheduler = VerifiedPeer { purpose: Purpose::Scheduler { pool }, ..worker() };
        assert_eq!(
            judge_request(&mut guard, peer, Some(scheduler), Ok(&heartbeat), now),
            Request::Refuse(
                "heartbeat is accepted only from peers proven as workers; this peer is proven as \
                 scheduler of pool 3"
                    .into(),
                Offence::WrongPurpose
            )
        );
        // An answer sent as a request is no honest mistake.
        assert_eq!(
            judge_request(&mut guard, peer, Some(worker()), Ok(&Message::Ack), now),
            Request::Refuse("ack is not a request".into(), Offence::ProtocolViolation)
        );
        let data = Message::DataRequest(DataRequest {
            hash: Default::default(),
            offset: 0,
            len: 1,
            direct: false,
        });
        assert_eq!(
            judge_request(&mut guard, peer, Some(worker()), Ok(&data), now),
            Request::Refuse(
                "data requests go on the data stream".into(),
                Offence::ProtocolViolation
            )
        );
    }

    /// One request of every kind, with the purposes that may send it.
    fn every_request(pool: PoolId) -> Vec<(Message, Vec<Purpose>)> {
        let task = TaskId::default();
        let (worker, client) = (vec![Purpose::Worker], vec![Purpose::Client]);
        let schedulers = vec![Purpose::Scheduler { pool }, Purpose::Scheduler { pool: PoolId(9) }];
        let capabilities = WorkerCapabilities {
            slots: 1,
            memory_mib: 1,
            evaluators: 1,
            gpu_class: None,
            gpu_memory_mib: 0,
            float_probe: None,
        };
        vec![
            (
                Message::JoinRequest(JoinRequest { pool, capabilities, credential: None }),
                worker.clone(),
            ),
            (Message::Heartbeat(Heartbeat { pool, free_slots: 1, running: 0 }), worker.clone()),
            (
                Message::ContributionNotice(ContributionNotice {
                    task,
                    result_hash: ResultHash::default(),
                    tx: Default::default(),
                }),
                worker.clone(),
            ),
            (Message::ResultUpload(ResultUpload { task, result: vec![1] }), worker.clone()),
            (Message::RecoveryRequest(RecoveryRequest { pool, known: vec![task] }), worker.clone()),
            (
                Message::TaskReport(TaskReport {
                    task,
                    report: Report::Failed { kind: "timeout".into(), message: "60 s".into() },
                }),
                worker.clone(),
            ),
            (Message::TaskReport(TaskReport { task, report: Report::Progress(500) }), worker),
            (
                Message::TaskAssignment(TaskAssignment {
                    pool,
                    task,
                    job: ContentHash::default(),
                    input: TaskInput::Inline(vec![]),
                    round: 0,
                    authorization: [0; 65],
                    deadline: 0,
                }),
                vec![Purpose::Scheduler { pool }],
            ),
            (Message::RevealRequest(RevealRequest { task }), schedulers.clone()),
            (Message::Abort(Abort { task, reason: "late".into() }), schedulers),
            (
                Message::JobOffer(JobOffer {
                    pool,
                    job: ContentHash::default(),
                    order: Default::default(),
                    task_count: 1,
                    trust: 1,
                }),
                client.clone(),
            ),
            (
                Message::JobStatusRequest(JobStatusRequest { job: ContentHash::default() }),
                client.clone(),
            ),
            (
                Message::DealStatusRequest(DealStatusRequest {
                    deal: DealId::default(),
                    from: 0,
                    count: 512,
                    console_from: None,
                }),
                client,
            ),
        ]
    }

    #[test]
    fn each_request_is_delivered_only_from_its_purpose_and_refused_with_the_rule_otherwise() {
        let pool = PoolId(u64::MAX);
        let purposes = [
            Purpose::Worker,
            Purpose::Client,
            Purpose::Scheduler { pool },
            Purpose::Scheduler { pool: PoolId(9) },
        ];
        let now = Instant::now();
        for (request, allowed) in every_request(pool) {
            for purpose in purposes {
                let mut guard = Guard::new(GuardConfig::default());
                let peer = PeerId::random();
                let identity = VerifiedPeer { purpose, ..worker() };
                let verdict = judge_request(&mut guard, peer, Some(identity), Ok(&request), now);
                let kind = request.kind().name();
                if allowed.contains(&purpose) {
                    assert_eq!(verdict, Request::Deliver(identity), "{kind} from {purpose}");
                    continue;
                }
                let Request::Refuse(reason, offence) = verdict else {
                    panic!("{kind} from {purpose} must be refused, got {verdict:?}");
                };
                assert_eq!(offence, Offence::WrongPurpose, "{kind} from {purpose}");
                let senders = request.senders().map(|s| s.to_string()).unwrap_or_default();
                assert!(reason.starts_with(kind) && reason.contains(&senders), "{reason}");
                assert!(reason.len() <= MAX_TEXT, "the reason must fit a Refused answer");
                // A small penalty: one mistake does not ban.
                assert!(matches!(
                    guard.penalise(peer, offence, now),
                    crate::guard::Verdict::Keep { .. }
                ));
            }
        }
        // Answers never arrive as requests, whoever sends them.
        let status = JobStatus { job: ContentHash::default(), state: JobState::Unknown };
        for purpose in purposes {
            let identity = VerifiedPeer { purpose, ..worker() };
            let mut guard = Guard::new(GuardConfig::default());
            let answer = Message::JobStatus(status.clone());
            assert_eq!(
                judge_request(&mut guard, PeerId::random(), Some(identity), Ok(&answer), now),
                Request::Refuse("job status is not a request".into(), Offence::ProtocolViolation)
            );
        }
    }

    #[test]
    fn a_flood_is_dropped_before_anything_else() {
        let config = GuardConfig::default();
        let burst = config.burst as usize;
        let mut guard = Guard::new(config);
        let (peer, now) = (PeerId::random(), Instant::now());
        let hello_free = Error::ProtocolViolation { reason: "test" };
        let mut verdicts = Vec::new();
        for _ in 0..=burst {
            verdicts.push(judge_request(&mut guard, peer, Some(worker()), Err(&hello_free), now));
        }
        assert_eq!(verdicts.last(), Some(&Request::Flood));
        assert_eq!(judge_data(&mut guard, peer, Some(worker()), now), Data::Flood);
    }

    #[test]
    fn data_needs_a_proven_identity_and_no_ban() {
        let mut guard = Guard::new(GuardConfig::default());
        let (peer, now) = (PeerId::random(), Instant::now());
        assert_eq!(judge_data(&mut guard, peer, None, now), Data::Unproven);
        assert_eq!(Data::Unproven.reason(), Err(Some("identity not proven")));
        assert_eq!(
            judge_data(&mut guard, peer, Some(worker()), now),
            Data::Admit(worker().address)
        );
        assert_eq!(Data::Admit(worker().address).reason(), Ok(worker().address));
        for _ in 0..100 {
            guard.penalise(peer, Offence::BadIdentity, now);
        }
        assert_eq!(judge_data(&mut guard, peer, Some(worker()), now), Data::Banned);
        assert_eq!((Data::Banned.reason(), Data::Banned.offence()), (Err(None), None));
    }
}

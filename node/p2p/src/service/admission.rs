//! Who may ask what of this node: the pure decisions on inbound requests and data streams.
//! The event loop applies them (answers, refuses, scores) and owns nothing of the logic.

use std::time::Instant;

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
    Refuse(&'static str, Offence),
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
        return Request::Refuse("identity not proven", Offence::ProtocolViolation);
    };
    if !request.allowed_from(&identity.purpose) {
        return Request::Refuse(
            "message not allowed for this peer's purpose",
            Offence::ProtocolViolation,
        );
    }
    if let Message::DataRequest(_) = request {
        return Request::Refuse("data requests go on the data stream", Offence::ProtocolViolation);
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
    /// Serve it.
    Admit,
}

impl Data {
    /// What is worth telling the peer: `Err(Some(reason))` to refuse, `Err(None)` to drop.
    pub(super) fn reason(self) -> Result<(), Option<&'static str>> {
        match self {
            Self::Admit => Ok(()),
            Self::Banned | Self::Flood => Err(None),
            Self::Unproven => Err(Some("identity not proven")),
        }
    }

    /// The offence to score, if any.
    pub(super) fn offence(self) -> Option<Offence> {
        match self {
            Self::Flood => Some(Offence::Flood),
            Self::Unproven => Some(Offence::ProtocolViolation),
            Self::Banned | Self::Admit => None,
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
    } else if identity.is_none() {
        Data::Unproven
    } else {
        Data::Admit
    }
}

#[cfg(test)]
mod tests {
    use alloy_primitives::Address;

    use super::*;
    use crate::{
        guard::GuardConfig,
        identity::{PoolId, Purpose},
        wire::{DataRequest, Heartbeat},
    };

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
            Request::Refuse("identity not proven", Offence::ProtocolViolation)
        );
        assert_eq!(
            judge_request(&mut guard, peer, Some(worker()), Ok(&heartbeat), now),
            Request::Deliver(worker())
        );
        let scheduler = VerifiedPeer { purpose: Purpose::Scheduler { pool }, ..worker() };
        assert_eq!(
            judge_request(&mut guard, peer, Some(scheduler), Ok(&heartbeat), now),
            Request::Refuse(
                "message not allowed for this peer's purpose",
                Offence::ProtocolViolation
            )
        );
        let data = Message::DataRequest(DataRequest {
            hash: Default::default(),
            offset: 0,
            len: 1,
            direct: false,
        });
        assert_eq!(
            judge_request(&mut guard, peer, Some(worker()), Ok(&data), now),
            Request::Refuse("data requests go on the data stream", Offence::ProtocolViolation)
        );
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
        assert_eq!(judge_data(&mut guard, peer, Some(worker()), now), Data::Admit);
        for _ in 0..100 {
            guard.penalise(peer, Offence::BadIdentity, now);
        }
        assert_eq!(judge_data(&mut guard, peer, Some(worker()), now), Data::Banned);
        assert_eq!((Data::Banned.reason(), Data::Banned.offence()), (Err(None), None));
    }
}

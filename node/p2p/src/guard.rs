//! Peer protection, pure: per-peer rate limits, a misbehaviour score, timed bans.
//!
//! The event loop asks [`Guard::admit`] before handling each inbound request and reports every
//! offence with [`Guard::penalise`]; once a peer's score reaches the threshold it is banned for
//! [`GuardConfig::ban`] and the loop disconnects it. Scores decay with time, so a peer that
//! erred once long ago is not punished forever. Time is passed in (`now`), so tests drive it.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use libp2p::PeerId;

use crate::Error;

/// How long an application waits, after answering a request it found offensive, before it
/// reports the offence: a ban closes the connection, and the answer (saying why) should reach the
/// peer first.
pub const ANSWER_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// What a peer did wrong. Each offence carries a penalty; [`GuardConfig::ban_threshold`]
/// points get a peer banned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Offence {
    /// A forged or malformed signature, or a scheduler proof not from the pool's owner.
    BadIdentity,
    /// A frame over the size cap.
    Oversized,
    /// Bytes that do not decode.
    Malformed,
    /// A message before the identity proof, or one no peer may send as a request (an answer,
    /// gossip).
    ProtocolViolation,
    /// A request the sender's proven purpose may not send (a worker's job offer, a client's
    /// heartbeat): refused with the rule, at a small cost, since a misconfigured honest node
    /// can send one.
    WrongPurpose,
    /// A request over the rate limit.
    Flood,
    /// Content that fails its hash check.
    BadContent,
}

impl Offence {
    /// Penalty points.
    pub fn penalty(self) -> u32 {
        match self {
            Self::BadIdentity | Self::Oversized | Self::BadContent => 100,
            Self::Malformed | Self::ProtocolViolation => 50,
            Self::Flood | Self::WrongPurpose => 10,
        }
    }

    /// The offence an error reveals, if it is the peer's fault.
    pub fn of(error: &Error) -> Option<Self> {
        Some(match error {
            Error::FrameTooLarge { .. } | Error::MessageTooLarge { .. } => Self::Oversized,
            e if e.is_malformed() => Self::Malformed,
            Error::BadSignature { .. }
            | Error::SignerMismatch { .. }
            | Error::WrongPeer
            | Error::NotPoolOwner { .. } => Self::BadIdentity,
            Error::NotVerified { .. } | Error::ProtocolViolation { .. } => Self::ProtocolViolation,
            Error::WrongPurpose { .. } => Self::WrongPurpose,
            Error::RateLimited { .. } => Self::Flood,
            Error::ContentMismatch { .. } => Self::BadContent,
            _ => return None,
        })
    }
}

/// Limits, with their defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardConfig {
    /// Sustained inbound requests per second per peer. Default 200.
    pub rate_per_s: f64,
    /// Requests a peer may send in a burst above the rate. Default 400.
    pub burst: f64,
    /// Score at which a peer is banned. Default 100.
    pub ban_threshold: u32,
    /// How long a ban lasts. Default 10 minutes.
    pub ban: Duration,
    /// Score points forgiven per second. Default 1.
    pub decay_per_s: u32,
    /// Most peers remembered as banned; the oldest ban is forgotten first. Default 4096.
    pub max_bans: usize,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            rate_per_s: 200.0,
            burst: 400.0,
            ban_threshold: 100,
            ban: Duration::from_secs(600),
            decay_per_s: 1,
            max_bans: 4096,
        }
    }
}

impl GuardConfig {
    /// Refuses values that would disable protection by accident.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |reason: &str| Err(Error::Config { reason: format!("guard: {reason}") });
        if !(self.rate_per_s.is_finite() && self.rate_per_s > 0.0) {
            return bad("rate_per_s must be a positive number");
        }
        if !(self.burst.is_finite() && self.burst >= 1.0) {
            return bad("burst must be at least 1");
        }
        if self.ban_threshold == 0 {
            return bad("ban_threshold must be positive");
        }
        if self.max_bans == 0 {
            return bad("max_bans must be positive");
        }
        Ok(())
    }
}

/// What the caller must do after an offence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Keep the peer.
    Keep {
        /// Its score now.
        score: u32,
    },
    /// Disconnect it and refuse it until `until`.
    Ban {
        /// When the ban ends.
        until: Instant,
    },
}

#[derive(Debug, Clone)]
struct PeerState {
    tokens: f64,
    refilled: Instant,
    score: u32,
    decayed: Instant,
}

/// Rate limits, scores and bans of every peer.
#[derive(Debug)]
pub struct Guard {
    config: GuardConfig,
    peers: HashMap<PeerId, PeerState>,
    bans: HashMap<PeerId, Instant>,
}

impl Guard {
    /// A guard with `config`.
    pub fn new(config: GuardConfig) -> Self {
        Self { config, peers: HashMap::new(), bans: HashMap::new() }
    }

    fn state(&mut self, peer: PeerId, now: Instant) -> &mut PeerState {
        let burst = self.config.burst;
        self.peers.entry(peer).or_insert(PeerState {
            tokens: burst,
            refilled: now,
            score: 0,
            decayed: now,
        })
    }

    /// Takes one request token from `peer`: false when it is over its rate (the request must be
    /// dropped and [`Offence::Flood`] reported).
    pub fn admit(&mut self, peer: PeerId, now: Instant) -> bool {
        let (rate, burst) = (self.config.rate_per_s, self.config.burst);
        let state = self.state(peer, now);
        let elapsed = now.saturating_duration_since(state.refilled).as_secs_f64();
        state.tokens = (state.tokens + elapsed * rate).min(burst);
        state.refilled = now;
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Adds the offence's penalty to `peer`'s score; bans it at the threshold.
    pub fn penalise(&mut self, peer: PeerId, offence: Offence, now: Instant) -> Verdict {
        if let Some(until) = self.bans.get(&peer).filter(|until| **until > now) {
            return Verdict::Ban { until: *until };
        }
        let (decay, threshold) = (self.config.decay_per_s, self.config.ban_threshold);
        let state = self.state(peer, now);
        let secs = now.saturating_duration_since(state.decayed).as_secs();
        let forgiven = u32::try_from(secs).unwrap_or(u32::MAX).saturating_mul(decay);
        state.score = state.score.saturating_sub(forgiven);
        state.decayed = now;
        state.score = state.score.saturating_add(offence.penalty());
        if state.score < threshold {
            return Verdict::Keep { score: state.score };
        }
        self.peers.remove(&peer);
        let until = now.checked_add(self.config.ban).unwrap_or(now);
        if self.bans.len() >= self.config.max_bans
            && let Some(oldest) = self.bans.iter().min_by_key(|(_, until)| **until).map(|(p, _)| *p)
        {
            self.bans.remove(&oldest);
        }
        self.bans.insert(peer, until);
        Verdict::Ban { until }
    }

    /// True while `peer` is banned.
    pub fn is_banned(&self, peer: &PeerId, now: Instant) -> bool {
        self.bans.get(peer).is_some_and(|until| *until > now)
    }

    /// Removes and returns the bans that have ended.
    pub fn expire_bans(&mut self, now: Instant) -> Vec<PeerId> {
        let ended: Vec<PeerId> =
            self.bans.iter().filter(|(_, until)| **until <= now).map(|(p, _)| *p).collect();
        for peer in &ended {
            self.bans.remove(peer);
        }
        ended
    }

    /// Forgets a disconnected peer's rate state; a score above zero is kept so reconnecting
    /// does not wipe it.
    pub fn disconnected(&mut self, peer: &PeerId) {
        if self.peers.get(peer).is_some_and(|s| s.score == 0) {
            self.peers.remove(peer);
        }
    }

    /// Peers currently banned.
    pub fn banned(&self) -> usize {
        self.bans.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floods_are_limited_then_refilled() {
        let config = GuardConfig { rate_per_s: 10.0, burst: 5.0, ..GuardConfig::default() };
        let mut guard = Guard::new(config);
        let (peer, t0) = (PeerId::random(), Instant::now());
        assert_eq!((0..8).filter(|_| guard.admit(peer, t0)).count(), 5);
        // 0.5 s later five more tokens have come back.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!((0..8).filter(|_| guard.admit(peer, t1)).count(), 5);
    }

    #[test]
    fn offences_add_up_to_a_timed_ban_and_decay() {
        let mut guard = Guard::new(GuardConfig::default());
        let (peer, t0) = (PeerId::random(), Instant::now());
        assert_eq!(guard.penalise(peer, Offence::Malformed, t0), Verdict::Keep { score: 50 });
        // 30 s later 30 points are forgiven: 20 + 50 is still under 100.
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(guard.penalise(peer, Offence::Malformed, t1), Verdict::Keep { score: 70 });
        let t2 = t1 + Duration::from_secs(1);
        let Verdict::Ban { until } = guard.penalise(peer, Offence::Malformed, t2) else {
            panic!("a third strike bans");
        };
        assert_eq!(until, t2 + GuardConfig::default().ban);
        assert!(guard.is_banned(&peer, t2));
        assert!(guard.expire_bans(until - Duration::from_secs(1)).is_empty());
        assert_eq!(guard.expire_bans(until), vec![peer]);
        assert!(!guard.is_banned(&peer, until));
    }

    #[test]
    fn a_forged_identity_bans_at_once_and_bans_are_bounded() {
        let config = GuardConfig { max_bans: 2, ..GuardConfig::default() };
        let mut guard = Guard::new(config);
        let t0 = Instant::now();
        let peers: Vec<PeerId> = (0..3).map(|_| PeerId::random()).collect();
        for (i, peer) in peers.iter().enumerate() {
            let now = t0 + Duration::from_secs(i as u64);
            assert!(matches!(
                guard.penalise(*peer, Offence::BadIdentity, now),
                Verdict::Ban { .. }
            ));
        }
        assert_eq!(guard.banned(), 2);
        assert!(!guard.is_banned(&peers[0], t0 + Duration::from_secs(3)), "oldest ban dropped");
    }

    #[test]
    fn errors_map_to_offences() {
        let peer = PeerId::random();
        assert_eq!(Offence::of(&Error::FrameTooLarge { len: 9, max: 1 }), Some(Offence::Oversized));
        assert_eq!(Offence::of(&Error::TrailingBytes { count: 1 }), Some(Offence::Malformed));
        assert_eq!(Offence::of(&Error::NotVerified { peer }), Some(Offence::ProtocolViolation));
        assert_eq!(Offence::of(&Error::Expired { expires_at: 1, now: 2 }), None);
        let wrong = Error::WrongPurpose {
            expected: crate::identity::Purpose::Client,
            found: crate::identity::Purpose::Worker,
        };
        assert_eq!(Offence::of(&wrong), Some(Offence::WrongPurpose));
        assert!(Offence::WrongPurpose.penalty() < Offence::ProtocolViolation.penalty());
        assert!(GuardConfig { burst: 0.0, ..GuardConfig::default() }.validate().is_err());
        assert!(GuardConfig::default().validate().is_ok());
    }
}

//! The worker's link to its pool's scheduler, as a pure state machine (STYLE #16): searching
//! for the scheduler, joining it, joined (heartbeats at the interval it gave), or waiting to try
//! again after a refusal or a failure, with exponential backoff. The loop feeds it what
//! happened with the time and does what it says; the network layer itself redials a lost
//! scheduler.
//!
//! ```text
//! Searching ──connected──▶ Joining ──accepted──▶ Joined ──lost / 3 heartbeats failed──▶ Searching
//!                            │ refused, failed                │ heartbeat refused (forgotten)
//!                            ▼                                ▼
//!                          Backoff(until) ──due──▶ Joining  Joining
//! ```

use std::time::{Duration, Instant};

use quorate_p2p::PeerId;

/// First wait after a failed or refused join.
const BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// Longest wait between joins.
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Heartbeats failed in a row before the scheduler counts as lost.
const MAX_MISSED: u32 = 3;
/// The heartbeat interval used when a scheduler asks for none (0).
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);

/// Where the link stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum State {
    /// No scheduler proven yet (the network searches and redials).
    Searching,
    /// A join request to `peer` is in flight.
    Joining {
        /// The scheduler.
        peer: PeerId,
    },
    /// Joined: heartbeats every `interval`.
    Joined {
        /// The scheduler.
        peer: PeerId,
        /// Its heartbeat interval.
        interval: Duration,
        /// Heartbeats failed in a row.
        missed: u32,
    },
    /// The last join failed or was refused: try again at `until`.
    Backoff {
        /// The scheduler.
        peer: PeerId,
        /// When to try again.
        until: Instant,
    },
}

/// What the loop must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    /// Nothing.
    None,
    /// Send a join request to this scheduler.
    Join(PeerId),
    /// Joined: start heartbeats at this interval and catch up (recovery, waiting work).
    Joined(PeerId, Duration),
}

/// The link and its backoff.
#[derive(Debug)]
pub(super) struct Link {
    state: State,
    backoff: Duration,
}

impl Link {
    pub(super) fn new() -> Self {
        Self { state: State::Searching, backoff: BACKOFF_INITIAL }
    }

    #[cfg(test)]
    fn state(&self) -> &State {
        &self.state
    }

    /// The scheduler, once joined.
    pub(super) fn joined(&self) -> Option<PeerId> {
        match self.state {
            State::Joined { peer, .. } => Some(peer),
            _ => None,
        }
    }

    /// The scheduler's peer, joined or not (the provider of job data).
    pub(super) fn peer(&self) -> Option<PeerId> {
        match self.state {
            State::Searching => None,
            State::Joining { peer } | State::Joined { peer, .. } | State::Backoff { peer, .. } => {
                Some(peer)
            }
        }
    }

    /// The network proved the scheduler `peer` (first found, or back after a loss).
    pub(super) fn on_connected(&mut self, peer: PeerId) -> Action {
        match self.state {
            State::Joining { peer: p } | State::Joined { peer: p, .. } if p == peer => Action::None,
            _ => {
                self.state = State::Joining { peer };
                Action::Join(peer)
            }
        }
    }

    /// The scheduler's connection was lost: the network redials it.
    pub(super) fn on_lost(&mut self, peer: PeerId) {
        if self.peer() == Some(peer) {
            self.state = State::Searching;
        }
    }

    /// The join request to `peer` was answered: accepted with an interval (seconds), or not.
    pub(super) fn on_join(&mut self, peer: PeerId, accepted: Option<u32>, now: Instant) -> Action {
        if self.state != (State::Joining { peer }) {
            return Action::None;
        }
        match accepted {
            Some(secs) => {
                let interval = match secs {
                    0 => DEFAULT_HEARTBEAT,
                    secs => Duration::from_secs(u64::from(secs)),
                };
                self.state = State::Joined { peer, interval, missed: 0 };
                self.backoff = BACKOFF_INITIAL;
                Action::Joined(peer, interval)
            }
            None => {
                self.state = State::Backoff { peer, until: now + self.backoff };
                self.backoff = self.backoff.saturating_mul(2).min(BACKOFF_MAX);
                Action::None
            }
        }
    }

    /// A heartbeat was answered (`Ok(true)`), refused because the scheduler forgot this worker
    /// (`Ok(false)`), or failed (`Err`).
    pub(super) fn on_heartbeat(&mut self, peer: PeerId, answer: Result<bool, ()>) -> Action {
        let State::Joined { peer: p, interval, missed } = self.state else { return Action::None };
        if p != peer {
            return Action::None;
        }
        match answer {
            Ok(true) => {
                self.state = State::Joined { peer, interval, missed: 0 };
                Action::None
            }
            Ok(false) => {
                self.state = State::Joining { peer };
                Action::Join(peer)
            }
            Err(()) if missed.saturating_add(1) >= MAX_MISSED => {
                self.state = State::Joining { peer };
                Action::Join(peer)
            }
            Err(()) => {
                self.state = State::Joined { peer, interval, missed: missed.saturating_add(1) };
                Action::None
            }
        }
    }

    /// Time passed: a backoff that is over joins again.
    pub(super) fn on_tick(&mut self, now: Instant) -> Action {
        match self.state {
            State::Backoff { peer, until } if now >= until => {
                self.state = State::Joining { peer };
                Action::Join(peer)
            }
            _ => Action::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_once_per_connection_and_heartbeats_at_the_scheduler_s_interval() {
        let (mut link, peer, now) = (Link::new(), PeerId::random(), Instant::now());
        assert_eq!(link.on_connected(peer), Action::Join(peer));
        assert_eq!(link.on_connected(peer), Action::None, "one join in flight");
        assert_eq!(link.joined(), None);
        assert_eq!(link.on_join(peer, Some(2), now), Action::Joined(peer, Duration::from_secs(2)));
        assert_eq!(link.joined(), Some(peer));
        assert_eq!(link.on_connected(peer), Action::None, "already joined");
        // A stale answer from another scheduler changes nothing.
        assert_eq!(link.on_join(PeerId::random(), None, now), Action::None);
    }

    #[test]
    fn refusals_back_off_exponentially_and_losses_rejoin() {
        let (mut link, peer, now) = (Link::new(), PeerId::random(), Instant::now());
        link.on_connected(peer);
        assert_eq!(link.on_join(peer, None, now), Action::None);
        assert_eq!(link.on_tick(now), Action::None, "waits");
        assert_eq!(link.on_tick(now + BACKOFF_INITIAL), Action::Join(peer));
        link.on_join(peer, None, now);
        assert_eq!(link.on_tick(now + BACKOFF_INITIAL), Action::None, "waits twice as long");
        assert_eq!(link.on_tick(now + BACKOFF_INITIAL * 2), Action::Join(peer));
        link.on_join(peer, Some(5), now);
        // Lost: searching until the network proves it again, then a fresh join.
        link.on_lost(peer);
        assert_eq!((link.state(), link.peer()), (&State::Searching, None));
        let restarted = PeerId::random();
        assert_eq!(link.on_connected(restarted), Action::Join(restarted));
        link.on_join(restarted, Some(5), now);
        // The backoff was reset by the successful join.
        link.on_lost(restarted);
        link.on_connected(restarted);
        link.on_join(restarted, None, now);
        assert_eq!(link.on_tick(now + BACKOFF_INITIAL), Action::Join(restarted));
    }

    #[test]
    fn three_missed_heartbeats_or_a_refusal_rejoin() {
        let (mut link, peer, now) = (Link::new(), PeerId::random(), Instant::now());
        link.on_connected(peer);
        link.on_join(peer, Some(0), now);
        assert_eq!(link.state(), &State::Joined { peer, interval: DEFAULT_HEARTBEAT, missed: 0 });
        assert_eq!(link.on_heartbeat(peer, Err(())), Action::None);
        assert_eq!(link.on_heartbeat(peer, Ok(true)), Action::None, "a success resets the count");
        assert_eq!(link.on_heartbeat(peer, Err(())), Action::None);
        assert_eq!(link.on_heartbeat(peer, Err(())), Action::None);
        assert_eq!(link.on_heartbeat(peer, Err(())), Action::Join(peer));
        link.on_join(peer, Some(1), now);
        assert_eq!(link.on_heartbeat(peer, Ok(false)), Action::Join(peer));
    }
}

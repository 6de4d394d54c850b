//! Finding and keeping each looked-for pool's scheduler, as a pure state machine: which pools
//! are wanted, their candidates, who is proven, and when to try again (exponential backoff).
//! The event loop runs the DHT lookups and dials it is told to.

use std::{
    collections::{HashMap, HashSet},
    time::{Duration, Instant},
};

use alloy_primitives::Address;
use libp2p::PeerId;
use tokio::sync::oneshot;

use crate::identity::PoolId;

/// Most schedulers remembered per looked-for pool.
const MAX_CANDIDATES: usize = 32;
/// Most callers waiting for one pool's scheduler.
const MAX_WAITERS: usize = 64;

/// A pool whose scheduler this node looks for and keeps connected.
struct Target {
    owner: Address,
    scheduler: Option<PeerId>,
    waiters: Vec<oneshot::Sender<PeerId>>,
    backoff: Duration,
    next_attempt: Instant,
    /// Schedulers found but not connected yet (dialed at each attempt).
    candidates: HashSet<PeerId>,
}

impl Target {
    /// Remembers a possible scheduler; the set is bounded, so fake providers cannot grow it.
    fn add_candidate(&mut self, peer: PeerId) {
        if self.candidates.len() < MAX_CANDIDATES {
            self.candidates.insert(peer);
        }
    }
}

/// Every looked-for pool.
pub(super) struct Discovery {
    targets: HashMap<PoolId, Target>,
    initial: Duration,
    max: Duration,
}

impl Discovery {
    /// Backoff starts at `initial` and doubles up to `max`.
    pub(super) fn new(initial: Duration, max: Duration) -> Self {
        Self { targets: HashMap::new(), initial, max }
    }

    /// A caller looks for `pool`'s scheduler signed by `owner`. Answered at once (and `None`
    /// returned) when it is connected; otherwise the caller waits and `Some(reply)` is not
    /// returned but kept. Returns whether the loop should look now.
    pub(super) fn handle_find(
        &mut self,
        pool: PoolId,
        owner: Address,
        reply: oneshot::Sender<PeerId>,
        now: Instant,
    ) -> bool {
        let initial = self.initial;
        let target = self.targets.entry(pool).or_insert_with(|| Target {
            owner,
            scheduler: None,
            waiters: Vec::new(),
            backoff: initial,
            next_attempt: now,
            candidates: HashSet::new(),
        });
        target.owner = owner;
        if let Some(peer) = target.scheduler {
            let _ = reply.send(peer);
            return false;
        }
        target.waiters.retain(|w| !w.is_closed());
        if target.waiters.len() < MAX_WAITERS {
            target.waiters.push(reply);
        }
        true
    }

    /// Starts one attempt at `pool`: schedules the next after the backoff (doubled) and
    /// returns the candidates to dial, those `banned` says no to dropped. `None` when the pool
    /// is not looked for.
    pub(super) fn attempt(
        &mut self,
        pool: PoolId,
        now: Instant,
        banned: impl Fn(&PeerId) -> bool,
    ) -> Option<Vec<PeerId>> {
        let target = self.targets.get_mut(&pool)?;
        target.next_attempt = now + target.backoff;
        target.backoff = (target.backoff * 2).min(self.max);
        target.candidates.retain(|peer| !banned(peer));
        Some(target.candidates.iter().copied().collect())
    }

    /// `peer` proved to be `pool`'s scheduler: the waiters are answered; `true` when this is
    /// news (the loop reports it).
    pub(super) fn handle_proven(&mut self, pool: PoolId, peer: PeerId) -> bool {
        let Some(target) = self.targets.get_mut(&pool) else { return false };
        if target.scheduler == Some(peer) {
            return false;
        }
        target.scheduler = Some(peer);
        target.backoff = self.initial;
        target.add_candidate(peer);
        for waiter in target.waiters.drain(..) {
            let _ = waiter.send(peer);
        }
        true
    }

    /// The connection to `peer` closed: the pools it was the scheduler of, to look for again
    /// after their backoff.
    pub(super) fn handle_lost(&mut self, peer: PeerId, now: Instant) -> Vec<PoolId> {
        self.targets
            .iter_mut()
            .filter(|(_, t)| t.scheduler == Some(peer))
            .map(|(pool, t)| {
                t.scheduler = None;
                t.next_attempt = now + t.backoff;
                *pool
            })
            .collect()
    }

    /// Pools without a scheduler whose next attempt is due.
    pub(super) fn due(&self, now: Instant) -> Vec<PoolId> {
        self.targets
            .iter()
            .filter(|(_, t)| t.scheduler.is_none() && t.next_attempt <= now)
            .map(|(pool, _)| *pool)
            .collect()
    }

    /// A provider of `pool` was found (DHT): remembered as a candidate.
    pub(super) fn handle_provider(&mut self, pool: PoolId, peer: PeerId) {
        if let Some(target) = self.targets.get_mut(&pool) {
            target.add_candidate(peer);
        }
    }

    /// A verified announcement of `pool` by `peer`, whose owner is `owner` when known here.
    /// True when the pool is looked for, has no scheduler and `owner` is its owner: the loop
    /// dials it.
    pub(super) fn handle_announced(
        &mut self,
        pool: PoolId,
        peer: PeerId,
        owner: Option<Address>,
    ) -> bool {
        match self.targets.get_mut(&pool) {
            Some(t) if t.scheduler.is_none() && owner == Some(t.owner) => {
                t.add_candidate(peer);
                true
            }
            _ => false,
        }
    }

    /// True when `pool` is looked for with `owner` as its owner.
    pub(super) fn wants(&self, pool: PoolId, owner: Address) -> bool {
        self.targets.get(&pool).is_some_and(|t| t.owner == owner)
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn backoff_doubles_to_its_cap_and_resets_once_proven() {
        let mut discovery = Discovery::new(SECOND, 4 * SECOND);
        let (pool, owner, t0) = (PoolId(1), Address::repeat_byte(2), Instant::now());
        let (reply, mut rx) = oneshot::channel();
        assert!(discovery.handle_find(pool, owner, reply, t0));
        assert_eq!(discovery.due(t0), vec![pool]);
        let mut at = t0;
        for wait in [1, 2, 4, 4] {
            assert_eq!(discovery.attempt(pool, at, |_| false), Some(vec![]));
            assert!(discovery.due(at).is_empty());
            at += wait * SECOND;
            assert_eq!(discovery.due(at), vec![pool], "next attempt after {wait} s");
        }
        let peer = PeerId::random();
        assert!(discovery.handle_proven(pool, peer));
        assert!(!discovery.handle_proven(pool, peer), "reported once");
        assert_eq!(rx.try_recv().ok(), Some(peer));
        assert!(discovery.due(at + 60 * SECOND).is_empty(), "found: nothing to do");

        assert_eq!(discovery.handle_lost(peer, at), vec![pool]);
        assert!(discovery.due(at).is_empty());
        assert_eq!(discovery.due(at + SECOND), vec![pool], "backoff was reset to its start");
    }

    #[test]
    fn a_found_scheduler_answers_at_once_and_candidates_are_bounded() {
        let mut discovery = Discovery::new(SECOND, SECOND);
        let (pool, owner, now) = (PoolId(1), Address::repeat_byte(2), Instant::now());
        let (reply, _rx) = oneshot::channel();
        discovery.handle_find(pool, owner, reply, now);
        for _ in 0..100 {
            discovery.handle_provider(pool, PeerId::random());
        }
        let banned = PeerId::random();
        let candidates = discovery.attempt(pool, now, |p| *p == banned).unwrap();
        assert_eq!(candidates.len(), MAX_CANDIDATES);

        assert!(
            !discovery.handle_announced(pool, PeerId::random(), Some(Address::ZERO)),
            "wrong owner"
        );
        assert!(!discovery.handle_announced(pool, PeerId::random(), None), "unknown owner");
        let peer = PeerId::random();
        discovery.handle_proven(pool, peer);
        let (reply, mut rx) = oneshot::channel();
        assert!(!discovery.handle_find(pool, owner, reply, now));
        assert_eq!(rx.try_recv().ok(), Some(peer));
        assert!(discovery.wants(pool, owner) && !discovery.wants(pool, Address::ZERO));
        assert_eq!(discovery.attempt(PoolId(0), now, |_| false), None);
    }
}

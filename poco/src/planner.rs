//! The replication planner: how many more replicas does a task need right now?
//!
//! docs/poco.md, "The scheduler's side". Let `best` be the product of the weights of the leading
//! group and of the replicas assigned recently that have not answered yet (assumed to agree
//! with the leader), and `worst` the sum of the other groups. Another replica is needed only
//! while `best·T > (1 + best + worst)·(T − 1)` does not hold. Each extra replica is assumed to
//! carry `new_weight` (a fresh worker's 2 unless the scheduler knows better), so the answer is the
//! smallest `n` with `best·new_weight^n` passing the test: the theoretical minimum if everyone
//! agrees. The caller caps it (BOINC's `max_total_results`); [`Plan::reachable`] says whether
//! the cap leaves room for consensus at all.

use quorate_primitives::U256;

use crate::consensus::{Tally, Trust};

/// The planner's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Replicas to send now (0 when the assigned ones suffice if they agree).
    pub needed: u32,
    /// False when even `limit` more agreeing replicas would not reach consensus.
    pub reachable: bool,
}

/// Plans replicas for a task with votes `tally`, pending replicas of weights `pending` (each
/// still inside its timeout), extra replicas of weight `new_weight`, and at most `limit` more
/// replicas allowed (the cap minus what was already assigned).
///
/// Total: a threshold beyond 256 bits is out of reach (so is the contract's consensus test,
/// which would revert), and a [`Tally`] keeps `total = 1 + Σ groups`, so nothing underflows.
pub fn plan(
    tally: &Tally,
    trust: Trust,
    pending: impl IntoIterator<Item = U256>,
    new_weight: U256,
    limit: u32,
) -> Plan {
    let one = U256::from(1u8);
    let (leader, mut best) = match tally.leader() {
        Some(g) => (g.value, g.value),
        None => (U256::ZERO, U256::ZERO),
    };
    // worst = total − 1 − leader; total ≥ 1 + Σ groups by construction, so neither
    // subtraction saturates.
    let worst = tally.total().saturating_sub(one).saturating_sub(leader);
    // best·T > (1 + best + worst)·(T − 1)  ⟺  best > (1 + worst)·(T − 1): exact in integers,
    // so the loop below costs one multiplication per replica. A product that overflows 256
    // bits is above any threshold that fits; a threshold that overflows is above any product
    // (`best > U256::MAX` never holds).
    let threshold = worst.saturating_add(one).saturating_mul(trust.minus_one());
    let grow = |best: U256, weight: U256| best.max(one).checked_mul(weight).unwrap_or(U256::MAX);
    for weight in pending {
        best = grow(best, weight);
    }
    let mut needed = 0u32;
    loop {
        if best > threshold {
            return Plan { needed, reachable: true };
        }
        if needed >= limit || new_weight <= one {
            // With weight ≤ 1 more votes never raise the product: consensus is out of reach.
            return Plan { needed: limit.min(needed), reachable: false };
        }
        best = grow(best, new_weight);
        needed = needed.saturating_add(1);
    }
}

/// The planner's theoretical minimum for a fresh task: replicas of weight `weight`, all agreeing,
/// needed to reach consensus at `trust` (`None` if more than `limit`).
pub fn minimum_replicas(trust: Trust, weight: U256, limit: u32) -> Option<u32> {
    let p = plan(&Tally::new(), trust, [], weight, limit);
    p.reachable.then_some(p.needed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use quorate_primitives::{B256, ResultHash};

    use super::*;

    fn t(v: u64) -> Trust {
        Trust::from_u64(v).unwrap()
    }

    #[test]
    fn fresh_task_minimum_matches_the_worked_numbers() {
        let two = U256::from(2);
        for (trust, n) in [(1, 1), (2, 1), (3, 2), (5, 3), (100, 7), (10_000, 14)] {
            assert_eq!(minimum_replicas(t(trust), two, 64), Some(n), "T = {trust}");
        }
        assert_eq!(minimum_replicas(t(10_000), two, 5), None);
    }

    #[test]
    fn pending_replicas_count_as_agreeing() {
        let mut tally = Tally::new();
        let a = ResultHash(B256::repeat_byte(1));
        tally.add_vote(a, U256::from(2)).unwrap();
        let two = U256::from(2);
        // T = 100 needs 7 fresh votes: one in, six to go, minus pending ones.
        assert_eq!(plan(&tally, t(100), [], two, 32).needed, 6);
        assert_eq!(plan(&tally, t(100), [two; 4], two, 32).needed, 2);
        assert_eq!(plan(&tally, t(100), [two; 6], two, 32).needed, 0);
        // A dissenting vote raises `worst`: best must pass 99 × (3 + 2), so 2^9, 8 more.
        tally.add_vote(ResultHash(B256::repeat_byte(2)), two).unwrap();
        assert_eq!(plan(&tally, t(100), [], two, 32).needed, 8);
    }

    #[test]
    fn the_cap_bounds_the_answer() {
        let p = plan(&Tally::new(), t(100), [], U256::from(2), 3);
        assert_eq!(p, Plan { needed: 3, reachable: false });
    }
}

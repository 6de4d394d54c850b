//! Group/total accounting and the consensus test (docs/poco.md, "Weights and consensus").
//!
//! A [`Tally`] is one task's `total` and `group[h]` exactly as the contract keeps them:
//! `total` starts at 1, a vote of weight `w` for `h` adds `delta = max(group[h], 1)·w − group[h]`
//! to both, so a group's value is the product of its voters' weights. Consensus on `h` holds
//! when `group[h]·T > total·(T − 1)`.

use quorate_primitives::{ResultHash, U256};

use crate::{
    Error,
    error::checked::{add, mul, sub},
};

/// The credibility a client pays for: consensus needs `1 − 1/T` of the weighted votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Trust(U256);

impl Trust {
    /// `T = 1`: a single vote suffices (the fast path).
    pub const ONE: Self = Self(U256::from_limbs([1, 0, 0, 0]));

    /// A trust level; `T ≥ 1` or [`Error::InvalidTrust`].
    pub fn new(trust: U256) -> Result<Self, Error> {
        if trust.is_zero() { Err(Error::InvalidTrust) } else { Ok(Self(trust)) }
    }

    /// A trust level from a `u64`; `T ≥ 1` or [`Error::InvalidTrust`].
    pub fn from_u64(trust: u64) -> Result<Self, Error> {
        Self::new(U256::from(trust))
    }

    /// `T`.
    pub const fn get(self) -> U256 {
        self.0
    }

    /// `T − 1` (cannot underflow: `T ≥ 1`).
    pub fn minus_one(self) -> U256 {
        self.0.saturating_sub(U256::from(1u8))
    }
}

/// The consensus test: `group·T > total·(T − 1)`, in checked 256-bit arithmetic.
pub fn consensus_holds(group: U256, total: U256, trust: Trust) -> Result<bool, Error> {
    let lhs = mul("group × T", group, trust.get())?;
    let rhs = mul("total × (T − 1)", total, trust.minus_one())?;
    Ok(lhs > rhs)
}

/// One group of agreeing votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// The vote they share.
    pub hash: ResultHash,
    /// The product of their weights (`group[h]`).
    pub value: U256,
    /// How many votes it holds.
    pub votes: u32,
}

/// One task's vote accounting. Groups are kept in first-vote order in a small vector: a task has
/// a handful of distinct answers, and a linear scan beats hashing at that size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    total: U256,
    groups: Vec<Group>,
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

impl Tally {
    /// A fresh tally: `total = 1`, no groups.
    pub fn new() -> Self {
        Self { total: U256::from(1u8), groups: Vec::new() }
    }

    /// `total`.
    pub fn total(&self) -> U256 {
        self.total
    }

    /// `group[h]` (0 for a hash nobody voted).
    pub fn group(&self, hash: &ResultHash) -> U256 {
        self.find(hash).map_or(U256::ZERO, |g| g.value)
    }

    /// The groups with a nonzero value, in first-vote order.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter().filter(|g| !g.value.is_zero())
    }

    /// The group with the largest value (the first one on ties), if any.
    pub fn leader(&self) -> Option<&Group> {
        self.groups().fold(None, |best: Option<&Group>, g| match best {
            Some(b) if b.value >= g.value => Some(b),
            _ => Some(g),
        })
    }

    /// The `delta` a vote of `weight` for `hash` would add: `max(group[h], 1)·w − group[h]`.
    pub fn delta(&self, hash: &ResultHash, weight: U256) -> Result<U256, Error> {
        let group = self.group(hash);
        let product = mul("group × weight", group.max(U256::from(1u8)), weight)?;
        sub("product − group", product, group)
    }

    /// Records a vote of `weight` for `hash` and returns the new `group[h]`. On error nothing
    /// changes (the contract's revert).
    pub fn add_vote(&mut self, hash: ResultHash, weight: U256) -> Result<U256, Error> {
        let delta = self.delta(&hash, weight)?;
        let new_total = add("total + delta", self.total, delta)?;
        let new_group = add("group + delta", self.group(&hash), delta)?;
        self.commit(hash, new_group, new_total);
        Ok(new_group)
    }

    /// `contribute`'s accounting: records a vote of `weight` for `hash` and tests consensus on
    /// `hash` at `trust`, all or nothing. Returns `(group[h], total, consensus)`; on error
    /// (overflow in the update or in the test) nothing changes, as the contract reverts.
    pub fn vote(
        &mut self,
        hash: ResultHash,
        weight: U256,
        trust: Trust,
    ) -> Result<(U256, U256, bool), Error> {
        let delta = self.delta(&hash, weight)?;
        let new_total = add("total + delta", self.total, delta)?;
        let new_group = add("group + delta", self.group(&hash), delta)?;
        let consensus = consensus_holds(new_group, new_total, trust)?;
        self.commit(hash, new_group, new_total);
        Ok((new_group, new_total, consensus))
    }

    fn commit(&mut self, hash: ResultHash, new_group: U256, new_total: U256) {
        self.total = new_total;
        match self.groups.iter_mut().find(|g| g.hash == hash) {
            Some(g) => {
                g.value = new_group;
                g.votes = g.votes.saturating_add(1);
            }
            None => self.groups.push(Group { hash, value: new_group, votes: 1 }),
        }
    }

    /// True when `hash` has consensus at `trust`.
    pub fn has_consensus(&self, hash: &ResultHash, trust: Trust) -> Result<bool, Error> {
        consensus_holds(self.group(hash), self.total, trust)
    }

    /// Reopen: removes `group[h]` from `total` and clears the group; returns the value removed.
    pub fn clear_group(&mut self, hash: &ResultHash) -> Result<U256, Error> {
        let value = self.group(hash);
        let new_total = sub("total − group", self.total, value)?;
        self.total = new_total;
        self.groups.retain(|g| g.hash != *hash);
        Ok(value)
    }

    fn find(&self, hash: &ResultHash) -> Option<&Group> {
        self.groups.iter().find(|g| g.hash == *hash)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
    use quorate_primitives::B256;

    use super::*;
    use crate::weight::vote_weight;

    fn h(byte: u8) -> ResultHash {
        ResultHash(B256::repeat_byte(byte))
    }

    fn fresh_votes_needed(trust: u64) -> u32 {
        let trust = Trust::from_u64(trust).unwrap();
        let mut tally = Tally::new();
        let mut votes = 0;
        loop {
            tally.add_vote(h(1), vote_weight(U256::ZERO)).unwrap();
            votes += 1;
            if tally.has_consensus(&h(1), trust).unwrap() {
                return votes;
            }
        }
    }

    #[test]
    fn fresh_workers_need_the_documented_votes() {
        assert_eq!(fresh_votes_needed(1), 1);
        assert_eq!(fresh_votes_needed(2), 1);
        assert_eq!(fresh_votes_needed(3), 2);
        assert_eq!(fresh_votes_needed(5), 3);
        assert_eq!(fresh_votes_needed(100), 7);
        assert_eq!(fresh_votes_needed(10_000), 14);
    }

    #[test]
    fn the_3168_over_3172_example() {
        let trust = Trust::from_u64(100).unwrap();
        let mut tally = Tally::new();
        tally.add_vote(h(17), U256::from(3)).unwrap();
        assert!(!tally.has_consensus(&h(17), trust).unwrap());
        tally.add_vote(h(42), U256::from(32)).unwrap();
        assert!(!tally.has_consensus(&h(42), trust).unwrap());
        tally.add_vote(h(42), U256::from(99)).unwrap();
        assert_eq!(tally.group(&h(42)), U256::from(3168));
        assert_eq!(tally.total(), U256::from(3172));
        assert!(tally.has_consensus(&h(42), trust).unwrap());
        assert_eq!(tally.leader().unwrap().hash, h(42));
    }

    #[test]
    fn reopen_removes_the_group_from_total() {
        let mut tally = Tally::new();
        tally.add_vote(h(1), U256::from(2)).unwrap();
        tally.add_vote(h(2), U256::from(2)).unwrap();
        tally.add_vote(h(2), U256::from(2)).unwrap();
        assert_eq!(tally.total(), U256::from(7));
        assert_eq!(tally.clear_group(&h(2)).unwrap(), U256::from(4));
        assert_eq!(tally.total(), U256::from(3));
        assert_eq!(tally.group(&h(2)), U256::ZERO);
    }

    #[test]
    fn overflow_is_an_error_and_changes_nothing() {
        let mut tally = Tally::new();
        let huge = vote_weight(U256::MAX);
        tally.add_vote(h(1), huge).unwrap();
        let before = tally.clone();
        let err = tally.add_vote(h(1), huge).unwrap_err();
        assert!(err.is_arithmetic());
        assert_eq!(tally, before);
        assert!(
            tally.has_consensus(&h(1), Trust::from_u64(10).unwrap()).unwrap_err().is_arithmetic()
        );
        // An overflow in the consensus test refuses the whole vote.
        let mut fresh = Tally::new();
        let err = fresh.vote(h(1), huge, Trust::from_u64(10).unwrap()).unwrap_err();
        assert!(err.is_arithmetic());
        assert_eq!(fresh, Tally::new());
        assert_eq!(Trust::from_u64(0), Err(Error::InvalidTrust));
    }
}

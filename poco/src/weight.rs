//! Vote weights and score updates (docs/poco.md, "Weights and consensus" and "Money").
//!
//! Scores are `uint256` on-chain, so they are [`U256`] here; every function is total (no
//! overflow is possible) except [`score_after_win`], which refuses to pass `2^256 − 1`.

use quorate_primitives::U256;

use crate::Error;

const TWO: U256 = U256::from_limbs([2, 0, 0, 0]);
const THREE: U256 = U256::from_limbs([3, 0, 0, 0]);

/// The weight of a vote by a worker whose on-chain score is `score`:
/// `w(s) = max(floor(s / 3), 3) − 1`. Scores 0–11 give 2, 12 gives 3, 100 gives 32.
pub fn vote_weight(score: U256) -> U256 {
    // floor(s/3) ≤ 2^256/3 and max(.., 3) ≥ 3: neither step can overflow nor underflow.
    div3(score).max(THREE).saturating_sub(U256::from(1u8))
}

/// The lowest score whose [`vote_weight`] is `weight` (a weight below 2 gives 0): what a
/// follower of the chain, which sees contributions' weights, hands a mirror that counts scores.
/// Every weight the contract can record has one: `w = 2` from score 0, `w ≥ 3` from `3(w + 1)`.
pub fn score_for_weight(weight: U256) -> U256 {
    if weight <= TWO {
        U256::ZERO
    } else {
        // w ≤ floor((2^256 − 1)/3) − 1 for any weight the contract records, so 3(w + 1) fits.
        weight.saturating_add(U256::from(1u8)).saturating_mul(THREE)
    }
}

/// [`vote_weight`] for a score that fits 64 bits (the common case off-chain).
pub fn vote_weight_u64(score: u64) -> u64 {
    (score / 3).max(3).saturating_sub(1)
}

/// The payout weight of a contribution with vote weight `weight`: `floor(log2(weight))`, and 0
/// for a weight of 0 (which [`vote_weight`] never returns).
pub fn payout_weight(weight: U256) -> U256 {
    // bit_len ≤ 256, so the subtraction is the only thing to guard.
    U256::from(weight.bit_len().saturating_sub(1))
}

/// The score of a PROVED worker after finalize: `s + 1` when the task had more than one
/// contributor, unchanged for a lone contributor (no reputation farming by voting alone).
pub fn score_after_win(score: U256, contributors: usize) -> Result<U256, Error> {
    if contributors > 1 {
        crate::error::checked::add("score + 1", score, U256::from(1u8))
    } else {
        Ok(score)
    }
}

/// The score of a worker that was not PROVED after finalize: `floor(2s / 3)`, computed as
/// `2·floor(s/3) + floor(2·(s mod 3) / 3)` so that it cannot overflow even for `s` near
/// `2^256` (the contract must compute it the same way, not as `s·2/3`).
pub fn score_after_loss(score: U256) -> U256 {
    let q = div3(score);
    let r = score.checked_rem(THREE).unwrap_or_default();
    // q ≤ (2^256−1)/3, so 2q < 2^256 and the saturating ops never saturate;
    // floor(2r/3) is 1 for r = 2, else 0.
    let carry = if r == TWO { U256::from(1u8) } else { U256::ZERO };
    q.saturating_mul(TWO).saturating_add(carry)
}

/// `floor(s / 3)`: dividing by a nonzero constant cannot fail.
fn div3(score: U256) -> U256 {
    score.checked_div(THREE).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::arithmetic_side_effects)]
    use super::*;

    fn u(v: u64) -> U256 {
        U256::from(v)
    }

    #[test]
    fn weights_match_the_worked_numbers() {
        for s in 0..=11 {
            assert_eq!(vote_weight(u(s)), u(2), "score {s}");
            assert_eq!(vote_weight_u64(s), 2, "score {s}");
        }
        assert_eq!(vote_weight(u(12)), u(3));
        assert_eq!(vote_weight(u(100)), u(32));
        assert_eq!(vote_weight(u(300)), u(99));
        assert_eq!(vote_weight(U256::MAX), U256::MAX / u(3) - u(1));
        assert_eq!(vote_weight_u64(u64::MAX), u64::MAX / 3 - 1);
    }

    #[test]
    fn a_weight_maps_back_to_a_score_of_that_weight() {
        for w in 2..500u64 {
            let s = score_for_weight(u(w));
            assert_eq!(vote_weight(s), u(w), "weight {w}");
            // The lowest such score: one below gives a smaller weight (or it is 0).
            assert!(s.is_zero() || vote_weight(s - u(1)) < u(w), "weight {w}");
        }
        let top = vote_weight(U256::MAX);
        assert_eq!(vote_weight(score_for_weight(top)), top);
    }

    #[test]
    fn payout_weights_are_floor_log2() {
        assert_eq!(payout_weight(u(2)), u(1));
        assert_eq!(payout_weight(u(3)), u(1));
        assert_eq!(payout_weight(u(32)), u(5));
        assert_eq!(payout_weight(u(99)), u(6));
        assert_eq!(payout_weight(u(0)), u(0));
        assert_eq!(payout_weight(U256::MAX), u(255));
    }

    #[test]
    fn losing_keeps_two_thirds_without_overflow() {
        for s in 0..1000u64 {
            assert_eq!(score_after_loss(u(s)), u(2 * s / 3), "score {s}");
        }
        let max = U256::MAX;
        // (2^256 − 1) = 0 mod 3, so floor(2·max/3) = 2·(max/3).
        assert_eq!(score_after_loss(max), (max / u(3)) * u(2));
        assert!(score_after_loss(max) < max);
    }

    #[test]
    fn winning_adds_one_only_with_replication() {
        assert_eq!(score_after_win(u(5), 1), Ok(u(5)));
        assert_eq!(score_after_win(u(5), 2), Ok(u(6)));
        assert!(score_after_win(U256::MAX, 3).is_err_and(|e| e.is_arithmetic()));
    }
}

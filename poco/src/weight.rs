//! Vote weights from worker scores (docs/poco.md, "Weights and consensus").

/// The weight of a vote by a worker whose on-chain score is `score`:
/// `w(s) = max(floor(s / 3), 3) − 1`. Scores 0–11 give 2, 12 gives 3, 100 gives 32.
pub fn vote_weight(score: u64) -> u64 {
    // max(.., 3) ≥ 3, so the subtraction cannot underflow.
    (score / 3).max(3).saturating_sub(1)
}

/// The payout weight of a contribution with vote weight `weight`: `floor(log2(weight))`, and 0
/// for a weight of 0 (which [`vote_weight`] never returns).
pub fn payout_weight(weight: u64) -> u64 {
    weight.checked_ilog2().map_or(0, u64::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_match_the_worked_numbers() {
        for s in 0..=11 {
            assert_eq!(vote_weight(s), 2, "score {s}");
        }
        assert_eq!(vote_weight(12), 3);
        assert_eq!(vote_weight(100), 32);
        assert_eq!(vote_weight(300), 99);
        assert_eq!(vote_weight(u64::MAX), u64::MAX / 3 - 1);
    }

    #[test]
    fn payout_weights_are_floor_log2() {
        assert_eq!(payout_weight(2), 1);
        assert_eq!(payout_weight(3), 1);
        assert_eq!(payout_weight(32), 5);
        assert_eq!(payout_weight(99), 6);
        assert_eq!(payout_weight(0), 0);
    }
}

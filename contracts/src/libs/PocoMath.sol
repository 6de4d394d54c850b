// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title PocoMath
/// @notice The pure arithmetic of Proof of Contribution (POCO.md), shared by the Hub and by the
/// tests that replay the poco crate's JSON vectors, so that Solidity and Rust are checked against
/// one set of numbers. Everything is unsigned 256-bit and checked: an overflow reverts, it never
/// wraps. The consensus arithmetic reverts with `PocoMathOverflow`, a named error, not a Panic: a
/// vote that would overflow the tally (about 240 votes of the minimum weight) is refused like any
/// other, as the Rust side refuses it.
library PocoMath {
    /// @notice Percent base of every ratio (worker stake, scheduler reward, pool stake).
    uint256 internal constant PERCENT = 100;

    /// @notice Thrown for a trust level of zero: the required credibility `1 - 1/T` needs `T >= 1`.
    error PocoMathZeroTrust();
    /// @notice Thrown for a vote weight of zero: every weight `w(s)` is at least 2.
    error PocoMathZeroWeight();
    /// @notice Thrown when a payout is split with a zero sum of payout weights.
    error PocoMathZeroWeightSum();
    /// @notice Thrown when a vote or a consensus test would overflow 256 bits.
    error PocoMathOverflow();

    function _mul(uint256 a, uint256 b) private pure returns (uint256) {
        (bool ok, uint256 product) = Math.tryMul(a, b);
        if (!ok) revert PocoMathOverflow();
        return product;
    }

    function _add(uint256 a, uint256 b) private pure returns (uint256) {
        (bool ok, uint256 sum) = Math.tryAdd(a, b);
        if (!ok) revert PocoMathOverflow();
        return sum;
    }

    /// @notice `w(s) = max(floor(s / 3), 3) - 1`: scores 0 to 11 weigh 2, 12 weighs 3, 100 weighs 32.
    function weight(uint256 score) internal pure returns (uint256) {
        uint256 third = score / 3;
        return (third > 3 ? third : 3) - 1;
    }

    /// @notice Payout weight of a contribution: `floor(log2(w))` (1 for the minimum weight 2).
    function payoutWeight(uint256 voteWeight) internal pure returns (uint256) {
        if (voteWeight == 0) revert PocoMathZeroWeight();
        return Math.log2(voteWeight);
    }

    /// @notice Adds a vote of weight `w` to a group: `delta = max(group, 1) * w - group`, so the
    /// group becomes the product of its voters' weights and `total` grows by the same delta.
    /// @return newGroup the group's value after the vote.
    /// @return newTotal the task's total after the vote.
    function addVote(uint256 group, uint256 total, uint256 w)
        internal
        pure
        returns (uint256 newGroup, uint256 newTotal)
    {
        if (w == 0) revert PocoMathZeroWeight();
        newGroup = _mul(group == 0 ? 1 : group, w);
        newTotal = _add(total, newGroup - group);
    }

    /// @notice Consensus on a group holds when `group * T > total * (T - 1)`.
    function hasConsensus(uint256 group, uint256 total, uint256 trust) internal pure returns (bool) {
        if (trust == 0) revert PocoMathZeroTrust();
        return _mul(group, trust) > _mul(total, trust - 1);
    }

    /// @notice Score of a worker whose contribution was proved: `+1` only when the task had more
    /// than one contributor, so a lone voter cannot farm reputation.
    function scoreAfterProved(uint256 score, uint256 contributors) internal pure returns (uint256) {
        return contributors > 1 ? score + 1 : score;
    }

    /// @notice Score of a worker whose contribution was not proved: `floor(2s / 3)`, computed as
    /// `2 * floor(s / 3) + floor(2 * (s mod 3) / 3)` so that no score, however large, overflows.
    function scoreAfterLost(uint256 score) internal pure returns (uint256) {
        return 2 * (score / 3) + (score % 3 == 2 ? 1 : 0);
    }

    /// @notice The amount a worker stakes on one contribution: `price * ratio / 100`.
    function stake(uint256 price, uint256 ratioPercent) internal pure returns (uint256) {
        return (price * ratioPercent) / PERCENT;
    }

    /// @notice The rewards of a finalized task.
    /// @param price the task price paid by the client.
    /// @param workerStake the stake of one contribution.
    /// @param contributors number of contributions to the task.
    /// @param proved number of contributions that were proved.
    /// @param schedulerRatioPercent the pool's scheduler reward ratio.
    /// @return totalReward `price + workerStake * (contributors - proved)`.
    /// @return workersReward `totalReward * (100 - schedulerRatio) / 100`.
    function rewards(
        uint256 price,
        uint256 workerStake,
        uint256 contributors,
        uint256 proved,
        uint256 schedulerRatioPercent
    ) internal pure returns (uint256 totalReward, uint256 workersReward) {
        totalReward = price + workerStake * (contributors - proved);
        workersReward = (totalReward * (PERCENT - schedulerRatioPercent)) / PERCENT;
    }

    /// @notice One proved worker's share of the workers' reward: `workersReward * w_i / sum w`.
    function share(uint256 workersReward, uint256 weightOfWorker, uint256 weightSum) internal pure returns (uint256) {
        if (weightSum == 0) revert PocoMathZeroWeightSum();
        return (workersReward * weightOfWorker) / weightSum;
    }
}

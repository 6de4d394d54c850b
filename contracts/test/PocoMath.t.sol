// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "./utils/Test.sol";
import {PocoMath} from "../src/libs/PocoMath.sol";

/// @notice External entry points to the library, so that reverts can be expected.
contract PocoMathHarness {
    function addVote(uint256 group, uint256 total, uint256 w) external pure returns (uint256, uint256) {
        return PocoMath.addVote(group, total, w);
    }

    function hasConsensus(uint256 group, uint256 total, uint256 trust) external pure returns (bool) {
        return PocoMath.hasConsensus(group, total, trust);
    }

    function payoutWeight(uint256 w) external pure returns (uint256) {
        return PocoMath.payoutWeight(w);
    }

    function share(uint256 reward, uint256 w, uint256 sum) external pure returns (uint256) {
        return PocoMath.share(reward, w, sum);
    }
}

/// @notice The pure maths of POCO.md: the worked numbers, edge cases and properties.
contract PocoMathTest is Test {
    PocoMathHarness internal h = new PocoMathHarness();

    function test_weight_workedNumbers() public pure {
        for (uint256 s = 0; s <= 11; s++) {
            assertEq(PocoMath.weight(s), 2, "scores 0..11 weigh 2");
        }
        assertEq(PocoMath.weight(12), 3, "12 -> 3");
        assertEq(PocoMath.weight(100), 32, "100 -> 32");
        assertEq(PocoMath.weight(300), 99, "300 -> 99");
        assertEq(PocoMath.weight(type(uint256).max), type(uint256).max / 3 - 1, "no overflow at the top");
    }

    function test_payoutWeight_isFloorLog2() public {
        assertEq(PocoMath.payoutWeight(2), 1, "2");
        assertEq(PocoMath.payoutWeight(3), 1, "3");
        assertEq(PocoMath.payoutWeight(32), 5, "32");
        assertEq(PocoMath.payoutWeight(99), 6, "99");
        assertEq(PocoMath.payoutWeight(type(uint256).max), 255, "max");
        vm.expectRevert(PocoMath.PocoMathZeroWeight.selector);
        h.payoutWeight(0);
    }

    function test_addVote_groupIsProductOfWeights() public pure {
        uint256 total = 1;
        uint256 g42;
        uint256 g17;
        (g17, total) = PocoMath.addVote(g17, total, 3);
        (g42, total) = PocoMath.addVote(g42, total, 32);
        (g42, total) = PocoMath.addVote(g42, total, 99);
        assertEq(g17, 3, "group[17]");
        assertEq(g42, 3168, "group[42] = 32 * 99");
        assertEq(total, 3172, "total");
        assertTrue(PocoMath.hasConsensus(g42, total, 100), "3168 * 100 > 3172 * 99");
        assertFalse(PocoMath.hasConsensus(g17, total, 100), "not on 17");
    }

    function test_votesNeeded_workedNumbers() public pure {
        uint256[7] memory trusts = [uint256(1), 2, 3, 5, 100, 10_000, 1_000_000];
        uint256[7] memory needed = [uint256(1), 1, 2, 3, 7, 14, 20];
        for (uint256 k = 0; k < trusts.length; k++) {
            uint256 group;
            uint256 total = 1;
            uint256 votes;
            while (!PocoMath.hasConsensus(group, total, trusts[k])) {
                (group, total) = PocoMath.addVote(group, total, 2);
                votes++;
            }
            assertEq(votes, needed[k], "fresh votes needed");
        }
    }

    function test_hasConsensus_revertsOnZeroTrust() public {
        vm.expectRevert(PocoMath.PocoMathZeroTrust.selector);
        h.hasConsensus(1, 1, 0);
    }

    function test_addVote_revertsOnZeroWeightAndOverflow() public {
        vm.expectRevert(PocoMath.PocoMathZeroWeight.selector);
        h.addVote(1, 2, 0);
        vm.expectRevert(PocoMath.PocoMathOverflow.selector);
        h.addVote(type(uint256).max / 2 + 1, type(uint256).max, 2);
        vm.expectRevert(PocoMath.PocoMathOverflow.selector);
        h.addVote(1, type(uint256).max, 2);
        vm.expectRevert(PocoMath.PocoMathOverflow.selector);
        h.hasConsensus(type(uint256).max / 3, type(uint256).max / 3, 10000);
    }

    /// @dev At T = 10000 a run of minimum-weight votes overflows the tally after about 240 votes:
    /// the vote is refused with the named error, never a Panic.
    function test_aLongRunOfVotesOverflowsWithTheNamedError() public {
        uint256 group;
        uint256 total;
        uint256 votes;
        while (true) {
            try h.addVote(group, total, 2) returns (uint256 g, uint256 t) {
                (group, total) = (g, t);
                votes++;
            } catch (bytes memory reason) {
                assertEq(bytes4(reason), PocoMath.PocoMathOverflow.selector, "named error");
                break;
            }
            try h.hasConsensus(group, total, 10000) returns (bool) {}
            catch (bytes memory reason) {
                assertEq(bytes4(reason), PocoMath.PocoMathOverflow.selector, "named error");
                break;
            }
        }
        assertGt(votes, 200, "hundreds of votes fit");
    }

    function test_share_revertsOnZeroSum() public {
        vm.expectRevert(PocoMath.PocoMathZeroWeightSum.selector);
        h.share(1, 1, 0);
    }

    function test_scores() public pure {
        assertEq(PocoMath.scoreAfterProved(5, 1), 5, "lone contributor keeps its score");
        assertEq(PocoMath.scoreAfterProved(5, 2), 6, "+1");
        assertEq(PocoMath.scoreAfterLost(0), 0, "0");
        assertEq(PocoMath.scoreAfterLost(1), 0, "1");
        assertEq(PocoMath.scoreAfterLost(2), 1, "2");
        assertEq(PocoMath.scoreAfterLost(30), 20, "30");
        assertEq(
            PocoMath.scoreAfterLost(type(uint256).max),
            (type(uint256).max / 3) * 2 + (type(uint256).max % 3 == 2 ? 1 : 0),
            "max"
        );
    }

    function test_rewards() public pure {
        (uint256 totalReward, uint256 workersReward) = PocoMath.rewards(100, 30, 5, 4, 10);
        assertEq(totalReward, 130, "price + one seized stake");
        assertEq(workersReward, 117, "90 %");
        assertEq(PocoMath.stake(100 ether, 30), 30 ether, "30 %");
    }

    function testFuzz_scoreAfterLost_isFloorTwoThirds(uint256 s) public pure {
        s = bound(s, 0, type(uint256).max / 2);
        assertEq(PocoMath.scoreAfterLost(s), (s * 2) / 3, "floor(2s/3)");
    }

    function testFuzz_addVote_totalIsOnePlusGroups(uint8[12] memory ws, bool[12] memory sides) public pure {
        uint256 a;
        uint256 b;
        uint256 total = 1;
        for (uint256 i = 0; i < ws.length; i++) {
            uint256 w = bound(ws[i], 1, 200);
            if (sides[i]) (a, total) = PocoMath.addVote(a, total, w);
            else (b, total) = PocoMath.addVote(b, total, w);
        }
        assertEq(total, 1 + a + b, "total = 1 + sum of groups");
    }

    function testFuzz_shares_neverExceedReward(uint96 reward, uint8[5] memory ws) public pure {
        uint256 sum;
        for (uint256 i = 0; i < ws.length; i++) {
            sum += bound(ws[i], 1, 255);
        }
        uint256 paid;
        for (uint256 i = 0; i < ws.length; i++) {
            paid += PocoMath.share(reward, bound(ws[i], 1, 255), sum);
        }
        assertLe(paid, reward, "shares <= reward");
        assertLe(reward - paid, ws.length, "rounding loses less than one unit per worker");
    }
}

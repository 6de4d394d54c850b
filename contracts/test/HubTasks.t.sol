// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {HubFixture} from "./utils/HubFixture.sol";
import {IHub} from "../src/interfaces/IHub.sol";

/// @notice The task state machine of POCO.md: every call's success path, each of its reverts,
/// the worked examples, deadlines, reopen, claim and the trust-1 fast path.
contract HubTasksTest is HubFixture {
    bytes32 internal constant A = keccak256("answer A");
    bytes32 internal constant B = keccak256("answer B");

    // ================================================================== initialize

    function test_initialize_opensTask() public {
        bytes32 dealId = _match(5, 3);
        vm.expectEmit(address(hub));
        emit IHub.TaskInitialized(keccak256(abi.encodePacked(dealId, uint256(2))), dealId, 2);
        bytes32 taskId = hub.initialize(dealId, 2);
        assertEq(taskId, keccak256(abi.encodePacked(dealId, uint256(2))), "taskId = keccak(dealId, index)");
        IHub.TaskView memory t = hub.task(taskId);
        assertEq(uint256(t.status), uint256(IHub.TaskStatus.ACTIVE), "active");
        assertEq(t.dealId, dealId, "deal");
        assertEq(t.total, 1, "total starts at 1");
        assertEq(t.contributionDeadline, block.timestamp + 7 * TIME_REF, "contribution deadline");
        assertEq(t.finalDeadline, block.timestamp + 10 * TIME_REF, "final deadline");
    }

    function test_initialize_revertsOnUnknownDeal() public {
        vm.expectRevert(abi.encodeWithSelector(IHub.UnknownDeal.selector, bytes32(uint256(1))));
        hub.initialize(bytes32(uint256(1)), 0);
    }

    function test_initialize_revertsOnIndexOutOfDeal() public {
        bytes32 dealId = _match(5, 3);
        vm.expectRevert(abi.encodeWithSelector(IHub.IndexOutOfDeal.selector, 3));
        hub.initialize(dealId, 3);
    }

    function test_initialize_revertsWhenAlreadyInitialized() public {
        bytes32 dealId = _match(5, 1);
        hub.initialize(dealId, 0);
        vm.expectRevert(abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.ACTIVE));
        hub.initialize(dealId, 0);
    }

    // ================================================================== full lifecycle

    function test_lifecycle_threeAgreeingWorkers() public {
        bytes32 taskId = _newTask(5);
        _contribute(taskId, 0, A);
        _contribute(taskId, 1, A);
        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.ACTIVE), "2 votes < consensus at T=5");
        vm.expectEmit(address(hub));
        emit IHub.TaskConsensus(taskId, _hash(taskId, A), block.timestamp + 2 * TIME_REF);
        _contribute(taskId, 2, A);
        IHub.TaskView memory t = hub.task(taskId);
        assertEq(uint256(t.status), uint256(IHub.TaskStatus.REVEALING), "revealing");
        assertEq(t.winnerCount, 3, "winners");
        assertEq(t.revealDeadline, block.timestamp + 2 * TIME_REF, "reveal deadline");
        assertEq(hub.frozenBalanceOf(workers[0]), WORKER_STAKE, "stake locked");

        for (uint256 i = 0; i < 3; i++) {
            _reveal(taskId, i, A);
            assertEq(uint256(_cStatus(taskId, i)), uint256(IHub.ContributionStatus.PROVED), "proved");
        }
        vm.expectEmit(address(hub));
        emit IHub.TaskFinalized(taskId, "ipfs://results");
        _finalize(taskId);

        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.COMPLETED), "completed");
        // totalReward = 100, workers get 90 split by payout weight 1:1:1.
        for (uint256 i = 0; i < 3; i++) {
            assertEq(hub.freeBalanceOf(workers[i]), FUNDS + 30 ether, "worker paid");
            assertEq(hub.frozenBalanceOf(workers[i]), 0, "worker stake released");
            assertEq(hub.scoreOf(poolOwner, workers[i]), 1, "score +1");
        }
        assertEq(hub.freeBalanceOf(poolOwner), FUNDS + 10 ether, "pool owner: 10 % and its stake back");
        assertEq(hub.frozenBalanceOf(poolOwner), 0, "pool stake released");
        assertEq(hub.freeBalanceOf(client), FUNDS - PRICE, "client paid");
        assertEq(hub.frozenBalanceOf(client), 0, "client escrow spent");
        _assertConservation();
    }

    function test_lifecycle_loserPaysWinners() public {
        _setScore(workers[2], 9);
        bytes32 taskId = _newTask(5);
        _contribute(taskId, 0, A); // gA 2, total 3
        _contribute(taskId, 1, A); // gA 4, total 5: 20 > 20 fails
        _contribute(taskId, 2, B); // gB 2, total 7
        _contribute(taskId, 3, A); // gA 8, total 11: 40 > 44 fails
        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.ACTIVE), "no consensus yet");
        _contribute(taskId, 4, A); // gA 16, total 19: 80 > 76 holds
        IHub.TaskView memory t = hub.task(taskId);
        assertEq(uint256(t.status), uint256(IHub.TaskStatus.REVEALING), "consensus");
        assertEq(t.winnerCount, 4, "4 winners");
        assertEq(t.total, 19, "total");
        assertEq(hub.groupOf(taskId, _hash(taskId, A)), 16, "group A");
        assertEq(hub.groupOf(taskId, _hash(taskId, B)), 2, "group B");

        vm.prank(workers[2]);
        vm.expectRevert(IHub.NotAWinner.selector);
        hub.reveal(taskId, B);

        _reveal(taskId, 0, A);
        _reveal(taskId, 1, A);
        _reveal(taskId, 3, A);
        _reveal(taskId, 4, A);
        _finalize(taskId);
        // totalReward = 100 + 30 (loser's stake) = 130; workers 117, 4 equal weights.
        assertEq(hub.freeBalanceOf(workers[0]), FUNDS + 29.25 ether, "winner share");
        assertEq(hub.freeBalanceOf(workers[2]), FUNDS - WORKER_STAKE, "loser lost its stake");
        assertEq(hub.frozenBalanceOf(workers[2]), 0, "loser's stake taken");
        assertEq(hub.scoreOf(poolOwner, workers[2]), 6, "loser score 9 -> 6");
        assertEq(hub.scoreOf(poolOwner, workers[4]), 1, "winner score +1");
        assertEq(hub.freeBalanceOf(poolOwner), FUNDS + 13 ether, "pool owner 10 % of 130");
        _assertConservation();
    }

    function test_lifecycle_payoutFollowsLog2Weights() public {
        // weights: score 0 -> 2 (payout 1), score 24 -> 7 (payout 2), score 300 -> 99 (payout 6)
        _setScore(workers[1], 24);
        _setScore(workers[2], 300);
        bytes32 taskId = _newTask(100);
        _contribute(taskId, 0, A);
        _contribute(taskId, 1, A);
        _contribute(taskId, 2, A); // group 2*7*99 = 1386, total 1387: 138600 > 137313
        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.REVEALING), "consensus");
        assertEq(hub.contribution(taskId, workers[2]).payoutWeight, 6, "floor(log2(99))");
        for (uint256 i = 0; i < 3; i++) {
            _reveal(taskId, i, A);
        }
        _finalize(taskId);
        // 90 split 1:2:6
        assertEq(hub.freeBalanceOf(workers[0]), FUNDS + 10 ether, "weight 1/9");
        assertEq(hub.freeBalanceOf(workers[1]), FUNDS + 20 ether, "weight 2/9");
        assertEq(hub.freeBalanceOf(workers[2]), FUNDS + 60 ether, "weight 6/9");
        assertEq(hub.scoreOf(poolOwner, workers[2]), 301, "score +1");
        _assertConservation();
    }

    // ================================================================== worked examples

    function test_workedExample_sevenFreshVotesAtTrust100() public {
        bytes32 taskId = _newTask(100);
        for (uint256 i = 0; i < 6; i++) {
            _contribute(taskId, i, A);
            assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.ACTIVE), "no consensus before 7 votes");
        }
        _contribute(taskId, 6, A);
        IHub.TaskView memory t = hub.task(taskId);
        assertEq(uint256(t.status), uint256(IHub.TaskStatus.REVEALING), "consensus at the 7th vote");
        assertEq(hub.groupOf(taskId, _hash(taskId, A)), 128, "2^7");
        assertEq(t.total, 129, "total");
    }

    function test_workedExample_votesNeededPerTrust() public {
        uint32[6] memory trusts = [uint32(1), 2, 3, 5, 100, 10_000];
        uint256[6] memory needed = [uint256(1), 1, 2, 3, 7, 14];
        for (uint256 k = 0; k < trusts.length; k++) {
            bytes32 taskId = _newTask(trusts[k]);
            uint256 votes;
            while (_status(taskId) == IHub.TaskStatus.ACTIVE) {
                _contribute(taskId, votes, A);
                votes++;
            }
            assertEq(votes, needed[k], string.concat("votes needed at T=", vm.toString(trusts[k])));
        }
    }

    function test_workedExample_3168over3172() public {
        _setScore(workers[0], 12); // weight 3
        _setScore(workers[1], 100); // weight 32
        _setScore(workers[2], 300); // weight 99
        bytes32 taskId = _newTask(100);
        bytes32 d17 = keccak256("17");
        bytes32 d42 = keccak256("42");
        _contribute(taskId, 0, d17);
        _contribute(taskId, 1, d42);
        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.ACTIVE), "32 of 36 is not enough");
        _contribute(taskId, 2, d42);
        IHub.TaskView memory t = hub.task(taskId);
        assertEq(hub.groupOf(taskId, _hash(taskId, d42)), 3168, "group[42]");
        assertEq(hub.groupOf(taskId, _hash(taskId, d17)), 3, "group[17]");
        assertEq(t.total, 3172, "total");
        assertEq(uint256(t.status), uint256(IHub.TaskStatus.REVEALING), "consensus on 42");
        assertEq(t.winnerCount, 2, "two winners");
    }

    // ================================================================== contribute reverts

    function test_contribute_revertsOnUninitializedTask() public {
        bytes32 dealId = _match(5, 1);
        bytes32 taskId = hub.taskIdOf(dealId, 0);
        bytes memory auth = _auth(workers[0], taskId);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.UNSET));
        hub.contribute(taskId, _hash(taskId, A), _seal(workers[0], taskId, A), auth);
    }

    function test_contribute_revertsAfterDeadline() public {
        bytes32 taskId = _newTask(5);
        vm.warp(block.timestamp + 7 * TIME_REF);
        bytes memory auth = _auth(workers[0], taskId);
        vm.prank(workers[0]);
        vm.expectRevert(IHub.ContributionDeadlinePassed.selector);
        hub.contribute(taskId, _hash(taskId, A), _seal(workers[0], taskId, A), auth);
    }

    function test_contribute_acceptedJustBeforeDeadline() public {
        bytes32 taskId = _newTask(5);
        vm.warp(block.timestamp + 7 * TIME_REF - 1);
        _contribute(taskId, 0, A);
        assertEq(hub.task(taskId).contributorCount, 1, "counted");
    }

    function test_contribute_revertsOnZeroHashOrSeal() public {
        bytes32 taskId = _newTask(5);
        bytes memory auth = _auth(workers[0], taskId);
        vm.startPrank(workers[0]);
        vm.expectRevert(IHub.InvalidResult.selector);
        hub.contribute(taskId, bytes32(0), _seal(workers[0], taskId, A), auth);
        vm.expectRevert(IHub.InvalidResult.selector);
        hub.contribute(taskId, _hash(taskId, A), bytes32(0), auth);
        vm.stopPrank();
    }

    function test_contribute_revertsOnDoubleContribution() public {
        bytes32 taskId = _newTask(5);
        _contribute(taskId, 0, A);
        bytes memory auth = _auth(workers[0], taskId);
        vm.prank(workers[0]);
        vm.expectRevert(IHub.AlreadyContributed.selector);
        hub.contribute(taskId, _hash(taskId, B), _seal(workers[0], taskId, B), auth);
    }

    function test_contribute_revertsForUnauthorizedWorker() public {
        bytes32 taskId = _newTask(5);
        // signed by the worker itself rather than the pool owner
        bytes memory auth = _sign(workerKeys[0], _authDigest(workers[0], taskId));
        vm.prank(workers[0]);
        vm.expectRevert(IHub.InvalidAuthorization.selector);
        hub.contribute(taskId, _hash(taskId, A), _seal(workers[0], taskId, A), auth);
    }

    function test_contribute_revertsWithAuthorizationForAnotherWorker() public {
        bytes32 taskId = _newTask(5);
        bytes memory auth = _auth(workers[1], taskId);
        vm.prank(workers[0]);
        vm.expectRevert(IHub.InvalidAuthorization.selector);
        hub.contribute(taskId, _hash(taskId, A), _seal(workers[0], taskId, A), auth);
    }

    function test_contribute_revertsWithAuthorizationForAnotherTask() public {
        bytes32 dealId = _match(5, 2);
        bytes32 task0 = hub.initialize(dealId, 0);
        bytes32 task1 = hub.initialize(dealId, 1);
        bytes memory auth = _auth(workers[0], task0);
        vm.prank(workers[0]);
        vm.expectRevert(IHub.InvalidAuthorization.selector);
        hub.contribute(task1, _hash(task1, A), _seal(workers[0], task1, A), auth);
    }

    function test_contribute_revertsOnReplayedAuthorization() public {
        bytes32 taskId = _newTask(5);
        bytes memory auth = _auth(workers[0], taskId);
        vm.prank(workers[0]);
        hub.contribute(taskId, _hash(taskId, A), _seal(workers[0], taskId, A), auth);
        // the same signature replayed by the same worker, then by another one
        vm.prank(workers[0]);
        vm.expectRevert(IHub.AlreadyContributed.selector);
        hub.contribute(taskId, _hash(taskId, A), _seal(workers[0], taskId, A), auth);
        vm.prank(workers[1]);
        vm.expectRevert(IHub.InvalidAuthorization.selector);
        hub.contribute(taskId, _hash(taskId, A), _seal(workers[1], taskId, A), auth);
    }

    function test_contribute_revertsOnMalleableAuthorization() public {
        bytes32 taskId = _newTask(5);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(poolOwnerKey, _authDigest(workers[0], taskId));
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        bytes memory flipped = abi.encodePacked(r, bytes32(n - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        vm.prank(workers[0]);
        vm.expectRevert(IHub.InvalidAuthorization.selector);
        hub.contribute(taskId, _hash(taskId, A), _seal(workers[0], taskId, A), flipped);
    }

    function test_contribute_revertsWithoutFundsForStake() public {
        bytes32 taskId = _newTask(5);
        address broke = vm.addr(0xDEAD);
        bytes memory auth = _auth(broke, taskId);
        vm.prank(broke);
        vm.expectRevert(abi.encodeWithSelector(IHub.InsufficientFreeBalance.selector, broke, 0, WORKER_STAKE));
        hub.contribute(taskId, _hash(taskId, A), _seal(broke, taskId, A), auth);
    }

    function test_contribute_revertsOnceRevealing() public {
        bytes32 taskId = _newTask(1);
        _contribute(taskId, 0, A);
        bytes memory auth = _auth(workers[1], taskId);
        vm.prank(workers[1]);
        vm.expectRevert(abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.REVEALING));
        hub.contribute(taskId, _hash(taskId, A), _seal(workers[1], taskId, A), auth);
    }

    // ================================================================== reveal

    function test_reveal_revertsOnWrongDigest() public {
        bytes32 taskId = _newTask(1);
        _contribute(taskId, 0, A);
        vm.prank(workers[0]);
        vm.expectRevert(IHub.ResultHashMismatch.selector);
        hub.reveal(taskId, B);
    }

    function test_reveal_revertsOnWrongSeal() public {
        bytes32 taskId = _newTask(1);
        // the hash of A with a seal bound to another worker (a copied seal)
        bytes memory auth = _auth(workers[0], taskId);
        vm.prank(workers[0]);
        hub.contribute(taskId, _hash(taskId, A), _seal(workers[1], taskId, A), auth);
        vm.prank(workers[0]);
        vm.expectRevert(IHub.SealMismatch.selector);
        hub.reveal(taskId, A);
    }

    function test_reveal_revertsForNonContributor() public {
        bytes32 taskId = _newTask(1);
        _contribute(taskId, 0, A);
        vm.prank(workers[5]);
        vm.expectRevert(IHub.NotAWinner.selector);
        hub.reveal(taskId, A);
    }

    function test_reveal_revertsTwice() public {
        bytes32 taskId = _newTask(1);
        _contribute(taskId, 0, A);
        _reveal(taskId, 0, A);
        vm.prank(workers[0]);
        vm.expectRevert(IHub.AlreadyRevealed.selector);
        hub.reveal(taskId, A);
    }

    function test_reveal_revertsAfterRevealDeadline() public {
        bytes32 taskId = _newTask(1);
        _contribute(taskId, 0, A);
        vm.warp(block.timestamp + 2 * TIME_REF);
        vm.prank(workers[0]);
        vm.expectRevert(IHub.RevealDeadlinePassed.selector);
        hub.reveal(taskId, A);
    }

    function test_reveal_revertsWhileActive() public {
        bytes32 taskId = _newTask(5);
        _contribute(taskId, 0, A);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.ACTIVE));
        hub.reveal(taskId, A);
    }

    function test_reveal_emitsDigest() public {
        bytes32 taskId = _newTask(1);
        _contribute(taskId, 0, A);
        vm.expectEmit(address(hub));
        emit IHub.TaskRevealed(taskId, workers[0], A);
        _reveal(taskId, 0, A);
        assertEq(hub.task(taskId).revealCount, 1, "counted");
    }

    // ================================================================== finalize

    function test_finalize_revertsWhileRevealsPending() public {
        bytes32 taskId = _newTask(5);
        for (uint256 i = 0; i < 3; i++) {
            _contribute(taskId, i, A);
        }
        _reveal(taskId, 0, A);
        vm.prank(poolOwner);
        vm.expectRevert(IHub.RevealsPending.selector);
        hub.finalize(taskId, "");
    }

    function test_finalize_revertsWhenNothingRevealed() public {
        bytes32 taskId = _newTask(5);
        for (uint256 i = 0; i < 3; i++) {
            _contribute(taskId, i, A);
        }
        vm.warp(block.timestamp + 2 * TIME_REF);
        vm.prank(poolOwner);
        vm.expectRevert(IHub.NothingRevealed.selector);
        hub.finalize(taskId, "");
    }

    function test_finalize_revertsForNonOwner() public {
        bytes32 taskId = _newTask(1);
        _contribute(taskId, 0, A);
        _reveal(taskId, 0, A);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(IHub.NotPoolOwner.selector, client));
        hub.finalize(taskId, "");
    }

    function test_finalize_revertsWhileActive() public {
        bytes32 taskId = _newTask(5);
        _contribute(taskId, 0, A);
        vm.prank(poolOwner);
        vm.expectRevert(abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.ACTIVE));
        hub.finalize(taskId, "");
    }

    /// @dev Revealed work is always paid: past the final deadline a task with a reveal cannot be
    /// claimed, and anyone may still finalize it. On the old Hub the client claimed it and the
    /// worker that revealed was never paid.
    function test_finalize_afterFinalDeadlinePaysRevealedWork() public {
        bytes32 taskId = _newTask(1);
        uint256 start = block.timestamp;
        vm.warp(start + 7 * TIME_REF - 1);
        _contribute(taskId, 0, A);
        _reveal(taskId, 0, A);
        vm.warp(start + 10 * TIME_REF);
        vm.expectRevert(IHub.TaskHasReveals.selector);
        hub.claim(taskId);
        vm.prank(workers[0]);
        hub.finalize(taskId, "");
        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.COMPLETED), "completed");
        assertEq(hub.freeBalanceOf(workers[0]), FUNDS + 90 ether, "the revealer is paid");
        _assertConservation();
    }

    function test_finalize_afterRevealDeadlineWithPartialReveals() public {
        _setScore(workers[2], 30);
        bytes32 taskId = _newTask(5);
        for (uint256 i = 0; i < 3; i++) {
            _contribute(taskId, i, A);
        }
        _reveal(taskId, 0, A);
        _reveal(taskId, 1, A);
        vm.warp(block.timestamp + 2 * TIME_REF);
        _finalize(taskId);
        // totalReward = 130; workers 117 split 1:1 between the two who revealed
        assertEq(hub.freeBalanceOf(workers[0]), FUNDS + 58.5 ether, "revealer paid");
        assertEq(hub.freeBalanceOf(workers[2]), FUNDS - WORKER_STAKE, "silent winner lost its stake");
        assertEq(uint256(_cStatus(taskId, 2)), uint256(IHub.ContributionStatus.REJECTED), "never proved: rejected");
        assertEq(hub.scoreOf(poolOwner, workers[2]), 20, "score 30 -> 20");
        _assertConservation();
    }

    function test_finalize_loneContributorScoreUnchanged() public {
        _setScore(workers[0], 7);
        bytes32 taskId = _newTask(2);
        _contribute(taskId, 0, A);
        _reveal(taskId, 0, A);
        _finalize(taskId);
        assertEq(hub.scoreOf(poolOwner, workers[0]), 7, "no score for a lone voter");
        assertEq(hub.freeBalanceOf(workers[0]), FUNDS + 90 ether, "but paid");
    }

    function test_finalize_revertsTwice() public {
        bytes32 taskId = _newTask(1);
        _contribute(taskId, 0, A);
        _reveal(taskId, 0, A);
        _finalize(taskId);
        vm.prank(poolOwner);
        vm.expectRevert(abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.COMPLETED));
        hub.finalize(taskId, "");
    }

    // ================================================================== reopen

    function test_reopen_rejectsSilentConsensusAndRestarts() public {
        bytes32 taskId = _newTask(3);
        _contribute(taskId, 0, B); // gB 2, total 3
        _contribute(taskId, 1, A); // gA 2, total 5
        _contribute(taskId, 2, A); // gA 4, total 7: 12 > 14 fails
        _contribute(taskId, 3, A); // gA 8, total 11: 24 > 22 holds
        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.REVEALING), "consensus on A");
        vm.warp(block.timestamp + 2 * TIME_REF);

        vm.expectEmit(address(hub));
        emit IHub.TaskReopened(taskId);
        vm.prank(poolOwner);
        hub.reopen(taskId);

        IHub.TaskView memory t = hub.task(taskId);
        assertEq(uint256(t.status), uint256(IHub.TaskStatus.ACTIVE), "active again");
        assertEq(t.total, 3, "A's weight removed: 1 + gB");
        assertEq(t.winnerCount, 0, "no winners");
        assertEq(hub.groupOf(taskId, _hash(taskId, A)), 0, "group cleared");
        for (uint256 i = 1; i < 4; i++) {
            assertEq(uint256(_cStatus(taskId, i)), uint256(IHub.ContributionStatus.REJECTED), "rejected");
        }
        assertEq(uint256(_cStatus(taskId, 0)), uint256(IHub.ContributionStatus.CONTRIBUTED), "B voter kept");

        // a rejected worker can neither vote again nor reveal
        bytes memory auth = _auth(workers[1], taskId);
        vm.prank(workers[1]);
        vm.expectRevert(IHub.AlreadyContributed.selector);
        hub.contribute(taskId, _hash(taskId, A), _seal(workers[1], taskId, A), auth);

        // new workers agree with B: gB 4, total 5: 12 > 10 holds
        _contribute(taskId, 4, B);
        t = hub.task(taskId);
        assertEq(uint256(t.status), uint256(IHub.TaskStatus.REVEALING), "consensus on B");
        assertEq(t.winnerCount, 2, "B voters win");
        vm.prank(workers[1]);
        vm.expectRevert(IHub.NotAWinner.selector);
        hub.reveal(taskId, A);
        _reveal(taskId, 0, B);
        _reveal(taskId, 4, B);
        _finalize(taskId);
        // totalReward = 100 + 3 * 30; workers get 171, split 1:1
        assertEq(hub.freeBalanceOf(workers[0]), FUNDS + 85.5 ether, "B voter paid");
        assertEq(hub.freeBalanceOf(workers[1]), FUNDS - WORKER_STAKE, "rejected voter lost its stake");
        _assertConservation();
    }

    function test_reopen_sameHashCanWinAgainWithNewVoters() public {
        bytes32 taskId = _newTask(2);
        _contribute(taskId, 0, A);
        vm.warp(block.timestamp + 2 * TIME_REF);
        vm.prank(poolOwner);
        hub.reopen(taskId);
        _contribute(taskId, 1, A);
        IHub.TaskView memory t = hub.task(taskId);
        assertEq(uint256(t.status), uint256(IHub.TaskStatus.REVEALING), "consensus again");
        assertEq(t.winnerCount, 1, "only the new voter wins");
        vm.prank(workers[0]);
        vm.expectRevert(IHub.NotAWinner.selector);
        hub.reveal(taskId, A);
        _reveal(taskId, 1, A);
        _finalize(taskId);
        assertEq(hub.freeBalanceOf(workers[1]), FUNDS + 0.9 * 130 ether, "winner takes the loser's stake");
        _assertConservation();
    }

    function test_reopen_revertsWhileRevealWindowOpen() public {
        bytes32 taskId = _newTask(1);
        _contribute(taskId, 0, A);
        vm.prank(poolOwner);
        vm.expectRevert(IHub.RevealWindowOpen.selector);
        hub.reopen(taskId);
    }

    function test_reopen_revertsWhenSomeoneRevealed() public {
        bytes32 taskId = _newTask(3);
        _contribute(taskId, 0, A);
        _contribute(taskId, 1, A);
        _reveal(taskId, 0, A);
        vm.warp(block.timestamp + 2 * TIME_REF);
        vm.prank(poolOwner);
        vm.expectRevert(IHub.AlreadyRevealed.selector);
        hub.reopen(taskId);
    }

    function test_reopen_revertsForNonOwner() public {
        bytes32 taskId = _newTask(1);
        _contribute(taskId, 0, A);
        vm.warp(block.timestamp + 2 * TIME_REF);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHub.NotPoolOwner.selector, workers[0]));
        hub.reopen(taskId);
    }

    function test_reopen_revertsAfterFinalDeadline() public {
        bytes32 taskId = _newTask(1);
        uint256 start = block.timestamp;
        vm.warp(start + 7 * TIME_REF - 1);
        _contribute(taskId, 0, A);
        vm.warp(start + 10 * TIME_REF);
        vm.prank(poolOwner);
        vm.expectRevert(IHub.FinalDeadlinePassed.selector);
        hub.reopen(taskId);
    }

    function test_reopen_revertsWhileActive() public {
        bytes32 taskId = _newTask(5);
        vm.prank(poolOwner);
        vm.expectRevert(abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.ACTIVE));
        hub.reopen(taskId);
    }

    // ================================================================== claim

    function test_claim_revertsBeforeFinalDeadline() public {
        bytes32 taskId = _newTask(5);
        vm.warp(block.timestamp + 10 * TIME_REF - 1);
        vm.expectRevert(IHub.FinalDeadlineNotReached.selector);
        hub.claim(taskId);
    }

    function test_claim_refundsClientAndPaysItThePoolStake() public {
        bytes32 taskId = _newTask(5);
        _contribute(taskId, 0, A);
        _contribute(taskId, 1, B);
        vm.warp(block.timestamp + 10 * TIME_REF);
        vm.expectEmit(address(hub));
        emit IHub.Rewarded(client, POOL_STAKE, taskId);
        vm.prank(address(0xA170));
        hub.claim(taskId);
        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.FAILED), "failed");
        assertEq(hub.freeBalanceOf(client), FUNDS + POOL_STAKE, "client refunded and compensated");
        assertEq(hub.frozenBalanceOf(client), 0, "client escrow released");
        assertEq(hub.freeBalanceOf(poolOwner), FUNDS - POOL_STAKE, "pool stake seized");
        assertEq(hub.frozenBalanceOf(poolOwner), 0, "pool stake gone");
        assertEq(hub.penaltyBalance(), 0, "nothing to the penalty account: nobody withheld");
        assertEq(hub.freeBalanceOf(workers[0]), FUNDS, "worker stake returned");
        assertEq(hub.frozenBalanceOf(workers[1]), 0, "worker stake returned");
        _assertConservation();
    }

    function test_claim_byThePoolOwnerFailsATaskTakingVotesAtOnce() public {
        bytes32 taskId = _newTask(5);
        _contribute(taskId, 0, A);
        _contribute(taskId, 1, B);
        vm.expectEmit(address(hub));
        emit IHub.Rewarded(client, POOL_STAKE, taskId);
        vm.prank(poolOwner);
        hub.claim(taskId);
        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.FAILED), "failed before the deadline");
        assertEq(hub.freeBalanceOf(client), FUNDS + POOL_STAKE, "client refunded and compensated");
        assertEq(hub.freeBalanceOf(poolOwner), FUNDS - POOL_STAKE, "pool stake seized");
        assertEq(hub.freeBalanceOf(workers[0]), FUNDS, "worker stake returned");
        assertEq(hub.freeBalanceOf(workers[1]), FUNDS, "worker stake returned");
        assertEq(hub.penaltyBalance(), 0, "nothing forfeited");
        _assertConservation();
    }

    function test_claim_byThePoolOwnerNeverGivesUpAConsensusEarly() public {
        bytes32 taskId = _newTask(1);
        _contribute(taskId, 0, A);
        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.REVEALING), "a consensus stands");
        vm.prank(poolOwner);
        vm.expectRevert(IHub.FinalDeadlineNotReached.selector);
        hub.claim(taskId);
        // Nor may anyone else fail a task taking votes early.
        bytes32 other = _newTask(5);
        _contribute(other, 0, A);
        vm.prank(workers[0]);
        vm.expectRevert(IHub.FinalDeadlineNotReached.selector);
        hub.claim(other);
    }

    function test_claim_worksWhileRevealing() public {
        bytes32 taskId = _newTask(1);
        _contribute(taskId, 0, A);
        vm.warp(block.timestamp + 10 * TIME_REF);
        hub.claim(taskId);
        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.FAILED), "failed");
        _assertConservation();
    }

    function test_claim_uninitializedTaskAfterInitialize() public {
        bytes32 dealId = _match(5, 2);
        vm.warp(block.timestamp + 10 * TIME_REF);
        bytes32 taskId = hub.taskIdOf(dealId, 1);
        vm.expectRevert(abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.UNSET));
        hub.claim(taskId);
        hub.initialize(dealId, 1);
        hub.claim(taskId);
        assertEq(hub.frozenBalanceOf(client), PRICE, "one task refunded, one still escrowed");
    }

    function test_claim_revertsOnCompletedOrFailedTask() public {
        bytes32 taskId = _newTask(1);
        _contribute(taskId, 0, A);
        _reveal(taskId, 0, A);
        _finalize(taskId);
        vm.warp(block.timestamp + 10 * TIME_REF);
        vm.expectRevert(abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.COMPLETED));
        hub.claim(taskId);

        bytes32 other = _newTask(1);
        vm.warp(block.timestamp + 10 * TIME_REF);
        hub.claim(other);
        vm.expectRevert(abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.FAILED));
        hub.claim(other);
    }

    // ================================================================== trust-1 fast path

    function test_contributeAndFinalize_completesInOneCall() public {
        _setScore(workers[0], 5);
        bytes32 taskId = _newTask(1);
        bytes memory auth = _auth(workers[0], taskId);
        vm.expectEmit(address(hub));
        emit IHub.TaskFinalized(taskId, "ipfs://r");
        vm.prank(workers[0]);
        hub.contributeAndFinalize(taskId, A, "ipfs://r", auth);
        IHub.TaskView memory t = hub.task(taskId);
        assertEq(uint256(t.status), uint256(IHub.TaskStatus.COMPLETED), "completed");
        assertEq(t.revealCount, 1, "one reveal");
        assertEq(hub.freeBalanceOf(workers[0]), FUNDS + 90 ether, "worker paid, no stake");
        assertEq(hub.frozenBalanceOf(workers[0]), 0, "nothing frozen");
        assertEq(hub.scoreOf(poolOwner, workers[0]), 5, "score unchanged");
        assertEq(hub.freeBalanceOf(poolOwner), FUNDS + 10 ether, "pool owner");
        assertEq(hub.frozenBalanceOf(client), 0, "client escrow spent");
        _assertConservation();
    }

    function test_contributeAndFinalize_revertsAboveTrust1() public {
        bytes32 taskId = _newTask(2);
        bytes memory auth = _auth(workers[0], taskId);
        vm.prank(workers[0]);
        vm.expectRevert(IHub.TrustNotOne.selector);
        hub.contributeAndFinalize(taskId, A, "", auth);
    }

    function test_contributeAndFinalize_revertsWithoutAuthorization() public {
        bytes32 taskId = _newTask(1);
        bytes memory auth = _auth(workers[1], taskId);
        vm.prank(workers[0]);
        vm.expectRevert(IHub.InvalidAuthorization.selector);
        hub.contributeAndFinalize(taskId, A, "", auth);
    }

    function test_contributeAndFinalize_revertsAfterDeadline() public {
        bytes32 taskId = _newTask(1);
        vm.warp(block.timestamp + 7 * TIME_REF);
        bytes memory auth = _auth(workers[0], taskId);
        vm.prank(workers[0]);
        vm.expectRevert(IHub.ContributionDeadlinePassed.selector);
        hub.contributeAndFinalize(taskId, A, "", auth);
    }

    function test_contributeAndFinalize_revertsAfterAContribution() public {
        bytes32 taskId = _newTask(1);
        _contribute(taskId, 0, A);
        bytes memory auth = _auth(workers[1], taskId);
        vm.prank(workers[1]);
        vm.expectRevert(abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.REVEALING));
        hub.contributeAndFinalize(taskId, A, "", auth);
        vm.warp(block.timestamp + 2 * TIME_REF);
        vm.prank(poolOwner);
        hub.reopen(taskId);
        vm.prank(workers[1]);
        vm.expectRevert(IHub.TaskHasContributions.selector);
        hub.contributeAndFinalize(taskId, A, "", auth);
    }

    function test_contributeAndFinalize_revertsOnUninitializedTask() public {
        bytes32 dealId = _match(1, 1);
        bytes32 taskId = hub.taskIdOf(dealId, 0);
        bytes memory auth = _auth(workers[0], taskId);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.UNSET));
        hub.contributeAndFinalize(taskId, A, "", auth);
    }

    // ================================================================== views

    function test_contributors_listsMostRecentFirst() public {
        bytes32 taskId = _newTask(100);
        _contribute(taskId, 3, A);
        _contribute(taskId, 1, B);
        _contribute(taskId, 2, A);
        address[] memory list = hub.contributors(taskId);
        assertEq(list.length, 3, "three");
        assertEq(list[0], workers[2], "last first");
        assertEq(list[2], workers[3], "first last");
        IHub.ContributionView memory c = hub.contribution(taskId, workers[1]);
        assertEq(bytes32(c.sealPrefix), bytes32(bytes9(_seal(workers[1], taskId, B))), "seal prefix stored");
        assertEq(c.ordinal, 2, "second distinct hash");
    }

    // ================================================================== limits

    function test_contribute_capsContributorsAt255() public {
        // a pool without worker stakes, so that 256 unfunded workers can vote
        vm.prank(poolOwner);
        poolId = hub.createPool(_policy(0, SCHEDULER_RATIO, 10_000), "");
        bytes32 taskId = _newTask(10_000);
        for (uint256 i = 0; i < 255; i++) {
            address w = vm.addr(0x10000 + i);
            bytes32 d = i % 2 == 0 ? A : B; // two equal camps never reach consensus
            bytes memory auth = _auth(w, taskId);
            vm.prank(w);
            hub.contribute(taskId, _hash(taskId, d), _seal(w, taskId, d), auth);
        }
        IHub.TaskView memory t = hub.task(taskId);
        assertEq(t.contributorCount, 255, "255 contributions");
        assertEq(uint256(t.status), uint256(IHub.TaskStatus.ACTIVE), "no consensus");
        assertEq(t.total, 1 + 2 ** 128 + 2 ** 127, "products of 128 and 127 weights of 2");
        address last = vm.addr(0x10000 + 255);
        bytes memory lastAuth = _auth(last, taskId);
        vm.prank(last);
        vm.expectRevert(IHub.TooManyContributors.selector);
        hub.contribute(taskId, _hash(taskId, A), _seal(last, taskId, A), lastAuth);
        // the task still fails cleanly
        vm.warp(block.timestamp + 10 * TIME_REF);
        hub.claim(taskId);
        _assertConservation();
    }

    function test_matchOrders_revertsPastUint32Deals() public {
        vm.store(address(hub), bytes32(uint256(11)), bytes32(uint256(type(uint32).max) - 1));
        _match(5, 1);
        assertEq(hub.dealCount(), type(uint32).max, "slot 11 is the deal counter");
        IHub.PoolOrder memory o = _order(5, 1);
        bytes memory sig = _signOrder(o);
        IHub.Request memory r = _request(5, 1);
        vm.prank(client);
        vm.expectRevert(IHub.TooManyDeals.selector);
        hub.matchOrders(o, sig, _consent(o, client, r), r);
    }

    function test_contribute_revertsWhenRevealDeadlinePastUint32() public {
        vm.warp(uint256(type(uint32).max) - TIME_REF);
        bytes32 taskId = _newTask(1);
        bytes memory auth = _auth(workers[0], taskId);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHub.AmountTooLarge.selector, uint256(type(uint32).max) + TIME_REF));
        hub.contribute(taskId, _hash(taskId, A), _seal(workers[0], taskId, A), auth);
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {HubFixture} from "./utils/HubFixture.sol";
import {IHub} from "../src/interfaces/IHub.sol";

/// @notice Random sequences of votes (answers, worker scores) and timings, replayed against a
/// naive model of POCO.md written here (products of weights, no library), then settled by
/// finalize, reopen or claim as the timings allow.
contract HubFuzzTest is HubFixture {
    uint256 internal constant ANSWERS = 3;

    struct Model {
        uint256 total;
        uint256[ANSWERS] groups;
        bool[ANSWERS] seen;
        uint256 consensus; // answer index + 1, 0 while none
        uint256 contributors;
    }

    function _weight(uint256 score) internal pure returns (uint256) {
        uint256 third = score / 3;
        return (third > 3 ? third : 3) - 1;
    }

    function _answer(uint256 i) internal pure returns (bytes32) {
        return keccak256(abi.encode("answer", i));
    }

    bytes32 internal taskId;
    uint32 internal trust;
    uint256 internal start;

    function testFuzz_randomVotesAndTimings(uint256 seed, uint16 trustSeed) public {
        uint32[7] memory trusts = [uint32(1), 2, 3, 5, 10, 100, 1000];
        trust = trusts[trustSeed % trusts.length];
        start = block.timestamp;
        taskId = _newTask(trust);

        Model memory m;
        m.total = 1;
        uint256[] memory answerOf = new uint256[](WORKERS);
        uint256 votes = 1 + (seed % 12);
        for (uint256 i = 0; i < votes && i < WORKERS; i++) {
            _step(seed, i, m, answerOf);
        }

        if (m.consensus == 0) {
            // no consensus: the task can only fail, after the final deadline
            if (block.timestamp < start + 10 * TIME_REF) {
                vm.expectRevert(IHub.FinalDeadlineNotReached.selector);
                hub.claim(taskId);
                vm.warp(start + 10 * TIME_REF);
            }
            hub.claim(taskId);
            assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.FAILED), "failed");
            assertEq(hub.frozenBalanceOf(client), 0, "client refunded");
        } else {
            _settle(seed, m, answerOf);
        }
        _assertConservation();
    }

    /// @dev One random vote by worker `i`, checked against the model.
    function _step(uint256 seed, uint256 i, Model memory m, uint256[] memory answerOf) internal {
        uint256 r = uint256(keccak256(abi.encode(seed, i)));
        uint256 a = r % ANSWERS;
        uint256 score = (r >> 8) % 400;
        vm.warp(block.timestamp + ((r >> 32) % (2 * TIME_REF)));
        _setScore(workers[i], score);
        answerOf[i] = a;

        bytes memory auth = _auth(workers[i], taskId);
        bytes32 h = _hash(taskId, _answer(a));
        bytes32 s = _seal(workers[i], taskId, _answer(a));
        vm.prank(workers[i]);
        if (m.consensus != 0) {
            vm.expectRevert(abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.REVEALING));
            hub.contribute(taskId, h, s, auth);
            return;
        }
        if (block.timestamp >= start + 7 * TIME_REF) {
            vm.expectRevert(IHub.ContributionDeadlinePassed.selector);
            hub.contribute(taskId, h, s, auth);
            return;
        }
        hub.contribute(taskId, h, s, auth);

        uint256 w = _weight(score);
        uint256 before = m.groups[a];
        m.groups[a] = (before == 0 ? 1 : before) * w;
        m.total = 1 + m.groups[0] + m.groups[1] + m.groups[2];
        m.contributors++;
        if (m.groups[a] * trust > m.total * (trust - 1)) m.consensus = a + 1;

        IHub.TaskView memory t = hub.task(taskId);
        assertEq(t.total, m.total, "total");
        assertEq(hub.groupOf(taskId, h), m.groups[a], "group");
        assertEq(
            uint256(t.status), uint256(m.consensus != 0 ? IHub.TaskStatus.REVEALING : IHub.TaskStatus.ACTIVE), "status"
        );
    }

    function _settle(uint256 seed, Model memory m, uint256[] memory answerOf) internal {
        IHub.TaskView memory t = hub.task(taskId);
        if (block.timestamp >= t.finalDeadline) {
            // the votes took too long: only claim is left
            vm.prank(poolOwner);
            vm.expectRevert(IHub.NothingRevealed.selector);
            hub.finalize(taskId, "");
            hub.claim(taskId);
            assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.FAILED), "failed");
            // every winner withheld its reveal: each stake went to the penalty account
            assertEq(hub.penaltyBalance(), t.winnerCount * WORKER_STAKE, "withheld stakes forfeited");
            return;
        }
        uint256 winnersRevealing;
        bool windowOpen = block.timestamp < t.revealDeadline;
        for (uint256 i = 0; i < m.contributors; i++) {
            if (!windowOpen) {
                vm.prank(workers[i]);
                vm.expectRevert(IHub.RevealDeadlinePassed.selector);
                hub.reveal(taskId, _answer(answerOf[i]));
            } else if (answerOf[i] + 1 != m.consensus) {
                vm.prank(workers[i]);
                vm.expectRevert(IHub.NotAWinner.selector);
                hub.reveal(taskId, _answer(answerOf[i]));
            } else if (uint256(keccak256(abi.encode(seed, "reveal", i))) % 4 != 0) {
                _reveal(taskId, i, _answer(answerOf[i]));
                winnersRevealing++;
            }
        }
        bool late = !windowOpen || uint256(keccak256(abi.encode(seed, "late"))) % 2 == 0;
        if (late && windowOpen) vm.warp(t.revealDeadline);

        uint256 clientFrozen = hub.frozenBalanceOf(client);
        if (winnersRevealing == 0) {
            vm.prank(poolOwner);
            if (!late) {
                vm.expectRevert(IHub.RevealWindowOpen.selector);
                hub.reopen(taskId);
                return;
            }
            // nobody revealed in time: the pool owner reopens, the consensus group is dropped
            hub.reopen(taskId);
            IHub.TaskView memory after_ = hub.task(taskId);
            assertEq(uint256(after_.status), uint256(IHub.TaskStatus.ACTIVE), "reopened");
            assertEq(after_.total, m.total - m.groups[m.consensus - 1], "consensus group removed");
            vm.warp(start + 10 * TIME_REF);
            hub.claim(taskId);
            assertEq(hub.frozenBalanceOf(client), clientFrozen - PRICE, "refunded");
            // the rejected winners forfeit at claim as at finalize
            assertEq(hub.penaltyBalance(), t.winnerCount * WORKER_STAKE, "rejected winners forfeited");
            for (uint256 i = 0; i < m.contributors; i++) {
                bool winner = answerOf[i] + 1 == m.consensus;
                assertEq(hub.frozenBalanceOf(workers[i]), 0, "nothing left frozen");
                assertEq(
                    hub.freeBalanceOf(workers[i]),
                    winner ? FUNDS - WORKER_STAKE : FUNDS,
                    "a forfeited stake is never also returned"
                );
            }
            return;
        }
        if (winnersRevealing < t.winnerCount && !late) {
            vm.prank(poolOwner);
            vm.expectRevert(IHub.RevealsPending.selector);
            hub.finalize(taskId, "");
            vm.warp(t.revealDeadline);
        }
        _finalize(taskId);
        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.COMPLETED), "completed");
        for (uint256 i = 0; i < m.contributors; i++) {
            bool proved = hub.contribution(taskId, workers[i]).status == IHub.ContributionStatus.PROVED;
            assertEq(hub.frozenBalanceOf(workers[i]), 0, "every stake settled");
            if (proved) {
                assertGe(hub.freeBalanceOf(workers[i]), FUNDS, "a proved worker never loses");
            } else {
                assertEq(hub.freeBalanceOf(workers[i]), FUNDS - WORKER_STAKE, "others lose the stake");
            }
        }
    }

    /// @dev Arbitrary bytes are never a valid authorization or order signature.
    function testFuzz_randomSignaturesAreRefused(bytes memory sig, bytes32 r, bytes32 s, uint8 v) public {
        bytes32 id = _newTask(5);
        bytes memory forged = abi.encodePacked(r, s, v);
        vm.startPrank(workers[0]);
        vm.expectRevert(IHub.InvalidAuthorization.selector);
        hub.contribute(id, _hash(id, keccak256("x")), _seal(workers[0], id, keccak256("x")), sig);
        vm.expectRevert(IHub.InvalidAuthorization.selector);
        hub.contribute(id, _hash(id, keccak256("x")), _seal(workers[0], id, keccak256("x")), forged);
        vm.stopPrank();

        IHub.PoolOrder memory o = _order(5, 10);
        vm.startPrank(client);
        vm.expectRevert(IHub.InvalidOrderSignature.selector);
        hub.matchOrders(o, sig, _consent(o, client, _request(5, 1)), _request(5, 1));
        vm.expectRevert(IHub.InvalidOrderSignature.selector);
        hub.matchOrders(o, forged, _consent(o, client, _request(5, 1)), _request(5, 1));
        vm.stopPrank();
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {HubFixture} from "./utils/HubFixture.sol";
import {Vm} from "./utils/Test.sol";
import {IHub} from "../src/interfaces/IHub.sol";

/// @notice Schedulers, workers and clients follow the Hub through its events: replaying the
/// money and score events of a busy session must give exactly the balances and scores the Hub
/// holds, with no call left out.
contract HubEventsTest is HubFixture {
    mapping(address account => uint256) internal free;
    mapping(address account => uint256) internal frozen;
    mapping(address account => uint256) internal score;
    uint256 internal penalty;

    function test_eventsAloneRebuildEveryBalanceAndScore() public {
        for (uint256 i = 0; i < tracked.length; i++) {
            free[tracked[i]] = hub.freeBalanceOf(tracked[i]);
        }
        vm.recordLogs();
        // worker 1 is paid to a cold address
        address cold = address(0xC01D);
        tracked.push(cold);
        vm.prank(workers[1]);
        hub.setPayoutAddress(cold);

        // a task with a loser
        bytes32 a = keccak256("a");
        bytes32 b = keccak256("b");
        bytes32 t1 = _newTask(5);
        _contribute(t1, 0, a);
        _contribute(t1, 1, a);
        _contribute(t1, 2, b);
        _contribute(t1, 3, a);
        _contribute(t1, 4, a);
        _reveal(t1, 0, a);
        _reveal(t1, 1, a);
        vm.warp(block.timestamp + 2 * TIME_REF);
        _finalize(t1);
        // a task reopened, then won by others
        bytes32 t2 = _newTask(2);
        _contribute(t2, 5, a);
        vm.warp(block.timestamp + 2 * TIME_REF);
        vm.prank(poolOwner);
        hub.reopen(t2);
        _contribute(t2, 6, b);
        _reveal(t2, 6, b);
        _finalize(t2);
        // a task claimed whose winner withheld its reveal, two claimed in one batch (a
        // withheld reveal, two votes that never agreed), a fast path, withdrawals
        bytes32 t3 = _newTask(2);
        _contribute(t3, 7, a);
        bytes32[] memory batch = new bytes32[](2);
        batch[0] = _newTask(2);
        _contribute(batch[0], 9, a);
        batch[1] = _newTask(5);
        _contribute(batch[1], 10, a);
        _contribute(batch[1], 11, b);
        vm.warp(block.timestamp + 10 * TIME_REF);
        hub.claim(t3);
        hub.claimMany(batch);
        bytes32 t4 = _newTask(1);
        bytes memory auth = _auth(workers[8], t4);
        vm.prank(workers[8]);
        hub.contributeAndFinalize(t4, a, "", auth);
        vm.prank(workers[0]);
        hub.withdraw(10 ether);
        vm.prank(hubOwner);
        hub.withdrawPenalties(hubOwner, 1 ether);

        _replay(vm.getRecordedLogs());
        for (uint256 i = 0; i < tracked.length; i++) {
            address x = tracked[i];
            assertEq(free[x], hub.freeBalanceOf(x), "free balance from events");
            assertEq(frozen[x], hub.frozenBalanceOf(x), "frozen balance from events");
            assertEq(score[x], hub.scoreOf(poolOwner, x), "score from events");
        }
        assertEq(penalty, hub.penaltyBalance(), "penalty account from events");
        assertGt(hub.scoreOf(poolOwner, workers[0]), 0, "scores moved");
        assertGt(hub.freeBalanceOf(cold), 0, "worker 1's rewards went to its payout address");
        assertGt(penalty, 0, "the withheld stake is in the penalty account");
        _assertConservation();
    }

    function _replay(Vm.Log[] memory logs) internal {
        for (uint256 i = 0; i < logs.length; i++) {
            Vm.Log memory l = logs[i];
            if (l.emitter != address(hub)) continue;
            bytes32 sig = l.topics[0];
            address who = l.topics.length > 1 ? address(uint160(uint256(l.topics[1]))) : address(0);
            if (sig == IHub.Deposited.selector) {
                free[who] += abi.decode(l.data, (uint256));
            } else if (sig == IHub.Withdrawn.selector) {
                free[who] -= abi.decode(l.data, (uint256));
            } else if (sig == IHub.Locked.selector) {
                uint256 amount = abi.decode(l.data, (uint256));
                free[who] -= amount;
                frozen[who] += amount;
            } else if (sig == IHub.Unlocked.selector) {
                uint256 amount = abi.decode(l.data, (uint256));
                frozen[who] -= amount;
                free[who] += amount;
            } else if (sig == IHub.Rewarded.selector) {
                free[who] += abi.decode(l.data, (uint256));
            } else if (sig == IHub.Seized.selector) {
                frozen[who] -= abi.decode(l.data, (uint256));
            } else if (sig == IHub.PenaltyCredited.selector) {
                penalty += abi.decode(l.data, (uint256));
            } else if (sig == IHub.PenaltyWithdrawn.selector) {
                penalty -= abi.decode(l.data, (uint256));
            } else if (sig == IHub.ScoreUpdated.selector) {
                // ScoreUpdated(indexed poolOwner, indexed worker, score): one domain here
                assertEq(who, poolOwner, "the domain");
                score[address(uint160(uint256(l.topics[2])))] = abi.decode(l.data, (uint256));
            }
        }
    }
}

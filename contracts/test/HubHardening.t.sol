// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

import {HubFixture} from "./utils/HubFixture.sol";
import {Vm} from "./utils/Test.sol";
import {IHub} from "../src/interfaces/IHub.sol";

/// @notice The rules of the Hub's hardening (docs/poco.md, "How the Hub implements these
/// rules"), each with the attack it stops: the attack tests fail at their first assertion on a
/// Hub without the rule.
contract HubHardeningTest is HubFixture {
    bytes32 internal constant A = keccak256("answer A");
    bytes32 internal constant B = keccak256("answer B");

    uint256 internal constant SYBIL_OWNER_KEY = 0x5B11;

    // ================================================================== reputation scope

    /// @dev Two Sybils farm score in a pool of their own, at price 0, for gas alone; their score
    /// does not follow them into an honest pool. On a Hub with Hub-wide scores the farmed worker
    /// (score 12, weight 3) reaches T = 3 alone in the honest pool (3 · 3 > 4 · 2).
    function test_attack_farmedReputationDoesNotCrossDomains() public {
        address sybilOwner = vm.addr(SYBIL_OWNER_KEY);
        _fund(sybilOwner, FUNDS);
        (uint256 honestKey, uint64 honestPool) = (poolOwnerKey, poolId);
        _useOwner(SYBIL_OWNER_KEY, 0);
        vm.prank(sybilOwner);
        poolId = hub.createPool(_policy(30, SCHEDULER_RATIO, 10_000), "");
        for (uint256 k = 0; k < 12; k++) {
            bytes32 farm = _newTask(3);
            _contribute(farm, 0, A);
            _contribute(farm, 1, A);
            _reveal(farm, 0, A);
            _reveal(farm, 1, A);
            _finalize(farm);
        }
        assertEq(hub.scoreOf(sybilOwner, workers[0]), 12, "farmed in its own domain");

        _useOwner(honestKey, honestPool);
        assertEq(_score(workers[0]), 0, "worth nothing in the honest pool's domain");
        bytes32 taskId = _newTask(3);
        _contribute(taskId, 0, B);
        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.ACTIVE), "one Sybil vote is not consensus");
        // honest workers outvote it
        _contribute(taskId, 2, A);
        _contribute(taskId, 3, A);
        _contribute(taskId, 4, A);
        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.REVEALING), "honest consensus");
        assertEq(hub.ordinalOf(taskId, _hash(taskId, A)), hub.task(taskId).consensusOrdinal, "on A");
    }

    /// @dev A score moves only in the domain of the task that moved it.
    function testFuzz_scoreMovesOnlyInItsDomain(uint16 other, uint16 mine) public {
        address stranger = address(0x0DD);
        _setScoreIn(stranger, workers[0], other);
        _setScore(workers[0], mine);
        bytes32 taskId = _newTask(3);
        for (uint256 i = 0; i < 4 && _status(taskId) == IHub.TaskStatus.ACTIVE; i++) {
            _contribute(taskId, i, i == 1 ? B : A);
        }
        IHub.TaskView memory t = hub.task(taskId);
        if (t.status == IHub.TaskStatus.REVEALING) {
            _revealWinners(taskId);
        } else {
            vm.warp(block.timestamp + 10 * TIME_REF);
            hub.claim(taskId);
        }
        assertEq(hub.scoreOf(stranger, workers[0]), other, "the other domain's score never moves");
        _assertConservation();
    }

    // ================================================================== job consent

    /// @dev The griefing attack of the review: anyone matched a public order with a job built to
    /// fail, and every claim paid 30 % of the price to the Hub's owner. Now the match needs the
    /// pool's consent to this job, a consent is used once, and a failed task pays the client.
    function test_attack_griefingPoolStakeNeedsConsent() public {
        address griefer = address(0x6A1F);
        _fund(griefer, FUNDS);
        IHub.PoolOrder memory o = _order(5, 10);
        IHub.Request memory r = _request(5, 10);
        bytes memory sig = _signOrder(o);

        vm.startPrank(griefer);
        vm.expectRevert(IHub.InvalidConsent.selector);
        hub.matchOrders(o, sig, "", r);
        // the consent the pool gave `client` is bound to that client
        bytes memory forClient = _consent(o, client, r);
        vm.expectRevert(IHub.InvalidConsent.selector);
        hub.matchOrders(o, sig, forClient, r);
        vm.stopPrank();

        // another job or another task count is another consent
        IHub.Request memory otherJob = _request(5, 10);
        otherJob.jobHash = keccak256("built to fail");
        vm.prank(client);
        vm.expectRevert(IHub.InvalidConsent.selector);
        hub.matchOrders(o, sig, forClient, otherJob);
        IHub.Request memory more = _request(5, 10);
        more.taskCount = 9;
        vm.prank(client);
        vm.expectRevert(IHub.InvalidConsent.selector);
        hub.matchOrders(o, sig, forClient, more);

        // one deal per consent
        IHub.Request memory half = _request(5, 5);
        bytes memory consent = _consent(o, client, half);
        vm.prank(client);
        hub.matchOrders(o, sig, consent, half);
        bytes32 consentHash = hub.hashJobConsent(hub.hashPoolOrder(o), half.jobHash, client, 5);
        assertEq(hub.orderConsumed(consentHash), 5, "consent used");
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(IHub.ConsentAlreadyUsed.selector, consentHash));
        hub.matchOrders(o, sig, consent, half);
    }

    /// @dev A consent names its order: it does not buy the same job from another order, even
    /// one of the same pool at a lower price.
    function test_consent_isBoundToItsOrder() public {
        IHub.PoolOrder memory dear = _order(5, 10);
        IHub.PoolOrder memory cheap = _order(5, 10);
        cheap.price = uint96(PRICE / 2);
        IHub.Request memory r = _request(5, 1);
        bytes memory consentForDear = _consent(dear, client, r);
        bytes memory cheapSig = _signOrder(cheap);
        vm.prank(client);
        vm.expectRevert(IHub.InvalidConsent.selector);
        hub.matchOrders(cheap, cheapSig, consentForDear, r);
        // and a cancelled order takes its unused consents with it
        vm.prank(poolOwner);
        hub.cancelOrder(dear);
        bytes memory dearSig = _signOrder(dear);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(IHub.OrderIsCancelled.selector, hub.hashPoolOrder(dear)));
        hub.matchOrders(dear, dearSig, consentForDear, r);
    }

    /// @dev Penalties never pay the party that decides them: a failed task's pool stake goes to
    /// its client, and the Hub's owner gains nothing from any claim.
    function test_penalties_failedTaskPaysTheClientNotTheHubOwner() public {
        bytes32 taskId = _newTask(5);
        vm.warp(block.timestamp + 10 * TIME_REF);
        hub.claim(taskId);
        assertEq(hub.penaltyBalance(), 0, "nothing for the Hub's owner");
        assertEq(hub.freeBalanceOf(client), FUNDS + POOL_STAKE, "the client is compensated");
        vm.prank(hubOwner);
        vm.expectRevert(abi.encodeWithSelector(IHub.InsufficientPenaltyBalance.selector, 0, 1));
        hub.withdrawPenalties(hubOwner, 1);
        _assertConservation();
    }

    // ================================================================== withheld reveals

    /// @dev A winner that never reveals forfeits its stake and a third of its score when the
    /// task is claimed; a loser gets its stake back. On the old Hub both got their stake back.
    function test_withheldReveal_forfeitsAtClaim() public {
        _setScore(workers[0], 30);
        bytes32 taskId = _newTask(3);
        _contribute(taskId, 1, B);
        _contribute(taskId, 0, A); // weight 9: 9 * 3 > 12 * 2
        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.REVEALING), "consensus");
        vm.warp(block.timestamp + 10 * TIME_REF);
        vm.expectEmit(address(hub));
        emit IHub.Seized(workers[0], WORKER_STAKE, taskId);
        hub.claim(taskId);
        assertEq(hub.penaltyBalance(), WORKER_STAKE, "the silent winner forfeits");
        assertEq(hub.freeBalanceOf(workers[0]), FUNDS - WORKER_STAKE, "never also returned");
        assertEq(hub.frozenBalanceOf(workers[0]), 0, "nothing left frozen");
        assertEq(hub.freeBalanceOf(workers[1]), FUNDS, "the loser's stake comes back");
        assertEq(_score(workers[0]), 20, "cut as a loser's: 30 -> 20");
        assertEq(uint256(_cStatus(taskId, 0)), uint256(IHub.ContributionStatus.REJECTED), "rejected");
        _assertConservation();
    }

    /// @dev A task with a reveal is never claimed: anyone finalizes it after the deadlines.
    function test_claim_refusesATaskWithAReveal() public {
        bytes32 taskId = _newTask(3);
        _contribute(taskId, 0, A);
        _contribute(taskId, 1, A);
        _reveal(taskId, 1, A);
        vm.warp(block.timestamp + 10 * TIME_REF);
        vm.expectRevert(IHub.TaskHasReveals.selector);
        hub.claim(taskId);
        vm.prank(workers[1]);
        hub.finalize(taskId, "");
        assertEq(hub.freeBalanceOf(workers[1]), FUNDS + 117 ether, "the revealer takes 90 % of price and forfeit");
        assertEq(hub.freeBalanceOf(workers[0]), FUNDS - WORKER_STAKE, "the silent winner loses its stake");
        _assertConservation();
    }

    /// @dev A winner rejected by a reopen forfeits when the task is later claimed, as it does
    /// when the task is later finalized. On the old Hub the claim gave its stake back.
    function test_withheldReveal_forfeitsAfterReopenAndClaim() public {
        _setScore(workers[0], 9);
        bytes32 taskId = _newTask(2);
        _contribute(taskId, 0, A);
        vm.warp(block.timestamp + 2 * TIME_REF);
        vm.prank(poolOwner);
        hub.reopen(taskId);
        vm.warp(block.timestamp + 10 * TIME_REF);
        hub.claim(taskId);
        assertEq(hub.freeBalanceOf(workers[0]), FUNDS - WORKER_STAKE, "stake forfeited");
        assertEq(hub.frozenBalanceOf(workers[0]), 0, "and not returned");
        assertEq(hub.penaltyBalance(), WORKER_STAKE, "to the penalty account");
        assertEq(_score(workers[0]), 6, "9 -> 6");
        _assertConservation();
    }

    // ================================================================== permissionless finalize

    /// @dev The pool owner never finalizes a task whose winners revealed: anyone does once the
    /// reveal deadline passed, and the winners and the pool owner are paid. On the old Hub only
    /// the pool owner could, and the client claimed the task at the final deadline.
    function test_attack_skippingFinalize() public {
        bytes32 taskId = _newTask(3);
        _contribute(taskId, 0, A);
        _contribute(taskId, 1, A);
        _reveal(taskId, 0, A);
        _reveal(taskId, 1, A);
        vm.prank(workers[0]);
        vm.expectRevert(abi.encodeWithSelector(IHub.NotPoolOwner.selector, workers[0]));
        hub.finalize(taskId, "");
        vm.warp(hub.task(taskId).revealDeadline);
        vm.prank(workers[0]);
        hub.finalize(taskId, "ipfs://by-a-worker");
        assertEq(hub.freeBalanceOf(workers[0]), FUNDS + 45 ether, "winner paid");
        assertEq(hub.freeBalanceOf(workers[1]), FUNDS + 45 ether, "winner paid");
        assertEq(hub.freeBalanceOf(poolOwner), FUNDS + 10 ether, "the pool owner's share and stake");
        _assertConservation();
    }

    function test_finalize_byAnyoneNeedsAReveal() public {
        bytes32 taskId = _newTask(2);
        _contribute(taskId, 0, A);
        vm.warp(block.timestamp + 2 * TIME_REF);
        vm.expectRevert(IHub.NothingRevealed.selector);
        hub.finalize(taskId, "");
    }

    // ================================================================== smaller holes

    /// @dev An authorization of the first round no longer votes after a reopen; one for the new
    /// round does. On the old Hub the stale one was accepted.
    function test_attack_staleAuthorizationAfterReopen() public {
        bytes32 taskId = _newTask(2);
        bytes memory stale = _auth(workers[1], taskId);
        _contribute(taskId, 0, A);
        uint256 deadline = hub.task(taskId).revealDeadline;
        vm.warp(deadline);
        vm.prank(poolOwner);
        hub.reopen(taskId);
        assertEq(hub.task(taskId).round, deadline, "the new round is named by the passed deadline");
        assertEq(hub.task(taskId).revealDeadline, 0, "no reveal deadline while active");

        vm.prank(workers[1]);
        vm.expectRevert(IHub.InvalidAuthorization.selector);
        hub.contribute(taskId, _hash(taskId, B), _seal(workers[1], taskId, B), stale);
        bytes memory fresh = _auth(workers[1], taskId);
        assertEq(
            keccak256(fresh),
            keccak256(_sign(poolOwnerKey, _authDigestInRound(workers[1], taskId, deadline))),
            "round-bound message"
        );
        vm.prank(workers[1]);
        hub.contribute(taskId, _hash(taskId, B), _seal(workers[1], taskId, B), fresh);
        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.REVEALING), "voted in the new round");
    }

    function test_finalize_marksLosersRejected() public {
        bytes32 taskId = _newTask(3);
        _contribute(taskId, 0, A);
        _contribute(taskId, 1, B);
        _contribute(taskId, 2, A);
        _contribute(taskId, 3, A);
        _revealWinners(taskId);
        assertEq(uint256(_cStatus(taskId, 1)), uint256(IHub.ContributionStatus.REJECTED), "loser rejected");
        assertEq(uint256(_cStatus(taskId, 0)), uint256(IHub.ContributionStatus.PROVED), "winner proved");
    }

    function test_createCategory_boundsTheTimeReference() public {
        vm.startPrank(hubOwner);
        vm.expectRevert(IHub.InvalidTimeRef.selector);
        hub.createCategory("CENTURY", uint32(7 days + 1));
        hub.createCategory("WEEK", uint32(7 days));
        vm.stopPrank();
    }

    function test_withdrawTo_refusesTheHub() public {
        vm.prank(client);
        vm.expectRevert(IHub.TransferToHub.selector);
        hub.withdrawTo(address(hub), 1);
        _withheldClaim(0);
        vm.prank(hubOwner);
        vm.expectRevert(IHub.TransferToHub.selector);
        hub.withdrawPenalties(address(hub), 1);
    }

    /// @dev An order names the ratios it was priced for; `updatePolicy` before the match makes
    /// it unmatchable. On the old Hub the deal took the new ratios.
    function test_matchOrders_refusesAnOrderAfterItsPolicyChanged() public {
        IHub.PoolOrder memory o = _order(5, 1);
        IHub.Request memory r = _request(5, 1);
        bytes memory sig = _signOrder(o);
        bytes memory consent = _consent(o, client, r);
        vm.prank(poolOwner);
        hub.updatePolicy(poolId, _policy(90, SCHEDULER_RATIO, 10_000));
        vm.prank(client);
        vm.expectRevert(IHub.PolicyChanged.selector);
        hub.matchOrders(o, sig, consent, r);
        // the scheduler's share too
        vm.prank(poolOwner);
        hub.updatePolicy(poolId, _policy(30, SCHEDULER_RATIO + 1, 10_000));
        vm.prank(client);
        vm.expectRevert(IHub.PolicyChanged.selector);
        hub.matchOrders(o, sig, consent, r);
        // back to the ratios the order names: it matches
        vm.prank(poolOwner);
        hub.updatePolicy(poolId, _policy(30, SCHEDULER_RATIO, 10_000));
        vm.prank(client);
        hub.matchOrders(o, sig, consent, r);
    }

    function test_ownership_movesInTwoSteps() public {
        address next = address(0x2E57);
        vm.prank(hubOwner);
        hub.transferOwnership(next);
        assertEq(hub.owner(), hubOwner, "not yet");
        assertEq(hub.pendingOwner(), next, "pending");
        vm.prank(address(0xBAD));
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(0xBAD)));
        hub.acceptOwnership();
        vm.prank(next);
        hub.acceptOwnership();
        assertEq(hub.owner(), next, "moved");
    }

    // ================================================================== payout address

    function test_payoutAddress_receivesRewardsNotStakes() public {
        address cold = address(0xC01D);
        vm.expectEmit(address(hub));
        emit IHub.PayoutAddressSet(workers[0], cold);
        vm.prank(workers[0]);
        hub.setPayoutAddress(cold);
        assertEq(hub.payoutOf(workers[0]), cold, "named");
        assertEq(hub.payoutOf(workers[1]), workers[1], "default: itself");

        bytes32 taskId = _newTask(3);
        _contribute(taskId, 0, A);
        _contribute(taskId, 1, A);
        _revealWinners(taskId);
        assertEq(hub.freeBalanceOf(cold), 45 ether, "reward to the payout address");
        assertEq(hub.freeBalanceOf(workers[0]), FUNDS, "stake back to the worker");
        assertEq(hub.freeBalanceOf(workers[1]), FUNDS + 45 ether, "default payout");

        // changeable, and back to itself
        vm.expectEmit(address(hub));
        emit IHub.PayoutAddressSet(workers[0], workers[0]);
        vm.prank(workers[0]);
        hub.setPayoutAddress(address(0));
        assertEq(hub.payoutOf(workers[0]), workers[0], "reset");
        vm.prank(workers[0]);
        vm.expectRevert(IHub.TransferToHub.selector);
        hub.setPayoutAddress(address(hub));

        // the fast path pays it too
        vm.prank(workers[2]);
        hub.setPayoutAddress(cold);
        bytes32 fast = _newTask(1);
        bytes memory auth = _auth(workers[2], fast);
        vm.prank(workers[2]);
        hub.contributeAndFinalize(fast, A, "", auth);
        assertEq(hub.freeBalanceOf(cold), 45 ether + 90 ether, "fast path reward to the payout address");
        tracked.push(cold);
        _assertConservation();
    }

    // ================================================================== batch initialize

    function test_initializeRange_opensEachTaskAsInitializeDoes() public {
        bytes32 dealId = _match(5, 10);
        hub.initialize(dealId, 7);
        vm.expectRevert(abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.ACTIVE));
        hub.initializeRange(dealId, 5, 5);
        hub.initializeRange(dealId, 0, 7);
        for (uint256 i = 0; i < 8; i++) {
            assertEq(uint256(_status(hub.taskIdOf(dealId, i))), uint256(IHub.TaskStatus.ACTIVE), "opened");
        }
        assertEq(uint256(_status(hub.taskIdOf(dealId, 8))), uint256(IHub.TaskStatus.UNSET), "not in range");
        vm.expectRevert(IHub.InvalidRange.selector);
        hub.initializeRange(dealId, 8, 3);
        vm.expectRevert(IHub.InvalidRange.selector);
        hub.initializeRange(dealId, 8, 0);
        vm.expectRevert(IHub.InvalidRange.selector);
        hub.initializeRange(dealId, type(uint256).max, 2);
        vm.expectRevert(abi.encodeWithSelector(IHub.UnknownDeal.selector, bytes32(0)));
        hub.initializeRange(bytes32(0), 0, 1);
        hub.initializeRange(dealId, 8, 2);
        assertEq(uint256(_status(hub.taskIdOf(dealId, 9))), uint256(IHub.TaskStatus.ACTIVE), "last");
    }

    // ================================================================== batch claim

    /// @dev `claimMany` settles each task exactly as `claim` does, one after the other: the same
    /// balances, penalty account, scores, task and contribution states, and the same events in
    /// the same order. Each of four tasks of a deal is in one of the states a claim meets
    /// (`modes`, two bits a task): no vote; two votes without consensus; a consensus whose
    /// winners never revealed; a reopened task with one vote of the new round.
    function testFuzz_claimMany_settlesEachTaskAsClaimDoes(uint8 modes) public {
        _setScore(workers[0], 9);
        _setScore(workers[1], 5);
        bytes32[] memory ids = _tasksInEveryClaimableState(modes);
        bytes memory before = _settlement(ids);
        uint256 state = vm.snapshotState();

        vm.recordLogs();
        for (uint256 i = 0; i < ids.length; i++) {
            hub.claim(ids[i]);
        }
        Vm.Log[] memory one = vm.getRecordedLogs();
        bytes memory byClaims = _settlement(ids);

        vm.revertToState(state);
        assertEq(keccak256(_settlement(ids)), keccak256(before), "back to the state before the claims");
        vm.recordLogs();
        hub.claimMany(ids);
        Vm.Log[] memory batch = vm.getRecordedLogs();

        assertEq(keccak256(_settlement(ids)), keccak256(byClaims), "the same balances, scores and states");
        assertEq(batch.length, one.length, "as many events");
        for (uint256 i = 0; i < one.length; i++) {
            assertEq(batch[i].emitter, one[i].emitter, "emitter");
            assertEq(keccak256(abi.encode(batch[i].topics)), keccak256(abi.encode(one[i].topics)), "topics");
            assertEq(keccak256(batch[i].data), keccak256(one[i].data), "data");
        }
        for (uint256 i = 0; i < ids.length; i++) {
            assertEq(uint256(_status(ids[i])), uint256(IHub.TaskStatus.FAILED), "failed");
        }
        assertEq(hub.frozenBalanceOf(client), 0, "every price released");
        assertEq(hub.freeBalanceOf(client), FUNDS + 4 * POOL_STAKE, "refunded, with each task's pool stake");
        _assertConservation();
    }

    /// @dev A task that cannot be claimed reverts the whole batch with the error its own claim
    /// gives, wherever it is in the list: nothing of the tasks before it is settled.
    function test_claimMany_revertsAtomically() public {
        uint256 start = block.timestamp;
        bytes32 dealId = _match(5, 4);
        hub.initializeRange(dealId, 0, 4);
        bytes32 open = hub.taskIdOf(dealId, 0);
        bytes32 silent = hub.taskIdOf(dealId, 1);
        bytes32 revealed = hub.taskIdOf(dealId, 2);
        bytes32 claimed = hub.taskIdOf(dealId, 3);
        _contribute(open, 0, A);
        _contribute(open, 1, B);
        for (uint256 w = 0; w < 3; w++) {
            _contribute(silent, w, A);
            _contribute(revealed, w, A);
        }
        _reveal(revealed, 1, A);
        bytes32 completed = _newTask(1);
        bytes memory auth = _auth(workers[3], completed);
        vm.prank(workers[3]);
        hub.contributeAndFinalize(completed, A, "", auth);
        vm.warp(start + 5 * TIME_REF);
        bytes32 early = _newTask(5);
        vm.warp(start + 10 * TIME_REF);
        hub.claim(claimed);

        bytes32[] memory ok = new bytes32[](2);
        (ok[0], ok[1]) = (open, silent);
        bytes memory before = _settlement(ok);
        bytes32[6] memory bad = [early, claimed, open, revealed, hub.taskIdOf(dealId, 4), completed];
        bytes[6] memory errors = [
            abi.encodeWithSelector(IHub.FinalDeadlineNotReached.selector),
            abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.FAILED),
            // listed twice: claimed by the batch itself, then refused
            abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.FAILED),
            abi.encodeWithSelector(IHub.TaskHasReveals.selector),
            abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.UNSET),
            abi.encodeWithSelector(IHub.WrongTaskStatus.selector, IHub.TaskStatus.COMPLETED)
        ];
        for (uint256 k = 0; k < bad.length; k++) {
            // last in the list, after two claimable tasks
            vm.expectRevert(errors[k]);
            hub.claimMany(_list3(open, silent, bad[k]));
            // first in the list
            if (bad[k] != open) {
                vm.expectRevert(errors[k]);
                hub.claimMany(_list3(bad[k], open, silent));
            }
        }
        assertEq(keccak256(_settlement(ok)), keccak256(before), "nothing settled");
        assertEq(uint256(_status(open)), uint256(IHub.TaskStatus.ACTIVE), "still active");
        assertEq(uint256(_status(silent)), uint256(IHub.TaskStatus.REVEALING), "still revealing");

        hub.claimMany(ok);
        assertEq(uint256(_status(open)), uint256(IHub.TaskStatus.FAILED), "claimed");
        assertEq(uint256(_status(silent)), uint256(IHub.TaskStatus.FAILED), "claimed");
        assertEq(hub.penaltyBalance(), 3 * WORKER_STAKE, "the silent winners forfeit");
        // a batch may mix deals: the later deal's task, once its own final deadline passed
        vm.warp(start + 15 * TIME_REF);
        bytes32[] memory later = new bytes32[](1);
        later[0] = early;
        hub.claimMany(later);
        assertEq(uint256(_status(early)), uint256(IHub.TaskStatus.FAILED), "claimed at its deadline");
        _assertConservation();
    }

    /// @dev An empty batch is refused, as `initializeRange` refuses an empty range.
    function test_claimMany_revertsOnAnEmptyList() public {
        vm.expectRevert(IHub.InvalidRange.selector);
        hub.claimMany(new bytes32[](0));
    }

    // ================================================================== helpers

    /// @dev Four tasks of one trust-5 deal, past the final deadline, task `i` in state
    /// `(modes >> 2i) & 3`: 0 no vote; 1 two votes, no consensus; 2 a consensus of three whose
    /// winners never reveal; 3 the same reopened by the pool owner, then one vote of the new
    /// round.
    function _tasksInEveryClaimableState(uint8 modes) internal returns (bytes32[] memory ids) {
        uint256 start = block.timestamp;
        bytes32 dealId = _match(5, 4);
        hub.initializeRange(dealId, 0, 4);
        ids = new bytes32[](4);
        bool reopens;
        for (uint256 i = 0; i < 4; i++) {
            ids[i] = hub.taskIdOf(dealId, i);
            uint256 mode = (modes >> (2 * i)) & 3;
            if (mode == 1) {
                _contribute(ids[i], 0, A);
                _contribute(ids[i], 1, B);
            } else if (mode >= 2) {
                for (uint256 w = 0; w < 3; w++) {
                    _contribute(ids[i], w, A);
                }
                reopens = reopens || mode == 3;
            }
        }
        if (reopens) {
            vm.warp(start + 2 * TIME_REF);
            for (uint256 i = 0; i < 4; i++) {
                if ((modes >> (2 * i)) & 3 != 3) continue;
                vm.prank(poolOwner);
                hub.reopen(ids[i]);
                _contribute(ids[i], 3, B);
                assertEq(uint256(_status(ids[i])), uint256(IHub.TaskStatus.ACTIVE), "reopened");
            }
        }
        vm.warp(start + 10 * TIME_REF);
    }

    /// @dev Every balance, score and state a claim of `ids` may change, encoded.
    function _settlement(bytes32[] memory ids) internal view returns (bytes memory s) {
        s = abi.encode(hub.penaltyBalance());
        for (uint256 i = 0; i < tracked.length; i++) {
            address a = tracked[i];
            s = bytes.concat(s, abi.encode(hub.freeBalanceOf(a), hub.frozenBalanceOf(a), _score(a)));
        }
        for (uint256 i = 0; i < ids.length; i++) {
            s = bytes.concat(s, abi.encode(hub.task(ids[i])));
            for (uint256 w = 0; w < 4; w++) {
                s = bytes.concat(s, abi.encode(hub.contribution(ids[i], workers[w])));
            }
        }
    }

    function _list3(bytes32 a, bytes32 b, bytes32 c) internal pure returns (bytes32[] memory list) {
        list = new bytes32[](3);
        (list[0], list[1], list[2]) = (a, b, c);
    }

    function _useOwner(uint256 key, uint64 pool_) internal {
        poolOwnerKey = key;
        poolOwner = vm.addr(key);
        poolId = pool_;
    }

    /// @dev Every current winner reveals, then the pool owner finalizes.
    function _revealWinners(bytes32 taskId) internal {
        address[] memory list = hub.contributors(taskId);
        uint256 consensus = hub.task(taskId).consensusOrdinal;
        for (uint256 i = 0; i < list.length; i++) {
            if (hub.contribution(taskId, list[i]).ordinal != consensus) continue;
            bytes32 digest = hub.ordinalOf(taskId, _hash(taskId, A)) == consensus ? A : B;
            vm.prank(list[i]);
            hub.reveal(taskId, digest);
        }
        _finalize(taskId);
    }
}

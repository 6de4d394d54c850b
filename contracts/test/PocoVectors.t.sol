// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "./utils/Test.sol";
import {Hub} from "../src/Hub.sol";
import {HubTasks} from "../src/HubTasks.sol";
import {IHub} from "../src/interfaces/IHub.sol";
import {QuorateCredit} from "../src/QuorateCredit.sol";
import {PocoMath} from "../src/libs/PocoMath.sol";

/// @notice External entry points to the library, so that expected overflows can be caught.
contract PocoMathCaller {
    function addVote(uint256 group, uint256 total, uint256 w) external pure returns (uint256, uint256) {
        return PocoMath.addVote(group, total, w);
    }

    function hasConsensus(uint256 group, uint256 total, uint256 trust) external pure returns (bool) {
        return PocoMath.hasConsensus(group, total, trust);
    }

    function scoreAfterProved(uint256 score, uint256 contributors) external pure returns (uint256) {
        return PocoMath.scoreAfterProved(score, contributors);
    }
}

/// @notice Replays poco/vectors/poco.json (generated and checked by the Rust crate quorate-poco;
/// schema in poco/vectors/README.md): the library maths case by case, and every task script on
/// a fresh Hub, call by call, with the state after each call and the settlement.
///
/// The Hub keeps scores in 32 bits (a score grows by one per task), so the two cases whose
/// workers have scores of 2^64 and more are replayed on the library maths only; the test
/// checks that no other case is left out.
contract PocoVectorsTest is Test {
    uint256 internal constant POOL_OWNER_KEY = 0xB00F;
    uint256 internal constant SCORES_SLOT = 18;

    /// @dev Memory address of the vectors' text, loaded once per test (see `_load`).
    uint256 internal jsonPtr;
    PocoMathCaller internal math = new PocoMathCaller();
    address internal hubOwner = address(0x0417);
    address internal client = address(0xC11E);
    address internal poolOwner;

    // the case being replayed
    QuorateCredit internal credit;
    Hub internal hub;
    string internal base;
    bytes32 internal taskId;
    bytes32 internal vTaskId;
    address internal vPoolOwner;
    uint256 internal caseNo;
    uint256 internal workerStake;
    mapping(uint256 caseNo => mapping(bytes32 vectorHash => bytes32 hubHash)) internal hashOf;
    mapping(uint256 caseNo => mapping(address worker => bool)) internal funded;

    function setUp() public {
        poolOwner = vm.addr(POOL_OWNER_KEY);
    }

    // ------------------------------------------------------------------ json helpers
    //
    // The vectors are 150 kB of text. Kept in storage, every lookup would copy them out of it;
    // kept in memory, every lookup would leave a 150 kB copy behind (memory only grows, and its
    // cost is quadratic). So the text is read once per test into memory, and each lookup puts
    // the free memory pointer back where it was, keeping only its (small) result.

    function _load() internal {
        string memory j = vm.readFile(string.concat(vm.projectRoot(), "/../poco/vectors/poco.json"));
        uint256 ptr;
        assembly ("memory-safe") {
            ptr := j
        }
        jsonPtr = ptr;
    }

    function _json() internal view returns (string memory j) {
        uint256 ptr = jsonPtr;
        assembly ("memory-safe") {
            j := ptr
        }
    }

    function _mark() internal pure returns (uint256 fmp) {
        assembly ("memory-safe") {
            fmp := mload(0x40)
        }
    }

    function _release(uint256 fmp) internal pure {
        assembly ("memory-safe") {
            mstore(0x40, fmp)
        }
    }

    function _uint(string memory path) internal view returns (uint256 v) {
        uint256 fmp = _mark();
        v = vm.parseJsonUint(_json(), path);
        _release(fmp);
    }

    function _b32(string memory path) internal view returns (bytes32 v) {
        uint256 fmp = _mark();
        v = vm.parseJsonBytes32(_json(), path);
        _release(fmp);
    }

    function _addr(string memory path) internal view returns (address v) {
        uint256 fmp = _mark();
        v = vm.parseJsonAddress(_json(), path);
        _release(fmp);
    }

    function _bool(string memory path) internal view returns (bool v) {
        uint256 fmp = _mark();
        v = vm.parseJsonBool(_json(), path);
        _release(fmp);
    }

    /// @dev The string is copied down to where the free memory pointer was.
    function _str(string memory path) internal view returns (string memory out) {
        uint256 fmp = _mark();
        string memory r = vm.parseJsonString(_json(), path);
        assembly ("memory-safe") {
            let words := add(div(add(mload(r), 31), 32), 1)
            out := fmp
            for { let i := 0 } lt(i, words) { i := add(i, 1) } {
                mstore(add(out, mul(i, 32)), mload(add(r, mul(i, 32))))
            }
            mstore(0x40, add(out, mul(words, 32)))
        }
    }

    function _key(string memory path) internal view returns (string memory) {
        return string.concat(base, path);
    }

    function _is(string memory a, string memory b) internal pure returns (bool) {
        return keccak256(bytes(a)) == keccak256(bytes(b));
    }

    function _at(string memory list, uint256 i) internal pure returns (string memory) {
        return string.concat(list, "[", vm.toString(i), "]");
    }

    function _status(string memory s) internal pure returns (uint256) {
        if (_is(s, "ACTIVE")) return uint256(IHub.TaskStatus.ACTIVE);
        if (_is(s, "REVEALING")) return uint256(IHub.TaskStatus.REVEALING);
        if (_is(s, "COMPLETED")) return uint256(IHub.TaskStatus.COMPLETED);
        if (_is(s, "FAILED")) return uint256(IHub.TaskStatus.FAILED);
        if (_is(s, "CONTRIBUTED")) return uint256(IHub.ContributionStatus.CONTRIBUTED);
        if (_is(s, "PROVED")) return uint256(IHub.ContributionStatus.PROVED);
        if (_is(s, "REJECTED")) return uint256(IHub.ContributionStatus.REJECTED);
        revert AssertionFailed(string.concat("unknown status ", s));
    }

    // ------------------------------------------------------------------ pure maths

    function test_schema() public {
        _load();
        assertEq(_str(".schema"), "quorate-poco-vectors/2", "schema tag");
    }

    function test_weights() public {
        _load();
        uint256 n = _uint(".weightCount");
        assertGt(n, 0, "weights");
        for (uint256 i = 0; i < n; i++) {
            string memory row = _at(".weights", i);
            uint256 score = _uint(string.concat(row, ".score"));
            uint256 w = PocoMath.weight(score);
            assertEq(w, _uint(string.concat(row, ".weight")), "weight");
            assertEq(PocoMath.payoutWeight(w), _uint(string.concat(row, ".payoutWeight")), "payout weight");
        }
    }

    function test_scores() public {
        _load();
        uint256 n = _uint(".scoreCount");
        assertGt(n, 0, "scores");
        for (uint256 i = 0; i < n; i++) {
            string memory row = _at(".scores", i);
            uint256 score = _uint(string.concat(row, ".score"));
            uint256 contributors = _uint(string.concat(row, ".contributorCount"));
            uint256 expected = _uint(string.concat(row, ".scoreAfter"));
            if (!_bool(string.concat(row, ".proved"))) {
                assertEq(PocoMath.scoreAfterLost(score), expected, "floor(2s/3)");
            } else if (_bool(string.concat(row, ".reverts"))) {
                try math.scoreAfterProved(score, contributors) returns (uint256) {
                    revert AssertionFailed("score overflow must revert");
                } catch {}
            } else {
                assertEq(PocoMath.scoreAfterProved(score, contributors), expected, "score after proved");
            }
        }
    }

    /// @dev Every case's votes through the library alone (group, total, consensus, reopen),
    /// including the scores the Hub cannot hold.
    function test_caseVotes_onLibraryMaths() public {
        _load();
        _replayMaths(".consensus", _uint(".consensusCount"));
        _replayMaths(".payouts", _uint(".payoutCount"));
    }

    struct Tally {
        bytes32[] hashes;
        uint256[] groups;
        uint256 n;
        uint256 total;
        bytes32 consensus;
    }

    function _replayMaths(string memory list, uint256 count) internal {
        for (uint256 c = 0; c < count; c++) {
            base = _at(list, c);
            uint256 trust = _uint(_key(".trust"));
            uint256 steps = _uint(_key(".stepCount"));
            Tally memory t = Tally(new bytes32[](steps), new uint256[](steps), 0, 1, bytes32(0));
            for (uint256 i = 0; i < steps; i++) {
                string memory step = _key(_at(".steps", i));
                string memory op = _str(string.concat(step, ".op"));
                bool reverts = _bool(string.concat(step, ".reverts"));
                if (_is(op, "contribute") && !reverts) {
                    _mathsVote(t, step, trust);
                } else if (_is(op, "contribute")) {
                    _mathsRefusedVote(t, step, trust);
                } else if (_is(op, "reopen") && !reverts) {
                    for (uint256 k = 0; k < t.n; k++) {
                        if (t.hashes[k] == t.consensus) {
                            t.total -= t.groups[k];
                            t.groups[k] = 0;
                        }
                    }
                    t.consensus = bytes32(0);
                }
                assertEq(t.total, _uint(string.concat(step, ".totalAfter")), "total after step");
            }
        }
    }

    function _mathsVote(Tally memory t, string memory step, uint256 trust) internal view {
        bytes32 h = _b32(string.concat(step, ".hash"));
        uint256 w = PocoMath.weight(_uint(string.concat(step, ".score")));
        assertEq(w, _uint(string.concat(step, ".weight")), "step weight");
        uint256 k = _find(t, h);
        (t.groups[k], t.total) = PocoMath.addVote(t.groups[k], t.total, w);
        assertEq(t.groups[k], _uint(string.concat(step, ".groupAfter")), "group after vote");
        if (PocoMath.hasConsensus(t.groups[k], t.total, trust)) t.consensus = h;
        assertEq(t.consensus, _b32(string.concat(step, ".consensusHash")), "consensus");
    }

    /// @dev A refused vote changes nothing; when it is refused for overflow, the library must
    /// overflow on it.
    function _mathsRefusedVote(Tally memory t, string memory step, uint256 trust) internal view {
        if (!_is(_str(string.concat(step, ".error")), "Overflow")) return;
        bytes32 h = _b32(string.concat(step, ".hash"));
        uint256 w = PocoMath.weight(_uint(string.concat(step, ".score")));
        uint256 k = _find(t, h);
        try math.addVote(t.groups[k], t.total, w) returns (uint256 g, uint256 total) {
            try math.hasConsensus(g, total, trust) returns (bool) {
                revert AssertionFailed("the vectors' overflow does not overflow here");
            } catch {}
        } catch {}
    }

    function _find(Tally memory t, bytes32 h) internal pure returns (uint256 k) {
        for (k = 0; k < t.n; k++) {
            if (t.hashes[k] == h) return k;
        }
        t.hashes[k] = h;
        t.n++;
    }

    // ------------------------------------------------------------------ on the Hub

    function test_consensusCases_onHub() public {
        _load();
        uint256 n = _uint(".consensusCount");
        uint256 replayed;
        for (uint256 c = 0; c < n; c++) {
            base = _at(".consensus", c);
            if (_scoresFitHub()) {
                _replayCase(c);
                replayed++;
            } else {
                assertTrue(
                    _is(_str(_key(".name")), "huge-score-alone") || _is(_str(_key(".name")), "overflow-refused"),
                    "only the huge-score cases are left to the library"
                );
            }
        }
        assertEq(replayed, n - 2, "consensus cases replayed on the Hub");
    }

    function test_payoutCases_onHub() public {
        _load();
        uint256 n = _uint(".payoutCount");
        assertGt(n, 0, "payout cases");
        for (uint256 c = 0; c < n; c++) {
            base = _at(".payouts", c);
            assertTrue(_scoresFitHub(), "payout case scores fit the Hub");
            _replayCase(1000 + c);
            _checkSettlement();
        }
    }

    function test_fastPaths_onHub() public {
        _load();
        uint256 n = _uint(".fastPathCount");
        assertGt(n, 0, "fast paths");
        for (uint256 c = 0; c < n; c++) {
            base = _at(".fastPaths", c);
            uint256 price = _uint(_key(".price"));
            uint256 ratio = _uint(_key(".schedulerRatio"));
            uint256 score = _uint(_key(".score"));
            (uint256 totalReward, uint256 workersReward) = PocoMath.rewards(price, 0, 1, 1, ratio);
            assertEq(workersReward, _uint(_key(".workerReward")), "worker reward");
            assertEq(totalReward - workersReward, _uint(_key(".poolOwnerReward")), "pool owner reward");
            uint256 poolStake = PocoMath.stake(price, _uint(_key(".poolStakeRatio")));
            assertEq(poolStake, _uint(_key(".poolStakeReturned")), "pool stake");

            _deploy(100, ratio);
            vm.warp(1_700_000_000);
            _fund(client, price);
            _fund(poolOwner, poolStake);
            _openTask(1, price);
            address worker = _addr(_key(".worker"));
            assertLe(score, type(uint32).max, "fast-path scores fit the Hub");
            _setScore(worker, score);
            bytes memory auth = _sign(POOL_OWNER_KEY, hub.authorizationDigest(worker, taskId, 0));
            vm.prank(worker);
            hub.contributeAndFinalize(taskId, keccak256("fast"), "", auth);
            assertEq(hub.freeBalanceOf(worker), _uint(_key(".workerReward")), "worker paid");
            assertEq(
                hub.freeBalanceOf(poolOwner),
                _uint(_key(".poolOwnerReward")) + _uint(_key(".poolStakeReturned")),
                "pool owner paid"
            );
            assertEq(hub.scoreOf(poolOwner, worker), _uint(_key(".scoreAfter")), "score unchanged");
            assertEq(hub.freeBalanceOf(client) + hub.frozenBalanceOf(client), 0, "client paid");
        }
    }

    function _scoresFitHub() internal view returns (bool) {
        uint256 steps = _uint(_key(".stepCount"));
        for (uint256 i = 0; i < steps; i++) {
            if (_uint(_key(string.concat(_at(".steps", i), ".score"))) > type(uint32).max) return false;
        }
        return true;
    }

    function _deploy(uint32 timeRef, uint256 schedulerRatio) internal {
        credit = new QuorateCredit(address(this));
        hub = new Hub(credit, hubOwner);
        vm.prank(hubOwner);
        hub.createCategory("VEC", timeRef);
        vm.prank(poolOwner);
        hub.createPool(
            IHub.PoolPolicy({
                workerStakeRatio: 30,
                // forge-lint: disable-next-line(unsafe-typecast)
                schedulerRewardRatio: uint8(schedulerRatio),
                maxTrust: type(uint32).max,
                categoryMask: 1
            }),
            ""
        );
    }

    function _fund(address account, uint256 amount) internal {
        credit.mint(account, amount);
        vm.startPrank(account);
        credit.approve(address(hub), amount);
        hub.deposit(amount);
        vm.stopPrank();
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _setScore(address worker, uint256 score) internal {
        bytes32 slot = keccak256(abi.encode(worker, keccak256(abi.encode(poolOwner, SCORES_SLOT))));
        vm.store(address(hub), slot, bytes32(score));
        assertEq(hub.scoreOf(poolOwner, worker), score, "score set");
    }

    function _openTask(uint256 trust, uint256 price) internal {
        IHub.PoolOrder memory o = IHub.PoolOrder({
            pool: 1,
            price: uint96(price),
            volume: 1,
            category: 0,
            trust: uint32(trust),
            tag: bytes32(0),
            requester: address(0),
            expiry: type(uint64).max,
            salt: bytes32(0),
            workerStakeRatio: 30,
            // forge-lint: disable-next-line(unsafe-typecast)
            schedulerRewardRatio: uint8(_uint(_key(".schedulerRatio")))
        });
        IHub.Request memory r = IHub.Request({
            jobHash: keccak256("vectors"),
            taskCount: 1,
            maxPrice: uint96(price),
            trust: uint32(trust),
            category: 0,
            tag: bytes32(0),
            beneficiary: client
        });
        bytes memory sig = _sign(POOL_OWNER_KEY, hub.hashPoolOrder(o));
        bytes memory consent = _sign(POOL_OWNER_KEY, hub.hashJobConsent(hub.hashPoolOrder(o), r.jobHash, client, 1));
        vm.prank(client);
        bytes32 dealId = hub.matchOrders(o, sig, consent, r);
        taskId = hub.initialize(dealId, 0);
    }

    function _replayCase(uint256 c) internal {
        caseNo = c;
        uint256 start = _uint(_key(".start"));
        uint256 price = _uint(_key(".price"));
        assertEq(_uint(_key(".workerStakeRatio")), 30, "worker stake ratio");
        assertEq(_uint(_key(".poolStakeRatio")), 30, "pool stake ratio");
        workerStake = _uint(_key(".workerStake"));
        assertEq(workerStake, PocoMath.stake(price, 30), "worker stake");
        // forge-lint: disable-next-line(unsafe-typecast)
        _deploy(uint32(_uint(_key(".timeRef"))), _uint(_key(".schedulerRatio")));
        vm.warp(start);
        _fund(client, price);
        _fund(poolOwner, _uint(_key(".poolStake")));
        _openTask(_uint(_key(".trust")), price);
        IHub.TaskView memory t = hub.task(taskId);
        assertEq(t.contributionDeadline, _uint(_key(".contributionDeadline")), "contribution deadline");
        assertEq(t.finalDeadline, _uint(_key(".finalDeadline")), "final deadline");
        vTaskId = _b32(_key(".taskId"));
        vPoolOwner = _addr(_key(".poolOwner"));

        uint256 steps = _uint(_key(".stepCount"));
        for (uint256 i = 0; i < steps; i++) {
            _step(_key(_at(".steps", i)));
        }
        assertEq(uint256(hub.task(taskId).status), _status(_str(_key(".statusFinal"))), "final status");
        _checkContributions();
    }

    function _step(string memory step) internal {
        string memory op = _str(string.concat(step, ".op"));
        vm.warp(_uint(string.concat(step, ".time")));
        address caller = _addr(string.concat(step, ".caller"));
        if (caller == vPoolOwner) caller = poolOwner;
        // A digest is bound to its task, as the vectors' task computed it:
        // keccak256(taskId ‖ keccak256(result bytes)). The Hub takes it as opaque bytes.
        bytes32 answer = keccak256(bytes(_str(string.concat(step, ".answer"))));
        bytes32 digest = keccak256(abi.encodePacked(vTaskId, answer));
        bool ok;
        bytes memory reason;
        if (_is(op, "contribute")) {
            (ok, reason) = _contribute(step, caller, digest);
        } else if (_is(op, "reveal")) {
            vm.prank(caller);
            (ok, reason) = address(hub).call(abi.encodeCall(HubTasks.reveal, (taskId, digest)));
        } else if (_is(op, "reopen")) {
            vm.prank(caller);
            (ok, reason) = address(hub).call(abi.encodeCall(HubTasks.reopen, (taskId)));
        } else if (_is(op, "finalize")) {
            vm.prank(caller);
            (ok, reason) = address(hub).call(abi.encodeCall(HubTasks.finalize, (taskId, "")));
        } else if (_is(op, "claim")) {
            vm.prank(caller);
            (ok, reason) = address(hub).call(abi.encodeCall(HubTasks.claim, (taskId)));
        } else {
            revert AssertionFailed(string.concat("unknown op ", op));
        }
        bool reverts = _bool(string.concat(step, ".reverts"));
        string memory what = string.concat(_str(_key(".name")), ": ", op, " ", _str(string.concat(step, ".error")));
        assertEq(!ok, reverts, string.concat(what, ": reverts"));
        if (reverts) _checkReason(op, _str(string.concat(step, ".error")), reason, what);
        _checkAfter(step, op, digest, what);
    }

    function _contribute(string memory step, address caller, bytes32 digest)
        internal
        returns (bool ok, bytes memory reason)
    {
        assertEq(digest, _b32(string.concat(step, ".digest")), "digest of the answer");
        _setScore(caller, _uint(string.concat(step, ".score")));
        // only accepted contributions lock a stake: refused ones are left unfunded, so that the
        // Hub ends up holding exactly what the settlement accounts for
        if (!_bool(string.concat(step, ".reverts")) && !funded[caseNo][caller]) {
            funded[caseNo][caller] = true;
            _fund(caller, workerStake);
        }
        bytes32 h = keccak256(abi.encodePacked(taskId, digest));
        bytes32 vHash = _b32(string.concat(step, ".hash"));
        assertEq(vHash, keccak256(abi.encodePacked(vTaskId, digest)), "vector hash");
        hashOf[caseNo][vHash] = h;
        // a lazy copier submits the seal of worker 0x…a001 instead of its own
        bytes32 vSeal = _b32(string.concat(step, ".seal"));
        address sealer = caller;
        if (vSeal != keccak256(abi.encodePacked(caller, vTaskId, digest))) {
            sealer = address(0xa001);
            assertEq(vSeal, keccak256(abi.encodePacked(sealer, vTaskId, digest)), "copied seal");
        }
        bytes32 seal = keccak256(abi.encodePacked(sealer, taskId, digest));
        bytes memory auth = _authorization(step, caller);
        vm.prank(caller);
        (ok, reason) = address(hub).call(abi.encodeCall(HubTasks.contribute, (taskId, h, seal, auth)));
    }

    /// @dev The pool owner's authorization of a contribute step: for the task's current round, or
    /// for the first round when the step is stale, or by another key when it is unauthorized.
    function _authorization(string memory step, address caller) internal view returns (bytes memory) {
        uint256 signer = _bool(string.concat(step, ".authorized")) ? POOL_OWNER_KEY : 0xBAD;
        uint256 round = _bool(string.concat(step, ".staleRound")) ? 0 : hub.task(taskId).round;
        return _sign(signer, hub.authorizationDigest(caller, taskId, round));
    }

    /// @dev The Hub's custom error for each reason the Rust crate names.
    function _checkReason(string memory op, string memory err, bytes memory reason, string memory what) internal pure {
        bytes4 got = bytes4(reason);
        bytes4 want;
        bytes4 alt;
        if (_is(err, "WrongStatus")) {
            want = IHub.WrongTaskStatus.selector;
        } else if (_is(err, "Late")) {
            if (_is(op, "contribute")) want = IHub.ContributionDeadlinePassed.selector;
            else if (_is(op, "reveal")) want = IHub.RevealDeadlinePassed.selector;
            else want = IHub.FinalDeadlinePassed.selector;
        } else if (_is(err, "TooEarly")) {
            want = _is(op, "reopen") ? IHub.RevealWindowOpen.selector : IHub.FinalDeadlineNotReached.selector;
        } else if (_is(err, "Unauthorized")) {
            want = IHub.InvalidAuthorization.selector;
        } else if (_is(err, "DuplicateContribution")) {
            want = IHub.AlreadyContributed.selector;
        } else if (_is(err, "NotPoolOwner")) {
            want = IHub.NotPoolOwner.selector;
        } else if (_is(err, "NotAWinner")) {
            want = IHub.NotAWinner.selector;
        } else if (_is(err, "AlreadyRevealed") || _is(err, "AlreadyRevealedSome")) {
            want = IHub.AlreadyRevealed.selector;
        } else if (_is(err, "WrongSeal")) {
            (want, alt) = (IHub.SealMismatch.selector, IHub.ResultHashMismatch.selector);
        } else if (_is(err, "RevealsPending")) {
            want = IHub.RevealsPending.selector;
        } else if (_is(err, "NothingRevealed")) {
            want = IHub.NothingRevealed.selector;
        } else if (_is(err, "HasReveals")) {
            want = IHub.TaskHasReveals.selector;
        } else {
            revert AssertionFailed(string.concat(what, ": no Hub error for this reason"));
        }
        assertTrue(got == want || (alt != bytes4(0) && got == alt), string.concat(what, ": the Hub's reason"));
    }

    function _checkAfter(string memory step, string memory op, bytes32 digest, string memory what) internal view {
        IHub.TaskView memory t = hub.task(taskId);
        assertEq(uint256(t.status), _status(_str(string.concat(step, ".statusAfter"))), string.concat(what, ": status"));
        assertEq(t.total, _uint(string.concat(step, ".totalAfter")), string.concat(what, ": total"));
        if (_is(op, "contribute") || _is(op, "reveal")) {
            bytes32 h = keccak256(abi.encodePacked(taskId, digest));
            assertEq(hub.groupOf(taskId, h), _uint(string.concat(step, ".groupAfter")), string.concat(what, ": group"));
        }
        bytes32 vConsensus = _b32(string.concat(step, ".consensusHash"));
        if (vConsensus == bytes32(0)) {
            assertEq(t.consensusOrdinal, 0, string.concat(what, ": no consensus"));
        } else {
            assertGt(t.consensusOrdinal, 0, string.concat(what, ": consensus"));
            assertEq(
                hub.ordinalOf(taskId, hashOf[caseNo][vConsensus]), t.consensusOrdinal, string.concat(what, ": on it")
            );
        }
        assertEq(t.revealDeadline, _uint(string.concat(step, ".revealDeadline")), string.concat(what, ": deadline"));
        assertEq(t.winnerCount, _uint(string.concat(step, ".winnerCount")), string.concat(what, ": winners"));
        assertEq(t.revealCount, _uint(string.concat(step, ".revealCount")), string.concat(what, ": reveals"));
    }

    function _checkContributions() internal view {
        uint256 n = _uint(_key(".contributionCount"));
        assertEq(hub.task(taskId).contributorCount, n, "contributions");
        for (uint256 i = 0; i < n; i++) {
            string memory c = _key(_at(".contributions", i));
            address worker = _addr(string.concat(c, ".worker"));
            IHub.ContributionView memory v = hub.contribution(taskId, worker);
            assertEq(uint256(v.status), _status(_str(string.concat(c, ".status"))), "contribution status");
            assertEq(v.payoutWeight, _uint(string.concat(c, ".payoutWeight")), "payout weight");
            bytes32 h = hashOf[caseNo][_b32(string.concat(c, ".hash"))];
            assertEq(hub.ordinalOf(taskId, h), v.ordinal, "voted hash");
        }
    }

    /// @dev Every balance the settlement names, on the Hub: each account was funded with exactly
    /// what it locked, so what it holds afterwards is what the settlement gave it.
    function _checkSettlement() internal view {
        string memory s = _key(".settlement");
        uint256 n = _uint(string.concat(s, ".workerCount"));
        for (uint256 i = 0; i < n; i++) {
            string memory w = string.concat(s, _at(".workers", i));
            address worker = _addr(string.concat(w, ".worker"));
            assertEq(
                hub.freeBalanceOf(worker),
                _uint(string.concat(w, ".reward")) + _uint(string.concat(w, ".stakeReturned")),
                "worker: reward and stake back"
            );
            assertEq(hub.frozenBalanceOf(worker), 0, "worker: nothing left frozen");
            // a stake is either returned or seized, never both
            assertTrue(
                _uint(string.concat(w, ".stakeReturned")) == 0 || _uint(string.concat(w, ".stakeSeized")) == 0,
                "returned or seized"
            );
            assertEq(hub.scoreOf(poolOwner, worker), _uint(string.concat(w, ".scoreAfter")), "worker: score");
        }
        assertEq(
            hub.freeBalanceOf(poolOwner),
            _uint(string.concat(s, ".poolOwnerReward")) + _uint(string.concat(s, ".poolStakeReturned")),
            "pool owner"
        );
        assertEq(hub.frozenBalanceOf(poolOwner), 0, "pool owner: nothing frozen");
        assertEq(hub.penaltyBalance(), _uint(string.concat(s, ".penalty")), "penalty account: silent winners");
        assertEq(
            hub.freeBalanceOf(client),
            _uint(string.concat(s, ".clientRefund")) + _uint(string.concat(s, ".clientCompensation")),
            "client: refund and the pool stake"
        );
        assertEq(
            _uint(string.concat(s, ".clientCompensation")),
            _uint(string.concat(s, ".poolStakeSeized")),
            "the seized pool stake is the client's"
        );
        assertEq(hub.frozenBalanceOf(client), 0, "client: nothing frozen");
        assertEq(
            credit.balanceOf(address(hub)),
            _uint(string.concat(s, ".locked")),
            string.concat(_str(_key(".name")), ": the Hub holds what was locked")
        );
        assertEq(_uint(string.concat(s, ".paid")), _uint(string.concat(s, ".locked")), "vector conservation");
    }
}

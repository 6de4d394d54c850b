// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "./utils/Test.sol";
import {Hub} from "../src/Hub.sol";
import {IHub} from "../src/interfaces/IHub.sol";
import {QuorateCredit} from "../src/QuorateCredit.sol";

/// @notice Drives the Hub with random but well-formed calls for forge's invariant fuzzer, and
/// keeps the ghost records the invariants are checked against.
contract HubHandler is Test {
    uint256 internal constant PRICE = 100 ether;
    uint32 internal constant TIME_REF = 300;
    uint256 internal constant POOL_OWNER_KEY = 0xB00F;

    Hub public immutable hub;
    QuorateCredit public immutable credit;
    address public immutable hubOwner;
    address public immutable poolOwner;
    uint64 internal immutable poolId;

    address[] public actors; // the pool owner is actors[0], clients 1..3, workers 4..8, a cold payout address 9
    bytes32[] public deals;
    bytes32[] public tasks;
    mapping(bytes32 taskId => uint32) public trustOf;
    mapping(bytes32 taskId => bytes32) public consensusHashOf;
    mapping(bytes32 taskId => bool) public fastPathed;
    mapping(bytes32 taskId => mapping(address worker => bytes32 digest)) internal _digestOf;
    mapping(address client => uint256) public openTasks;

    uint256 public deposited;
    uint256 public withdrawn;
    bool public withdrewTwice;
    bool public completedWithoutConsensus;
    bool public loneScoreIncreased;
    bool public forfeitReturned;
    uint256 public calls;
    /// @dev How far the random sequences got, for the coverage check.
    uint256 public consensusCount;
    uint256 public finalizeCount;
    uint256 public reopenCount;
    uint256 public claimCount;
    uint256 public claimManyCount;
    /// @dev A batch of tasks each claimable on its own was refused, or a refused batch changed
    /// a task.
    bool public batchClaimBroken;
    uint256 public fastPathCount;

    constructor(Hub hub_, QuorateCredit credit_, address hubOwner_, uint64 poolId_) {
        hub = hub_;
        credit = credit_;
        hubOwner = hubOwner_;
        poolId = poolId_;
        poolOwner = vm.addr(POOL_OWNER_KEY);
        actors.push(poolOwner);
        for (uint256 i = 1; i <= 9; i++) {
            actors.push(address(uint160(0x5000 + i)));
        }
    }

    /// @dev Gives every actor a starting balance in the Hub (called once by the test's setUp).
    function fundActors() external {
        for (uint256 i = 0; i < actors.length; i++) {
            credit.mint(actors[i], 10_000 ether);
            vm.startPrank(actors[i]);
            credit.approve(address(hub), type(uint256).max);
            hub.deposit(10_000 ether);
            vm.stopPrank();
            deposited += 10_000 ether;
        }
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function taskCount() external view returns (uint256) {
        return tasks.length;
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    /// @dev Clients are actors 1..3, workers 4..8.
    function _client(uint256 seed) internal view returns (address) {
        return actors[1 + (seed % 3)];
    }

    function _worker(uint256 seed) internal view returns (address) {
        return actors[4 + (seed % 5)];
    }

    /// @dev A task in `status`, searched from a random start, so that calls mostly hit tasks
    /// they can act on (zero if none).
    function _task(uint256 seed, IHub.TaskStatus status) internal view returns (bytes32) {
        uint256 n = tasks.length;
        for (uint256 k = 0; k < n; k++) {
            bytes32 id = tasks[(seed % n + k) % n];
            if (hub.task(id).status == status) return id;
        }
        return bytes32(0);
    }

    /// @dev A worker that contributed to `taskId` and has not been settled, if any.
    function _contributor(bytes32 taskId, uint256 seed) internal view returns (address) {
        for (uint256 k = 0; k < 5; k++) {
            address w = _worker(seed % 5 + k);
            if (hub.contribution(taskId, w).status == IHub.ContributionStatus.CONTRIBUTED) return w;
        }
        return _worker(seed);
    }

    function _sign(bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(POOL_OWNER_KEY, digest);
        return abi.encodePacked(r, s, v);
    }

    // ------------------------------------------------------------------ accounts

    function deposit(uint256 actorSeed, uint256 amount) external {
        calls++;
        address a = _actor(actorSeed);
        amount = bound(amount, 1, 5_000 ether);
        credit.mint(a, amount);
        vm.prank(a);
        hub.deposit(amount);
        vm.stopPrank();
        deposited += amount;
    }

    function withdraw(uint256 actorSeed, uint256 amount) external {
        calls++;
        address a = _actor(actorSeed);
        uint256 free = hub.freeBalanceOf(a);
        if (free == 0) return;
        amount = bound(amount, 1, free);
        vm.prank(a);
        hub.withdraw(amount);
        withdrawn += amount;
        // the same withdrawal again must fail whenever what is left does not cover it
        if (hub.freeBalanceOf(a) < amount) {
            vm.prank(a);
            try hub.withdraw(amount) {
                withdrewTwice = true;
                withdrawn += amount;
            } catch {}
        }
    }

    /// @dev A worker names the cold address, another worker, or itself as its payout address.
    function setPayout(uint256 workerSeed, uint256 toSeed) external {
        calls++;
        address w = _worker(workerSeed);
        address to = toSeed % 3 == 0 ? actors[9] : (toSeed % 3 == 1 ? _worker(toSeed / 3) : w);
        vm.prank(w);
        hub.setPayoutAddress(to);
    }

    function withdrawPenalties(uint256 amount) external {
        calls++;
        uint256 balance = hub.penaltyBalance();
        if (balance == 0) return;
        amount = bound(amount, 1, balance);
        vm.prank(hubOwner);
        hub.withdrawPenalties(hubOwner, amount);
        withdrawn += amount;
    }

    // ------------------------------------------------------------------ market

    function matchOrder(uint256 clientSeed, uint256 trustSeed, uint256 count) external {
        calls++;
        address client = _client(clientSeed);
        uint32[4] memory trusts = [uint32(1), 2, 3, 5];
        uint32 trust = trusts[trustSeed % 4];
        uint32 n = uint32(bound(count, 1, 3));
        IHub.PoolOrder memory o = IHub.PoolOrder({
            pool: poolId,
            price: uint96(PRICE),
            volume: n,
            category: 0,
            trust: trust,
            tag: bytes32(0),
            requester: address(0),
            expiry: uint64(block.timestamp + 1 days),
            salt: bytes32(calls),
            workerStakeRatio: 30,
            schedulerRewardRatio: 10
        });
        IHub.Request memory r = IHub.Request({
            jobHash: keccak256(abi.encode(calls)),
            taskCount: n,
            maxPrice: uint96(PRICE),
            trust: trust,
            category: 0,
            tag: bytes32(0),
            beneficiary: client
        });
        bytes memory sig = _sign(hub.hashPoolOrder(o));
        bytes memory consent = _sign(hub.hashJobConsent(hub.hashPoolOrder(o), r.jobHash, client, n));
        vm.prank(client);
        try hub.matchOrders(o, sig, consent, r) returns (bytes32 dealId) {
            deals.push(dealId);
            openTasks[client] += n;
        } catch {}
    }

    function initialize(uint256 dealSeed, uint256 index) external {
        calls++;
        if (deals.length == 0) return;
        bytes32 dealId = deals[dealSeed % deals.length];
        IHub.DealView memory d = hub.deal(dealId);
        index = index % d.taskCount;
        for (uint256 k = 0; k < d.taskCount; k++) {
            uint256 candidate = (index + k) % d.taskCount;
            if (hub.task(hub.taskIdOf(dealId, candidate)).status == IHub.TaskStatus.UNSET) {
                index = candidate;
                break;
            }
        }
        try hub.initialize(dealId, index) returns (bytes32 taskId) {
            tasks.push(taskId);
            trustOf[taskId] = d.trust;
        } catch {}
    }

    function contribute(uint256 taskSeed, uint256 workerSeed, bool answerA) external {
        calls++;
        bytes32 taskId = _task(taskSeed, IHub.TaskStatus.ACTIVE);
        if (taskId == bytes32(0)) return;
        address w = _worker(workerSeed);
        bytes32 digest = answerA ? keccak256("A") : keccak256("B");
        bytes32 h = keccak256(abi.encodePacked(taskId, digest));
        bytes memory auth = _sign(hub.authorizationDigest(w, taskId, hub.task(taskId).round));
        vm.prank(w);
        try hub.contribute(taskId, h, keccak256(abi.encodePacked(w, taskId, digest)), auth) {
            _digestOf[taskId][w] = digest;
            if (hub.task(taskId).status == IHub.TaskStatus.REVEALING) {
                consensusHashOf[taskId] = h;
                consensusCount++;
            }
        } catch {}
    }

    function reveal(uint256 taskSeed, uint256 workerSeed) external {
        calls++;
        bytes32 taskId = _task(taskSeed, IHub.TaskStatus.REVEALING);
        if (taskId == bytes32(0)) return;
        address w = _contributor(taskId, workerSeed);
        vm.prank(w);
        try hub.reveal(taskId, _digestOf[taskId][w]) {} catch {}
    }

    function reopen(uint256 taskSeed) external {
        calls++;
        bytes32 taskId = _task(taskSeed, IHub.TaskStatus.REVEALING);
        if (taskId == bytes32(0)) return;
        vm.prank(poolOwner);
        try hub.reopen(taskId) {
            consensusHashOf[taskId] = bytes32(0);
            reopenCount++;
        } catch {}
    }

    function finalize(uint256 taskSeed) external {
        calls++;
        bytes32 taskId = _task(taskSeed, IHub.TaskStatus.REVEALING);
        if (taskId == bytes32(0)) return;
        IHub.TaskView memory before = hub.task(taskId);
        address[] memory list = hub.contributors(taskId);
        uint256 loneScore = list.length == 1 ? hub.scoreOf(poolOwner, list[0]) : 0;
        address client = hub.deal(before.dealId).client;
        // the pool owner, or anyone once the reveal deadline passed
        vm.prank(block.timestamp < before.revealDeadline ? poolOwner : _actor(taskSeed / 7));
        try hub.finalize(taskId, "ref") {
            if (before.status != IHub.TaskStatus.REVEALING) completedWithoutConsensus = true;
            if (list.length == 1 && hub.scoreOf(poolOwner, list[0]) > loneScore) loneScoreIncreased = true;
            openTasks[client] -= 1;
            finalizeCount++;
        } catch {}
    }

    function contributeAndFinalize(uint256 taskSeed, uint256 workerSeed) external {
        calls++;
        bytes32 taskId = _task(taskSeed, IHub.TaskStatus.ACTIVE);
        if (taskId == bytes32(0)) return;
        address w = _worker(workerSeed);
        uint256 scoreBefore = hub.scoreOf(poolOwner, w);
        address client = hub.deal(hub.task(taskId).dealId).client;
        bytes memory auth = _sign(hub.authorizationDigest(w, taskId, hub.task(taskId).round));
        vm.prank(w);
        try hub.contributeAndFinalize(taskId, keccak256("A"), "ref", auth) {
            fastPathed[taskId] = true;
            if (hub.scoreOf(poolOwner, w) > scoreBefore) loneScoreIncreased = true;
            openTasks[client] -= 1;
            fastPathCount++;
        } catch {}
    }

    function claim(uint256 taskSeed, bool revealing) external {
        calls++;
        bytes32 taskId = _task(taskSeed, revealing ? IHub.TaskStatus.REVEALING : IHub.TaskStatus.ACTIVE);
        if (taskId == bytes32(0)) return;
        address client = hub.deal(hub.task(taskId).dealId).client;
        address[] memory list = hub.contributors(taskId);
        uint256[] memory freeBefore = new uint256[](list.length);
        for (uint256 i = 0; i < list.length; i++) {
            freeBefore[i] = hub.freeBalanceOf(list[i]);
        }
        try hub.claim(taskId) {
            openTasks[client] -= 1;
            claimCount++;
            // a forfeited stake is never also returned
            for (uint256 i = 0; i < list.length; i++) {
                bool forfeited = hub.contribution(taskId, list[i]).status == IHub.ContributionStatus.REJECTED;
                if (forfeited && hub.freeBalanceOf(list[i]) != freeBefore[i]) forfeitReturned = true;
            }
        } catch {}
    }

    /// @dev Claims in one batch up to `count` tasks that `claim` would accept (ACTIVE or
    /// REVEALING, final deadline passed, nothing revealed), found from a random start. With
    /// `spoil`, a task `claim` refuses is put at a random place in the list: the batch must then
    /// revert with the error of that task's own claim and leave every listed task as it was.
    function claimMany(uint256 taskSeed, uint256 count, bool spoil, uint256 spoilAt) external {
        calls++;
        uint256 n = tasks.length;
        if (n == 0) return;
        uint256 wanted = bound(count, 1, 4);
        bytes32[] memory found = new bytes32[](wanted + 1);
        uint256 size;
        bytes32 refused;
        for (uint256 k = 0; k < n; k++) {
            bytes32 id = tasks[(taskSeed % n + k) % n];
            if (!_claimable(id)) {
                if (refused == bytes32(0)) refused = id;
            } else if (size < wanted) {
                found[size++] = id;
            }
        }
        if (size == 0) return;
        if (spoil) {
            // an unknown task when every task is claimable
            if (refused == bytes32(0)) refused = keccak256(abi.encode("unknown", calls));
            uint256 at = spoilAt % (size + 1);
            found[size++] = found[at];
            found[at] = refused;
        }
        bytes32[] memory list = new bytes32[](size);
        IHub.TaskStatus[] memory before = new IHub.TaskStatus[](size);
        for (uint256 i = 0; i < size; i++) {
            list[i] = found[i];
            before[i] = hub.task(list[i]).status;
        }
        uint256[] memory freeBefore = _workersFree();
        try hub.claimMany(list) {
            if (spoil) batchClaimBroken = true;
            for (uint256 i = 0; i < size; i++) {
                openTasks[hub.deal(hub.task(list[i]).dealId).client] -= 1;
            }
            claimManyCount++;
            claimCount += size;
            if (_onlyForfeitsReturned(list, freeBefore)) forfeitReturned = true;
        } catch (bytes memory reason) {
            if (!spoil) batchClaimBroken = true;
            for (uint256 i = 0; i < size; i++) {
                if (hub.task(list[i]).status != before[i]) batchClaimBroken = true;
            }
            try hub.claim(refused) {
                batchClaimBroken = true;
            } catch (bytes memory single) {
                if (keccak256(single) != keccak256(reason)) batchClaimBroken = true;
            }
        }
    }

    /// @dev Whether `claim` would accept the task now.
    function _claimable(bytes32 taskId) internal view returns (bool) {
        IHub.TaskView memory t = hub.task(taskId);
        return (t.status == IHub.TaskStatus.ACTIVE || t.status == IHub.TaskStatus.REVEALING)
            && block.timestamp >= t.finalDeadline && t.revealCount == 0;
    }

    /// @dev The free balance of each worker (actors 4..8).
    function _workersFree() internal view returns (uint256[] memory free) {
        free = new uint256[](5);
        for (uint256 i = 0; i < 5; i++) {
            free[i] = hub.freeBalanceOf(actors[4 + i]);
        }
    }

    /// @dev A worker whose contributions to the claimed tasks all forfeited got free balance
    /// back.
    function _onlyForfeitsReturned(bytes32[] memory list, uint256[] memory freeBefore) internal view returns (bool) {
        for (uint256 i = 0; i < 5; i++) {
            address w = actors[4 + i];
            bool forfeited;
            bool returned;
            for (uint256 k = 0; k < list.length; k++) {
                IHub.ContributionStatus c = hub.contribution(list[k], w).status;
                if (c == IHub.ContributionStatus.REJECTED) forfeited = true;
                else if (c != IHub.ContributionStatus.UNSET) returned = true;
            }
            if (forfeited && !returned && hub.freeBalanceOf(w) != freeBefore[i]) return true;
        }
        return false;
    }

    function warp(uint256 secondsForward) external {
        calls++;
        vm.warp(block.timestamp + bound(secondsForward, 1, 4 * TIME_REF));
    }
}

/// @notice The invariants of issue 3, checked after every call of random call sequences.
contract HubInvariantsTest is Test {
    QuorateCredit internal credit;
    Hub internal hub;
    HubHandler internal handler;
    address internal hubOwner = address(0x0417);

    function setUp() public {
        vm.warp(1_700_000_000);
        credit = new QuorateCredit(address(this));
        hub = new Hub(credit, hubOwner);
        vm.prank(hubOwner);
        hub.createCategory("XS", 300);
        address poolOwner = vm.addr(0xB00F);
        vm.prank(poolOwner);
        uint64 poolId = hub.createPool(
            IHub.PoolPolicy({workerStakeRatio: 30, schedulerRewardRatio: 10, maxTrust: 100, categoryMask: 1}), ""
        );
        handler = new HubHandler(hub, credit, hubOwner, poolId);
        // the handler mints through the token's owner
        credit.transferOwnership(address(handler));
        handler.fundActors();
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @dev One campaign checks every invariant after every call (forge runs a campaign per
    /// invariant function, so one entry point keeps `forge test` fast).
    /// forge-config: default.invariant.fail-on-revert = true
    function invariant_hub() public view {
        _creditConservation();
        _nothingWithdrawnTwice();
        _noCompletionWithoutConsensus();
        _loneContributorScoreNeverIncreases();
        _clientEscrowMatchesOpenTasks();
        _revealedWorkIsNeverClaimed();
        assertFalse(handler.forfeitReturned(), "a forfeited stake was also returned");
        assertFalse(handler.batchClaimBroken(), "a batch claim did not settle as the single claims would");
    }

    /// @dev The handler is not vacuous: a scripted sequence reaches consensus, finalize, reopen,
    /// claim and the fast path, and the invariants hold along the way.
    function test_handlerReachesEveryPath() public {
        handler.matchOrder(0, 3, 3); // trust 5, 3 tasks
        handler.matchOrder(1, 0, 1); // trust 1
        handler.initialize(0, 0);
        handler.initialize(0, 1);
        handler.initialize(0, 2);
        handler.initialize(1, 0);
        bytes32 t0 = handler.tasks(0);
        for (uint256 w = 0; w < 3; w++) {
            handler.contribute(0, w, true);
        }
        assertEq(uint256(hub.task(t0).status), uint256(IHub.TaskStatus.REVEALING), "consensus");
        for (uint256 w = 0; w < 3; w++) {
            handler.reveal(0, w);
        }
        handler.finalize(0);
        handler.contributeAndFinalize(3, 0);
        handler.contribute(1, 0, false);
        handler.contribute(1, 1, false);
        handler.contribute(1, 2, false);
        handler.warp(4 * 300);
        handler.reopen(1);
        handler.warp(4 * 300);
        handler.warp(4 * 300);
        handler.claim(1, false);
        handler.claimMany(0, 4, false, 0); // the third task of the trust-5 deal, never voted
        handler.matchOrder(2, 3, 2);
        handler.initialize(2, 0);
        handler.initialize(2, 1);
        handler.contribute(4, 0, true);
        handler.warp(4 * 300);
        handler.warp(4 * 300);
        handler.warp(2 * 300);
        handler.claimMany(4, 2, true, 1); // with a completed task in the list: refused
        handler.claimMany(4, 2, false, 0);
        handler.setPayout(0, 0);
        handler.withdraw(4, 1 ether);
        handler.withdrawPenalties(1);
        assertEq(handler.consensusCount(), 2, "consensus reached");
        assertEq(handler.finalizeCount(), 1, "finalized");
        assertEq(handler.fastPathCount(), 1, "fast path");
        assertEq(handler.reopenCount(), 1, "reopened");
        assertGe(handler.claimCount(), 1, "claimed");
        assertEq(handler.claimManyCount(), 2, "claimed in batches");
        assertEq(handler.claimCount(), 4, "one task alone, three in batches");
        invariant_hub();
    }

    /// @dev The Hub's token balance equals every free and frozen balance plus the penalty account.
    function _creditConservation() internal view {
        uint256 sum = hub.penaltyBalance();
        uint256 n = handler.actorCount();
        for (uint256 i = 0; i < n; i++) {
            address a = handler.actors(i);
            sum += hub.freeBalanceOf(a) + hub.frozenBalanceOf(a);
        }
        assertEq(credit.balanceOf(address(hub)), sum, "balance = free + frozen + penalty");
    }

    /// @dev Tokens leave the Hub only as often as they came in: nothing is withdrawn twice.
    function _nothingWithdrawnTwice() internal view {
        assertFalse(handler.withdrewTwice(), "a withdrawal succeeded twice");
        assertEq(credit.balanceOf(address(hub)), handler.deposited() - handler.withdrawn(), "in - out = held");
    }

    /// @dev A completed task went through consensus: its consensus group still satisfies
    /// `group * T > total * (T - 1)`, or it took the trust-1 fast path.
    function _noCompletionWithoutConsensus() internal view {
        assertFalse(handler.completedWithoutConsensus(), "finalized a task that was not REVEALING");
        uint256 n = handler.taskCount();
        for (uint256 i = 0; i < n; i++) {
            bytes32 taskId = handler.tasks(i);
            IHub.TaskView memory t = hub.task(taskId);
            if (t.status != IHub.TaskStatus.COMPLETED) continue;
            assertGe(t.revealCount, 1, "a completed task has a proved result");
            if (handler.fastPathed(taskId)) {
                assertEq(handler.trustOf(taskId), 1, "fast path only at trust 1");
                continue;
            }
            uint256 trust = handler.trustOf(taskId);
            uint256 group = hub.groupOf(taskId, handler.consensusHashOf(taskId));
            assertTrue(group * trust > t.total * (trust - 1), "consensus held");
        }
    }

    /// @dev Revealed winners are always paid: a task with a reveal never ends FAILED.
    function _revealedWorkIsNeverClaimed() internal view {
        uint256 n = handler.taskCount();
        for (uint256 i = 0; i < n; i++) {
            IHub.TaskView memory t = hub.task(handler.tasks(i));
            if (t.status == IHub.TaskStatus.FAILED) assertEq(t.revealCount, 0, "a claimed task had a reveal");
        }
    }

    /// @dev A lone contributor never gains score.
    function _loneContributorScoreNeverIncreases() internal view {
        assertFalse(handler.loneScoreIncreased(), "lone contributor gained score");
    }

    /// @dev A client's frozen balance is exactly the price of its unsettled tasks.
    function _clientEscrowMatchesOpenTasks() internal view {
        for (uint256 i = 1; i <= 3; i++) {
            address c = handler.actors(i);
            assertEq(hub.frozenBalanceOf(c), handler.openTasks(c) * 100 ether, "escrow");
        }
    }
}


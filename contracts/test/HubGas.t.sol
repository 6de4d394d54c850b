// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {HubFixture} from "./utils/HubFixture.sol";
import {IHub} from "../src/interfaces/IHub.sol";

/// @notice The benchmark: named gas snapshots written to contracts/snapshots/Hub.json, and the
/// targets asserted so that a regression fails the tests.
///
/// Scores are kept per trust domain (pool owner), one slot per (domain, worker): the first score
/// a worker earns in a domain writes a fresh slot (20,000 gas once per worker and domain). The
/// lifecycle target is measured with workers that already hold a score in the pool owner's
/// domain (each did one task there before), as in a running pool; the first task of workers new
/// to the domain is measured and bounded separately.
///
/// The gas tests run isolated (inline config `default.isolate = true`): every call from the test
/// is its own transaction, so each figure is what the transactions would cost on chain, with
/// the 21,000 base cost, calldata and cold storage access, comparable with iExec's per
/// transaction figures.
contract HubGasTest is HubFixture {
    uint256 internal constant LIFECYCLE_TARGET = 600_000;
    uint256 internal constant MATCH_TARGET = 250_000;
    uint256 internal constant TRUST1_TARGET = 150_000;
    /// @dev Bound on the first task of three workers new to the domain (three fresh score slots).
    uint256 internal constant LIFECYCLE_NEW_TO_DOMAIN_BOUND = 670_000;
    /// @dev Bound on a task claimed in a batch of 100 (`claim_many_100_per_task`). A single
    /// claim of the same task costs 74,200 gas (`call_claim_2_contributions`); in a batch of one
    /// deal's tasks each saves the 21,000 base cost, and the cold reads and first writes of the
    /// accounts every task shares (client, pool owner, workers) and of the deal.
    uint256 internal constant CLAIM_MANY_PER_TASK_BOUND = 30_000;

    function setUp() public override {
        super.setUp();
        // Warm the Hub as a running network would be: one deal already exists, so the deal
        // counter is not written from zero by the measured call, and workers 0 to 2 have done
        // one task in the pool owner's domain (score 1 there).
        bytes32 taskId = hub.initialize(_match(5, 1), 0);
        bytes32 digest = keccak256("warm-up");
        for (uint256 i = 0; i < 3; i++) {
            _contribute(taskId, i, digest);
        }
        for (uint256 i = 0; i < 3; i++) {
            _reveal(taskId, i, digest);
        }
        _finalize(taskId);
        assertEq(_score(workers[0]), 1, "warm worker");
    }

    /// forge-config: default.isolate = true
    function test_gas_matchOrders() public {
        IHub.PoolOrder memory o = _order(5, 10);
        bytes memory sig = _signOrder(o);
        IHub.Request memory r = _request(5, 10);
        vm.prank(client);
        vm.startSnapshotGas("Hub", "match_orders");
        hub.matchOrders(o, sig, _consent(o, client, r), r);
        uint256 used = vm.stopSnapshotGas();
        assertLe(used, MATCH_TARGET, "matchOrders gas");
    }

    /// forge-config: default.isolate = true
    /// @dev initialize, 3 contributions (consensus at the third with T = 5), 3 reveals and
    /// finalize, by workers with a score (1, weight 2) in the pool owner's domain.
    function test_gas_taskLifecycle3Workers() public {
        uint256 used = _lifecycle(0, "task_lifecycle_3_workers", false);
        assertLe(used, LIFECYCLE_TARGET, "3-worker lifecycle gas");
    }

    /// forge-config: default.isolate = true
    /// @dev The same, by three workers new to the domain (score 0, no score slot yet).
    function test_gas_taskLifecycle3WorkersNewToDomain() public {
        uint256 used = _lifecycle(3, "task_lifecycle_3_workers_new_to_domain", false);
        assertLe(used, LIFECYCLE_NEW_TO_DOMAIN_BOUND, "3-worker lifecycle gas, new to the domain");
    }

    /// forge-config: default.isolate = true
    /// @dev The same as `task_lifecycle_3_workers` with the task opened by `initializeRange`
    /// over 100 tasks: the snapshot counts one hundredth of that transaction.
    function test_gas_taskLifecycle3WorkersBatchInitialize100() public {
        uint256 used = _lifecycle(0, "task_lifecycle_3_workers_batch_initialize_100", true);
        assertLe(used, LIFECYCLE_TARGET, "3-worker lifecycle gas, batch initialize");
    }

    /// forge-config: default.isolate = true
    /// @dev claim of a task with two contributions and no consensus, after the final deadline:
    /// the figure `claimMany` amortises (its 21,000 base cost and its first reads of accounts).
    function test_gas_claim() public {
        bytes32 taskId = _newTask(5);
        _twoVotes(taskId);
        vm.warp(block.timestamp + 10 * TIME_REF);
        vm.startSnapshotGas("Hub", "call_claim_2_contributions");
        hub.claim(taskId);
        vm.stopSnapshotGas();
        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.FAILED), "failed");
    }

    /// forge-config: default.isolate = true
    /// @dev claimMany of the 100 tasks of a deal, each as in `test_gas_claim` (two contributions,
    /// no consensus), after the final deadline: a client refunding the tasks of a pool that
    /// vanished. `claim_many_100_per_task` is one hundredth of the transaction.
    function test_gas_claimMany100() public {
        bytes32 dealId = _match(5, 100);
        hub.initializeRange(dealId, 0, 100);
        bytes32[] memory taskIds = new bytes32[](100);
        for (uint256 i = 0; i < 100; i++) {
            taskIds[i] = keccak256(abi.encodePacked(dealId, i));
            _twoVotes(taskIds[i]);
        }
        vm.warp(block.timestamp + 10 * TIME_REF);
        vm.startSnapshotGas("Hub", "call_claim_many_100_2_contributions");
        hub.claimMany(taskIds);
        uint256 perTask = vm.stopSnapshotGas() / 100;
        vm.snapshotValue("Hub", "claim_many_100_per_task", perTask);
        assertLe(perTask, CLAIM_MANY_PER_TASK_BOUND, "claimMany gas per task");
        for (uint256 i = 0; i < 100; i++) {
            assertEq(uint256(_status(taskIds[i])), uint256(IHub.TaskStatus.FAILED), "failed");
        }
        assertEq(hub.frozenBalanceOf(client), 0, "every task refunded");
    }

    /// @dev Two votes that do not agree (workers 0 and 1), with authorizations signed here.
    function _twoVotes(bytes32 taskId) internal {
        for (uint256 i = 0; i < 2; i++) {
            bytes32 digest = keccak256(i == 0 ? bytes("a") : bytes("b"));
            bytes memory auth = _authFirstRound(workers[i], taskId);
            vm.prank(workers[i]);
            hub.contribute(taskId, _hash(taskId, digest), _seal(workers[i], taskId, digest), auth);
        }
    }

    function _lifecycle(uint256 first, string memory name, bool batch) internal returns (uint256 used) {
        bytes32 dealId = _match(5, batch ? 100 : 1);
        bytes32 digest = keccak256("result");
        bytes[] memory auths = new bytes[](3);
        bytes32 taskId = hub.taskIdOf(dealId, 0);
        for (uint256 i = 0; i < 3; i++) {
            auths[i] = _authFirstRound(workers[first + i], taskId);
        }
        bytes32 h = _hash(taskId, digest);

        uint256 initGas;
        if (batch) {
            vm.startSnapshotGas("Hub", "call_initialize_range_100");
            hub.initializeRange(dealId, 0, 100);
            initGas = vm.stopSnapshotGas();
        }
        vm.startSnapshotGas("Hub", string.concat(name, "_calls"));
        if (!batch) hub.initialize(dealId, 0);
        for (uint256 i = 0; i < 3; i++) {
            address w = workers[first + i];
            vm.prank(w);
            hub.contribute(taskId, h, _seal(w, taskId, digest), auths[i]);
        }
        for (uint256 i = 0; i < 3; i++) {
            vm.prank(workers[first + i]);
            hub.reveal(taskId, digest);
        }
        vm.prank(poolOwner);
        hub.finalize(taskId, "ipfs://results");
        used = vm.stopSnapshotGas() + initGas / 100;
        vm.snapshotValue("Hub", name, used);

        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.COMPLETED), "completed");
    }

    /// forge-config: default.isolate = true
    /// @dev initialize and contributeAndFinalize of a trust-1 task.
    function test_gas_taskTrust1() public {
        bytes32 dealId = _match(1, 1);
        bytes32 taskId = hub.taskIdOf(dealId, 0);
        bytes memory auth = _authFirstRound(workers[0], taskId);
        bytes32 digest = keccak256("result");

        vm.startSnapshotGas("Hub", "task_trust1");
        hub.initialize(dealId, 0);
        vm.prank(workers[0]);
        hub.contributeAndFinalize(taskId, digest, "ipfs://results", auth);
        uint256 used = vm.stopSnapshotGas();

        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.COMPLETED), "completed");
        assertLe(used, TRUST1_TARGET, "trust-1 gas");
    }

    /// forge-config: default.isolate = true
    /// @dev The same lifecycle, one snapshot per call, for the per-call comparison with iExec.
    function test_gas_taskLifecyclePerCall() public {
        bytes32 dealId = _match(5, 1);
        bytes32 digest = keccak256("result");
        bytes32 taskId = hub.taskIdOf(dealId, 0);
        bytes32 h = _hash(taskId, digest);
        bytes[] memory auths = new bytes[](3);
        for (uint256 i = 0; i < 3; i++) {
            auths[i] = _authFirstRound(workers[i], taskId);
        }
        string[3] memory n = ["1", "2", "3"];

        vm.startSnapshotGas("Hub", "call_initialize");
        hub.initialize(dealId, 0);
        vm.stopSnapshotGas();
        for (uint256 i = 0; i < 3; i++) {
            vm.prank(workers[i]);
            vm.startSnapshotGas("Hub", string.concat("call_contribute_", n[i]));
            hub.contribute(taskId, h, _seal(workers[i], taskId, digest), auths[i]);
            vm.stopSnapshotGas();
        }
        for (uint256 i = 0; i < 3; i++) {
            vm.prank(workers[i]);
            vm.startSnapshotGas("Hub", string.concat("call_reveal_", n[i]));
            hub.reveal(taskId, digest);
            vm.stopSnapshotGas();
        }
        vm.prank(poolOwner);
        vm.startSnapshotGas("Hub", "call_finalize");
        hub.finalize(taskId, "ipfs://results");
        vm.stopSnapshotGas();
        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.COMPLETED), "completed");
    }
}

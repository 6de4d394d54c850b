// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {HubFixture} from "./utils/HubFixture.sol";
import {IHub} from "../src/interfaces/IHub.sol";

/// @notice The benchmark: named gas snapshots written to contracts/snapshots/Hub.json, and the
/// targets of issue 3 asserted so that a regression fails the tests.
///
/// The gas tests run isolated (inline config `default.isolate = true`): every call from the test
/// is its own transaction, so each figure is what the transactions would cost on chain, with
/// the 21,000 base cost, calldata and cold storage access, comparable with iExec's per
/// transaction figures.
contract HubGasTest is HubFixture {
    uint256 internal constant LIFECYCLE_TARGET = 600_000;
    uint256 internal constant MATCH_TARGET = 250_000;
    uint256 internal constant TRUST1_TARGET = 150_000;

    function setUp() public override {
        super.setUp();
        // Warm the Hub as a running network would be: one deal already exists, so the deal
        // counter is not written from zero by the measured call.
        _match(5, 1);
    }

    /// forge-config: default.isolate = true
    function test_gas_matchOrders() public {
        IHub.PoolOrder memory o = _order(5, 10);
        bytes memory sig = _signOrder(o);
        IHub.Request memory r = _request(5, 10);
        vm.prank(client);
        vm.startSnapshotGas("Hub", "match_orders");
        hub.matchOrders(o, sig, r);
        uint256 used = vm.stopSnapshotGas();
        assertLe(used, MATCH_TARGET, "matchOrders gas");
    }

    /// forge-config: default.isolate = true
    /// @dev initialize, 3 contributions (consensus at the third with T = 5), 3 reveals and
    /// finalize, by workers new to the Hub (score 0).
    function test_gas_taskLifecycle3Workers() public {
        bytes32 dealId = _match(5, 1);
        bytes32 digest = keccak256("result");
        bytes[] memory auths = new bytes[](3);
        bytes32 taskId = hub.taskIdOf(dealId, 0);
        for (uint256 i = 0; i < 3; i++) {
            auths[i] = _auth(workers[i], taskId);
        }
        bytes32 h = _hash(taskId, digest);

        vm.startSnapshotGas("Hub", "task_lifecycle_3_workers");
        hub.initialize(dealId, 0);
        for (uint256 i = 0; i < 3; i++) {
            vm.prank(workers[i]);
            hub.contribute(taskId, h, _seal(workers[i], taskId, digest), auths[i]);
        }
        for (uint256 i = 0; i < 3; i++) {
            vm.prank(workers[i]);
            hub.reveal(taskId, digest);
        }
        vm.prank(poolOwner);
        hub.finalize(taskId, "ipfs://results");
        uint256 used = vm.stopSnapshotGas();

        assertEq(uint256(_status(taskId)), uint256(IHub.TaskStatus.COMPLETED), "completed");
        assertLe(used, LIFECYCLE_TARGET, "3-worker lifecycle gas");
    }

    /// forge-config: default.isolate = true
    /// @dev initialize and contributeAndFinalize of a trust-1 task.
    function test_gas_taskTrust1() public {
        bytes32 dealId = _match(1, 1);
        bytes32 taskId = hub.taskIdOf(dealId, 0);
        bytes memory auth = _auth(workers[0], taskId);
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
            auths[i] = _auth(workers[i], taskId);
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

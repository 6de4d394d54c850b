// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {HubFixture} from "./utils/HubFixture.sol";

/// @notice The Hub's identifiers and hashes against primitives/vectors/hashes.json, which Foundry's
/// `cast` generated independently (primitives/vectors/generate.sh) and quorate-primitives also
/// checks itself against: the Solidity and the Rust side hash the same way.
contract PrimitivesVectorsTest is HubFixture {
    function test_hashesMatchCastVectors() public view {
        string memory json = vm.readFile(string.concat(vm.projectRoot(), "/../primitives/vectors/hashes.json"));
        uint256 n;
        while (vm.keyExistsJson(json, string.concat(".cases[", vm.toString(n), "]"))) {
            string memory c = string.concat(".cases[", vm.toString(n), "]");
            bytes32 requestHash = vm.parseJsonBytes32(json, string.concat(c, ".requestHash"));
            uint256 nonce = vm.parseJsonUint(json, string.concat(c, ".nonce"));
            uint256 index = vm.parseJsonUint(json, string.concat(c, ".index"));
            address worker = vm.parseJsonAddress(json, string.concat(c, ".worker"));
            bytes memory result = vm.parseJsonBytes(json, string.concat(c, ".resultBytes"));

            bytes32 dealId = hub.dealIdOf(requestHash, nonce);
            assertEq(dealId, vm.parseJsonBytes32(json, string.concat(c, ".dealId")), "dealId");
            bytes32 taskId = hub.taskIdOf(dealId, index);
            assertEq(taskId, vm.parseJsonBytes32(json, string.concat(c, ".taskId")), "taskId");
            bytes32 digest = keccak256(abi.encodePacked(taskId, keccak256(result)));
            assertEq(digest, vm.parseJsonBytes32(json, string.concat(c, ".resultDigest")), "resultDigest");
            assertEq(
                hub.resultHashOf(taskId, digest),
                vm.parseJsonBytes32(json, string.concat(c, ".resultHash")),
                "resultHash"
            );
            assertEq(
                hub.resultSealOf(worker, taskId, digest),
                vm.parseJsonBytes32(json, string.concat(c, ".resultSeal")),
                "resultSeal"
            );
            assertEq(
                hub.authorizationMessage(worker, taskId, 0),
                vm.parseJsonBytes32(json, string.concat(c, ".authorizationMessage")),
                "authorization message"
            );
            // EIP-191 (personal_sign) over the 32 message bytes
            bytes32 authDigest = hub.authorizationDigest(worker, taskId, 0);
            assertEq(
                authDigest, vm.parseJsonBytes32(json, string.concat(c, ".authorizationDigest")), "authorization digest"
            );
            assertEq(
                authDigest,
                keccak256(
                    abi.encodePacked("\x19Ethereum Signed Message:\n32", hub.authorizationMessage(worker, taskId, 0))
                ),
                "authorization digest is EIP-191 over 32 bytes"
            );
            n++;
        }
        assertGe(n, 3, "vectors read");
    }

    /// @dev The Hub accepts an authorization signed over exactly the vector's digest.
    function test_contributeAcceptsAuthorizationOverVectorDigest() public {
        bytes32 taskId = _newTask(5);
        bytes32 digest = hub.authorizationDigest(workers[0], taskId, 0);
        assertEq(digest, _authDigest(workers[0], taskId), "EIP-191 over keccak(worker || taskId)");
        _contribute(taskId, 0, keccak256("x"));
        assertEq(hub.task(taskId).contributorCount, 1, "accepted");
    }
}

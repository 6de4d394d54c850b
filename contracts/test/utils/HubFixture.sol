// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "./Test.sol";
import {Hub} from "../../src/Hub.sol";
import {IHub} from "../../src/interfaces/IHub.sol";
import {QuorateCredit} from "../../src/QuorateCredit.sol";

/// @notice A deployed credit token and Hub with one category and one pool, funded actors, and
/// helpers that sign orders and authorizations the way a scheduler does. The digests are
/// computed here independently of the Hub, so a Hub that hashed differently would fail.
abstract contract HubFixture is Test {
    uint256 internal constant PRICE = 100 ether;
    uint256 internal constant WORKER_STAKE = 30 ether; // 30 % of PRICE
    uint256 internal constant POOL_STAKE = 30 ether; // 30 % of PRICE
    uint8 internal constant SCHEDULER_RATIO = 10;
    uint32 internal constant TIME_REF = 300;
    uint256 internal constant FUNDS = 1_000_000 ether;
    uint256 internal constant WORKERS = 16;
    /// @dev Slot of `Hub._accounts` (checked by HubAccountsTest.test_accountSlotLayout).
    uint256 internal constant ACCOUNTS_SLOT = 4;
    /// @dev Slot of `Hub._scores` (checked by HubAccountsTest.test_scoreSlotLayout).
    uint256 internal constant SCORES_SLOT = 18;

    QuorateCredit internal credit;
    Hub internal hub;

    address internal hubOwner = address(0x0417);
    uint256 internal poolOwnerKey = 0xB00F;
    address internal poolOwner;
    address internal client = address(0xC11E);
    uint256[] internal workerKeys;
    address[] internal workers;
    uint8 internal categoryId;
    uint64 internal poolId;
    uint256 internal saltCounter;
    /// @dev Every address that may hold a balance in the Hub, for the conservation check.
    address[] internal tracked;

    function setUp() public virtual {
        vm.warp(1_700_000_000);
        credit = new QuorateCredit(address(this));
        hub = new Hub(credit, hubOwner);
        poolOwner = vm.addr(poolOwnerKey);
        vm.label(poolOwner, "poolOwner");
        vm.label(client, "client");
        vm.prank(hubOwner);
        categoryId = hub.createCategory("XS", TIME_REF);
        vm.prank(poolOwner);
        poolId = hub.createPool(_policy(30, SCHEDULER_RATIO, 10_000), "ipfs://pool");
        for (uint256 i = 0; i < WORKERS; i++) {
            uint256 key = 0x1000 + i;
            workerKeys.push(key);
            workers.push(vm.addr(key));
            _fund(workers[i], FUNDS);
            tracked.push(workers[i]);
        }
        tracked.push(client);
        tracked.push(poolOwner);
        _fund(client, FUNDS);
        _fund(poolOwner, FUNDS);
    }

    // ------------------------------------------------------------------ builders

    function _policy(uint8 workerStakeRatio, uint8 schedulerRatio, uint32 maxTrust)
        internal
        pure
        returns (IHub.PoolPolicy memory)
    {
        return IHub.PoolPolicy({
            workerStakeRatio: workerStakeRatio,
            schedulerRewardRatio: schedulerRatio,
            maxTrust: maxTrust,
            categoryMask: type(uint256).max
        });
    }

    /// @dev An order priced for the pool's current policy.
    function _order(uint32 trust, uint32 volume) internal returns (IHub.PoolOrder memory) {
        return IHub.PoolOrder({
            pool: poolId,
            price: uint96(PRICE),
            volume: volume,
            category: categoryId,
            trust: trust,
            tag: bytes32(0),
            requester: address(0),
            expiry: uint64(block.timestamp + 1 days),
            salt: bytes32(++saltCounter),
            workerStakeRatio: hub.pool(poolId).policy.workerStakeRatio,
            schedulerRewardRatio: hub.pool(poolId).policy.schedulerRewardRatio
        });
    }

    function _request(uint32 trust, uint32 taskCount) internal pure returns (IHub.Request memory) {
        return IHub.Request({
            jobHash: keccak256("job"),
            taskCount: taskCount,
            maxPrice: uint96(PRICE),
            trust: trust,
            category: 0,
            tag: bytes32(0),
            beneficiary: address(0xBEEF)
        });
    }

    // ------------------------------------------------------------------ hashing, done here

    function _orderDigest(IHub.PoolOrder memory o) internal view returns (bytes32) {
        bytes32 typeHash = keccak256(
            "PoolOrder(uint64 pool,uint96 price,uint32 volume,uint8 category,uint32 trust,bytes32 tag,address requester,uint64 expiry,bytes32 salt,uint8 workerStakeRatio,uint8 schedulerRewardRatio)"
        );
        bytes32 structHash = keccak256(
            bytes.concat(
                abi.encode(typeHash, o.pool, o.price, o.volume, o.category, o.trust, o.tag, o.requester, o.expiry),
                abi.encode(o.salt, o.workerStakeRatio, o.schedulerRewardRatio)
            )
        );
        return _typedDigest(structHash);
    }

    function _consentDigest(bytes32 orderHash, bytes32 jobHash, address client_, uint32 taskCount)
        internal
        view
        returns (bytes32)
    {
        bytes32 typeHash = keccak256("JobConsent(bytes32 orderHash,bytes32 jobHash,address client,uint32 taskCount)");
        return _typedDigest(keccak256(abi.encode(typeHash, orderHash, jobHash, client_, taskCount)));
    }

    function _typedDigest(bytes32 structHash) internal view returns (bytes32) {
        bytes32 domain = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Quorate Hub"),
                keccak256("1"),
                block.chainid,
                address(hub)
            )
        );
        return keccak256(abi.encodePacked("\x19\x01", domain, structHash));
    }

    function _authDigest(address worker, bytes32 taskId) internal pure returns (bytes32) {
        return
            keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", keccak256(abi.encodePacked(worker, taskId))));
    }

    /// @dev An authorization for a round after a reopen: `keccak256(worker ‖ taskId ‖ round)`.
    function _authDigestInRound(address worker, bytes32 taskId, uint256 round) internal pure returns (bytes32) {
        return keccak256(
            abi.encodePacked("\x19Ethereum Signed Message:\n32", keccak256(abi.encodePacked(worker, taskId, round)))
        );
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function _signOrder(IHub.PoolOrder memory o) internal view returns (bytes memory) {
        return _sign(poolOwnerKey, _orderDigest(o));
    }

    /// @dev The pool owner's authorization for the task's current round.
    function _auth(address worker, bytes32 taskId) internal view returns (bytes memory) {
        uint256 round = hub.task(taskId).round;
        bytes32 digest = round == 0 ? _authDigest(worker, taskId) : _authDigestInRound(worker, taskId, round);
        return _sign(poolOwnerKey, digest);
    }

    /// @dev The pool owner's authorization for the first round, computed without calling the
    /// Hub (the gas benchmark uses it: a view call from the test shifts the figures it measures).
    function _authFirstRound(address worker, bytes32 taskId) internal view returns (bytes memory) {
        return _sign(poolOwnerKey, _authDigest(worker, taskId));
    }

    /// @dev The pool owner's consent to the fixture's job for `client_` and `taskCount` tasks.
    function _consent(IHub.PoolOrder memory o, address client_, IHub.Request memory r)
        internal
        view
        returns (bytes memory)
    {
        return _sign(poolOwnerKey, _consentDigest(_orderDigest(o), r.jobHash, client_, r.taskCount));
    }

    function _hash(bytes32 taskId, bytes32 digest) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(taskId, digest));
    }

    function _seal(address worker, bytes32 taskId, bytes32 digest) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(worker, taskId, digest));
    }

    // ------------------------------------------------------------------ actions

    function _fund(address account, uint256 amount) internal {
        credit.mint(account, amount);
        vm.startPrank(account);
        credit.approve(address(hub), type(uint256).max);
        hub.deposit(amount);
        vm.stopPrank();
    }

    function _match(uint32 trust, uint32 taskCount) internal returns (bytes32 dealId) {
        IHub.PoolOrder memory o = _order(trust, taskCount);
        IHub.Request memory r = _request(trust, taskCount);
        bytes memory sig = _signOrder(o);
        bytes memory consent = _consent(o, client, r);
        vm.prank(client);
        dealId = hub.matchOrders(o, sig, consent, r);
    }

    function _newTask(uint32 trust) internal returns (bytes32 taskId) {
        bytes32 dealId = _match(trust, 1);
        taskId = hub.initialize(dealId, 0);
    }

    function _contribute(bytes32 taskId, uint256 worker, bytes32 digest) internal {
        address w = workers[worker];
        bytes memory auth = _auth(w, taskId);
        vm.prank(w);
        hub.contribute(taskId, _hash(taskId, digest), _seal(w, taskId, digest), auth);
    }

    function _reveal(bytes32 taskId, uint256 worker, bytes32 digest) internal {
        vm.prank(workers[worker]);
        hub.reveal(taskId, digest);
    }

    function _finalize(bytes32 taskId) internal {
        vm.prank(poolOwner);
        hub.finalize(taskId, "ipfs://results");
    }

    /// @dev Writes a worker's score in the fixture pool owner's domain straight into the Hub's
    /// storage, for tests that need experienced workers.
    function _setScore(address worker, uint256 score) internal {
        _setScoreIn(poolOwner, worker, score);
    }

    function _setScoreIn(address domain, address worker, uint256 score) internal {
        bytes32 slot = keccak256(abi.encode(worker, keccak256(abi.encode(domain, SCORES_SLOT))));
        vm.store(address(hub), slot, bytes32(score));
    }

    function _score(address worker) internal view returns (uint256) {
        return hub.scoreOf(poolOwner, worker);
    }

    /// @dev A trust-2 task whose single winner (worker `w`) never reveals, claimed at the final
    /// deadline: the winner's stake goes to the penalty account.
    function _withheldClaim(uint256 w) internal returns (bytes32 taskId) {
        taskId = _newTask(2);
        _contribute(taskId, w, keccak256("withheld"));
        vm.warp(block.timestamp + 10 * TIME_REF);
        hub.claim(taskId);
    }

    // ------------------------------------------------------------------ checks

    function _status(bytes32 taskId) internal view returns (IHub.TaskStatus) {
        return hub.task(taskId).status;
    }

    function _cStatus(bytes32 taskId, uint256 worker) internal view returns (IHub.ContributionStatus) {
        return hub.contribution(taskId, workers[worker]).status;
    }

    /// @dev The Hub's token balance equals every free and frozen balance plus the penalty account.
    function _assertConservation() internal view {
        uint256 sum = hub.penaltyBalance();
        for (uint256 i = 0; i < tracked.length; i++) {
            sum += hub.freeBalanceOf(tracked[i]) + hub.frozenBalanceOf(tracked[i]);
        }
        assertEq(credit.balanceOf(address(hub)), sum, "conservation");
    }
}

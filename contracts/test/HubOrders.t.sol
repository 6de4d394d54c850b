// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {HubFixture} from "./utils/HubFixture.sol";
import {Hub} from "../src/Hub.sol";
import {IHub} from "../src/interfaces/IHub.sol";

/// @notice Signed pool orders, matchOrders and cancelOrder: every field of the request is
/// checked against the order and the pool, and every forged or stale order is refused.
contract HubOrdersTest is HubFixture {
    function _matchAs(address caller, IHub.PoolOrder memory o, bytes memory sig, IHub.Request memory r)
        internal
        returns (bytes32)
    {
        vm.prank(caller);
        return hub.matchOrders(o, sig, _consent(o, caller, r), r);
    }

    function _expectMatchRevert(IHub.PoolOrder memory o, IHub.Request memory r, bytes memory err) internal {
        bytes memory sig = _signOrder(o);
        vm.prank(client);
        vm.expectRevert(err);
        hub.matchOrders(o, sig, _consent(o, client, r), r);
    }

    // ------------------------------------------------------------------ success

    function test_matchOrders_createsDealAndLocksFunds() public {
        IHub.PoolOrder memory o = _order(5, 10);
        IHub.Request memory r = _request(3, 4);
        r.maxPrice = uint96(PRICE + 1);
        bytes memory sig = _signOrder(o);
        uint256 nonce = hub.dealCount() + 1;
        bytes32 requestHash = keccak256(abi.encode(block.chainid, address(hub), client, r));
        bytes32 expectedId = keccak256(abi.encodePacked(requestHash, nonce));

        vm.expectEmit(address(hub));
        emit IHub.DealCreated(expectedId, poolId, client, _orderDigest(o), uint96(PRICE), nonce, r);
        bytes32 dealId = _matchAs(client, o, sig, r);

        assertEq(dealId, expectedId, "dealId = keccak(keccak(abi.encode(chainid, hub, client, request)) || nonce)");
        assertEq(hub.hashPoolOrder(o), _orderDigest(o), "EIP-712 digest");
        IHub.DealView memory d = hub.deal(dealId);
        assertEq(d.client, client, "client");
        assertEq(d.poolOwner, poolOwner, "pool owner");
        assertEq(d.price, PRICE, "order price, not the request's max");
        assertEq(d.trust, 3, "request trust");
        assertEq(d.taskCount, 4, "tasks");
        assertEq(d.start, block.timestamp, "start");
        assertEq(d.timeRef, TIME_REF, "time reference");
        assertEq(d.workerStakeRatio, 30, "stake ratio copied");
        assertEq(d.schedulerRewardRatio, SCHEDULER_RATIO, "reward ratio copied");
        assertEq(hub.frozenBalanceOf(client), 4 * PRICE, "price x tasks locked");
        assertEq(hub.freeBalanceOf(client), FUNDS - 4 * PRICE, "client free");
        assertEq(hub.frozenBalanceOf(poolOwner), 4 * POOL_STAKE, "pool stake locked");
        assertEq(hub.orderConsumed(_orderDigest(o)), 4, "volume consumed");
        _assertConservation();
    }

    function test_matchOrders_volumeIsSharedAcrossMatches() public {
        IHub.PoolOrder memory o = _order(5, 10);
        bytes memory sig = _signOrder(o);
        _matchAs(client, o, sig, _request(5, 6));
        _matchAs(client, o, sig, _request(5, 4));
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(IHub.VolumeExhausted.selector, 10, 1, 10));
        hub.matchOrders(o, sig, _consent(o, client, _request(5, 1)), _request(5, 1));
    }

    function test_matchOrders_restrictedRequesterMayMatch() public {
        IHub.PoolOrder memory o = _order(5, 10);
        o.requester = client;
        _matchAs(client, o, _signOrder(o), _request(5, 1));
    }

    function test_matchOrders_tagSubsetAccepted() public {
        IHub.PoolOrder memory o = _order(5, 10);
        o.tag = bytes32(uint256(0x7));
        IHub.Request memory r = _request(5, 1);
        r.tag = bytes32(uint256(0x5));
        _matchAs(client, o, _signOrder(o), r);
    }

    function test_matchOrders_atExpirySecond() public {
        IHub.PoolOrder memory o = _order(5, 10);
        vm.warp(o.expiry);
        _matchAs(client, o, _signOrder(o), _request(5, 1));
    }

    // ------------------------------------------------------------------ hostile orders

    function test_matchOrders_revertsOnForgedOrder() public {
        IHub.PoolOrder memory o = _order(5, 10);
        bytes memory sig = _sign(0xBAD, _orderDigest(o));
        vm.prank(client);
        vm.expectRevert(IHub.InvalidOrderSignature.selector);
        hub.matchOrders(o, sig, _consent(o, client, _request(5, 1)), _request(5, 1));
    }

    function test_matchOrders_revertsOnTamperedOrder() public {
        IHub.PoolOrder memory o = _order(5, 10);
        bytes memory sig = _signOrder(o);
        o.price = uint96(PRICE / 2);
        vm.prank(client);
        vm.expectRevert(IHub.InvalidOrderSignature.selector);
        hub.matchOrders(o, sig, _consent(o, client, _request(5, 1)), _request(5, 1));
    }

    function test_matchOrders_revertsOnMalformedSignature() public {
        IHub.PoolOrder memory o = _order(5, 10);
        vm.prank(client);
        vm.expectRevert(IHub.InvalidOrderSignature.selector);
        hub.matchOrders(o, hex"1234", _consent(o, client, _request(5, 1)), _request(5, 1));
    }

    function test_matchOrders_revertsOnOrderSignedForAnotherHub() public {
        Hub other = new Hub(credit, hubOwner);
        IHub.PoolOrder memory o = _order(5, 10);
        bytes memory sig = _signOrder(o); // for `hub`
        vm.prank(hubOwner);
        other.createCategory("XS", TIME_REF);
        vm.prank(poolOwner);
        other.createPool(_policy(30, SCHEDULER_RATIO, 10_000), "");
        vm.prank(client);
        vm.expectRevert(IHub.InvalidOrderSignature.selector);
        other.matchOrders(o, sig, _consent(o, client, _request(5, 1)), _request(5, 1));
    }

    function test_matchOrders_revertsOnUnknownPool() public {
        IHub.PoolOrder memory o = _order(5, 10);
        o.pool = 99;
        _expectMatchRevert(o, _request(5, 1), abi.encodeWithSelector(IHub.UnknownPool.selector, 99));
    }

    function test_matchOrders_revertsOnExpiredOrder() public {
        IHub.PoolOrder memory o = _order(5, 10);
        bytes memory sig = _signOrder(o);
        vm.warp(o.expiry + 1);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(IHub.OrderExpired.selector, o.expiry));
        hub.matchOrders(o, sig, _consent(o, client, _request(5, 1)), _request(5, 1));
    }

    function test_matchOrders_revertsForOtherRequester() public {
        IHub.PoolOrder memory o = _order(5, 10);
        o.requester = address(0x1234);
        _expectMatchRevert(o, _request(5, 1), abi.encodeWithSelector(IHub.RequesterNotAllowed.selector, o.requester));
    }

    function test_matchOrders_revertsOnCategoryMismatch() public {
        vm.prank(hubOwner);
        hub.createCategory("S", 1200);
        IHub.PoolOrder memory o = _order(5, 10);
        IHub.Request memory r = _request(5, 1);
        r.category = 1;
        _expectMatchRevert(o, r, abi.encodeWithSelector(IHub.CategoryMismatch.selector));
    }

    function test_matchOrders_revertsOnUnknownCategory() public {
        IHub.PoolOrder memory o = _order(5, 10);
        o.category = 7;
        IHub.Request memory r = _request(5, 1);
        r.category = 7;
        _expectMatchRevert(o, r, abi.encodeWithSelector(IHub.InvalidCategory.selector, 7));
    }

    function test_matchOrders_revertsOnCategoryNotAllowedByPool() public {
        vm.prank(hubOwner);
        hub.createCategory("S", 1200);
        IHub.PoolPolicy memory p = _policy(30, SCHEDULER_RATIO, 10_000);
        p.categoryMask = 1; // only category 0
        vm.prank(poolOwner);
        hub.updatePolicy(poolId, p);
        IHub.PoolOrder memory o = _order(5, 10);
        o.category = 1;
        IHub.Request memory r = _request(5, 1);
        r.category = 1;
        _expectMatchRevert(o, r, abi.encodeWithSelector(IHub.CategoryNotAllowed.selector, 1));
    }

    function test_matchOrders_revertsOnTrustOutsideOrder() public {
        IHub.PoolOrder memory o = _order(5, 10);
        _expectMatchRevert(o, _request(6, 1), abi.encodeWithSelector(IHub.TrustOutOfRange.selector, 6));
        _expectMatchRevert(o, _request(0, 1), abi.encodeWithSelector(IHub.TrustOutOfRange.selector, 0));
    }

    function test_matchOrders_revertsWhenOrderTrustAbovePoolMax() public {
        IHub.PoolOrder memory o = _order(5, 10);
        bytes memory sig = _signOrder(o);
        vm.prank(poolOwner);
        hub.updatePolicy(poolId, _policy(30, SCHEDULER_RATIO, 4));
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(IHub.TrustOutOfRange.selector, 2));
        hub.matchOrders(o, sig, _consent(o, client, _request(2, 1)), _request(2, 1));
    }

    function test_matchOrders_revertsOnPriceAboveMax() public {
        IHub.PoolOrder memory o = _order(5, 10);
        IHub.Request memory r = _request(5, 1);
        r.maxPrice = uint96(PRICE - 1);
        _expectMatchRevert(o, r, abi.encodeWithSelector(IHub.PriceAboveMax.selector, uint96(PRICE), uint96(PRICE - 1)));
    }

    function test_matchOrders_revertsOnTagNotOffered() public {
        IHub.PoolOrder memory o = _order(5, 10);
        o.tag = bytes32(uint256(0x1));
        IHub.Request memory r = _request(5, 1);
        r.tag = bytes32(uint256(0x2));
        _expectMatchRevert(o, r, abi.encodeWithSelector(IHub.TagNotOffered.selector));
    }

    function test_matchOrders_revertsOnZeroTasks() public {
        _expectMatchRevert(_order(5, 10), _request(5, 0), abi.encodeWithSelector(IHub.InvalidTaskCount.selector));
    }

    function test_matchOrders_revertsOnZeroJobHash() public {
        IHub.Request memory r = _request(5, 1);
        r.jobHash = bytes32(0);
        _expectMatchRevert(_order(5, 10), r, abi.encodeWithSelector(IHub.InvalidJobHash.selector));
    }

    function test_matchOrders_revertsWhenVolumeExhausted() public {
        _expectMatchRevert(_order(5, 3), _request(5, 4), abi.encodeWithSelector(IHub.VolumeExhausted.selector, 0, 4, 3));
    }

    function test_matchOrders_revertsWithoutClientFunds() public {
        IHub.PoolOrder memory o = _order(5, 100_000);
        IHub.Request memory r = _request(5, 10_001);
        _expectMatchRevert(
            o, r, abi.encodeWithSelector(IHub.InsufficientFreeBalance.selector, client, FUNDS, 10_001 * PRICE)
        );
    }

    function test_matchOrders_revertsWithoutPoolOwnerFunds() public {
        vm.prank(poolOwner);
        hub.withdraw(FUNDS - 1 ether);
        _expectMatchRevert(
            _order(5, 10),
            _request(5, 1),
            abi.encodeWithSelector(IHub.InsufficientFreeBalance.selector, poolOwner, 1 ether, POOL_STAKE)
        );
    }

    // ------------------------------------------------------------------ cancel

    function test_cancelOrder_blocksFurtherMatches() public {
        IHub.PoolOrder memory o = _order(5, 10);
        bytes memory sig = _signOrder(o);
        _matchAs(client, o, sig, _request(5, 1));
        vm.expectEmit(address(hub));
        emit IHub.OrderCancelled(_orderDigest(o), poolId);
        vm.prank(poolOwner);
        hub.cancelOrder(o);
        assertEq(hub.orderConsumed(_orderDigest(o)), type(uint256).max, "cancelled");
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(IHub.OrderIsCancelled.selector, _orderDigest(o)));
        hub.matchOrders(o, sig, _consent(o, client, _request(5, 1)), _request(5, 1));
    }

    function test_cancelOrder_revertsForNonOwner() public {
        IHub.PoolOrder memory o = _order(5, 10);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(IHub.NotPoolOwner.selector, client));
        hub.cancelOrder(o);
    }

    function test_cancelOrder_revertsForUnknownPool() public {
        IHub.PoolOrder memory o = _order(5, 10);
        o.pool = 42;
        vm.prank(poolOwner);
        vm.expectRevert(abi.encodeWithSelector(IHub.UnknownPool.selector, 42));
        hub.cancelOrder(o);
    }

    // ------------------------------------------------------------------ policy snapshots

    function test_dealKeepsPolicyOfMatchTime() public {
        bytes32 dealId = _match(1, 1);
        vm.prank(poolOwner);
        hub.updatePolicy(poolId, _policy(50, 40, 10_000));
        bytes32 taskId = hub.initialize(dealId, 0);
        _contribute(taskId, 0, keccak256("r"));
        assertEq(hub.frozenBalanceOf(workers[0]), WORKER_STAKE, "stake at the deal's 30 %");
        _reveal(taskId, 0, keccak256("r"));
        _finalize(taskId);
        assertEq(hub.freeBalanceOf(poolOwner), FUNDS + 10 ether, "scheduler ratio of the deal: 10 %");
    }

    function test_hashRequest_matchesAbiEncoding() public view {
        IHub.Request memory r = _request(5, 3);
        assertEq(
            hub.hashRequest(client, r),
            keccak256(abi.encode(block.chainid, address(hub), client, r)),
            "request hash names the chain and the Hub"
        );
    }

    /// @dev The same client, request and deal nonce on two Hubs give two different task ids, so
    /// an authorization the pool owner signed for a task on one Hub is worthless on the other.
    function test_authorizationFromAnotherHubIsRefused() public {
        Hub other = new Hub(credit, hubOwner);
        vm.prank(hubOwner);
        other.createCategory("XS", TIME_REF);
        vm.prank(poolOwner);
        assertEq(other.createPool(_policy(30, SCHEDULER_RATIO, 10_000), ""), poolId, "same pool id");
        credit.mint(client, FUNDS);
        credit.mint(poolOwner, FUNDS);
        vm.prank(client);
        credit.approve(address(other), type(uint256).max);
        vm.prank(poolOwner);
        credit.approve(address(other), type(uint256).max);
        vm.prank(client);
        other.deposit(FUNDS);
        vm.prank(poolOwner);
        other.deposit(FUNDS);

        // Hub 1: a trust-1 deal whose task the scheduler authorizes for workers[0].
        bytes32 taskHere = hub.initialize(_match(1, 1), 0);
        bytes memory auth = _auth(workers[0], taskHere);

        // Hub 2: the same request, at the same deal nonce, on an order signed for Hub 2.
        IHub.PoolOrder memory o = _order(1, 1);
        IHub.Request memory r = _request(1, 1);
        bytes32 orderThere = other.hashPoolOrder(o);
        bytes memory sig = _sign(poolOwnerKey, orderThere);
        bytes memory consent = _sign(poolOwnerKey, other.hashJobConsent(orderThere, r.jobHash, client, 1));
        vm.prank(client);
        bytes32 dealThere = other.matchOrders(o, sig, consent, r);
        bytes32 taskThere = other.initialize(dealThere, 0);
        assertTrue(taskThere != taskHere, "task ids differ between Hubs");

        vm.prank(workers[0]);
        vm.expectRevert(IHub.InvalidAuthorization.selector);
        other.contributeAndFinalize(taskThere, keccak256("garbage"), "", auth);
        assertEq(uint256(other.task(taskThere).status), uint256(IHub.TaskStatus.ACTIVE), "still active");
    }

    // ------------------------------------------------------------------ fuzz

    /// @dev Any request field outside the order makes matchOrders revert; inside, it matches.
    function testFuzz_matchOrders_priceAndTrustBounds(uint96 maxPrice, uint32 trust) public {
        IHub.PoolOrder memory o = _order(50, 10);
        IHub.Request memory r = _request(trust, 1);
        r.maxPrice = maxPrice;
        bytes memory sig = _signOrder(o);
        bool ok = trust >= 1 && trust <= 50 && maxPrice >= PRICE;
        vm.prank(client);
        if (!ok) vm.expectRevert();
        hub.matchOrders(o, sig, _consent(o, client, r), r);
        assertEq(hub.frozenBalanceOf(client), ok ? PRICE : 0, "locked only when matched");
    }
}

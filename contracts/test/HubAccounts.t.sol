// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {HubFixture} from "./utils/HubFixture.sol";
import {Hub} from "../src/Hub.sol";
import {HubAccounts} from "../src/HubAccounts.sol";
import {QuorateCredit} from "../src/QuorateCredit.sol";
import {IHub} from "../src/interfaces/IHub.sol";
import {ReentrantToken, FeeToken} from "./mocks/HostileTokens.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @notice Accounts (deposit, withdraw, penalty account), categories and pools.
contract HubAccountsTest is HubFixture {
    address internal alice = address(0xA71CE);

    function setUp() public override {
        super.setUp();
        tracked.push(alice);
        credit.mint(alice, 1000 ether);
        vm.prank(alice);
        credit.approve(address(hub), type(uint256).max);
    }

    // ------------------------------------------------------------------ deposit / withdraw

    function test_deposit_creditsFreeBalance() public {
        vm.expectEmit(address(hub));
        emit IHub.Deposited(alice, alice, 100 ether);
        vm.prank(alice);
        hub.deposit(100 ether);
        assertEq(hub.freeBalanceOf(alice), 100 ether, "free");
        assertEq(credit.balanceOf(alice), 900 ether, "wallet");
        _assertConservation();
    }

    function test_depositFor_creditsAnotherAccount() public {
        vm.expectEmit(address(hub));
        emit IHub.Deposited(client, alice, 5 ether);
        vm.prank(alice);
        hub.depositFor(client, 5 ether);
        assertEq(hub.freeBalanceOf(client), FUNDS + 5 ether, "credited to client");
        assertEq(hub.freeBalanceOf(alice), 0, "not to the payer");
    }

    function test_deposit_revertsOnZeroAmount() public {
        vm.prank(alice);
        vm.expectRevert(IHub.ZeroAmount.selector);
        hub.deposit(0);
    }

    function test_depositFor_revertsOnZeroAddress() public {
        vm.prank(alice);
        vm.expectRevert(IHub.ZeroAddress.selector);
        hub.depositFor(address(0), 1);
    }

    function test_deposit_revertsWithoutAllowance() public {
        address bob = address(0xB0B0);
        credit.mint(bob, 10);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(hub), 0, 10));
        hub.deposit(10);
    }

    /// @dev QCR caps its supply at 2^112 - 1, but a Hub may be configured with any ERC-20: the
    /// Hub itself refuses an amount its 112-bit balances cannot hold.
    function test_deposit_revertsAboveUint112() public {
        ReentrantToken uncapped = new ReentrantToken(); // unarmed: a plain, uncapped ERC-20
        Hub other = new Hub(IERC20(address(uncapped)), hubOwner);
        uint256 huge = uint256(type(uint112).max) + 1;
        uncapped.mint(alice, huge);
        vm.startPrank(alice);
        uncapped.approve(address(other), huge);
        vm.expectRevert(abi.encodeWithSelector(IHub.AmountTooLarge.selector, huge));
        other.deposit(huge);
        vm.stopPrank();
    }

    function test_withdraw_sendsFreeBalance() public {
        vm.startPrank(alice);
        hub.deposit(100 ether);
        vm.expectEmit(address(hub));
        emit IHub.Withdrawn(alice, alice, 40 ether);
        hub.withdraw(40 ether);
        vm.stopPrank();
        assertEq(hub.freeBalanceOf(alice), 60 ether, "free");
        assertEq(credit.balanceOf(alice), 940 ether, "wallet");
        _assertConservation();
    }

    function test_withdrawTo_sendsToRecipient() public {
        vm.startPrank(alice);
        hub.deposit(100 ether);
        hub.withdrawTo(address(0xD00D), 100 ether);
        vm.stopPrank();
        assertEq(credit.balanceOf(address(0xD00D)), 100 ether, "recipient");
        assertEq(hub.freeBalanceOf(alice), 0, "emptied");
    }

    function test_withdraw_cannotWithdrawTwice() public {
        vm.startPrank(alice);
        hub.deposit(100 ether);
        hub.withdraw(100 ether);
        vm.expectRevert(abi.encodeWithSelector(IHub.InsufficientFreeBalance.selector, alice, 0, 100 ether));
        hub.withdraw(100 ether);
        vm.stopPrank();
    }

    function test_withdraw_cannotTouchFrozenBalance() public {
        _match(5, 1);
        uint256 free = hub.freeBalanceOf(client);
        vm.prank(client);
        vm.expectRevert(abi.encodeWithSelector(IHub.InsufficientFreeBalance.selector, client, free, FUNDS));
        hub.withdraw(FUNDS);
    }

    function test_withdraw_revertsOnZeroAmountOrAddress() public {
        vm.startPrank(client);
        vm.expectRevert(IHub.ZeroAmount.selector);
        hub.withdraw(0);
        vm.expectRevert(IHub.ZeroAddress.selector);
        hub.withdrawTo(address(0), 1);
        vm.stopPrank();
    }

    function test_withdraw_reentryIsRefused() public {
        ReentrantToken token = new ReentrantToken();
        Hub h = new Hub(token, hubOwner);
        token.mint(alice, 100);
        vm.startPrank(alice);
        token.approve(address(h), 100);
        h.deposit(100);
        vm.stopPrank();
        // while the Hub pays alice out, the token calls withdraw(50) back into the Hub: the
        // guard must refuse it before anything else runs
        token.arm(address(h), abi.encodeCall(HubAccounts.withdraw, (50)));
        vm.prank(alice);
        h.withdraw(50);
        assertFalse(token.reentered(), "reentry refused");
        assertEq(
            keccak256(token.reentryError()),
            keccak256(abi.encodeWithSelector(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector)),
            "by the reentrancy guard"
        );
        assertEq(h.freeBalanceOf(alice), 50, "one withdrawal only");
        assertEq(token.balanceOf(address(h)), 50, "books match");
    }

    function test_deposit_creditsWhatArrives() public {
        FeeToken token = new FeeToken();
        Hub h = new Hub(token, hubOwner);
        token.mint(alice, 1000);
        vm.startPrank(alice);
        token.approve(address(h), 1000);
        h.deposit(1000);
        vm.stopPrank();
        assertEq(h.freeBalanceOf(alice), 990, "1 % fee not credited");
        assertEq(token.balanceOf(address(h)), 990, "books match");
    }

    function test_constructor_revertsOnZeroToken() public {
        vm.expectRevert(IHub.ZeroAddress.selector);
        new Hub(QuorateCredit(address(0)), hubOwner);
    }

    // ------------------------------------------------------------------ penalty account

    function test_withdrawPenalties_byOwnerOnly() public {
        _withheldClaim(0);
        assertEq(hub.penaltyBalance(), WORKER_STAKE, "the withheld winner's stake");
        assertEq(WORKER_STAKE, POOL_STAKE, "the amounts below use either");

        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        hub.withdrawPenalties(alice, 1);

        vm.startPrank(hubOwner);
        vm.expectRevert(abi.encodeWithSelector(IHub.InsufficientPenaltyBalance.selector, POOL_STAKE, POOL_STAKE + 1));
        hub.withdrawPenalties(hubOwner, POOL_STAKE + 1);
        vm.expectRevert(IHub.ZeroAmount.selector);
        hub.withdrawPenalties(hubOwner, 0);
        vm.expectRevert(IHub.ZeroAddress.selector);
        hub.withdrawPenalties(address(0), 1);
        vm.expectEmit(address(hub));
        emit IHub.PenaltyWithdrawn(hubOwner, POOL_STAKE);
        hub.withdrawPenalties(hubOwner, POOL_STAKE);
        vm.stopPrank();
        assertEq(credit.balanceOf(hubOwner), POOL_STAKE, "sent");
        assertEq(hub.penaltyBalance(), 0, "emptied");
        _assertConservation();
    }

    // ------------------------------------------------------------------ deployability

    /// @dev forge does not apply the EIP-170 limit in tests; a chain does.
    function test_hubFitsContractSizeLimit() public view {
        assertLe(address(hub).code.length, 24_576, "EIP-170 runtime size");
    }

    // ------------------------------------------------------------------ layout used by tests

    function test_accountSlotLayout() public {
        _setScore(workers[3], 77);
        assertEq(hub.scoreOf(poolOwner, workers[3]), 77, "score bits");
        assertEq(hub.freeBalanceOf(workers[3]), FUNDS, "free untouched");
    }

    // ------------------------------------------------------------------ categories

    function test_createCategory_byOwner() public {
        vm.expectEmit(address(hub));
        emit IHub.CategoryCreated(1, "XL", 36_000);
        vm.prank(hubOwner);
        uint8 id = hub.createCategory("XL", 36_000);
        assertEq(id, 1, "sequential ids");
        assertEq(hub.categoryCount(), 2, "count");
        IHub.CategoryView memory c = hub.category(1);
        assertEq(c.name, "XL", "name");
        assertEq(c.timeRef, 36_000, "time ref");
    }

    function test_createCategory_reverts() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        hub.createCategory("M", 1);
        vm.prank(hubOwner);
        vm.expectRevert(IHub.InvalidTimeRef.selector);
        hub.createCategory("M", 0);
        vm.expectRevert(abi.encodeWithSelector(IHub.InvalidCategory.selector, 9));
        hub.category(9);
    }

    function test_createCategory_revertsPast255() public {
        vm.startPrank(hubOwner);
        for (uint256 i = 1; i < 255; i++) {
            hub.createCategory("c", 1);
        }
        vm.expectRevert(IHub.TooManyCategories.selector);
        hub.createCategory("c", 1);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ pools

    function test_createPool_storesPolicy() public {
        IHub.PoolPolicy memory p = _policy(20, 15, 7);
        p.categoryMask = 3;
        vm.expectEmit(address(hub));
        emit IHub.PoolCreated(2, alice, p, "ipfs://alice");
        vm.prank(alice);
        uint64 id = hub.createPool(p, "ipfs://alice");
        assertEq(id, 2, "second pool");
        assertEq(hub.poolCount(), 2, "count");
        IHub.PoolView memory v = hub.pool(id);
        assertEq(v.owner, alice, "owner");
        assertEq(v.policy.workerStakeRatio, 20, "stake ratio");
        assertEq(v.policy.schedulerRewardRatio, 15, "reward ratio");
        assertEq(v.policy.maxTrust, 7, "max trust");
        assertEq(v.policy.categoryMask, 3, "mask");
        assertEq(v.metadataUri, "ipfs://alice", "uri");
    }

    function test_createPool_revertsOnInvalidPolicy() public {
        vm.startPrank(alice);
        vm.expectRevert(IHub.InvalidPolicy.selector);
        hub.createPool(_policy(101, 10, 5), "");
        vm.expectRevert(IHub.InvalidPolicy.selector);
        hub.createPool(_policy(30, 101, 5), "");
        vm.expectRevert(IHub.InvalidPolicy.selector);
        hub.createPool(_policy(30, 10, 0), "");
        vm.stopPrank();
    }

    function test_updatePolicy_byOwnerOnly() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IHub.NotPoolOwner.selector, alice));
        hub.updatePolicy(poolId, _policy(1, 1, 1));
        vm.prank(poolOwner);
        vm.expectRevert(abi.encodeWithSelector(IHub.UnknownPool.selector, 77));
        hub.updatePolicy(77, _policy(1, 1, 1));
        vm.prank(poolOwner);
        vm.expectRevert(IHub.InvalidPolicy.selector);
        hub.updatePolicy(poolId, _policy(1, 1, 0));

        vm.expectEmit(address(hub));
        emit IHub.PoolPolicyUpdated(poolId, _policy(1, 2, 3));
        vm.prank(poolOwner);
        hub.updatePolicy(poolId, _policy(1, 2, 3));
        assertEq(hub.pool(poolId).policy.maxTrust, 3, "updated");
    }

    function test_updateMetadata_byOwnerOnly() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IHub.NotPoolOwner.selector, alice));
        hub.updateMetadata(poolId, "x");
        vm.expectEmit(address(hub));
        emit IHub.PoolMetadataUpdated(poolId, "ipfs://new");
        vm.prank(poolOwner);
        hub.updateMetadata(poolId, "ipfs://new");
        assertEq(hub.pool(poolId).metadataUri, "ipfs://new", "uri");
    }

    function test_views_revertOnUnknownIds() public {
        vm.expectRevert(abi.encodeWithSelector(IHub.UnknownPool.selector, 5));
        hub.pool(5);
        vm.expectRevert(abi.encodeWithSelector(IHub.UnknownDeal.selector, bytes32(uint256(5))));
        hub.deal(bytes32(uint256(5)));
        assertEq(uint256(hub.task(bytes32(uint256(5))).status), 0, "unknown task reads UNSET");
    }

    // ------------------------------------------------------------------ fuzz

    function testFuzz_depositWithdraw_conserves(uint96 deposited, uint96 withdrawn) public {
        deposited = uint96(bound(deposited, 1, 1000 ether));
        vm.startPrank(alice);
        hub.deposit(deposited);
        if (withdrawn == 0 || withdrawn > deposited) {
            vm.expectRevert();
            hub.withdraw(withdrawn);
            withdrawn = 0;
        } else {
            hub.withdraw(withdrawn);
        }
        vm.stopPrank();
        assertEq(hub.freeBalanceOf(alice), uint256(deposited) - withdrawn, "free");
        assertEq(credit.balanceOf(alice), 1000 ether - deposited + withdrawn, "wallet");
        _assertConservation();
    }

    function test_renounceOwnership_isRefused() public {
        vm.prank(hubOwner);
        vm.expectRevert(IHub.OwnershipRequired.selector);
        hub.renounceOwnership();
        assertEq(hub.owner(), hubOwner, "owner kept");

        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        hub.renounceOwnership();
    }
}

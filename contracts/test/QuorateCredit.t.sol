// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Test} from "./utils/Test.sol";
import {QuorateCredit} from "../src/QuorateCredit.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

contract QuorateCreditTest is Test {
    QuorateCredit internal credit;
    address internal owner = address(0xA11CE);
    address internal alice = address(0xB0B);

    function setUp() public {
        credit = new QuorateCredit(owner);
    }

    function test_metadata() public view {
        assertEq(credit.symbol(), "QCR", "symbol");
        assertEq(credit.name(), "Quorate Credit", "name");
        assertEq(credit.decimals(), 18, "decimals");
    }

    function test_ownerMints() public {
        vm.prank(owner);
        credit.mint(alice, 1000);
        assertEq(credit.balanceOf(alice), 1000, "minted balance");
        assertEq(credit.totalSupply(), 1000, "supply");
    }

    function test_strangerCannotMint() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        credit.mint(alice, 1);
    }

    function test_transferMoreThanBalanceReverts() public {
        vm.prank(owner);
        credit.mint(alice, 5);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, 5, 6));
        credit.transfer(owner, 6);
    }

    function testFuzz_mintThenTransferConservesSupply(uint112 minted, uint112 sent) public {
        vm.assume(sent <= minted);
        vm.prank(owner);
        credit.mint(alice, minted);
        vm.prank(alice);
        credit.transfer(owner, sent);
        assertEq(credit.balanceOf(alice) + credit.balanceOf(owner), minted, "conservation");
    }

    function test_supplyIsCappedBelowTheHubsBalanceWidth() public {
        uint256 cap = credit.MAX_SUPPLY();
        vm.prank(owner);
        credit.mint(alice, cap);
        assertEq(credit.totalSupply(), type(uint112).max, "minted up to the cap");
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(QuorateCredit.SupplyCapExceeded.selector, type(uint112).max, 1)
        );
        credit.mint(alice, 1);
    }
}

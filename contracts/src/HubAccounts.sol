// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {HubStorage} from "./HubStorage.sol";

/// @title HubAccounts
/// @notice Credit accounts: deposits, withdrawals, payout addresses, the penalty account and the
/// owner's rights over it (tests: HubAccounts.t.sol).
abstract contract HubAccounts is HubStorage {
    using SafeERC20 for IERC20;

    /// @notice Moves `amount` credits from the caller's wallet to its free balance.
    function deposit(uint256 amount) external nonReentrant {
        _deposit(msg.sender, amount);
    }

    /// @notice Moves `amount` credits from the caller's wallet to `account`'s free balance.
    function depositFor(address account, uint256 amount) external nonReentrant {
        if (account == address(0)) revert ZeroAddress();
        _deposit(account, amount);
    }

    /// @notice Sends `amount` of the caller's free balance to the caller.
    function withdraw(uint256 amount) external nonReentrant {
        _withdraw(msg.sender, amount);
    }

    /// @notice Sends `amount` of the caller's free balance to `to`.
    function withdrawTo(address to, uint256 amount) external nonReentrant {
        _withdraw(to, amount);
    }

    /// @notice Sends `amount` from the penalty account (the stakes of winners that never
    /// revealed, seized at claim) to `to`.
    function withdrawPenalties(address to, uint256 amount) external onlyOwner nonReentrant {
        _checkTransfer(to, amount);
        uint256 balance = _penalty;
        if (balance < amount) revert InsufficientPenaltyBalance(balance, amount);
        _penalty = balance - amount;
        emit PenaltyWithdrawn(to, amount);
        token.safeTransfer(to, amount);
    }

    function _deposit(address account, uint256 amount) internal {
        if (amount == 0) revert ZeroAmount();
        // Credit what actually arrived, so that a token with transfer fees cannot break the books.
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        Account storage a = _accounts[account];
        a.free = _toUint112(a.free + received);
        emit Deposited(account, msg.sender, received);
    }

    function _checkTransfer(address to, uint256 amount) internal view {
        if (to == address(0)) revert ZeroAddress();
        if (to == address(this)) revert TransferToHub();
        if (amount == 0) revert ZeroAmount();
    }

    function _withdraw(address to, uint256 amount) internal {
        _checkTransfer(to, amount);
        Account storage a = _accounts[msg.sender];
        uint256 free = a.free;
        if (free < amount) revert InsufficientFreeBalance(msg.sender, free, amount);
        // forge-lint: disable-next-line(unsafe-typecast) -- below `free`, a uint112
        a.free = uint112(free - amount);
        emit Withdrawn(msg.sender, to, amount);
        token.safeTransfer(to, amount);
    }

    /// @notice Names the address the caller's rewards are credited to from now on; zero (or
    /// the caller) means the caller itself. Stakes still lock and return on the caller's account.
    function setPayoutAddress(address payout) external {
        if (payout == address(this)) revert TransferToHub();
        Account storage a = _accounts[msg.sender];
        if (payout == address(0) || payout == msg.sender) {
            a.payoutId = 0;
            payout = msg.sender;
        } else {
            uint256 id = ++_payoutCount;
            a.payoutId = _toUint32(id);
            _payoutAddresses[id] = payout;
        }
        emit PayoutAddressSet(msg.sender, payout);
    }

    function freeBalanceOf(address account) external view returns (uint256) {
        return _accounts[account].free;
    }

    function frozenBalanceOf(address account) external view returns (uint256) {
        return _accounts[account].frozen;
    }

    function penaltyBalance() external view returns (uint256) {
        return _penalty;
    }
}

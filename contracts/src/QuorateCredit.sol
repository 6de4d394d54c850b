// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title QuorateCredit (QCR)
/// @notice The credit that clients pay for work with and that workers and pools are paid in.
/// On a devnet its owner mints credits to test accounts; on a real network the Hub can be
/// configured with any ERC-20 instead, provided its total supply stays below 2^112 (the Hub keeps
/// each balance in 112 bits).
contract QuorateCredit is ERC20, Ownable {
    /// @notice The most credits that can ever exist: the Hub stores balances in 112 bits, so no
    /// account can ever hold more than the Hub can record, and no settlement can be blocked by
    /// a balance at its limit.
    uint256 public constant MAX_SUPPLY = type(uint112).max;

    /// @notice Minting `amount` would take the supply past `MAX_SUPPLY`.
    error SupplyCapExceeded(uint256 supply, uint256 amount);

    constructor(address initialOwner) ERC20("Quorate Credit", "QCR") Ownable(initialOwner) {}

    /// @notice Creates `amount` credits for `to`. Only the owner (the devnet deployer) may mint.
    function mint(address to, uint256 amount) external onlyOwner {
        uint256 supply = totalSupply();
        if (amount > MAX_SUPPLY - supply) revert SupplyCapExceeded(supply, amount);
        _mint(to, amount);
    }
}

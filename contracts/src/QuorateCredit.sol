// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title QuorateCredit (QCR)
/// @notice The credit that clients pay for work with and that workers and pools are paid in.
/// On a devnet its owner mints credits to test accounts; on a real network the Hub can be
/// configured with any ERC-20 instead.
contract QuorateCredit is ERC20, Ownable {
    constructor(address initialOwner) ERC20("Quorate Credit", "QCR") Ownable(initialOwner) {}

    /// @notice Creates `amount` credits for `to`. Only the owner (the devnet deployer) may mint.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A hostile ERC-20 for tests: on every transfer out of the Hub it calls back into the
/// Hub (a reentrancy attempt) with the call data it was armed with.
contract ReentrantToken is ERC20 {
    address public hub;
    bytes public payload;
    bool public reentered;
    bytes public reentryError;

    constructor() ERC20("Reentrant", "RE") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function arm(address hub_, bytes calldata payload_) external {
        hub = hub_;
        payload = payload_;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (from == hub && hub != address(0) && payload.length != 0) {
            bytes memory p = payload;
            delete payload;
            (bool ok, bytes memory err) = hub.call(p);
            reentered = ok;
            reentryError = err;
        }
    }
}

/// @notice An ERC-20 that burns 1 % of every transfer, to check that the Hub credits what it
/// actually receives.
contract FeeToken is ERC20 {
    constructor() ERC20("Fee", "FEE") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && to != address(0)) {
            uint256 fee = value / 100;
            super._update(from, address(0), fee);
            super._update(from, to, value - fee);
        } else {
            super._update(from, to, value);
        }
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

import {HubStorage} from "./HubStorage.sol";
import {HubAccounts} from "./HubAccounts.sol";
import {HubOrders} from "./HubOrders.sol";
import {HubTasks} from "./HubTasks.sol";

/// @title Hub
/// @notice Quorate's marketplace: credit accounts, pools, signed pool orders and job consents,
/// deals, and tasks settled by Proof of Contribution as docs/poco.md states it (scores per pool
/// owner, withheld reveals forfeited, revealed work always paid, penalties never to the party
/// that decides them).
///
/// Money never leaves the Hub except through `withdraw`, `withdrawTo` and `withdrawPenalties`;
/// every other movement is between the free and frozen balances of accounts and the penalty
/// account, so the Hub's token balance always equals the sum of all balances plus the penalty
/// account (the tests check this as an invariant).
///
/// Storage is laid out for gas: an account (free, frozen, payout id) is one slot; a score is one
/// slot per (pool owner, worker); a task is one slot (state, deal, counts and the head of its
/// list of contributors); a contribution is one slot (state, link to the previous contributor,
/// payout weight, vote ordinal, seal prefix); a group is one slot per distinct answer plus its
/// ordinal. Results, hashes and digests live in
/// events, not in storage; counts that finalize needs (winners, reveals, weights) are tallied
/// from the contributions rather than kept.
///
/// Limits that follow from the packing: 255 contributions per task, 2^32 - 1 deals, reveal
/// deadlines before 2106, balances below 2^112, 32-bit scores and payout ids.
///
/// The source is split by concern over one storage layout (`HubStorage`): `HubAccounts`,
/// `HubOrders` and `HubTasks`, each beside its test file.
contract Hub is HubAccounts, HubOrders, HubTasks {
    constructor(IERC20 token_, address initialOwner)
        HubStorage(token_)
        EIP712("Quorate Hub", "1")
        Ownable(initialOwner)
    {}
}

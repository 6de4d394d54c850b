// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IHub} from "./interfaces/IHub.sol";

/// @title HubStorage
/// @notice The Hub's one storage layout, its constants and the internal helpers every concern
/// shares (balance moves, signature checks, checked narrowing). `HubAccounts`, `HubOrders` and
/// `HubTasks` add the entry points of one concern each over this layout; `Hub` joins them into
/// the one deployed contract, so splitting the source costs no gas and moves no slot.
abstract contract HubStorage is IHub, EIP712, Ownable2Step, ReentrancyGuardTransient {
    /// @notice Stake the pool owner locks per task, in percent of the task price.
    uint256 internal constant POOL_STAKE_RATIO = 30;
    /// @notice Contributions are accepted until `start + 7t`.
    uint256 internal constant CONTRIBUTION_WINDOW = 7;
    /// @notice Winners reveal until `consensus time + 2t`.
    uint256 internal constant REVEAL_WINDOW = 2;
    /// @notice From `start + 10t` anyone may claim a task that has no revealed result.
    uint256 internal constant FINAL_WINDOW = 10;
    /// @notice Contributions one task accepts, so that finalize and claim always fit in a block.
    uint256 internal constant MAX_CONTRIBUTORS = type(uint8).max;
    /// @notice The longest category time reference (seconds): escrow is locked at most `10t`
    /// = 70 days, and every deadline fits its 32-bit field.
    uint256 internal constant MAX_TIME_REF = 7 days;
    /// @notice EIP-712 type of a pool order.
    bytes32 internal constant POOL_ORDER_TYPEHASH = keccak256(
        "PoolOrder(uint64 pool,uint96 price,uint32 volume,uint8 category,uint32 trust,bytes32 tag,address requester,uint64 expiry,bytes32 salt,uint8 workerStakeRatio,uint8 schedulerRewardRatio)"
    );
    /// @notice EIP-712 type of a pool's consent to one job.
    bytes32 internal constant JOB_CONSENT_TYPEHASH =
        keccak256("JobConsent(bytes32 orderHash,bytes32 jobHash,address client,uint32 taskCount)");

    /// @dev Consumed volume of a cancelled order.
    uint256 internal constant CANCELLED = type(uint256).max;

    /// @notice The credit token every amount is counted in.
    IERC20 public immutable token;

    /// @dev One slot. `payoutId` names the account's payout address (0: itself), so that settling
    /// a worker that has none reads no other slot.
    struct Account {
        uint112 free;
        uint112 frozen;
        uint32 payoutId;
    }

    struct Category {
        uint32 timeRef;
        string name;
    }

    struct Pool {
        // slot 0
        address owner;
        uint8 workerStakeRatio;
        uint8 schedulerRewardRatio;
        uint32 maxTrust;
        // slot 1
        uint256 categoryMask;
        // slot 2..
        string metadataUri;
    }

    struct Deal {
        // slot 0: everything contribute needs but the price
        address poolOwner;
        uint40 start;
        uint32 timeRef;
        uint8 workerStakeRatio;
        uint8 schedulerRewardRatio;
        // slot 1
        uint96 price;
        uint32 trust;
        uint32 taskCount;
        uint64 pool;
        uint8 category;
        // slot 2
        address client;
        // slot 3
        bytes32 dealId;
    }

    /// @dev One slot. Counts are bytes: a task takes at most 255 contributions.
    struct Task {
        TaskStatus status;
        uint32 dealNonce;
        uint32 revealDeadline;
        uint8 contributorCount;
        /// @dev distinct result hashes voted so far.
        uint8 ordinalCount;
        uint8 consensusOrdinal;
        /// @dev head of the list of contributors, linked through Contribution.previous.
        address lastContributor;
    }

    /// @dev One slot. The seal is kept as its first 9 bytes (72 bits): it only has to stop a
    /// worker that did not compute the result from guessing, before anyone reveals, the seal
    /// bound to its own address, and each such guess costs a staked, authorized contribution.
    /// The vote itself is kept exactly, by its ordinal. The full seal is in TaskContributed.
    struct Contribution {
        address previous;
        ContributionStatus status;
        uint8 payoutWeight;
        uint8 ordinal;
        bytes9 sealPrefix;
    }

    mapping(address account => Account) internal _accounts;
    uint256 internal _penalty;

    uint8 internal _categoryCount;
    mapping(uint8 id => Category) internal _categories;

    uint64 internal _poolCount;
    mapping(uint64 pool => Pool) internal _pools;

    mapping(bytes32 orderHash => uint256 consumed) internal _consumed;

    uint256 internal _dealCount;
    mapping(uint256 nonce => Deal) internal _deals;
    mapping(bytes32 dealId => uint256 nonce) internal _dealNonce;

    mapping(bytes32 taskId => Task) internal _tasks;
    /// @dev Ordinal (1-based, in order of first vote) of each result hash voted in a task.
    mapping(bytes32 taskId => mapping(bytes32 resultHash => uint8 ordinal)) internal _ordinals;
    /// @dev Value of each group (product of its voters' weights), keyed by ordinal.
    mapping(bytes32 taskId => mapping(uint256 ordinal => uint256 value)) internal _groups;
    mapping(bytes32 taskId => mapping(address worker => Contribution)) internal _contributions;
    /// @dev Scores by trust domain: a score earned under one pool owner counts only in the pools
    /// of that owner (docs/poco.md, "Reputation is scoped by pool owner").
    mapping(address poolOwner => mapping(address worker => uint32 score)) internal _scores;
    /// @dev Payout addresses by id (`Account.payoutId`); each `setPayoutAddress` takes a new id.
    uint256 internal _payoutCount;
    mapping(uint256 payoutId => address payout) internal _payoutAddresses;

    constructor(IERC20 token_) {
        if (address(token_) == address(0)) revert ZeroAddress();
        token = token_;
    }

    /// @notice The Hub always has an owner: the penalty account and the categories are the
    /// owner's to manage, and renouncing would lock them for good. Use `transferOwnership`.
    function renounceOwnership() public view override onlyOwner {
        revert OwnershipRequired();
    }

    /// @notice Where `worker`'s rewards are credited.
    function payoutOf(address worker) public view returns (address payout) {
        uint256 id = _accounts[worker].payoutId;
        payout = id == 0 ? worker : _payoutAddresses[id];
    }

    function _nonceOf(bytes32 dealId) internal view returns (uint256 nonce) {
        nonce = _dealNonce[dealId];
        if (nonce == 0) revert UnknownDeal(dealId);
    }

    function _finalDeadline(Deal storage d) internal view returns (uint256) {
        return d.start + FINAL_WINDOW * uint256(d.timeRef);
    }

    function _signedBy(bytes32 digest, bytes calldata signature, address signer) internal pure returns (bool) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        return err == ECDSA.RecoverError.NoError && recovered == signer;
    }

    /// @dev free -> frozen.
    function _lock(address account, uint256 amount) internal {
        if (amount == 0) return;
        Account storage a = _accounts[account];
        uint256 free = a.free;
        if (free < amount) revert InsufficientFreeBalance(account, free, amount);
        // forge-lint: disable-next-line(unsafe-typecast) -- below `free`, a uint112
        (a.free, a.frozen) = (uint112(free - amount), _toUint112(a.frozen + amount));
        emit Locked(account, amount);
    }

    /// @dev frozen -> free.
    function _unlock(address account, uint256 amount) internal {
        if (amount == 0) return;
        Account storage a = _accounts[account];
        (a.free, a.frozen) = (_toUint112(a.free + amount), a.frozen - _toUint112(amount));
        emit Unlocked(account, amount);
    }

    /// @dev -> free (from money already frozen elsewhere in the same settlement).
    function _reward(address account, uint256 amount, bytes32 ref) internal {
        if (amount == 0) return;
        Account storage a = _accounts[account];
        a.free = _toUint112(a.free + amount);
        emit Rewarded(account, amount, ref);
    }

    /// @dev frozen -> (settlement).
    function _seize(address account, uint256 amount, bytes32 ref) internal {
        if (amount == 0) return;
        Account storage a = _accounts[account];
        a.frozen -= _toUint112(amount);
        emit Seized(account, amount, ref);
    }

    function _toUint112(uint256 value) internal pure returns (uint112) {
        if (value > type(uint112).max) revert AmountTooLarge(value);
        // forge-lint: disable-next-line(unsafe-typecast) -- checked just above
        return uint112(value);
    }

    function _toUint32(uint256 value) internal pure returns (uint32) {
        if (value > type(uint32).max) revert AmountTooLarge(value);
        // forge-lint: disable-next-line(unsafe-typecast) -- checked just above
        return uint32(value);
    }
}

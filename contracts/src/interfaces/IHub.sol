// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title IHub
/// @notice Types, events and errors of Quorate's marketplace (see `Hub`). Amounts are in the
/// Hub's credit token; ratios are percents; times are Unix seconds.
interface IHub {
    // ---------------------------------------------------------------- types

    /// @notice Lifecycle of a task (POCO.md): `UNSET -> ACTIVE -> REVEALING -> COMPLETED`,
    /// `REVEALING -> ACTIVE` (reopen), `ACTIVE | REVEALING -> FAILED` (claim).
    enum TaskStatus {
        UNSET,
        ACTIVE,
        REVEALING,
        COMPLETED,
        FAILED
    }

    /// @notice Lifecycle of one worker's contribution: `UNSET -> CONTRIBUTED -> PROVED | REJECTED`.
    enum ContributionStatus {
        UNSET,
        CONTRIBUTED,
        PROVED,
        REJECTED
    }

    /// @notice What a pool owner sets for its pool. Deals copy the ratios when they are matched,
    /// so a later update never changes a running deal.
    struct PoolPolicy {
        /// @dev stake a worker locks per contribution, in percent of the task price (<= 100).
        uint8 workerStakeRatio;
        /// @dev the pool owner's share of a task's reward, in percent (<= 100).
        uint8 schedulerRewardRatio;
        /// @dev the highest trust level an order of this pool may offer (>= 1).
        uint32 maxTrust;
        /// @dev bit `c` set: category `c` is allowed.
        uint256 categoryMask;
    }

    /// @notice A price offer signed off-chain (EIP-712) by the pool owner and gossiped.
    struct PoolOrder {
        uint64 pool;
        /// @dev price per task.
        uint96 price;
        /// @dev number of tasks the order may sell in all.
        uint32 volume;
        uint8 category;
        /// @dev the highest trust level a request may ask for.
        uint32 trust;
        /// @dev capabilities the pool offers (a request's tag must be a subset).
        bytes32 tag;
        /// @dev the only client allowed to match, or zero for anyone.
        address requester;
        /// @dev last second at which the order can be matched.
        uint64 expiry;
        bytes32 salt;
        /// @dev the pool's worker stake ratio the order is priced for: the match is refused if
        /// `updatePolicy` changed it since.
        uint8 workerStakeRatio;
        /// @dev the pool's scheduler reward ratio the order is priced for (same rule).
        uint8 schedulerRewardRatio;
    }

    /// @notice What the client asks for in `matchOrders`.
    struct Request {
        /// @dev content hash of the job (work function and inputs).
        bytes32 jobHash;
        uint32 taskCount;
        /// @dev the highest price per task the client accepts.
        uint96 maxPrice;
        uint32 trust;
        uint8 category;
        /// @dev capabilities the job requires.
        bytes32 tag;
        /// @dev who receives the results (informational, carried by the deal's event).
        address beneficiary;
    }

    struct CategoryView {
        string name;
        uint32 timeRef;
    }

    struct PoolView {
        address owner;
        PoolPolicy policy;
        string metadataUri;
    }

    struct DealView {
        bytes32 dealId;
        uint64 pool;
        address poolOwner;
        address client;
        uint96 price;
        uint32 trust;
        uint32 taskCount;
        uint8 category;
        uint40 start;
        uint32 timeRef;
        uint8 workerStakeRatio;
        uint8 schedulerRewardRatio;
    }

    struct TaskView {
        TaskStatus status;
        bytes32 dealId;
        uint256 contributionDeadline;
        uint256 revealDeadline;
        uint256 finalDeadline;
        uint256 contributorCount;
        /// @dev voters of the consensus hash in the current round (0 while ACTIVE).
        uint256 winnerCount;
        /// @dev winners that revealed.
        uint256 revealCount;
        /// @dev ordinal (1-based, in order of first vote) of the consensus hash; 0 while none.
        uint256 consensusOrdinal;
        /// @dev `total` of POCO.md: 1 plus the value of every group.
        uint256 total;
        /// @dev the round a pool owner's authorization must name to vote now: 0 until a reopen,
        /// then the reveal deadline of the consensus the last reopen dropped (0 while a
        /// consensus stands).
        uint256 round;
    }

    struct ContributionView {
        ContributionStatus status;
        uint8 payoutWeight;
        /// @dev ordinal of the hash voted.
        uint8 ordinal;
        /// @dev first 9 bytes of the seal (the full seal is in TaskContributed).
        bytes9 sealPrefix;
    }

    // ---------------------------------------------------------------- events

    event Deposited(address indexed account, address indexed payer, uint256 amount);
    event Withdrawn(address indexed account, address indexed to, uint256 amount);
    /// @notice `amount` moved from the free to the frozen balance of `account`.
    event Locked(address indexed account, uint256 amount);
    /// @notice `amount` moved from the frozen back to the free balance of `account`.
    event Unlocked(address indexed account, uint256 amount);
    /// @notice `amount` credited to the free balance of `account` for `ref` (a task id).
    event Rewarded(address indexed account, uint256 amount, bytes32 indexed ref);
    /// @notice `amount` taken from the frozen balance of `account` for `ref` (a task id).
    event Seized(address indexed account, uint256 amount, bytes32 indexed ref);
    /// @notice `amount` credited to the penalty account for `ref` (a task id): the stakes of
    /// winners that never revealed, seized (event `Seized`) when the task was claimed.
    event PenaltyCredited(bytes32 indexed ref, uint256 amount);
    event PenaltyWithdrawn(address indexed to, uint256 amount);
    /// @notice `worker`'s score in the trust domain of `poolOwner` (the only one it counts in).
    event ScoreUpdated(address indexed poolOwner, address indexed worker, uint256 score);
    /// @notice `worker`'s rewards are credited to `payout` from now on (`worker` itself by default).
    event PayoutAddressSet(address indexed worker, address indexed payout);

    event CategoryCreated(uint8 indexed category, string name, uint32 timeRef);
    event PoolCreated(uint64 indexed pool, address indexed owner, PoolPolicy policy, string metadataUri);
    event PoolPolicyUpdated(uint64 indexed pool, PoolPolicy policy);
    event PoolMetadataUpdated(uint64 indexed pool, string metadataUri);
    event OrderCancelled(bytes32 indexed orderHash, uint64 indexed pool);
    event DealCreated(
        bytes32 indexed dealId,
        uint64 indexed pool,
        address indexed client,
        bytes32 orderHash,
        uint96 price,
        uint256 nonce,
        Request request
    );

    event TaskInitialized(bytes32 indexed taskId, bytes32 indexed dealId, uint256 index);
    event TaskContributed(
        bytes32 indexed taskId, address indexed worker, bytes32 resultHash, bytes32 resultSeal, uint256 weight
    );
    event TaskConsensus(bytes32 indexed taskId, bytes32 consensusHash, uint256 revealDeadline);
    event TaskRevealed(bytes32 indexed taskId, address indexed worker, bytes32 resultDigest);
    event TaskReopened(bytes32 indexed taskId);
    event TaskFinalized(bytes32 indexed taskId, bytes resultsRef);
    event TaskClaimed(bytes32 indexed taskId);

    // ---------------------------------------------------------------- errors

    error ZeroAmount();
    /// @notice `renounceOwnership` is refused: the Hub must keep an owner.
    error OwnershipRequired();
    error ZeroAddress();
    error AmountTooLarge(uint256 amount);
    error InsufficientFreeBalance(address account, uint256 free, uint256 needed);
    error InsufficientPenaltyBalance(uint256 balance, uint256 needed);

    error InvalidCategory(uint8 category);
    error TooManyCategories();
    error InvalidTimeRef();
    /// @notice A transfer to the Hub's own address, which would destroy the credits.
    error TransferToHub();
    error InvalidPolicy();
    error UnknownPool(uint64 pool);
    error NotPoolOwner(address caller);

    error InvalidOrderSignature();
    error OrderExpired(uint64 expiry);
    error OrderIsCancelled(bytes32 orderHash);
    error RequesterNotAllowed(address requester);
    error CategoryMismatch();
    error CategoryNotAllowed(uint8 category);
    error TrustOutOfRange(uint32 trust);
    error PriceAboveMax(uint96 price, uint96 maxPrice);
    error TagNotOffered();
    error InvalidTaskCount();
    error InvalidJobHash();
    error VolumeExhausted(uint256 consumed, uint256 requested, uint256 volume);
    /// @notice The order's ratios are not the pool's current ones.
    error PolicyChanged();
    error InvalidConsent();
    error ConsentAlreadyUsed(bytes32 consentHash);

    error UnknownDeal(bytes32 dealId);
    error IndexOutOfDeal(uint256 index);
    error WrongTaskStatus(TaskStatus status);
    error ContributionDeadlinePassed();
    error RevealDeadlinePassed();
    error RevealWindowOpen();
    error FinalDeadlinePassed();
    error FinalDeadlineNotReached();
    error AlreadyContributed();
    error InvalidResult();
    error InvalidAuthorization();
    error NotAWinner();
    error ResultHashMismatch();
    error SealMismatch();
    error NothingRevealed();
    error RevealsPending();
    /// @dev reveal by a worker already proved, or reopen of a task with a reveal.
    error AlreadyRevealed();
    error TrustNotOne();
    error TaskHasContributions();
    error TooManyContributors();
    error TooManyDeals();
    /// @notice Claim of a task whose result was revealed: it is finalized instead, by anyone
    /// once the reveal deadline passed.
    error TaskHasReveals();
    /// @notice `initializeRange` of no task or past the deal's last task; `claimMany` of an empty
    /// list.
    error InvalidRange();
}

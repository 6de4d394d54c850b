// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {IHub} from "./interfaces/IHub.sol";
import {PocoMath} from "./libs/PocoMath.sol";

/// @title Hub
/// @notice Quorate's marketplace: credit accounts, pools, signed pool orders, deals, and tasks
/// settled by Proof of Contribution exactly as POCO.md states it.
///
/// Money never leaves the Hub except through `withdraw`, `withdrawTo` and `withdrawPenalties`;
/// every other movement is between the free and frozen balances of accounts and the penalty
/// account, so the Hub's token balance always equals the sum of all balances plus the penalty
/// account (the tests check this as an invariant).
///
/// Storage is laid out for gas: an account (free, frozen, score) is one slot; a task is one
/// slot (state, deal, counts and the head of its list of contributors); a contribution is one
/// slot (state, link to the previous contributor, payout weight, vote ordinal, seal prefix); a
/// group is one slot per distinct answer plus its ordinal. Results, hashes and digests live in
/// events, not in storage; counts that finalize needs (winners, reveals, weights) are tallied
/// from the contributions rather than kept.
///
/// Limits that follow from the packing: 255 contributions per task, 2^32 - 1 deals, reveal
/// deadlines before 2106, balances below 2^112.
contract Hub is IHub, EIP712, Ownable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Stake the pool owner locks per task, in percent of the task price.
    uint256 public constant POOL_STAKE_RATIO = 30;
    /// @notice Contributions are accepted until `start + 7t`.
    uint256 public constant CONTRIBUTION_WINDOW = 7;
    /// @notice Winners reveal until `consensus time + 2t`.
    uint256 public constant REVEAL_WINDOW = 2;
    /// @notice A task must be finalized before `start + 10t`; after that anyone may claim it.
    uint256 public constant FINAL_WINDOW = 10;
    /// @notice Contributions one task accepts, so that finalize and claim always fit in a block.
    uint256 public constant MAX_CONTRIBUTORS = type(uint8).max;
    /// @notice EIP-712 type of a pool order.
    bytes32 public constant POOL_ORDER_TYPEHASH = keccak256(
        "PoolOrder(uint64 pool,uint96 price,uint32 volume,uint8 category,uint32 trust,bytes32 tag,address requester,uint64 expiry,bytes32 salt)"
    );

    /// @dev Consumed volume of a cancelled order.
    uint256 private constant CANCELLED = type(uint256).max;

    /// @notice The credit token every amount is counted in.
    IERC20 public immutable token;

    // One slot.
    struct Account {
        uint112 free;
        uint112 frozen;
        uint32 score;
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

    mapping(address account => Account) private _accounts;
    uint256 private _penalty;

    uint8 private _categoryCount;
    mapping(uint8 id => Category) private _categories;

    uint64 private _poolCount;
    mapping(uint64 pool => Pool) private _pools;

    mapping(bytes32 orderHash => uint256 consumed) private _consumed;

    uint256 private _dealCount;
    mapping(uint256 nonce => Deal) private _deals;
    mapping(bytes32 dealId => uint256 nonce) private _dealNonce;

    mapping(bytes32 taskId => Task) private _tasks;
    /// @dev Ordinal (1-based, in order of first vote) of each result hash voted in a task.
    mapping(bytes32 taskId => mapping(bytes32 resultHash => uint8 ordinal)) private _ordinals;
    /// @dev Value of each group (product of its voters' weights), keyed by ordinal.
    mapping(bytes32 taskId => mapping(uint256 ordinal => uint256 value)) private _groups;
    mapping(bytes32 taskId => mapping(address worker => Contribution)) private _contributions;

    constructor(IERC20 token_, address initialOwner) EIP712("Quorate Hub", "1") Ownable(initialOwner) {
        if (address(token_) == address(0)) revert ZeroAddress();
        token = token_;
    }

    // =================================================================== accounts

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

    /// @notice The Hub always has an owner: the penalty account and the categories are the
    /// owner's to manage, and renouncing would lock them for good. Use `transferOwnership`.
    function renounceOwnership() public view override onlyOwner {
        revert OwnershipRequired();
    }

    /// @notice Sends `amount` from the penalty account (seized pool stakes) to `to`.
    function withdrawPenalties(address to, uint256 amount) external onlyOwner nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        uint256 balance = _penalty;
        if (balance < amount) revert InsufficientPenaltyBalance(balance, amount);
        _penalty = balance - amount;
        emit PenaltyWithdrawn(to, amount);
        token.safeTransfer(to, amount);
    }

    function _deposit(address account, uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        // Credit what actually arrived, so that a token with transfer fees cannot break the books.
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        Account storage a = _accounts[account];
        a.free = _toUint112(a.free + received);
        emit Deposited(account, msg.sender, received);
    }

    function _withdraw(address to, uint256 amount) private {
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        Account storage a = _accounts[msg.sender];
        uint256 free = a.free;
        if (free < amount) revert InsufficientFreeBalance(msg.sender, free, amount);
        // forge-lint: disable-next-line(unsafe-typecast) -- below `free`, a uint112
        a.free = uint112(free - amount);
        emit Withdrawn(msg.sender, to, amount);
        token.safeTransfer(to, amount);
    }

    // =================================================================== categories and pools

    /// @notice Registers a category of task with its time reference `timeRef` (seconds): deadlines
    /// of deals in this category are multiples of it.
    function createCategory(string calldata name, uint32 timeRef) external onlyOwner returns (uint8 id) {
        if (timeRef == 0) revert InvalidTimeRef();
        id = _categoryCount;
        if (id == type(uint8).max) revert TooManyCategories();
        _categoryCount = id + 1;
        Category storage c = _categories[id];
        c.timeRef = timeRef;
        c.name = name;
        emit CategoryCreated(id, name, timeRef);
    }

    /// @notice Creates a pool owned by the caller.
    function createPool(PoolPolicy calldata policy, string calldata metadataUri) external returns (uint64 id) {
        _checkPolicy(policy);
        id = ++_poolCount;
        Pool storage p = _pools[id];
        p.owner = msg.sender;
        _setPolicy(p, policy);
        p.metadataUri = metadataUri;
        emit PoolCreated(id, msg.sender, policy, metadataUri);
    }

    /// @notice Replaces the policy of a pool the caller owns. Running deals keep theirs.
    function updatePolicy(uint64 id, PoolPolicy calldata policy) external {
        Pool storage p = _ownedPool(id);
        _checkPolicy(policy);
        _setPolicy(p, policy);
        emit PoolPolicyUpdated(id, policy);
    }

    /// @notice Replaces the metadata URI of a pool the caller owns.
    function updateMetadata(uint64 id, string calldata metadataUri) external {
        _ownedPool(id).metadataUri = metadataUri;
        emit PoolMetadataUpdated(id, metadataUri);
    }

    function _ownedPool(uint64 id) private view returns (Pool storage p) {
        p = _pools[id];
        address owner_ = p.owner;
        if (owner_ == address(0)) revert UnknownPool(id);
        if (owner_ != msg.sender) revert NotPoolOwner(msg.sender);
    }

    function _checkPolicy(PoolPolicy calldata policy) private pure {
        if (
            policy.workerStakeRatio > PocoMath.PERCENT || policy.schedulerRewardRatio > PocoMath.PERCENT
                || policy.maxTrust == 0
        ) revert InvalidPolicy();
    }

    function _setPolicy(Pool storage p, PoolPolicy calldata policy) private {
        p.workerStakeRatio = policy.workerStakeRatio;
        p.schedulerRewardRatio = policy.schedulerRewardRatio;
        p.maxTrust = policy.maxTrust;
        p.categoryMask = policy.categoryMask;
    }

    // =================================================================== orders and deals

    /// @notice The EIP-712 digest the pool owner signs for `order`.
    function hashPoolOrder(PoolOrder calldata order) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(POOL_ORDER_TYPEHASH, order)));
    }

    /// @notice The hash of a client's request, the first half of its deal id. It names the chain
    /// and this Hub, so deal and task ids (and with them the pool owner's per-task authorizations,
    /// which sign `worker ‖ taskId`) can never coincide with those of another Hub or chain.
    function hashRequest(address client, Request calldata request) public view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), client, request));
    }

    /// @notice Withdraws a signed order: it can never be matched again.
    function cancelOrder(PoolOrder calldata order) external {
        _ownedPool(order.pool);
        bytes32 orderHash = hashPoolOrder(order);
        _consumed[orderHash] = CANCELLED;
        emit OrderCancelled(orderHash, order.pool);
    }

    /// @notice Buys `request.taskCount` tasks from a pool's signed order. Locks `price x tasks`
    /// from the caller (the client) and the pool stake (30 % of the price per task) from the pool
    /// owner, and creates the deal.
    function matchOrders(PoolOrder calldata order, bytes calldata signature, Request calldata request)
        external
        returns (bytes32 dealId)
    {
        Pool storage p = _pools[order.pool];
        bytes32 orderHash = _acceptOrder(p, order, signature, request);
        dealId = _createDeal(p, orderHash, order, request);
    }

    /// @dev Checks the order's signature and every field of the request against it, and
    /// consumes the order's volume.
    function _acceptOrder(Pool storage p, PoolOrder calldata order, bytes calldata signature, Request calldata request)
        private
        returns (bytes32 orderHash)
    {
        address poolOwner = p.owner;
        if (poolOwner == address(0)) revert UnknownPool(order.pool);
        orderHash = hashPoolOrder(order);
        if (!_signedBy(orderHash, signature, poolOwner)) revert InvalidOrderSignature();
        _checkMatch(p, order, request);
        uint256 consumed = _consumed[orderHash];
        if (consumed == CANCELLED) revert OrderIsCancelled(orderHash);
        uint256 taskCount = request.taskCount;
        if (consumed + taskCount > order.volume) revert VolumeExhausted(consumed, taskCount, order.volume);
        _consumed[orderHash] = consumed + taskCount;
    }

    /// @dev Stores the deal and locks the client's payment and the pool owner's stake.
    function _createDeal(Pool storage p, bytes32 orderHash, PoolOrder calldata order, Request calldata request)
        private
        returns (bytes32 dealId)
    {
        uint256 nonce = ++_dealCount;
        if (nonce > type(uint32).max) revert TooManyDeals();
        dealId = dealIdOf(hashRequest(msg.sender, request), nonce);
        _dealNonce[dealId] = nonce;
        address poolOwner = p.owner;
        Deal storage d = _deals[nonce];
        d.poolOwner = poolOwner;
        d.start = uint40(block.timestamp);
        d.timeRef = _categories[request.category].timeRef;
        d.workerStakeRatio = p.workerStakeRatio;
        d.schedulerRewardRatio = p.schedulerRewardRatio;
        d.price = order.price;
        d.trust = request.trust;
        d.taskCount = request.taskCount;
        d.pool = order.pool;
        d.category = request.category;
        d.client = msg.sender;
        d.dealId = dealId;

        uint256 taskCount = request.taskCount;
        _lock(msg.sender, uint256(order.price) * taskCount);
        _lock(poolOwner, PocoMath.stake(order.price, POOL_STAKE_RATIO) * taskCount);
        emit DealCreated(dealId, order.pool, msg.sender, orderHash, order.price, nonce, request);
    }

    /// @dev Every check of a request against an order and its pool.
    function _checkMatch(Pool storage p, PoolOrder calldata order, Request calldata request) private view {
        if (block.timestamp > order.expiry) revert OrderExpired(order.expiry);
        if (order.requester != address(0) && order.requester != msg.sender) {
            revert RequesterNotAllowed(order.requester);
        }
        uint8 categoryId = request.category;
        if (categoryId != order.category) revert CategoryMismatch();
        if (_categories[categoryId].timeRef == 0) revert InvalidCategory(categoryId);
        if ((p.categoryMask >> categoryId) & 1 == 0) revert CategoryNotAllowed(categoryId);
        uint32 trust = request.trust;
        if (trust == 0 || trust > order.trust || order.trust > p.maxTrust) revert TrustOutOfRange(trust);
        if (order.price > request.maxPrice) revert PriceAboveMax(order.price, request.maxPrice);
        if (request.tag & ~order.tag != 0) revert TagNotOffered();
        if (request.taskCount == 0) revert InvalidTaskCount();
        if (request.jobHash == bytes32(0)) revert InvalidJobHash();
    }

    // =================================================================== tasks

    /// @notice Opens task `index` of a deal for contributions. Anyone may call it.
    function initialize(bytes32 dealId, uint256 index) external returns (bytes32 taskId) {
        uint256 nonce = _dealNonce[dealId];
        if (nonce == 0) revert UnknownDeal(dealId);
        if (index >= _deals[nonce].taskCount) revert IndexOutOfDeal(index);
        taskId = keccak256(abi.encodePacked(dealId, index));
        Task storage t = _tasks[taskId];
        if (t.status != TaskStatus.UNSET) revert WrongTaskStatus(t.status);
        t.status = TaskStatus.ACTIVE;
        // forge-lint: disable-next-line(unsafe-typecast) -- _createDeal keeps nonces within uint32
        t.dealNonce = uint32(nonce);
        emit TaskInitialized(taskId, dealId, index);
    }

    /// @notice A worker's vote: `resultHash = keccak256(taskId ‖ digest)`, `resultSeal =
    /// keccak256(worker ‖ taskId ‖ digest)`, with the pool owner's EIP-191 `authorization` of
    /// `keccak256(worker ‖ taskId)`. Locks the worker's stake; may reach consensus.
    function contribute(bytes32 taskId, bytes32 resultHash, bytes32 resultSeal, bytes calldata authorization) external {
        Task memory t = _tasks[taskId];
        if (t.status != TaskStatus.ACTIVE) revert WrongTaskStatus(t.status);
        Deal storage d = _deals[t.dealNonce];
        uint256 timeRef = d.timeRef;
        if (block.timestamp >= d.start + CONTRIBUTION_WINDOW * timeRef) revert ContributionDeadlinePassed();
        if (resultHash == bytes32(0) || resultSeal == bytes32(0)) revert InvalidResult();
        if (t.contributorCount == MAX_CONTRIBUTORS) revert TooManyContributors();
        if (_contributions[taskId][msg.sender].status != ContributionStatus.UNSET) revert AlreadyContributed();
        if (!_signedBy(authorizationDigest(msg.sender, taskId), authorization, d.poolOwner)) {
            revert InvalidAuthorization();
        }

        uint256 w = PocoMath.weight(_accounts[msg.sender].score);
        _lock(msg.sender, PocoMath.stake(d.price, d.workerStakeRatio));
        (uint256 ordinal, uint256 group, uint256 total) = _vote(t, taskId, resultHash, w);

        _contributions[taskId][msg.sender] = Contribution({
            previous: t.lastContributor,
            status: ContributionStatus.CONTRIBUTED,
            // forge-lint: disable-next-line(unsafe-typecast) -- floor(log2) of a uint256 is at most 255
            payoutWeight: uint8(PocoMath.payoutWeight(w)),
            // forge-lint: disable-next-line(unsafe-typecast) -- ordinals are at most ordinalCount, a uint8
            ordinal: uint8(ordinal),
            // forge-lint: disable-next-line(unsafe-typecast) -- keeps the first 9 bytes on purpose
            sealPrefix: bytes9(resultSeal)
        });
        t.lastContributor = msg.sender;
        t.contributorCount += 1;
        emit TaskContributed(taskId, msg.sender, resultHash, resultSeal, w);

        if (PocoMath.hasConsensus(group, total, d.trust)) {
            uint256 revealDeadline = block.timestamp + REVEAL_WINDOW * timeRef;
            if (revealDeadline > type(uint32).max) revert AmountTooLarge(revealDeadline);
            t.status = TaskStatus.REVEALING;
            // forge-lint: disable-next-line(unsafe-typecast) -- checked just above
            t.revealDeadline = uint32(revealDeadline);
            // forge-lint: disable-next-line(unsafe-typecast) -- ordinals are at most ordinalCount, a uint8
            t.consensusOrdinal = uint8(ordinal);
            emit TaskConsensus(taskId, resultHash, revealDeadline);
        }
        _tasks[taskId] = t;
    }

    /// @dev Adds a vote of weight `w` for `resultHash`; returns the hash's ordinal, its group's
    /// new value and the task's new total.
    function _vote(Task memory t, bytes32 taskId, bytes32 resultHash, uint256 w)
        private
        returns (uint256 ordinal, uint256 group, uint256 total)
    {
        ordinal = _ordinals[taskId][resultHash];
        if (ordinal == 0) {
            // at most one new hash per contribution, and contributions are capped at 255
            ordinal = uint256(t.ordinalCount) + 1;
            // forge-lint: disable-next-line(unsafe-typecast) -- at most the contributor count
            t.ordinalCount = uint8(ordinal);
            // forge-lint: disable-next-line(unsafe-typecast) -- at most the contributor count
            _ordinals[taskId][resultHash] = uint8(ordinal);
        }
        (group, total) = PocoMath.addVote(_groups[taskId][ordinal], _total(taskId, t.ordinalCount), w);
        _groups[taskId][ordinal] = group;
    }

    /// @dev POCO.md's `total`: 1 plus the value of every group. It is summed rather than stored:
    /// a task has one or two distinct answers in the common case, and a read is cheaper than
    /// keeping a running total in storage.
    function _total(bytes32 taskId, uint256 ordinalCount) private view returns (uint256 total) {
        total = 1;
        for (uint256 o = 1; o <= ordinalCount; ++o) {
            total += _groups[taskId][o];
        }
    }

    /// @notice A winner proves its vote by revealing the result digest it sealed.
    function reveal(bytes32 taskId, bytes32 resultDigest) external {
        Task memory t = _tasks[taskId];
        if (t.status != TaskStatus.REVEALING) revert WrongTaskStatus(t.status);
        if (block.timestamp >= t.revealDeadline) revert RevealDeadlinePassed();
        Contribution storage c = _contributions[taskId][msg.sender];
        ContributionStatus status = c.status;
        if (status == ContributionStatus.PROVED) revert AlreadyRevealed();
        if (status != ContributionStatus.CONTRIBUTED || c.ordinal != t.consensusOrdinal) revert NotAWinner();
        if (_ordinals[taskId][resultHashOf(taskId, resultDigest)] != t.consensusOrdinal) {
            revert ResultHashMismatch();
        }
        if (c.sealPrefix != bytes9(resultSealOf(msg.sender, taskId, resultDigest))) revert SealMismatch();
        c.status = ContributionStatus.PROVED;
        emit TaskRevealed(taskId, msg.sender, resultDigest);
    }

    /// @notice When no winner revealed in time, the pool owner rejects the consensus voters,
    /// removes their group from the total and opens the task to contributions again.
    function reopen(bytes32 taskId) external {
        Task memory t = _tasks[taskId];
        if (t.status != TaskStatus.REVEALING) revert WrongTaskStatus(t.status);
        Deal storage d = _deals[t.dealNonce];
        if (msg.sender != d.poolOwner) revert NotPoolOwner(msg.sender);
        if (block.timestamp < t.revealDeadline) revert RevealWindowOpen();
        if (block.timestamp >= _finalDeadline(d)) revert FinalDeadlinePassed();

        uint256 ordinal = t.consensusOrdinal;
        for (address worker = t.lastContributor; worker != address(0);) {
            Contribution storage c = _contributions[taskId][worker];
            ContributionStatus status = c.status;
            if (status == ContributionStatus.PROVED) revert AlreadyRevealed();
            if (c.ordinal == ordinal && status == ContributionStatus.CONTRIBUTED) {
                c.status = ContributionStatus.REJECTED;
            }
            worker = c.previous;
        }
        _groups[taskId][ordinal] = 0;
        t.status = TaskStatus.ACTIVE;
        t.revealDeadline = 0;
        t.consensusOrdinal = 0;
        _tasks[taskId] = t;
        emit TaskReopened(taskId);
    }

    /// @notice The pool owner completes a task: pays the proved workers and itself, takes the
    /// losers' stakes, updates scores. `resultsRef` (where the results are) goes to the event.
    function finalize(bytes32 taskId, bytes calldata resultsRef) external {
        Task memory t = _tasks[taskId];
        if (t.status != TaskStatus.REVEALING) revert WrongTaskStatus(t.status);
        Deal storage d = _deals[t.dealNonce];
        if (msg.sender != d.poolOwner) revert NotPoolOwner(msg.sender);
        if (block.timestamp >= _finalDeadline(d)) revert FinalDeadlinePassed();
        Tally memory tally = _tally(taskId, t);
        if (tally.reveals == 0) revert NothingRevealed();
        if (tally.reveals < tally.winners && block.timestamp < t.revealDeadline) revert RevealsPending();

        _tasks[taskId].status = TaskStatus.COMPLETED;
        uint256 price = d.price;
        uint256 workerStake = PocoMath.stake(price, d.workerStakeRatio);
        (uint256 totalReward, uint256 workersReward) =
            PocoMath.rewards(price, workerStake, t.contributorCount, tally.reveals, d.schedulerRewardRatio);
        uint256 paid = _settleWorkers(taskId, t, workerStake, workersReward, tally.weightSum);

        _unlock(msg.sender, PocoMath.stake(price, POOL_STAKE_RATIO));
        _reward(msg.sender, totalReward - paid, taskId);
        _seize(d.client, price, taskId);
        emit TaskFinalized(taskId, resultsRef);
    }

    /// @dev The winners (current voters of the consensus hash), how many of them revealed, and
    /// the sum of the revealed payout weights.
    struct Tally {
        uint256 winners;
        uint256 reveals;
        uint256 weightSum;
    }

    function _tally(bytes32 taskId, Task memory t) private view returns (Tally memory tally) {
        for (address worker = t.lastContributor; worker != address(0);) {
            Contribution storage c = _contributions[taskId][worker];
            ContributionStatus status = c.status;
            if (status == ContributionStatus.PROVED) {
                ++tally.winners;
                ++tally.reveals;
                tally.weightSum += c.payoutWeight;
            } else if (status == ContributionStatus.CONTRIBUTED && c.ordinal == t.consensusOrdinal) {
                ++tally.winners;
            }
            worker = c.previous;
        }
    }

    /// @dev Pays each proved worker its share and its stake back and raises its score; takes the
    /// stake of every other contributor and cuts its score. Returns the sum of the shares.
    function _settleWorkers(
        bytes32 taskId,
        Task memory t,
        uint256 workerStake,
        uint256 workersReward,
        uint256 weightSum
    ) private returns (uint256 paid) {
        for (address worker = t.lastContributor; worker != address(0);) {
            Contribution storage c = _contributions[taskId][worker];
            Account memory a = _accounts[worker];
            uint256 score = a.score;
            a.frozen -= _toUint112(workerStake);
            if (c.status == ContributionStatus.PROVED) {
                uint256 amount = PocoMath.share(workersReward, c.payoutWeight, weightSum);
                paid += amount;
                a.free = _toUint112(a.free + amount + workerStake);
                a.score = _toUint32(PocoMath.scoreAfterProved(score, t.contributorCount));
                if (workerStake != 0) emit Unlocked(worker, workerStake);
                emit Rewarded(worker, amount, taskId);
            } else {
                // forge-lint: disable-next-line(unsafe-typecast) -- two thirds of a uint32
                a.score = uint32(PocoMath.scoreAfterLost(score));
                if (workerStake != 0) emit Seized(worker, workerStake, taskId);
            }
            _accounts[worker] = a;
            if (a.score != score) emit ScoreUpdated(worker, a.score);
            worker = c.previous;
        }
    }

    /// @notice After the final deadline, anyone fails an unfinished task: the client gets the
    /// price back, the pool owner's stake goes to the penalty account, workers get their stakes.
    function claim(bytes32 taskId) external {
        Task memory t = _tasks[taskId];
        if (t.status != TaskStatus.ACTIVE && t.status != TaskStatus.REVEALING) revert WrongTaskStatus(t.status);
        Deal storage d = _deals[t.dealNonce];
        if (block.timestamp < _finalDeadline(d)) revert FinalDeadlineNotReached();

        _tasks[taskId].status = TaskStatus.FAILED;
        uint256 price = d.price;
        uint256 workerStake = PocoMath.stake(price, d.workerStakeRatio);
        for (address worker = t.lastContributor; worker != address(0);) {
            _unlock(worker, workerStake);
            worker = _contributions[taskId][worker].previous;
        }
        uint256 poolStake = PocoMath.stake(price, POOL_STAKE_RATIO);
        _seize(d.poolOwner, poolStake, taskId);
        _penalty += poolStake;
        emit PenaltyCredited(taskId, poolStake);
        _unlock(d.client, price);
        emit TaskClaimed(taskId);
    }

    /// @notice The trust-1 fast path: the single authorized worker completes the task in one
    /// call, with no stake and no score change. No contribution record is kept (the events
    /// carry the vote); the task lists the worker as its only contributor.
    function contributeAndFinalize(
        bytes32 taskId,
        bytes32 resultDigest,
        bytes calldata resultsRef,
        bytes calldata authorization
    ) external {
        Task memory t = _tasks[taskId];
        if (t.status != TaskStatus.ACTIVE) revert WrongTaskStatus(t.status);
        if (t.contributorCount != 0) revert TaskHasContributions();
        Deal storage d = _deals[t.dealNonce];
        if (d.trust != 1) revert TrustNotOne();
        address poolOwner = d.poolOwner;
        if (block.timestamp >= d.start + CONTRIBUTION_WINDOW * uint256(d.timeRef)) {
            revert ContributionDeadlinePassed();
        }
        if (!_signedBy(authorizationDigest(msg.sender, taskId), authorization, poolOwner)) {
            revert InvalidAuthorization();
        }

        t.status = TaskStatus.COMPLETED;
        t.contributorCount = 1;
        t.lastContributor = msg.sender;
        _tasks[taskId] = t;
        bytes32 resultHash = resultHashOf(taskId, resultDigest);
        emit TaskContributed(taskId, msg.sender, resultHash, resultSealOf(msg.sender, taskId, resultDigest), 0);
        emit TaskConsensus(taskId, resultHash, block.timestamp);
        emit TaskRevealed(taskId, msg.sender, resultDigest);

        uint256 price = d.price;
        (uint256 totalReward, uint256 workersReward) = PocoMath.rewards(price, 0, 1, 1, d.schedulerRewardRatio);
        _reward(msg.sender, workersReward, taskId);
        _unlock(poolOwner, PocoMath.stake(price, POOL_STAKE_RATIO));
        _reward(poolOwner, totalReward - workersReward, taskId);
        _seize(d.client, price, taskId);
        emit TaskFinalized(taskId, resultsRef);
    }

    // =================================================================== hashing

    /// @notice `keccak256(taskId ‖ resultDigest)`: the vote.
    function resultHashOf(bytes32 taskId, bytes32 resultDigest) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(taskId, resultDigest));
    }

    /// @notice `keccak256(worker ‖ taskId ‖ resultDigest)`: the vote bound to its worker.
    function resultSealOf(address worker, bytes32 taskId, bytes32 resultDigest) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(worker, taskId, resultDigest));
    }

    /// @notice `keccak256(dealId ‖ index)`.
    function taskIdOf(bytes32 dealId, uint256 index) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(dealId, index));
    }

    /// @notice `keccak256(requestHash ‖ nonce)`.
    function dealIdOf(bytes32 requestHash, uint256 nonce) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(requestHash, nonce));
    }

    /// @notice `keccak256(worker ‖ taskId)`: what the pool owner signs (EIP-191) to authorize a
    /// worker on a task.
    function authorizationMessage(address worker, bytes32 taskId) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(worker, taskId));
    }

    /// @notice The EIP-191 digest of `authorizationMessage(worker, taskId)`.
    function authorizationDigest(address worker, bytes32 taskId) public pure returns (bytes32) {
        return MessageHashUtils.toEthSignedMessageHash(authorizationMessage(worker, taskId));
    }

    // =================================================================== views

    function freeBalanceOf(address account) external view returns (uint256) {
        return _accounts[account].free;
    }

    function frozenBalanceOf(address account) external view returns (uint256) {
        return _accounts[account].frozen;
    }

    function scoreOf(address worker) external view returns (uint256) {
        return _accounts[worker].score;
    }

    function penaltyBalance() external view returns (uint256) {
        return _penalty;
    }

    function categoryCount() external view returns (uint256) {
        return _categoryCount;
    }

    function category(uint8 id) external view returns (CategoryView memory) {
        Category storage c = _categories[id];
        if (c.timeRef == 0) revert InvalidCategory(id);
        return CategoryView({name: c.name, timeRef: c.timeRef});
    }

    function poolCount() external view returns (uint256) {
        return _poolCount;
    }

    function pool(uint64 id) external view returns (PoolView memory) {
        Pool storage p = _pools[id];
        if (p.owner == address(0)) revert UnknownPool(id);
        return PoolView({
            owner: p.owner,
            policy: PoolPolicy({
                workerStakeRatio: p.workerStakeRatio,
                schedulerRewardRatio: p.schedulerRewardRatio,
                maxTrust: p.maxTrust,
                categoryMask: p.categoryMask
            }),
            metadataUri: p.metadataUri
        });
    }

    /// @notice Tasks already sold from an order (`type(uint256).max` once cancelled).
    function orderConsumed(bytes32 orderHash) external view returns (uint256) {
        return _consumed[orderHash];
    }

    function dealCount() external view returns (uint256) {
        return _dealCount;
    }

    function deal(bytes32 dealId) public view returns (DealView memory v) {
        uint256 nonce = _dealNonce[dealId];
        if (nonce == 0) revert UnknownDeal(dealId);
        Deal storage d = _deals[nonce];
        v.dealId = dealId;
        v.pool = d.pool;
        v.poolOwner = d.poolOwner;
        v.client = d.client;
        v.price = d.price;
        v.trust = d.trust;
        v.taskCount = d.taskCount;
        v.category = d.category;
        v.start = d.start;
        v.timeRef = d.timeRef;
        v.workerStakeRatio = d.workerStakeRatio;
        v.schedulerRewardRatio = d.schedulerRewardRatio;
    }

    /// @notice A task's state; an uninitialized task reads as status UNSET and zeros.
    function task(bytes32 taskId) external view returns (TaskView memory v) {
        Task memory t = _tasks[taskId];
        v.status = t.status;
        if (v.status == TaskStatus.UNSET) return v;
        Deal storage d = _deals[t.dealNonce];
        v.dealId = d.dealId;
        v.contributionDeadline = d.start + CONTRIBUTION_WINDOW * d.timeRef;
        v.finalDeadline = _finalDeadline(d);
        v.revealDeadline = t.revealDeadline;
        v.contributorCount = t.contributorCount;
        if (t.status == TaskStatus.COMPLETED && t.consensusOrdinal == 0) {
            // the trust-1 fast path: one worker, proved, with no contribution record
            (v.winnerCount, v.revealCount) = (1, 1);
        } else {
            Tally memory tally = _tally(taskId, t);
            (v.winnerCount, v.revealCount) = (tally.winners, tally.reveals);
        }
        v.consensusOrdinal = t.consensusOrdinal;
        v.total = _total(taskId, t.ordinalCount);
    }

    function contribution(bytes32 taskId, address worker) external view returns (ContributionView memory) {
        Contribution storage c = _contributions[taskId][worker];
        return ContributionView({
            status: c.status, payoutWeight: c.payoutWeight, ordinal: c.ordinal, sealPrefix: c.sealPrefix
        });
    }

    /// @notice Ordinal of `resultHash` in a task (1 for the first hash voted, 0 if never voted):
    /// the consensus hash is the one whose ordinal is the task's `consensusOrdinal`.
    function ordinalOf(bytes32 taskId, bytes32 resultHash) external view returns (uint256) {
        return _ordinals[taskId][resultHash];
    }

    /// @notice Value of the group that voted `resultHash` in a task (0 if none or cleared).
    function groupOf(bytes32 taskId, bytes32 resultHash) external view returns (uint256) {
        uint256 ordinal = _ordinals[taskId][resultHash];
        return ordinal == 0 ? 0 : _groups[taskId][ordinal];
    }

    /// @notice The contributors of a task, most recent first.
    function contributors(bytes32 taskId) external view returns (address[] memory list) {
        Task storage t = _tasks[taskId];
        list = new address[](t.contributorCount);
        uint256 i;
        for (
            address worker = t.lastContributor; worker != address(0); worker = _contributions[taskId][worker].previous) {
            list[i++] = worker;
        }
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // =================================================================== internals

    function _finalDeadline(Deal storage d) private view returns (uint256) {
        return d.start + FINAL_WINDOW * uint256(d.timeRef);
    }

    function _signedBy(bytes32 digest, bytes calldata signature, address signer) private pure returns (bool) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signature);
        return err == ECDSA.RecoverError.NoError && recovered == signer;
    }

    /// @dev free -> frozen.
    function _lock(address account, uint256 amount) private {
        if (amount == 0) return;
        Account storage a = _accounts[account];
        uint256 free = a.free;
        if (free < amount) revert InsufficientFreeBalance(account, free, amount);
        // forge-lint: disable-next-line(unsafe-typecast) -- below `free`, a uint112
        (a.free, a.frozen) = (uint112(free - amount), _toUint112(a.frozen + amount));
        emit Locked(account, amount);
    }

    /// @dev frozen -> free.
    function _unlock(address account, uint256 amount) private {
        if (amount == 0) return;
        Account storage a = _accounts[account];
        (a.free, a.frozen) = (_toUint112(a.free + amount), a.frozen - _toUint112(amount));
        emit Unlocked(account, amount);
    }

    /// @dev -> free (from money already frozen elsewhere in the same settlement).
    function _reward(address account, uint256 amount, bytes32 ref) private {
        if (amount == 0) return;
        Account storage a = _accounts[account];
        a.free = _toUint112(a.free + amount);
        emit Rewarded(account, amount, ref);
    }

    /// @dev frozen -> (settlement).
    function _seize(address account, uint256 amount, bytes32 ref) private {
        if (amount == 0) return;
        Account storage a = _accounts[account];
        a.frozen -= _toUint112(amount);
        emit Seized(account, amount, ref);
    }

    function _toUint112(uint256 value) private pure returns (uint112) {
        if (value > type(uint112).max) revert AmountTooLarge(value);
        // forge-lint: disable-next-line(unsafe-typecast) -- checked just above
        return uint112(value);
    }

    function _toUint32(uint256 value) private pure returns (uint32) {
        if (value > type(uint32).max) revert AmountTooLarge(value);
        // forge-lint: disable-next-line(unsafe-typecast) -- checked just above
        return uint32(value);
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {HubStorage} from "./HubStorage.sol";
import {PocoMath} from "./libs/PocoMath.sol";

/// @title HubOrders
/// @notice Categories, pools, signed pool orders, the pool's consent to each job, and deals
/// (tests: HubOrders.t.sol).
abstract contract HubOrders is HubStorage {
    /// @notice Registers a category of task with its time reference `timeRef` (seconds): deadlines
    /// of deals in this category are multiples of it.
    function createCategory(string calldata name, uint32 timeRef) external onlyOwner returns (uint8 id) {
        if (timeRef == 0 || timeRef > MAX_TIME_REF) revert InvalidTimeRef();
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

    function _ownedPool(uint64 id) internal view returns (Pool storage p) {
        p = _pools[id];
        address owner_ = p.owner;
        if (owner_ == address(0)) revert UnknownPool(id);
        if (owner_ != msg.sender) revert NotPoolOwner(msg.sender);
    }

    function _checkPolicy(PoolPolicy calldata policy) internal pure {
        if (
            policy.workerStakeRatio > PocoMath.PERCENT || policy.schedulerRewardRatio > PocoMath.PERCENT
                || policy.maxTrust == 0
        ) revert InvalidPolicy();
    }

    function _setPolicy(Pool storage p, PoolPolicy calldata policy) internal {
        p.workerStakeRatio = policy.workerStakeRatio;
        p.schedulerRewardRatio = policy.schedulerRewardRatio;
        p.maxTrust = policy.maxTrust;
        p.categoryMask = policy.categoryMask;
    }

    // ------------------------------------------------------------------ orders and deals

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

    /// @notice The EIP-712 digest the pool owner signs to consent to one job: the typed data
    /// `JobConsent(bytes32 orderHash,bytes32 jobHash,address client,uint32 taskCount)`.
    function hashJobConsent(bytes32 orderHash, bytes32 jobHash, address client, uint32 taskCount)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(JOB_CONSENT_TYPEHASH, orderHash, jobHash, client, taskCount)));
    }

    /// @notice Buys `request.taskCount` tasks from a pool's signed order, with the pool owner's
    /// signed consent to this job (job hash, client, task count). Locks `price x tasks` from the
    /// caller (the client) and the pool stake (30 % of the price per task) from the pool owner,
    /// and creates the deal. A consent is used once.
    function matchOrders(
        PoolOrder calldata order,
        bytes calldata signature,
        bytes calldata consent,
        Request calldata request
    ) external returns (bytes32 dealId) {
        Pool storage p = _pools[order.pool];
        bytes32 orderHash = _acceptOrder(p, order, signature, request);
        _acceptConsent(p.owner, orderHash, consent, request);
        dealId = _createDeal(p, orderHash, order, request);
    }

    /// @dev Checks the pool owner's consent to this job and marks it used: its consumed count in
    /// `_consumed` (keyed by the consent digest) is the deal's task count.
    function _acceptConsent(address poolOwner, bytes32 orderHash, bytes calldata consent, Request calldata request)
        internal
    {
        uint32 taskCount = request.taskCount;
        bytes32 consentHash = hashJobConsent(orderHash, request.jobHash, msg.sender, taskCount);
        if (!_signedBy(consentHash, consent, poolOwner)) revert InvalidConsent();
        if (_consumed[consentHash] != 0) revert ConsentAlreadyUsed(consentHash);
        _consumed[consentHash] = taskCount;
    }

    /// @dev Checks the order's signature and every field of the request against it, and
    /// consumes the order's volume.
    function _acceptOrder(Pool storage p, PoolOrder calldata order, bytes calldata signature, Request calldata request)
        internal
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
        internal
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
    function _checkMatch(Pool storage p, PoolOrder calldata order, Request calldata request) internal view {
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
        if (order.workerStakeRatio != p.workerStakeRatio || order.schedulerRewardRatio != p.schedulerRewardRatio) {
            revert PolicyChanged();
        }
        if (request.taskCount == 0) revert InvalidTaskCount();
        if (request.jobHash == bytes32(0)) revert InvalidJobHash();
    }

    /// @notice `keccak256(requestHash ‖ nonce)`.
    function dealIdOf(bytes32 requestHash, uint256 nonce) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(requestHash, nonce));
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
        Deal storage d = _deals[_nonceOf(dealId)];
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
}

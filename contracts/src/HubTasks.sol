// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

import {HubStorage} from "./HubStorage.sol";
import {PocoMath} from "./libs/PocoMath.sol";

/// @title HubTasks
/// @notice Tasks settled by Proof of Contribution: initialize, contribute, reveal, reopen,
/// finalize, claim (one task or a batch) and the trust-1 fast path, with their hashes and views
/// (tests: HubTasks.t.sol, HubHardening.t.sol).
abstract contract HubTasks is HubStorage {
    /// @notice Opens task `index` of a deal for contributions. Anyone may call it.
    function initialize(bytes32 dealId, uint256 index) external returns (bytes32 taskId) {
        uint256 nonce = _nonceOf(dealId);
        if (index >= _deals[nonce].taskCount) revert IndexOutOfDeal(index);
        taskId = _initialize(dealId, nonce, index);
    }

    /// @notice Opens tasks `from` to `from + count - 1` of a deal in one transaction, each
    /// checked as `initialize` checks it: one that is not UNSET reverts the whole range.
    function initializeRange(bytes32 dealId, uint256 from, uint256 count) external {
        uint256 nonce = _nonceOf(dealId);
        uint256 taskCount = _deals[nonce].taskCount;
        if (count == 0 || count > taskCount || from > taskCount - count) revert InvalidRange();
        for (uint256 index = from; index < from + count; ++index) {
            _initialize(dealId, nonce, index);
        }
    }

    function _initialize(bytes32 dealId, uint256 nonce, uint256 index) internal returns (bytes32 taskId) {
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
    /// `authorizationMessage(worker, taskId, round)` for the task's current round. Locks the
    /// worker's stake; its weight comes from its score in the pool owner's domain; may reach
    /// consensus.
    function contribute(bytes32 taskId, bytes32 resultHash, bytes32 resultSeal, bytes calldata authorization) external {
        Task memory t = _tasks[taskId];
        if (t.status != TaskStatus.ACTIVE) revert WrongTaskStatus(t.status);
        Deal storage d = _deals[t.dealNonce];
        uint256 timeRef = d.timeRef;
        if (block.timestamp >= d.start + CONTRIBUTION_WINDOW * timeRef) revert ContributionDeadlinePassed();
        if (resultHash == bytes32(0) || resultSeal == bytes32(0)) revert InvalidResult();
        if (t.contributorCount == MAX_CONTRIBUTORS) revert TooManyContributors();
        if (_contributions[taskId][msg.sender].status != ContributionStatus.UNSET) revert AlreadyContributed();
        address poolOwner = d.poolOwner;
        // While ACTIVE, the reveal deadline field keeps the round (0, or the deadline the last
        // reopen passed), so an authorization of an earlier round no longer votes.
        if (!_signedBy(authorizationDigest(msg.sender, taskId, t.revealDeadline), authorization, poolOwner)) {
            revert InvalidAuthorization();
        }

        uint256 w = PocoMath.weight(_scores[poolOwner][msg.sender]);
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
        _storeTask(taskId, t);
    }

    /// @dev Adds a vote of weight `w` for `resultHash`; returns the hash's ordinal, its group's
    /// new value and the task's new total.
    function _vote(Task memory t, bytes32 taskId, bytes32 resultHash, uint256 w)
        internal
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
    function _total(bytes32 taskId, uint256 ordinalCount) internal view returns (uint256 total) {
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
    /// removes their group from the total and opens the task to contributions again, in a new
    /// round: authorizations must now name the passed reveal deadline. The rejected voters lose
    /// their stake and a third of their score when the task settles, by finalize or claim.
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
        t.consensusOrdinal = 0;
        _storeTask(taskId, t);
        emit TaskReopened(taskId);
    }

    /// @notice Completes a task: pays the proved workers (to their payout addresses) and the
    /// pool owner, takes the losers' stakes, moves scores in the pool owner's domain and marks
    /// every contribution not proved REJECTED. The pool owner may call it once every winner
    /// revealed; after the reveal deadline anyone may, with at least one reveal, at any time: a
    /// task with a revealed result is never claimed, so revealed work is always paid.
    /// `resultsRef` (where the results are) goes to the event.
    function finalize(bytes32 taskId, bytes calldata resultsRef) external {
        Task memory t = _tasks[taskId];
        if (t.status != TaskStatus.REVEALING) revert WrongTaskStatus(t.status);
        Deal storage d = _deals[t.dealNonce];
        address poolOwner = d.poolOwner;
        (uint256 winners, uint256 reveals, uint256 weightSum) = _tally(taskId, t);
        if (reveals == 0) revert NothingRevealed();
        if (block.timestamp < t.revealDeadline) {
            if (msg.sender != poolOwner) revert NotPoolOwner(msg.sender);
            if (reveals < winners) revert RevealsPending();
        }
        _tasks[taskId].status = TaskStatus.COMPLETED;
        _payOut(taskId, t, d, reveals, weightSum);
        emit TaskFinalized(taskId, resultsRef);
    }

    /// @dev Finalize's money: workers, then the pool owner's stake and remainder, then the price.
    function _payOut(bytes32 taskId, Task memory t, Deal storage d, uint256 reveals, uint256 weightSum) internal {
        address poolOwner = d.poolOwner;
        uint256 price = d.price;
        uint256 workerStake = PocoMath.stake(price, d.workerStakeRatio);
        (uint256 totalReward, uint256 workersReward) =
            PocoMath.rewards(price, workerStake, t.contributorCount, reveals, d.schedulerRewardRatio);
        uint256 paid = _settleWorkers(taskId, t, poolOwner, workerStake, workersReward, weightSum);

        _unlock(poolOwner, PocoMath.stake(price, POOL_STAKE_RATIO));
        _reward(poolOwner, totalReward - paid, taskId);
        _seize(d.client, price, taskId);
    }

    /// @dev The winners (current voters of the consensus hash), how many of them revealed, and
    /// the sum of the revealed payout weights.
    function _tally(bytes32 taskId, Task memory t)
        internal
        view
        returns (uint256 winners, uint256 reveals, uint256 weightSum)
    {
        for (address worker = t.lastContributor; worker != address(0);) {
            Contribution storage c = _contributions[taskId][worker];
            ContributionStatus status = c.status;
            if (status == ContributionStatus.PROVED) {
                ++winners;
                ++reveals;
                weightSum += c.payoutWeight;
            } else if (status == ContributionStatus.CONTRIBUTED && c.ordinal == t.consensusOrdinal) {
                ++winners;
            }
            worker = c.previous;
        }
    }

    /// @dev Pays each proved worker its share (to its payout address) and its stake back and
    /// raises its score; takes the stake of every other contributor, cuts its score and marks it
    /// REJECTED. Scores move in `poolOwner`'s domain only. Returns the sum of the shares.
    function _settleWorkers(
        bytes32 taskId,
        Task memory t,
        address poolOwner,
        uint256 workerStake,
        uint256 workersReward,
        uint256 weightSum
    ) internal returns (uint256 paid) {
        for (address worker = t.lastContributor; worker != address(0);) {
            Contribution storage c = _contributions[taskId][worker];
            ContributionStatus status = c.status;
            if (status == ContributionStatus.PROVED) {
                uint256 amount = PocoMath.share(workersReward, c.payoutWeight, weightSum);
                paid += amount;
                _unlock(worker, workerStake);
                _reward(payoutOf(worker), amount, taskId);
                _moveScore(poolOwner, worker, true, t.contributorCount);
            } else {
                _seize(worker, workerStake, taskId);
                if (status == ContributionStatus.CONTRIBUTED) c.status = ContributionStatus.REJECTED;
                _moveScore(poolOwner, worker, false, 0);
            }
            worker = c.previous;
        }
    }

    /// @notice After the final deadline, anyone fails an unfinished task that has no revealed
    /// result: the client gets the price back and the pool owner's stake as compensation; a
    /// winner that never revealed (still voting the consensus, or rejected by a reopen) forfeits
    /// its stake to the penalty account and loses a third of its score; every other contributor
    /// gets its stake back. Before it, the pool owner alone may fail a task that takes votes
    /// (no consensus stands), settled the same: one whose replicas disagree at its replica cap.
    function claim(bytes32 taskId) external {
        _claim(taskId);
    }

    /// @notice Claims every task of `taskIds` in one transaction, each checked as `claim` checks
    /// it: a task that cannot be claimed reverts the whole batch with the error `claim` gives it,
    /// and an empty list reverts with `InvalidRange`. The tasks may be of any deals. Each claim
    /// settles at most 255 contributions, so the caller sizes the list to the block's gas.
    function claimMany(bytes32[] calldata taskIds) external {
        if (taskIds.length == 0) revert InvalidRange();
        for (uint256 i; i < taskIds.length; ++i) {
            _claim(taskIds[i]);
        }
    }

    function _claim(bytes32 taskId) internal {
        Task memory t = _tasks[taskId];
        if (t.status != TaskStatus.ACTIVE && t.status != TaskStatus.REVEALING) revert WrongTaskStatus(t.status);
        Deal storage d = _deals[t.dealNonce];
        // Before the final deadline only the pool owner fails a task, and only one taking votes:
        // its replicas cannot agree (at the pool's replica cap). A consensus is never given up.
        if (
            block.timestamp < _finalDeadline(d) && (msg.sender != d.poolOwner || t.status != TaskStatus.ACTIVE)
        ) revert FinalDeadlineNotReached();

        _tasks[taskId].status = TaskStatus.FAILED;
        uint256 price = d.price;
        uint256 workerStake = PocoMath.stake(price, d.workerStakeRatio);
        address poolOwner = d.poolOwner;
        uint256 forfeited;
        for (address worker = t.lastContributor; worker != address(0);) {
            Contribution storage c = _contributions[taskId][worker];
            ContributionStatus status = c.status;
            if (status == ContributionStatus.PROVED) revert TaskHasReveals();
            if (
                status == ContributionStatus.REJECTED
                    || (t.status == TaskStatus.REVEALING && c.ordinal == t.consensusOrdinal)
            ) {
                c.status = ContributionStatus.REJECTED;
                _seize(worker, workerStake, taskId);
                forfeited += workerStake;
                _moveScore(poolOwner, worker, false, 0);
            } else {
                _unlock(worker, workerStake);
            }
            worker = c.previous;
        }
        uint256 poolStake = PocoMath.stake(price, POOL_STAKE_RATIO);
        _seize(poolOwner, poolStake, taskId);
        _unlock(d.client, price);
        _reward(d.client, poolStake, taskId);
        if (forfeited != 0) {
            _penalty += forfeited;
            emit PenaltyCredited(taskId, forfeited);
        }
        emit TaskClaimed(taskId);
    }

    /// @dev Writes a task back to its one slot. A single copy of the packing code, called from
    /// contribute, reopen and contributeAndFinalize: written at each of them it took 454 bytes
    /// more of runtime code, for 28 gas less per call (foundry.toml, the size limit).
    function _storeTask(bytes32 taskId, Task memory t) internal {
        _tasks[taskId] = t;
    }

    /// @dev A proved worker's score `+1` (with more than one contributor), anyone else's cut to
    /// two thirds, in `poolOwner`'s domain.
    function _moveScore(address poolOwner, address worker, bool proved, uint256 contributorCount) internal {
        uint256 score = _scores[poolOwner][worker];
        uint256 newScore = proved ? PocoMath.scoreAfterProved(score, contributorCount) : PocoMath.scoreAfterLost(score);
        if (newScore != score) {
            _scores[poolOwner][worker] = _toUint32(newScore);
            emit ScoreUpdated(poolOwner, worker, newScore);
        }
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
        if (!_signedBy(authorizationDigest(msg.sender, taskId, 0), authorization, poolOwner)) {
            revert InvalidAuthorization();
        }

        t.status = TaskStatus.COMPLETED;
        t.contributorCount = 1;
        t.lastContributor = msg.sender;
        _storeTask(taskId, t);
        bytes32 resultHash = resultHashOf(taskId, resultDigest);
        emit TaskContributed(taskId, msg.sender, resultHash, resultSealOf(msg.sender, taskId, resultDigest), 0);
        emit TaskConsensus(taskId, resultHash, block.timestamp);
        emit TaskRevealed(taskId, msg.sender, resultDigest);

        uint256 price = d.price;
        (uint256 totalReward, uint256 workersReward) = PocoMath.rewards(price, 0, 1, 1, d.schedulerRewardRatio);
        _reward(payoutOf(msg.sender), workersReward, taskId);
        _unlock(poolOwner, PocoMath.stake(price, POOL_STAKE_RATIO));
        _reward(poolOwner, totalReward - workersReward, taskId);
        _seize(d.client, price, taskId);
        emit TaskFinalized(taskId, resultsRef);
    }

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

    /// @notice What the pool owner signs (EIP-191) to authorize a worker on a task in one round:
    /// `keccak256(worker ‖ taskId)` in the first round (`round` 0), `keccak256(worker ‖ taskId ‖
    /// round)` after a reopen, where `round` is the task's `TaskView.round`.
    function authorizationMessage(address worker, bytes32 taskId, uint256 round) public pure returns (bytes32) {
        return
            round == 0
                ? keccak256(abi.encodePacked(worker, taskId))
                : keccak256(abi.encodePacked(worker, taskId, round));
    }

    /// @notice The EIP-191 digest of `authorizationMessage(worker, taskId, round)`.
    function authorizationDigest(address worker, bytes32 taskId, uint256 round) public pure returns (bytes32) {
        return MessageHashUtils.toEthSignedMessageHash(authorizationMessage(worker, taskId, round));
    }

    /// @notice `worker`'s score in the trust domain of `poolOwner`: its weight in that owner's
    /// pools, and nowhere else.
    function scoreOf(address poolOwner, address worker) external view returns (uint256) {
        return _scores[poolOwner][worker];
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
        // without a consensus (ACTIVE, or claimed while ACTIVE) the field holds the round
        if (t.consensusOrdinal == 0) v.round = t.revealDeadline;
        else v.revealDeadline = t.revealDeadline;
        v.contributorCount = t.contributorCount;
        if (t.status == TaskStatus.COMPLETED && t.consensusOrdinal == 0) {
            // the trust-1 fast path: one worker, proved, with no contribution record
            (v.winnerCount, v.revealCount) = (1, 1);
        } else {
            (v.winnerCount, v.revealCount,) = _tally(taskId, t);
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
}

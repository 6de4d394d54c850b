//! The wire protocol: every message schedulers, workers and clients exchange, as pure
//! encode/decode functions.
//!
//! A message travels as one [`crate::frame`] (version byte, `u32` length, payload). The
//! payload is a kind tag followed by the kind's fields in a fixed order: big-endian integers,
//! raw 32-byte hashes and 20-byte addresses, `u32`-length-prefixed bytes and UTF-8 text, `0`/`1`
//! option tags, `u16` list counts. Decoding is strict: an unknown version or kind, a field over its
//! cap, a bad tag, invalid UTF-8 or a trailing byte (a field this version does not know) is
//! refused with the reason, and each kind has its own size cap, checked before the body is read.
//! Encoding refuses what decoding would refuse, so an honest node never sends a message its
//! peers drop.
//!
//! | kind | carried by | from → to |
//! |---|---|---|
//! | [`PoolAnnouncement`], [`SignedOrder`] | gossipsub | scheduler → all |
//! | `Hello` / `HelloAck` ([`IdentityProof`]) | request-response | any ↔ any, first on every connection |
//! | [`JoinRequest`] → [`JoinAccepted`] / [`JoinRefused`] | request-response | worker → scheduler |
//! | [`Heartbeat`] → `Ack` | request-response | worker → scheduler |
//! | [`TaskAssignment`] → `Ack` / `Refused` | request-response | scheduler → worker |
//! | [`ContributionNotice`] → `Ack` | request-response | worker → scheduler |
//! | [`RevealRequest`] → `Ack` | request-response | scheduler → worker |
//! | [`ResultUpload`] → `Ack` | request-response | worker → scheduler |
//! | [`Abort`] → `Ack` | request-response | scheduler → worker |
//! | [`RecoveryRequest`] → [`RecoveryReport`] | request-response | worker → scheduler |
//! | [`TaskReport`] → `Ack` | request-response | worker → scheduler |
//! | [`JobOffer`] → `Ack` / `Refused` | request-response | client → scheduler |
//! | [`JobStatusRequest`] → [`JobStatus`] | request-response | client → scheduler |
//! | [`DealStatusRequest`] → [`DealStatus`] | request-response | client → scheduler |
//! | [`DataRequest`] → [`DataHeader`] + raw bytes / `DataUnavailable` / `Refused` | the data stream ([`crate::data`]) | any → any |
//!
//! Who may send each request is [`Message::senders`]: the admission refuses any other sender
//! before the application sees the request. A blob on the data stream is served to the peers its
//! [`crate::data::Access`] allows, and answered `DataUnavailable` to any other.

use std::fmt;

use alloy_primitives::{Address, B256};
use libp2p::Multiaddr;
use quorate_primitives::{ContentHash, DealId, ResultHash, TaskAuthorization, TaskId};

use crate::{
    Error,
    codec::{Reader, Writer},
    frame,
    identity::{IdentityProof, JoinCredential, PoolId, Purpose},
};

/// Largest inline task input or uploaded result: 1 MiB. Larger blobs are fetched by content hash
/// on the data stream.
pub const MAX_CHUNK: usize = 1024 * 1024;
/// Most piece hashes in a [`DataHeader`]: blobs up to 4 GiB are served.
pub const MAX_PIECES: usize = 4096;
/// Largest free-text field (reasons, details).
pub const MAX_TEXT: usize = 256;
/// Largest pool metadata text (a URI or a short description).
pub const MAX_METADATA: usize = 512;
/// Most listen addresses in an announcement.
pub const MAX_ADDRS: usize = 8;
/// Largest encoded multiaddr.
pub const MAX_ADDR_LEN: usize = 128;
/// Largest encoded pool order (its EIP-712 struct, ABI-encoded by quorate-contracts).
pub const MAX_ORDER: usize = 2048;
/// Most tasks in a recovery request or report.
pub const MAX_RECOVERY_TASKS: usize = 1024;
/// Largest GPU adapter class name.
pub const MAX_GPU_CLASS: usize = 128;
/// Longest floating-point probe, bytes (a hex keccak digest takes 66).
pub const MAX_FLOAT_PROBE: usize = 80;
/// Most task entries in one [`DealStatus`]: a client pages through a larger deal with
/// [`DealStatusRequest::from`].
pub const MAX_DEAL_TASKS: usize = 512;
/// A [`TaskEntry`]'s progress when the task is done: progress is per mille.
pub const MAX_PROGRESS: u16 = 1000;
/// Largest failure kind in a [`TaskReport`] (a stable name such as `timeout`).
pub const MAX_FAILURE_KIND: usize = 64;
/// Most console lines in one [`Report::Console`].
pub const MAX_CONSOLE_BATCH: usize = 32;
/// Largest console line relayed, in bytes: a longer one is cut ([`fit_text`]).
pub const MAX_CONSOLE_LINE: usize = 512;
/// Most console entries in one [`DealStatus`]: a client reads the rest on its next request.
pub const MAX_CONSOLE_ENTRIES: usize = 64;
/// Bytes of one encoded [`ConsoleLine`] at most: level, length and text.
const CONSOLE_LINE_LEN: usize = 1 + 4 + MAX_CONSOLE_LINE;
/// Bytes of one encoded [`TaskEntry`] at most: index, phase, progress, result option and hash,
/// platform.
const TASK_ENTRY_LEN: usize = 4 + 1 + 2 + 1 + 32 + 1;
/// Most platform classes one [`DealStatus`] names.
pub const MAX_STATUS_PLATFORMS: usize = 16;
/// Longest platform class name in a [`DealStatus`], bytes.
pub const MAX_PLATFORM_NAME: usize = 192;
/// Cap on any message payload: the largest kind's cap. Frames declaring more are refused from
/// the header alone.
pub const MAX_MESSAGE: usize = MAX_CHUNK + 1024;

/// The message kinds, with their tags and size caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// [`PoolAnnouncement`].
    PoolAnnouncement = 1,
    /// [`SignedOrder`].
    SignedOrder = 2,
    /// Identity proof, sent first.
    Hello = 3,
    /// Identity proof, the answer to `Hello`.
    HelloAck = 4,
    /// [`JoinRequest`].
    JoinRequest = 5,
    /// [`JoinAccepted`].
    JoinAccepted = 6,
    /// [`JoinRefused`].
    JoinRefused = 7,
    /// [`Heartbeat`].
    Heartbeat = 8,
    /// [`TaskAssignment`].
    TaskAssignment = 9,
    /// [`ContributionNotice`].
    ContributionNotice = 10,
    /// [`RevealRequest`].
    RevealRequest = 11,
    /// [`ResultUpload`].
    ResultUpload = 12,
    /// [`Abort`].
    Abort = 13,
    /// [`RecoveryRequest`].
    RecoveryRequest = 14,
    /// [`RecoveryReport`].
    RecoveryReport = 15,
    /// [`DataRequest`].
    DataRequest = 16,
    /// [`DataHeader`].
    DataHeader = 17,
    /// The content is not held.
    DataUnavailable = 18,
    /// A request was accepted.
    Ack = 19,
    /// A request was refused, with a reason.
    Refused = 20,
    /// [`JobOffer`].
    JobOffer = 21,
    /// [`JobStatusRequest`].
    JobStatusRequest = 22,
    /// [`JobStatus`].
    JobStatus = 23,
    /// [`DealStatusRequest`].
    DealStatusRequest = 24,
    /// [`DealStatus`].
    DealStatus = 25,
    /// [`TaskReport`].
    TaskReport = 26,
}

impl Kind {
    const ALL: [Self; 26] = [
        Self::PoolAnnouncement,
        Self::SignedOrder,
        Self::Hello,
        Self::HelloAck,
        Self::JoinRequest,
        Self::JoinAccepted,
        Self::JoinRefused,
        Self::Heartbeat,
        Self::TaskAssignment,
        Self::ContributionNotice,
        Self::RevealRequest,
        Self::ResultUpload,
        Self::Abort,
        Self::RecoveryRequest,
        Self::RecoveryReport,
        Self::DataRequest,
        Self::DataHeader,
        Self::DataUnavailable,
        Self::Ack,
        Self::Refused,
        Self::JobOffer,
        Self::JobStatusRequest,
        Self::JobStatus,
        Self::DealStatusRequest,
        Self::DealStatus,
        Self::TaskReport,
    ];

    /// The kind with this tag.
    pub fn from_tag(tag: u8) -> Result<Self, Error> {
        Self::ALL.into_iter().find(|k| *k as u8 == tag).ok_or(Error::UnknownKind { tag })
    }

    /// Its name, for errors and logs.
    pub fn name(self) -> &'static str {
        match self {
            Self::PoolAnnouncement => "pool announcement",
            Self::SignedOrder => "signed order",
            Self::Hello => "hello",
            Self::HelloAck => "hello ack",
            Self::JoinRequest => "join request",
            Self::JoinAccepted => "join accepted",
            Self::JoinRefused => "join refused",
            Self::Heartbeat => "heartbeat",
            Self::TaskAssignment => "task assignment",
            Self::ContributionNotice => "contribution notice",
            Self::RevealRequest => "reveal request",
            Self::ResultUpload => "result upload",
            Self::Abort => "abort",
            Self::RecoveryRequest => "recovery request",
            Self::RecoveryReport => "recovery report",
            Self::DataRequest => "data request",
            Self::DataHeader => "data header",
            Self::DataUnavailable => "data unavailable",
            Self::Ack => "ack",
            Self::Refused => "refused",
            Self::JobOffer => "job offer",
            Self::JobStatusRequest => "job status request",
            Self::JobStatus => "job status",
            Self::DealStatusRequest => "deal status request",
            Self::DealStatus => "deal status",
            Self::TaskReport => "task report",
        }
    }

    /// The largest payload (tag included) of this kind.
    pub fn max_len(self) -> usize {
        match self {
            Self::TaskAssignment | Self::ResultUpload => MAX_MESSAGE,
            Self::DataHeader => MAX_PIECES * 32 + 72,
            Self::RecoveryRequest | Self::RecoveryReport => 48 * 1024,
            Self::DealStatus => {
                MAX_DEAL_TASKS * TASK_ENTRY_LEN
                    + MAX_CONSOLE_ENTRIES * (12 + CONSOLE_LINE_LEN)
                    + MAX_STATUS_PLATFORMS * (4 + MAX_PLATFORM_NAME)
                    + 76
            }
            Self::TaskReport => MAX_CONSOLE_BATCH * CONSOLE_LINE_LEN + 64,
            Self::PoolAnnouncement | Self::SignedOrder => 4 * 1024,
            _ => 1024,
        }
    }

    /// True for kinds that answer a request (and so must never arrive as one).
    pub fn is_response(self) -> bool {
        matches!(
            self,
            Self::HelloAck
                | Self::JoinAccepted
                | Self::JoinRefused
                | Self::RecoveryReport
                | Self::DataHeader
                | Self::DataUnavailable
                | Self::Ack
                | Self::Refused
                | Self::JobStatus
                | Self::DealStatus
        )
    }

    /// True for kinds published on gossipsub rather than addressed to one peer.
    pub fn is_gossip(self) -> bool {
        matches!(self, Self::PoolAnnouncement | Self::SignedOrder)
    }
}

/// A scheduler advertising its pool: who runs it, whether it is open, where to dial it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolAnnouncement {
    /// The pool.
    pub pool: PoolId,
    /// The scheduler's proof: purpose "scheduler of `pool`", signed by the pool owner.
    pub scheduler: IdentityProof,
    /// Whether any worker may join (false: a join credential is needed).
    pub public: bool,
    /// Free task slots the scheduler wants filled.
    pub wanted_workers: u32,
    /// Increases with every announcement, so old ones can be told apart.
    pub sequence: u64,
    /// Where the scheduler listens.
    pub addrs: Vec<Multiaddr>,
    /// Free text or a URI describing the pool.
    pub metadata: String,
}

/// A pool order signed off-chain by the pool owner (EIP-712), published for clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedOrder {
    /// The pool.
    pub pool: PoolId,
    /// The order, ABI-encoded as the contract's EIP-712 struct.
    pub order: Vec<u8>,
    /// The owner's signature.
    pub signature: [u8; 65],
}

/// Evaluator kinds a worker runs, as bit flags.
pub mod evaluators {
    /// JavaScript.
    pub const JS: u8 = 1;
    /// WebAssembly.
    pub const WASM: u8 = 2;
    /// WebGPU compute.
    pub const WEBGPU: u8 = 4;
    /// Every flag this version knows; other bits are refused.
    pub const ALL: u8 = JS | WASM | WEBGPU;
}

/// What a worker can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCapabilities {
    /// Evaluator slots (one per core minus one).
    pub slots: u16,
    /// Memory per slot, MiB.
    pub memory_mib: u32,
    /// [`evaluators`] flags.
    pub evaluators: u8,
    /// The GPU adapter class, when it has one (results are grouped by class).
    pub gpu_class: Option<String>,
    /// Its GPU's memory, MiB (0 without a GPU): a WebGPU job needing more never comes to it.
    pub gpu_memory_mib: u32,
    /// The sandbox's floating-point probe (its class: equal probes compute floats alike),
    /// when the worker measured it.
    pub float_probe: Option<String>,
}

/// A worker asks to join a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// The pool.
    pub pool: PoolId,
    /// What the worker offers.
    pub capabilities: WorkerCapabilities,
    /// For a private pool, the owner's credential for this worker.
    pub credential: Option<JoinCredential>,
}

/// The scheduler accepts a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinAccepted {
    /// The pool.
    pub pool: PoolId,
    /// How often the worker must send a heartbeat, seconds.
    pub heartbeat_interval_s: u32,
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RefusalReason {
    /// No room.
    Full = 0,
    /// A private pool and no credential.
    CredentialRequired = 1,
    /// The credential did not verify.
    CredentialInvalid = 2,
    /// The credential expired.
    CredentialExpired = 3,
    /// The address is not on the pool's allow-list or was revoked.
    NotAllowed = 4,
    /// The worker's capabilities do not fit the pool.
    Incompatible = 5,
    /// Something else: see the detail.
    Other = 6,
}

impl RefusalReason {
    /// True for a refusal that waiting does not change: the worker's credential or address.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::CredentialRequired
                | Self::CredentialInvalid
                | Self::CredentialExpired
                | Self::NotAllowed
        )
    }

    fn from_tag(tag: u8) -> Result<Self, Error> {
        Ok(match tag {
            0 => Self::Full,
            1 => Self::CredentialRequired,
            2 => Self::CredentialInvalid,
            3 => Self::CredentialExpired,
            4 => Self::NotAllowed,
            5 => Self::Incompatible,
            6 => Self::Other,
            tag => return Err(Error::InvalidTag { field: "refusal.reason", tag }),
        })
    }
}

/// The scheduler refuses a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRefused {
    /// The pool.
    pub pool: PoolId,
    /// Why.
    pub reason: RefusalReason,
    /// A human-readable detail.
    pub detail: String,
}

/// A worker's periodic sign of life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    /// The pool.
    pub pool: PoolId,
    /// Free evaluator slots.
    pub free_slots: u16,
    /// Tasks running.
    pub running: u16,
}

/// A task's input: inline when small, else by content hash (fetched with [`DataRequest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskInput {
    /// The input bytes.
    Inline(Vec<u8>),
    /// The input's hash and size.
    ByHash {
        /// Its content hash.
        hash: ContentHash,
        /// Its size in bytes.
        size: u64,
    },
}

/// The scheduler gives a worker one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskAssignment {
    /// The pool.
    pub pool: PoolId,
    /// The task.
    pub task: TaskId,
    /// The job's code, by content hash.
    pub job: ContentHash,
    /// The input.
    pub input: TaskInput,
    /// The round the authorization is for: the task's `TaskView.round` on chain (0 until a
    /// reopen).
    pub round: u64,
    /// The pool owner's signature of the [`TaskAuthorization`] for this worker, task and round
    /// ([`TaskAssignment::check_authorization`]), which the contract requires to contribute.
    pub authorization: [u8; 65],
    /// Contribution deadline, unix seconds.
    pub deadline: u64,
}

impl TaskAssignment {
    /// What the authorization must be for, given to `worker`.
    pub fn authorization_for(&self, worker: Address) -> TaskAuthorization {
        TaskAuthorization { worker, task: self.task, round: self.round }
    }

    /// Checks that the authorization is `owner`'s (the pool's owner) for `worker`, this task
    /// and round, as the contract will.
    pub fn check_authorization(&self, worker: Address, owner: Address) -> Result<(), Error> {
        let signer = self
            .authorization_for(worker)
            .signer(&self.authorization)
            .map_err(|e| Error::BadSignature { reason: e.to_string() })?;
        if signer == owner {
            Ok(())
        } else {
            Err(Error::NotPoolOwner { pool: self.pool, owner, signer })
        }
    }
}

/// A worker tells the scheduler it contributed on-chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContributionNotice {
    /// The task.
    pub task: TaskId,
    /// The vote committed.
    pub result_hash: ResultHash,
    /// The contribution's transaction hash.
    pub tx: B256,
}

/// What a worker reports about a task it runs, outside the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Progress, per mille (at most [`MAX_PROGRESS`]), from the work function's `progress()`.
    Progress(u16),
    /// The task failed on this worker's machine (a timeout, the memory cap, the sandbox itself):
    /// never voted; the scheduler plans the replica elsewhere.
    Failed {
        /// The failure's stable name (`timeout`, `heap_limit`, …), at most
        /// [`MAX_FAILURE_KIND`] bytes.
        kind: String,
        /// What happened, at most [`MAX_TEXT`] bytes.
        message: String,
    },
    /// Console lines the work function wrote, in order, each at most [`MAX_CONSOLE_LINE`]
    /// bytes; at most [`MAX_CONSOLE_BATCH`] per report.
    Console {
        /// The lines.
        lines: Vec<ConsoleLine>,
        /// Lines the worker dropped before these (its per-task cap ran out).
        dropped: u32,
    },
}

/// A console line's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ConsoleLevel {
    /// `console.log`, `info`, `debug`.
    Log = 0,
    /// `console.warn`.
    Warn = 1,
    /// `console.error`.
    Error = 2,
}

impl ConsoleLevel {
    fn from_tag(tag: u8) -> Result<Self, Error> {
        Ok(match tag {
            0 => Self::Log,
            1 => Self::Warn,
            2 => Self::Error,
            tag => return Err(Error::InvalidTag { field: "console.level", tag }),
        })
    }
}

/// One console call of a work function: untrusted text, to be shown escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleLine {
    /// Which method.
    pub level: ConsoleLevel,
    /// What it wrote, at most [`MAX_CONSOLE_LINE`] bytes (it may hold line breaks).
    pub text: String,
}

/// A console line of a deal's task, as the scheduler relays it to the deal's client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleEntry {
    /// Its place in the deal's console: consecutive, so a gap counts lines dropped.
    pub seq: u64,
    /// The task's index in the deal.
    pub index: u32,
    /// The line.
    pub line: ConsoleLine,
}

/// A worker reports a task's progress (at most once a second) or its machine's failure to run
/// it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskReport {
    /// The task.
    pub task: TaskId,
    /// The report.
    pub report: Report,
}

/// The scheduler asks a worker to reveal its contribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevealRequest {
    /// The task.
    pub task: TaskId,
}

/// A worker uploads its result bytes (at most [`MAX_CHUNK`]; larger results are served by hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultUpload {
    /// The task.
    pub task: TaskId,
    /// The canonical result bytes.
    pub result: Vec<u8>,
}

/// The scheduler withdraws a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abort {
    /// The task.
    pub task: TaskId,
    /// Why.
    pub reason: String,
}

/// After a reconnect a worker asks "what did I miss?", listing the tasks it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryRequest {
    /// The pool.
    pub pool: PoolId,
    /// Tasks the worker holds.
    pub known: Vec<TaskId>,
}

/// Where a task stands, as the scheduler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TaskState {
    /// Assigned to this worker and still wanted: the scheduler re-sends its assignment if the
    /// worker did not list it.
    Assigned = 0,
    /// The worker must reveal.
    RevealRequested = 1,
    /// Withdrawn: drop it.
    Aborted = 2,
    /// Finished: nothing more to do.
    Done = 3,
}

/// One task's state in a [`RecoveryReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldTask {
    /// The task.
    pub task: TaskId,
    /// Its state.
    pub state: TaskState,
}

/// The scheduler's answer to a [`RecoveryRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The pool.
    pub pool: PoolId,
    /// Every task of this worker the scheduler still tracks.
    pub tasks: Vec<HeldTask>,
}

/// Asks, on a data stream, for the bytes of a blob from `offset` on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRequest {
    /// The blob.
    pub hash: ContentHash,
    /// First byte wanted: a multiple of [`quorate_primitives::PIECE_LEN`], at most the blob's
    /// length.
    pub offset: u64,
    /// Bytes wanted; the provider sends fewer when the blob ends first.
    pub len: u64,
    /// The requester can take the bytes on the provider's direct TLS connection
    /// ([`crate::direct`]) instead of this stream.
    pub direct: bool,
}

/// The provider's answer on a data stream, followed by the requested bytes, unframed: the blob's
/// length and its piece hashes ([`quorate_primitives::Outline`]), so the receiver checks the
/// outline against the content hash, then every piece as it arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataHeader {
    /// The blob.
    pub hash: ContentHash,
    /// The blob's length.
    pub total: u64,
    /// Its piece hashes, at most [`MAX_PIECES`].
    pub pieces: Vec<B256>,
    /// Non-zero: the bytes do not follow on this stream; ask for them on this TCP port of the
    /// provider's address ([`crate::direct`]). Only ever set when the request allowed it.
    pub direct_port: u16,
}

/// A client asks a pool's scheduler to take a job. From then on the client serves the job's
/// manifest, code and inputs by content hash; the scheduler answers `Ack` (it will fetch and
/// check them, then consent: [`JobState::Consented`]) or `Refused { reason }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOffer {
    /// The pool asked.
    pub pool: PoolId,
    /// The job hash: BLAKE3 of the job manifest's canonical bytes
    /// ([`quorate_primitives::JobManifest::hash`]), which names the work function and every input
    /// by content hash.
    pub job: ContentHash,
    /// The EIP-712 hash of the signed pool order the client wants to match.
    pub order: B256,
    /// Tasks in the job (the manifest's inputs).
    pub task_count: u32,
    /// The trust the client's request will ask for.
    pub trust: u32,
}

/// A client asks where its offered job stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatusRequest {
    /// The job hash.
    pub job: ContentHash,
}

/// Where an offered job stands at the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// The scheduler knows no offer of this job.
    Unknown,
    /// The scheduler is fetching the job's blobs (manifest, code, inputs).
    Fetching {
        /// Blobs fetched and verified.
        fetched: u32,
        /// The job's blobs in all.
        total: u32,
    },
    /// The data is pinned and checked: the scheduler's EIP-712 job consent, which the client
    /// passes to `matchOrders`.
    Consented {
        /// The pool order the consent is for (its EIP-712 hash).
        order: B256,
        /// The task count consented to.
        task_count: u32,
        /// The scheduler's signature, 65 bytes `r ‖ s ‖ v`.
        signature: [u8; 65],
    },
    /// The scheduler will not run the job.
    Refused {
        /// Why.
        reason: String,
    },
}

/// The scheduler's answer to a [`JobStatusRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// The job hash.
    pub job: ContentHash,
    /// Where it stands.
    pub state: JobState,
}

/// A client asks for the state of tasks `from..from + count` of a deal. The scheduler answers at
/// most [`MAX_DEAL_TASKS`] entries, so a client pages through a larger deal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealStatusRequest {
    /// The deal.
    pub deal: DealId,
    /// The first task index wanted.
    pub from: u32,
    /// How many tasks are wanted.
    pub count: u32,
    /// The console lines wanted: those from this sequence number on (`None`: none).
    pub console_from: Option<u64>,
}

/// A task's phase, as the scheduler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TaskPhase {
    /// Not started: waiting for its initialization or a worker.
    Waiting = 0,
    /// Workers are running it or contributing.
    Running = 1,
    /// Consensus reached: the winners are revealing.
    Revealing = 2,
    /// Finalized: the result is known.
    Completed = 3,
    /// Failed: the client may claim its refund.
    Failed = 4,
}

impl TaskPhase {
    fn from_tag(tag: u8) -> Result<Self, Error> {
        Ok(match tag {
            0 => Self::Waiting,
            1 => Self::Running,
            2 => Self::Revealing,
            3 => Self::Completed,
            4 => Self::Failed,
            tag => return Err(Error::InvalidTag { field: "deal.task.phase", tag }),
        })
    }
}

/// One task of a [`DealStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskEntry {
    /// The task's index in its deal.
    pub index: u32,
    /// Its phase.
    pub phase: TaskPhase,
    /// Per mille, at most [`MAX_PROGRESS`], from the workers' `progress()` reports.
    pub progress: u16,
    /// BLAKE3 of the verified result bytes, fetchable from the scheduler by content hash.
    pub result: Option<ContentHash>,
    /// The platform class its replicas run on, once the first was sent: `i + 1` for
    /// [`DealStatus::platforms`]`[i]`; 0 before.
    pub platform: u8,
}

/// The scheduler's answer to a [`DealStatusRequest`]: at most [`MAX_DEAL_TASKS`] entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DealStatus {
    /// The deal.
    pub deal: DealId,
    /// The tasks asked for that the scheduler knows, in index order.
    pub tasks: Vec<TaskEntry>,
    /// The platform classes the tasks name (homogeneous redundancy: one per task), as people
    /// read them, at most [`MAX_STATUS_PLATFORMS`].
    pub platforms: Vec<String>,
    /// The console lines asked for that the scheduler still keeps, in sequence order, at most
    /// [`MAX_CONSOLE_ENTRIES`].
    pub console: Vec<ConsoleEntry>,
    /// The sequence number the deal's next console line will take: lines before it that were
    /// neither sent nor kept were dropped.
    pub console_end: u64,
}

impl DealStatus {
    /// The answer about a deal the scheduler does not know (or not to this asker).
    pub fn empty(deal: DealId) -> Self {
        Self { deal, tasks: Vec::new(), platforms: Vec::new(), console: Vec::new(), console_end: 0 }
    }
}

/// Who may send a request kind ([`Message::senders`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Senders {
    /// Any peer whose identity is proven.
    Anyone,
    /// Peers proven as workers.
    Workers,
    /// Peers proven as clients.
    Clients,
    /// Peers proven as the scheduler of some pool.
    Schedulers,
    /// The peer proven as the scheduler of this pool.
    SchedulerOf(PoolId),
}

impl Senders {
    /// True when a peer proven with `purpose` may send the request.
    pub fn admit(self, purpose: &Purpose) -> bool {
        match self {
            Self::Anyone => true,
            Self::Workers => *purpose == Purpose::Worker,
            Self::Clients => *purpose == Purpose::Client,
            Self::Schedulers => matches!(purpose, Purpose::Scheduler { .. }),
            Self::SchedulerOf(pool) => *purpose == Purpose::Scheduler { pool },
        }
    }
}

impl fmt::Display for Senders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anyone => f.write_str("any proven peer"),
            Self::Workers => f.write_str("peers proven as workers"),
            Self::Clients => f.write_str("peers proven as clients"),
            Self::Schedulers => f.write_str("peers proven as a pool's scheduler"),
            Self::SchedulerOf(pool) => write!(f, "the peer proven as the scheduler of {pool}"),
        }
    }
}

/// Every wire message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// See [`PoolAnnouncement`].
    PoolAnnouncement(PoolAnnouncement),
    /// See [`SignedOrder`].
    SignedOrder(SignedOrder),
    /// The sender's identity proof: the first request on every connection.
    Hello(IdentityProof),
    /// The answerer's identity proof.
    HelloAck(IdentityProof),
    /// See [`JoinRequest`].
    JoinRequest(JoinRequest),
    /// See [`JoinAccepted`].
    JoinAccepted(JoinAccepted),
    /// See [`JoinRefused`].
    JoinRefused(JoinRefused),
    /// See [`Heartbeat`].
    Heartbeat(Heartbeat),
    /// See [`TaskAssignment`].
    TaskAssignment(TaskAssignment),
    /// See [`ContributionNotice`].
    ContributionNotice(ContributionNotice),
    /// See [`RevealRequest`].
    RevealRequest(RevealRequest),
    /// See [`ResultUpload`].
    ResultUpload(ResultUpload),
    /// See [`Abort`].
    Abort(Abort),
    /// See [`RecoveryRequest`].
    RecoveryRequest(RecoveryRequest),
    /// See [`RecoveryReport`].
    RecoveryReport(RecoveryReport),
    /// See [`DataRequest`].
    DataRequest(DataRequest),
    /// See [`DataHeader`].
    DataHeader(DataHeader),
    /// The content asked for is not held here.
    DataUnavailable {
        /// The blob.
        hash: ContentHash,
    },
    /// The request was accepted.
    Ack,
    /// The request was refused.
    Refused {
        /// Why.
        reason: String,
    },
    /// See [`JobOffer`].
    JobOffer(JobOffer),
    /// See [`JobStatusRequest`].
    JobStatusRequest(JobStatusRequest),
    /// See [`JobStatus`].
    JobStatus(JobStatus),
    /// See [`DealStatusRequest`].
    DealStatusRequest(DealStatusRequest),
    /// See [`DealStatus`].
    DealStatus(DealStatus),
    /// See [`TaskReport`].
    TaskReport(TaskReport),
}

impl Message {
    /// The message's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Self::PoolAnnouncement(_) => Kind::PoolAnnouncement,
            Self::SignedOrder(_) => Kind::SignedOrder,
            Self::Hello(_) => Kind::Hello,
            Self::HelloAck(_) => Kind::HelloAck,
            Self::JoinRequest(_) => Kind::JoinRequest,
            Self::JoinAccepted(_) => Kind::JoinAccepted,
            Self::JoinRefused(_) => Kind::JoinRefused,
            Self::Heartbeat(_) => Kind::Heartbeat,
            Self::TaskAssignment(_) => Kind::TaskAssignment,
            Self::ContributionNotice(_) => Kind::ContributionNotice,
            Self::RevealRequest(_) => Kind::RevealRequest,
            Self::ResultUpload(_) => Kind::ResultUpload,
            Self::Abort(_) => Kind::Abort,
            Self::RecoveryRequest(_) => Kind::RecoveryRequest,
            Self::RecoveryReport(_) => Kind::RecoveryReport,
            Self::DataRequest(_) => Kind::DataRequest,
            Self::DataHeader(_) => Kind::DataHeader,
            Self::DataUnavailable { .. } => Kind::DataUnavailable,
            Self::Ack => Kind::Ack,
            Self::Refused { .. } => Kind::Refused,
            Self::JobOffer(_) => Kind::JobOffer,
            Self::JobStatusRequest(_) => Kind::JobStatusRequest,
            Self::JobStatus(_) => Kind::JobStatus,
            Self::DealStatusRequest(_) => Kind::DealStatusRequest,
            Self::DealStatus(_) => Kind::DealStatus,
            Self::TaskReport(_) => Kind::TaskReport,
        }
    }

    /// Who may send this message as a request; `None` for messages that are never requests
    /// (answers and gossip), which no peer may send as one.
    pub fn senders(&self) -> Option<Senders> {
        match self {
            Self::JoinRequest(_)
            | Self::Heartbeat(_)
            | Self::ContributionNotice(_)
            | Self::ResultUpload(_)
            | Self::RecoveryRequest(_)
            | Self::TaskReport(_) => Some(Senders::Workers),
            Self::TaskAssignment(m) => Some(Senders::SchedulerOf(m.pool)),
            Self::RevealRequest(_) | Self::Abort(_) => Some(Senders::Schedulers),
            Self::JobOffer(_) | Self::JobStatusRequest(_) | Self::DealStatusRequest(_) => {
                Some(Senders::Clients)
            }
            Self::Hello(_) | Self::DataRequest(_) => Some(Senders::Anyone),
            Self::PoolAnnouncement(_)
            | Self::SignedOrder(_)
            | Self::HelloAck(_)
            | Self::JoinAccepted(_)
            | Self::JoinRefused(_)
            | Self::RecoveryReport(_)
            | Self::DataHeader(_)
            | Self::DataUnavailable { .. }
            | Self::Ack
            | Self::Refused { .. }
            | Self::JobStatus(_)
            | Self::DealStatus(_) => None,
        }
    }

    /// True when a peer proven with `purpose` may send this message as a request
    /// ([`Message::senders`]).
    pub fn allowed_from(&self, purpose: &Purpose) -> bool {
        self.senders().is_some_and(|senders| senders.admit(purpose))
    }

    /// Encodes the payload (kind tag and fields), refusing values over their caps.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        self.validate()?;
        let kind = self.kind();
        let mut w = Writer::with_capacity(self.size_hint());
        w.u8(kind as u8);
        self.encode_body(&mut w);
        let bytes = w.finish()?;
        if bytes.len() > kind.max_len() {
            return Err(Error::MessageTooLarge {
                kind: kind.name(),
                len: bytes.len(),
                max: kind.max_len(),
            });
        }
        Ok(bytes)
    }

    /// Decodes a payload: exactly one message, nothing after it.
    pub fn decode(payload: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(payload);
        let kind = Kind::from_tag(r.u8("kind")?)?;
        if payload.len() > kind.max_len() {
            return Err(Error::MessageTooLarge {
                kind: kind.name(),
                len: payload.len(),
                max: kind.max_len(),
            });
        }
        let message = Self::decode_body(kind, &mut r)?;
        r.finish()?;
        Ok(message)
    }

    /// Encodes a whole frame: version, length and payload.
    pub fn encode_frame(&self) -> Result<Vec<u8>, Error> {
        let payload = self.encode()?;
        let len = u32::try_from(payload.len())
            .map_err(|_| Error::FrameTooLarge { len: payload.len() as u64, max: u32::MAX })?;
        let mut out = Vec::with_capacity(payload.len().saturating_add(frame::HEADER_LEN));
        out.extend_from_slice(&frame::encode_header(len));
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Decodes exactly one whole frame.
    pub fn decode_frame(bytes: &[u8]) -> Result<Self, Error> {
        match frame::decode(bytes, MAX_MESSAGE as u32)? {
            frame::Decoded::Frame { payload, consumed } if consumed == bytes.len() => {
                Self::decode(payload)
            }
            frame::Decoded::Frame { consumed, .. } => {
                Err(Error::TrailingBytes { count: bytes.len().saturating_sub(consumed) })
            }
            frame::Decoded::Incomplete { .. } => Err(Error::Truncated { field: "frame" }),
        }
    }

    /// Value checks the field encoding cannot express.
    fn validate(&self) -> Result<(), Error> {
        match self {
            Self::JoinRequest(m) if m.capabilities.evaluators & !evaluators::ALL != 0 => {
                Err(Error::InvalidTag {
                    field: "capabilities.evaluators",
                    tag: m.capabilities.evaluators,
                })
            }
            Self::DealStatus(m) => {
                m.tasks.iter().try_for_each(|t| check_progress("deal.task.progress", t.progress))
            }
            Self::TaskReport(TaskReport { report: Report::Progress(p), .. }) => {
                check_progress("report.progress", *p)
            }
            _ => Ok(()),
        }
    }

    fn size_hint(&self) -> usize {
        match self {
            Self::DataHeader(m) => m.pieces.len() * 32 + 48,
            Self::ResultUpload(m) => m.result.len() + 64,
            Self::TaskAssignment(TaskAssignment { input: TaskInput::Inline(b), .. }) => {
                b.len() + 256
            }
            Self::DealStatus(m) => {
                m.tasks.len() * TASK_ENTRY_LEN + m.console.len() * (12 + CONSOLE_LINE_LEN) + 72
            }
            Self::TaskReport(TaskReport { report: Report::Console { lines, .. }, .. }) => {
                lines.len() * CONSOLE_LINE_LEN + 64
            }
            _ => 256,
        }
    }

    fn encode_body(&self, w: &mut Writer) {
        match self {
            Self::PoolAnnouncement(m) => {
                w.u64(m.pool.0);
                m.scheduler.encode(w);
                w.bool(m.public);
                w.u32(m.wanted_workers);
                w.u64(m.sequence);
                w.count("announcement.addrs", m.addrs.len(), MAX_ADDRS);
                for addr in &m.addrs {
                    w.bytes("announcement.addr", &addr.to_vec(), MAX_ADDR_LEN);
                }
                w.string("announcement.metadata", &m.metadata, MAX_METADATA);
            }
            Self::SignedOrder(m) => {
                w.u64(m.pool.0);
                w.bytes("order.order", &m.order, MAX_ORDER);
                w.raw(&m.signature);
            }
            Self::Hello(proof) | Self::HelloAck(proof) => proof.encode(w),
            Self::JoinRequest(m) => {
                w.u64(m.pool.0);
                let c = &m.capabilities;
                w.u16(c.slots);
                w.u32(c.memory_mib);
                w.u8(c.evaluators);
                w.opt_string("capabilities.gpu_class", c.gpu_class.as_deref(), MAX_GPU_CLASS);
                w.u32(c.gpu_memory_mib);
                w.opt_string("capabilities.float_probe", c.float_probe.as_deref(), MAX_FLOAT_PROBE);
                match &m.credential {
                    None => w.bool(false),
                    Some(credential) => {
                        w.bool(true);
                        credential.encode(w);
                    }
                }
            }
            Self::JoinAccepted(m) => {
                w.u64(m.pool.0);
                w.u32(m.heartbeat_interval_s);
            }
            Self::JoinRefused(m) => {
                w.u64(m.pool.0);
                w.u8(m.reason as u8);
                w.string("refusal.detail", &m.detail, MAX_TEXT);
            }
            Self::Heartbeat(m) => {
                w.u64(m.pool.0);
                w.u16(m.free_slots);
                w.u16(m.running);
            }
            Self::TaskAssignment(m) => {
                w.u64(m.pool.0);
                w.b256(&m.task.0);
                w.b256(&m.job.0);
                match &m.input {
                    TaskInput::Inline(bytes) => {
                        w.u8(0);
                        w.bytes("assignment.input", bytes, MAX_CHUNK);
                    }
                    TaskInput::ByHash { hash, size } => {
                        w.u8(1);
                        w.b256(&hash.0);
                        w.u64(*size);
                    }
                }
                w.u64(m.round);
                w.raw(&m.authorization);
                w.u64(m.deadline);
            }
            Self::ContributionNotice(m) => {
                w.b256(&m.task.0);
                w.b256(&m.result_hash.0);
                w.b256(&m.tx);
            }
            Self::RevealRequest(m) => w.b256(&m.task.0),
            Self::ResultUpload(m) => {
                w.b256(&m.task.0);
                w.bytes("result.bytes", &m.result, MAX_CHUNK);
            }
            Self::Abort(m) => {
                w.b256(&m.task.0);
                w.string("abort.reason", &m.reason, MAX_TEXT);
            }
            Self::RecoveryRequest(m) => {
                w.u64(m.pool.0);
                w.count("recovery.known", m.known.len(), MAX_RECOVERY_TASKS);
                for task in &m.known {
                    w.b256(&task.0);
                }
            }
            Self::RecoveryReport(m) => {
                w.u64(m.pool.0);
                w.count("recovery.tasks", m.tasks.len(), MAX_RECOVERY_TASKS);
                for status in &m.tasks {
                    w.b256(&status.task.0);
                    w.u8(status.state as u8);
                }
            }
            Self::DataRequest(m) => {
                w.b256(&m.hash.0);
                w.u64(m.offset);
                w.u64(m.len);
                w.bool(m.direct);
            }
            Self::DataHeader(m) => {
                w.b256(&m.hash.0);
                w.u64(m.total);
                w.count("header.pieces", m.pieces.len(), MAX_PIECES);
                for piece in m.pieces.iter().take(MAX_PIECES) {
                    w.b256(piece);
                }
                w.u16(m.direct_port);
            }
            Self::DataUnavailable { hash } => w.b256(&hash.0),
            Self::Ack => {}
            Self::Refused { reason } => w.string("refused.reason", reason, MAX_TEXT),
            Self::JobOffer(m) => {
                w.u64(m.pool.0);
                w.b256(&m.job.0);
                w.b256(&m.order);
                w.u32(m.task_count);
                w.u32(m.trust);
            }
            Self::JobStatusRequest(m) => w.b256(&m.job.0),
            Self::JobStatus(m) => {
                w.b256(&m.job.0);
                match &m.state {
                    JobState::Unknown => w.u8(0),
                    JobState::Fetching { fetched, total } => {
                        w.u8(1);
                        w.u32(*fetched);
                        w.u32(*total);
                    }
                    JobState::Consented { order, task_count, signature } => {
                        w.u8(2);
                        w.b256(order);
                        w.u32(*task_count);
                        w.raw(signature);
                    }
                    JobState::Refused { reason } => {
                        w.u8(3);
                        w.string("job.refused.reason", reason, MAX_TEXT);
                    }
                }
            }
            Self::DealStatusRequest(m) => {
                w.b256(&m.deal.0);
                w.u32(m.from);
                w.u32(m.count);
                match m.console_from {
                    None => w.bool(false),
                    Some(seq) => {
                        w.bool(true);
                        w.u64(seq);
                    }
                }
            }
            Self::DealStatus(m) => {
                w.b256(&m.deal.0);
                w.count("deal.tasks", m.tasks.len(), MAX_DEAL_TASKS);
                for entry in m.tasks.iter().take(MAX_DEAL_TASKS) {
                    w.u32(entry.index);
                    w.u8(entry.phase as u8);
                    w.u16(entry.progress);
                    match &entry.result {
                        None => w.bool(false),
                        Some(hash) => {
                            w.bool(true);
                            w.b256(&hash.0);
                        }
                    }
                    w.u8(entry.platform);
                }
                w.count("deal.platforms", m.platforms.len(), MAX_STATUS_PLATFORMS);
                for name in m.platforms.iter().take(MAX_STATUS_PLATFORMS) {
                    w.string("deal.platform", name, MAX_PLATFORM_NAME);
                }
                w.count("deal.console", m.console.len(), MAX_CONSOLE_ENTRIES);
                for entry in m.console.iter().take(MAX_CONSOLE_ENTRIES) {
                    w.u64(entry.seq);
                    w.u32(entry.index);
                    encode_console(w, &entry.line);
                }
                w.u64(m.console_end);
            }
            Self::TaskReport(m) => {
                w.b256(&m.task.0);
                match &m.report {
                    Report::Progress(per_mille) => {
                        w.u8(0);
                        w.u16(*per_mille);
                    }
                    Report::Failed { kind, message } => {
                        w.u8(1);
                        w.string("report.kind", kind, MAX_FAILURE_KIND);
                        w.string("report.message", message, MAX_TEXT);
                    }
                    Report::Console { lines, dropped } => {
                        w.u8(2);
                        w.u32(*dropped);
                        w.count("report.console", lines.len(), MAX_CONSOLE_BATCH);
                        for line in lines.iter().take(MAX_CONSOLE_BATCH) {
                            encode_console(w, line);
                        }
                    }
                }
            }
        }
    }

    fn decode_body(kind: Kind, r: &mut Reader<'_>) -> Result<Self, Error> {
        let pool = |r: &mut Reader<'_>| r.u64("pool").map(PoolId);
        let task = |r: &mut Reader<'_>| r.b256("task").map(TaskId);
        Ok(match kind {
            Kind::PoolAnnouncement => {
                let pool = pool(r)?;
                let scheduler = IdentityProof::decode(r)?;
                let public = r.bool("announcement.public")?;
                let wanted_workers = r.u32("announcement.wanted_workers")?;
                let sequence = r.u64("announcement.sequence")?;
                let n = r.count("announcement.addrs", MAX_ADDRS)?;
                let mut addrs = Vec::with_capacity(n);
                for _ in 0..n {
                    let bytes = r.bytes("announcement.addr", MAX_ADDR_LEN)?;
                    // Refuse anything that does not re-encode to the same bytes (non-minimal
                    // varints…): one value, one encoding.
                    let addr = Multiaddr::try_from(bytes.to_vec())
                        .ok()
                        .filter(|addr| addr.as_ref() == bytes)
                        .ok_or(Error::InvalidTag { field: "announcement.addr", tag: 0 })?;
                    addrs.push(addr);
                }
                let metadata = r.string("announcement.metadata", MAX_METADATA)?;
                Self::PoolAnnouncement(PoolAnnouncement {
                    pool,
                    scheduler,
                    public,
                    wanted_workers,
                    sequence,
                    addrs,
                    metadata,
                })
            }
            Kind::SignedOrder => Self::SignedOrder(SignedOrder {
                pool: pool(r)?,
                order: r.bytes("order.order", MAX_ORDER)?.to_vec(),
                signature: r.fixed("order.signature")?,
            }),
            Kind::Hello => Self::Hello(IdentityProof::decode(r)?),
            Kind::HelloAck => Self::HelloAck(IdentityProof::decode(r)?),
            Kind::JoinRequest => {
                let pool = pool(r)?;
                let slots = r.u16("capabilities.slots")?;
                let memory_mib = r.u32("capabilities.memory_mib")?;
                let evaluators = r.u8("capabilities.evaluators")?;
                if evaluators & !evaluators::ALL != 0 {
                    return Err(Error::InvalidTag {
                        field: "capabilities.evaluators",
                        tag: evaluators,
                    });
                }
                let gpu_class = r.opt_string("capabilities.gpu_class", MAX_GPU_CLASS)?;
                let gpu_memory_mib = r.u32("capabilities.gpu_memory_mib")?;
                let float_probe = r.opt_string("capabilities.float_probe", MAX_FLOAT_PROBE)?;
                let credential =
                    if r.option("credential")? { Some(JoinCredential::decode(r)?) } else { None };
                Self::JoinRequest(JoinRequest {
                    pool,
                    capabilities: WorkerCapabilities {
                        slots,
                        memory_mib,
                        evaluators,
                        gpu_class,
                        gpu_memory_mib,
                        float_probe,
                    },
                    credential,
                })
            }
            Kind::JoinAccepted => Self::JoinAccepted(JoinAccepted {
                pool: pool(r)?,
                heartbeat_interval_s: r.u32("accepted.heartbeat_interval_s")?,
            }),
            Kind::JoinRefused => Self::JoinRefused(JoinRefused {
                pool: pool(r)?,
                reason: RefusalReason::from_tag(r.u8("refusal.reason")?)?,
                detail: r.string("refusal.detail", MAX_TEXT)?,
            }),
            Kind::Heartbeat => Self::Heartbeat(Heartbeat {
                pool: pool(r)?,
                free_slots: r.u16("heartbeat.free_slots")?,
                running: r.u16("heartbeat.running")?,
            }),
            Kind::TaskAssignment => {
                let pool = pool(r)?;
                let task = task(r)?;
                let job = ContentHash(r.b256("assignment.job")?);
                let input = match r.u8("assignment.input")? {
                    0 => TaskInput::Inline(r.bytes("assignment.input", MAX_CHUNK)?.to_vec()),
                    1 => TaskInput::ByHash {
                        hash: ContentHash(r.b256("assignment.input.hash")?),
                        size: r.u64("assignment.input.size")?,
                    },
                    tag => return Err(Error::InvalidTag { field: "assignment.input", tag }),
                };
                Self::TaskAssignment(TaskAssignment {
                    pool,
                    task,
                    job,
                    input,
                    round: r.u64("assignment.round")?,
                    authorization: r.fixed("assignment.authorization")?,
                    deadline: r.u64("assignment.deadline")?,
                })
            }
            Kind::ContributionNotice => Self::ContributionNotice(ContributionNotice {
                task: task(r)?,
                result_hash: ResultHash(r.b256("contribution.result_hash")?),
                tx: r.b256("contribution.tx")?,
            }),
            Kind::RevealRequest => Self::RevealRequest(RevealRequest { task: task(r)? }),
            Kind::ResultUpload => Self::ResultUpload(ResultUpload {
                task: task(r)?,
                result: r.bytes("result.bytes", MAX_CHUNK)?.to_vec(),
            }),
            Kind::Abort => {
                Self::Abort(Abort { task: task(r)?, reason: r.string("abort.reason", MAX_TEXT)? })
            }
            Kind::RecoveryRequest => {
                let pool = pool(r)?;
                let n = r.count("recovery.known", MAX_RECOVERY_TASKS)?;
                let mut known = Vec::with_capacity(n);
                for _ in 0..n {
                    known.push(task(r)?);
                }
                Self::RecoveryRequest(RecoveryRequest { pool, known })
            }
            Kind::RecoveryReport => {
                let pool = pool(r)?;
                let n = r.count("recovery.tasks", MAX_RECOVERY_TASKS)?;
                let mut tasks = Vec::with_capacity(n);
                for _ in 0..n {
                    let task = task(r)?;
                    let state = match r.u8("recovery.state")? {
                        0 => TaskState::Assigned,
                        1 => TaskState::RevealRequested,
                        2 => TaskState::Aborted,
                        3 => TaskState::Done,
                        tag => return Err(Error::InvalidTag { field: "recovery.state", tag }),
                    };
                    tasks.push(HeldTask { task, state });
                }
                Self::RecoveryReport(RecoveryReport { pool, tasks })
            }
            Kind::DataRequest => {
                let hash = ContentHash(r.b256("data.hash")?);
                let offset = r.u64("data.offset")?;
                let len = r.u64("data.len")?;
                let direct = r.bool("data.direct")?;
                Self::DataRequest(DataRequest { hash, offset, len, direct })
            }
            Kind::DataHeader => {
                let hash = ContentHash(r.b256("header.hash")?);
                let total = r.u64("header.total")?;
                let count = r.count("header.pieces", MAX_PIECES)?;
                let mut pieces = Vec::with_capacity(count);
                for _ in 0..count {
                    pieces.push(r.b256("header.piece")?);
                }
                let direct_port = r.u16("header.direct_port")?;
                Self::DataHeader(DataHeader { hash, total, pieces, direct_port })
            }
            Kind::DataUnavailable => {
                Self::DataUnavailable { hash: ContentHash(r.b256("data.hash")?) }
            }
            Kind::Ack => Self::Ack,
            Kind::Refused => Self::Refused { reason: r.string("refused.reason", MAX_TEXT)? },
            Kind::JobOffer => Self::JobOffer(JobOffer {
                pool: pool(r)?,
                job: ContentHash(r.b256("offer.job")?),
                order: r.b256("offer.order")?,
                task_count: r.u32("offer.task_count")?,
                trust: r.u32("offer.trust")?,
            }),
            Kind::JobStatusRequest => {
                Self::JobStatusRequest(JobStatusRequest { job: ContentHash(r.b256("job")?) })
            }
            Kind::JobStatus => {
                let job = ContentHash(r.b256("job")?);
                let state = match r.u8("job.state")? {
                    0 => JobState::Unknown,
                    1 => JobState::Fetching {
                        fetched: r.u32("job.fetched")?,
                        total: r.u32("job.total")?,
                    },
                    2 => JobState::Consented {
                        order: r.b256("job.consent.order")?,
                        task_count: r.u32("job.consent.task_count")?,
                        signature: r.fixed("job.consent.signature")?,
                    },
                    3 => JobState::Refused { reason: r.string("job.refused.reason", MAX_TEXT)? },
                    tag => return Err(Error::InvalidTag { field: "job.state", tag }),
                };
                Self::JobStatus(JobStatus { job, state })
            }
            Kind::DealStatusRequest => Self::DealStatusRequest(DealStatusRequest {
                deal: DealId(r.b256("deal")?),
                from: r.u32("deal.from")?,
                count: r.u32("deal.count")?,
                console_from: if r.option("deal.console_from")? {
                    Some(r.u64("deal.console_from")?)
                } else {
                    None
                },
            }),
            Kind::DealStatus => {
                let deal = DealId(r.b256("deal")?);
                let n = r.count("deal.tasks", MAX_DEAL_TASKS)?;
                let mut tasks = Vec::with_capacity(n);
                for _ in 0..n {
                    let index = r.u32("deal.task.index")?;
                    let phase = TaskPhase::from_tag(r.u8("deal.task.phase")?)?;
                    let progress = r.u16("deal.task.progress")?;
                    check_progress("deal.task.progress", progress)?;
                    let result = if r.option("deal.task.result")? {
                        Some(ContentHash(r.b256("deal.task.result")?))
                    } else {
                        None
                    };
                    let platform = r.u8("deal.task.platform")?;
                    tasks.push(TaskEntry { index, phase, progress, result, platform });
                }
                let n = r.count("deal.platforms", MAX_STATUS_PLATFORMS)?;
                let platforms = (0..n)
                    .map(|_| r.string("deal.platform", MAX_PLATFORM_NAME))
                    .collect::<Result<Vec<_>, _>>()?;
                if let Some(bad) = tasks.iter().find(|t| usize::from(t.platform) > platforms.len())
                {
                    return Err(Error::InvalidTag {
                        field: "deal.task.platform",
                        tag: bad.platform,
                    });
                }
                let n = r.count("deal.console", MAX_CONSOLE_ENTRIES)?;
                let mut console = Vec::with_capacity(n);
                for _ in 0..n {
                    let seq = r.u64("deal.console.seq")?;
                    let index = r.u32("deal.console.index")?;
                    console.push(ConsoleEntry { seq, index, line: decode_console(r)? });
                }
                let console_end = r.u64("deal.console_end")?;
                Self::DealStatus(DealStatus { deal, tasks, platforms, console, console_end })
            }
            Kind::TaskReport => {
                let task = task(r)?;
                let report = match r.u8("report")? {
                    0 => {
                        let per_mille = r.u16("report.progress")?;
                        check_progress("report.progress", per_mille)?;
                        Report::Progress(per_mille)
                    }
                    1 => Report::Failed {
                        kind: r.string("report.kind", MAX_FAILURE_KIND)?,
                        message: r.string("report.message", MAX_TEXT)?,
                    },
                    2 => {
                        let dropped = r.u32("report.dropped")?;
                        let n = r.count("report.console", MAX_CONSOLE_BATCH)?;
                        let lines = (0..n).map(|_| decode_console(r)).collect::<Result<_, _>>()?;
                        Report::Console { lines, dropped }
                    }
                    tag => return Err(Error::InvalidTag { field: "report", tag }),
                };
                Self::TaskReport(TaskReport { task, report })
            }
        })
    }
}

/// `text` cut to at most `max` bytes on a character boundary, with `…` marking a cut: so a
/// free-text field (a reason, a failure message) always fits its cap.
pub fn fit_text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let ellipsis = '…';
    // Room for the mark when the cap leaves any.
    let mark = max >= ellipsis.len_utf8() * 2;
    let mut end = if mark { max - ellipsis.len_utf8() } else { max }.min(text.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = text.get(..end).unwrap_or_default().to_owned();
    if mark {
        out.push(ellipsis);
    }
    out
}

fn encode_console(w: &mut Writer, line: &ConsoleLine) {
    w.u8(line.level as u8);
    w.string("console.text", &line.text, MAX_CONSOLE_LINE);
}

fn decode_console(r: &mut Reader<'_>) -> Result<ConsoleLine, Error> {
    let level = ConsoleLevel::from_tag(r.u8("console.level")?)?;
    Ok(ConsoleLine { level, text: r.string("console.text", MAX_CONSOLE_LINE)? })
}

/// Refuses a progress over [`MAX_PROGRESS`] per mille in `field`.
fn check_progress(field: &'static str, progress: u16) -> Result<(), Error> {
    if progress > MAX_PROGRESS {
        return Err(Error::FieldTooLarge {
            field,
            len: usize::from(progress),
            max: usize::from(MAX_PROGRESS),
        });
    }
    Ok(())
}

/// The announcement's scheduler address, for callers that index pools by owner.
impl PoolAnnouncement {
    /// The address the scheduler's proof claims (the pool owner, once verified).
    pub fn owner(&self) -> Address {
        self.scheduler.address
    }
}

#[cfg(test)]
mod tests;

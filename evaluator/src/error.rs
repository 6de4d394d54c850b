//! The crate's one error type.

use std::path::PathBuf;

use crate::v8lib::{EXPECTED_V8_SERIES, ICU_DATA_FILE, V8_DIR_ENV};

/// Everything that can go wrong in the evaluator, from loading V8 to a task's own failure.
///
/// Messages that concern the installation name the setup command.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// No directory in the search order holds the library.
    #[error(
        "V8 (libmini_racer.so) not found; looked in: {}. Run ./scripts/setup, or set {V8_DIR_ENV} to a directory holding libmini_racer.so and icudtl.dat",
        .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound {
        /// Every directory tried, in order.
        searched: Vec<PathBuf>,
    },
    /// The library file is there but ICU data is not.
    #[error("{} is missing beside {}: run ./scripts/setup", ICU_DATA_FILE, .dir.display())]
    MissingIcuData {
        /// The directory holding the library.
        dir: PathBuf,
    },
    /// The dynamic loader refused the file, or a symbol is missing.
    #[error("cannot load {}: {reason}; run ./scripts/setup to reinstall it", .path.display())]
    Load {
        /// The file that failed.
        path: PathBuf,
        /// The loader's words.
        reason: String,
    },
    /// The library is a different V8 than the one this evaluator supports.
    #[error(
        "{} is V8 {found}, but V8 {EXPECTED_V8_SERIES}x is required: run ./scripts/setup",
        .path.display()
    )]
    WrongVersion {
        /// The file loaded.
        path: PathBuf,
        /// The version it reported.
        found: String,
    },
    /// libmini_racer refused an operation (a null handle, V8 initialised twice, ...).
    #[error("V8 engine failure: {reason}")]
    Engine {
        /// What failed.
        reason: String,
    },
    /// JavaScript threw (or failed to parse) while the evaluator ran its own code.
    #[error("JavaScript {kind}: {message}")]
    Js {
        /// `exception`, `parse error`, ...
        kind: &'static str,
        /// V8's message, with its stack where there is one.
        message: String,
    },
    /// A task failed; `kind` says how (see [`TaskErrorKind`]).
    #[error("task failed ({kind}): {message}")]
    Task {
        /// The class of failure.
        kind: TaskErrorKind,
        /// A human-readable explanation.
        message: String,
    },
    /// The job's code is not what the content hash says, or does not define a work function.
    #[error("job rejected: {reason}")]
    Job {
        /// Why.
        reason: String,
    },
    /// A frame or message of the worker↔evaluator protocol is malformed.
    #[error("protocol error: {reason}")]
    Protocol {
        /// What was wrong.
        reason: String,
    },
    /// A frame is larger than the receiver accepts.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Declared length.
        len: u64,
        /// The receiver's cap.
        max: u64,
    },
    /// The peer speaks another protocol version.
    #[error("protocol version {got} is not supported (this build speaks {want})")]
    Version {
        /// What arrived.
        got: u8,
        /// What this build speaks.
        want: u8,
    },
    /// An I/O operation on the pipe or the process failed.
    #[error("{op}: {reason}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The OS's words.
        reason: String,
    },
    /// The sandbox process did not answer in time or died.
    #[error("sandbox process failed: {reason}")]
    Sandbox {
        /// What happened.
        reason: String,
    },
}

/// How a task failed. Travels in the protocol; stable names (snake_case).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskErrorKind {
    /// The work function threw, or its promise rejected (with an error or any other value).
    Threw,
    /// The input or arguments are not valid JSON (or not an array of arguments).
    BadInput,
    /// The result cannot be encoded canonically (cycle, non-finite number, BigInt, Map, too deep).
    BadResult,
    /// The result, as sent, exceeds the output cap.
    OutputTooLarge,
    /// The wall-clock limit passed (the task's own code, or work it left running after its
    /// answer).
    Timeout,
    /// No `progress()` call within the watchdog interval.
    ProgressStalled,
    /// The task's memory (V8 heap and memory outside it) passed its cap.
    HeapLimit,
    /// The work function returned a promise that can never settle.
    NeverSettled,
    /// No job is loaded.
    NoJob,
    /// The job's code, loaded again on a fresh context before this task, failed or passed its
    /// load limits.
    LoadFailed,
    /// The engine or process failed underneath the task.
    Internal,
}

impl TaskErrorKind {
    const ALL: [Self; 11] = [
        Self::Threw,
        Self::BadInput,
        Self::BadResult,
        Self::OutputTooLarge,
        Self::Timeout,
        Self::ProgressStalled,
        Self::HeapLimit,
        Self::NeverSettled,
        Self::NoJob,
        Self::LoadFailed,
        Self::Internal,
    ];

    /// The stable name (as in the protocol).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Threw => "threw",
            Self::BadInput => "bad_input",
            Self::BadResult => "bad_result",
            Self::OutputTooLarge => "output_too_large",
            Self::Timeout => "timeout",
            Self::ProgressStalled => "progress_stalled",
            Self::HeapLimit => "heap_limit",
            Self::NeverSettled => "never_settled",
            Self::NoJob => "no_job",
            Self::LoadFailed => "load_failed",
            Self::Internal => "internal",
        }
    }

    /// The kind with this stable name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Kinds the JavaScript runtime itself reports; any other kind in its answer is the job's
    /// doing and read as `threw`.
    pub(crate) fn is_reported_by_the_runtime(&self) -> bool {
        matches!(
            self,
            Self::Threw
                | Self::BadInput
                | Self::BadResult
                | Self::OutputTooLarge
                | Self::NoJob
                | Self::NeverSettled
        )
    }

    /// True when every replica reproduces this failure wherever it runs, so it is the task's
    /// outcome, voted on like a value: the work function threw or its promise can never settle,
    /// its input, arguments or result were invalid, its result is over the job's cap. A
    /// timeout, a memory cap, a stalled watchdog, a failed reload and the sandbox's own failures
    /// depend on the machine: those are reported and the task tried elsewhere, never voted.
    pub fn is_agreed_outcome(&self) -> bool {
        matches!(
            self,
            Self::Threw
                | Self::BadInput
                | Self::BadResult
                | Self::OutputTooLarge
                | Self::NeverSettled
        )
    }

    /// True when the job, not the sandbox, is to blame: every replica running the same job
    /// would fail the same way (resources aside).
    pub fn is_jobs_fault(&self) -> bool {
        !matches!(self, Self::NoJob | Self::Internal)
    }
}

impl std::fmt::Display for TaskErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Error {
    pub(crate) fn engine(reason: impl Into<String>) -> Self {
        Self::Engine { reason: reason.into() }
    }

    pub(crate) fn task(kind: TaskErrorKind, message: impl Into<String>) -> Self {
        Self::Task { kind, message: message.into() }
    }

    pub(crate) fn io(op: &'static str, e: &std::io::Error) -> Self {
        Self::Io { op, reason: e.to_string() }
    }

    /// The task error kind, when this is a task failure.
    pub fn task_kind(&self) -> Option<TaskErrorKind> {
        match self {
            Self::Task { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_match_the_protocol_and_round_trip() {
        for kind in TaskErrorKind::ALL {
            assert_eq!(TaskErrorKind::from_name(kind.name()), Some(kind));
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{}\"", kind.name()));
        }
        assert_eq!(TaskErrorKind::from_name("nope"), None);
        assert!(TaskErrorKind::LoadFailed.is_jobs_fault());
        assert!(!TaskErrorKind::Internal.is_jobs_fault());
    }
}

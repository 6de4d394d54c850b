//! Crash points for the fault tests: with `QUORATE_CRASH_AT=<role>.<stage>` in its environment, a
//! debug build of `quorate` kills itself with SIGKILL the first time it reaches that stage,
//! exactly as `kill -9` at that moment would (no destructor runs, nothing is flushed). The tests
//! start a role with a crash point, wait for it to die there, start it again without one, and
//! check that the job completes and nothing is lost or paid twice. Release builds have no crash
//! points: [`at`] is empty there.
//!
//! The stages, each named where it is reached:
//!
//! | point | reached |
//! |---|---|
//! | `scheduler.deal` | a batch with a new deal is stored (its first initialize may be on its way) |
//! | `scheduler.send-initialize` / `-finalize` / `-reopen` | the call is decided and stored, before it is sent |
//! | `scheduler.mined-initialize` / `-finalize` / `-reopen` | the call is mined, before its event is read |
//! | `scheduler.contribution` | a batch with a contribution is stored (others may be pending) |
//! | `scheduler.reveal` | a batch with a reveal is stored (the task is revealing, not finalized) |
//! | `worker.<phase>` | a held task entered that phase and was stored (`computed`, `contributed`, `revealing`, `revealed`, …) |
//! | `worker.uploading` | a result upload starts |
//! | `chain.sent` | a transaction was accepted by the node, before its receipt (a client's first is its deal) |

/// The environment variable naming the crash point.
pub const CRASH_AT: &str = "QUORATE_CRASH_AT";

/// Kills this process (SIGKILL) when `QUORATE_CRASH_AT` names `<role>.<stage>`; debug builds
/// only.
#[cfg(debug_assertions)]
#[allow(clippy::print_stderr, reason = "the one line a crash point leaves")]
pub fn at(role: &str, stage: &str) {
    static WANTED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let Some(wanted) = WANTED.get_or_init(|| std::env::var(CRASH_AT).ok()) else { return };
    let hit = wanted.split_once('.').is_some_and(|(r, s)| r == role && s == stage);
    if hit {
        // Said on stderr first, so the test's log shows where the process died.
        eprintln!("crash point {role}.{stage}: killed");
        kill_self();
    }
}

/// No crash points in release builds.
#[cfg(not(debug_assertions))]
pub fn at(_role: &str, _stage: &str) {}

#[cfg(debug_assertions)]
#[allow(unsafe_code, reason = "kill(2) on this process: SIGKILL, as kill -9 sends it")]
fn kill_self() {
    // SAFETY: kill(2) with this process's own id and a valid signal number; no memory is
    // touched.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    // SIGKILL cannot be caught; should it somehow return, abort all the same.
    std::process::abort();
}

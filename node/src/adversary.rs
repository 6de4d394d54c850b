//! Adversaries for the fault tests: with `QUORATE_ADVERSARY=<kind>` in its environment, a debug
//! build of `quorate worker run` cheats in one way, so that the tests can check, on real
//! processes and the real Hub, that cheating costs the cheater and nobody else. Release builds
//! never cheat: [`worker`] is always [`Adversary::Honest`] there.
//!
//! | kind | the worker |
//! |---|---|
//! | `wrong` | votes (and reveals) the digest of a result it changed: it loses the vote, its stake and its score, and the pool bars it |
//! | `withhold` | votes honestly and never reveals: its stake is forfeited when the task is finalized without it |
//! | `lazy` | computes nothing: copies the first vote it sees on chain for its task, with a seal it cannot make right; its reveal fails and its stake is forfeited |
//! | `noisy` | not a cheat: a machine whose results differ from every other's (as a job that reads something each replica sees differently would): replicas never agree, and the pool gives the task up at its replica cap |

use quorate_primitives::{ResultDigest, ResultHash, TaskId};

/// How a worker behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adversary {
    /// As the protocol says.
    Honest,
    /// Votes a result it changed.
    Wrong,
    /// Never reveals.
    Withhold,
    /// Copies another worker's vote instead of computing.
    Lazy,
    /// Computes results no other replica shares.
    Noisy,
}

/// The environment variable naming the adversary.
pub const ADVERSARY: &str = "QUORATE_ADVERSARY";

/// The environment variable that makes a debug build's worker report another floating-point
/// probe than its sandbox measured: the tests make two groups of workers of different float
/// classes on one machine, as two kinds of GPU or CPU would be.
pub const FLOAT_PROBE: &str = "QUORATE_FLOAT_PROBE";

/// The float probe a worker reports: `measured`, or `QUORATE_FLOAT_PROBE` in debug builds.
pub fn float_probe(measured: Option<String>) -> Option<String> {
    #[cfg(debug_assertions)]
    if let Ok(forced) = std::env::var(FLOAT_PROBE)
        && !forced.is_empty()
    {
        return Some(forced);
    }
    measured
}

/// This process's worker behaviour: `QUORATE_ADVERSARY` in debug builds, honest otherwise.
pub fn worker() -> Adversary {
    #[cfg(debug_assertions)]
    {
        static KIND: std::sync::OnceLock<Adversary> = std::sync::OnceLock::new();
        *KIND.get_or_init(|| match std::env::var(ADVERSARY).as_deref() {
            Ok("wrong") => Adversary::Wrong,
            Ok("withhold") => Adversary::Withhold,
            Ok("lazy") => Adversary::Lazy,
            Ok("noisy") => Adversary::Noisy,
            _ => Adversary::Honest,
        })
    }
    #[cfg(not(debug_assertions))]
    Adversary::Honest
}

/// The result bytes a worker votes: changed by a `wrong` adversary, and made this process's
/// own by a `noisy` one.
pub fn result(mut bytes: Vec<u8>) -> Vec<u8> {
    match worker() {
        Adversary::Wrong => bytes.push(b' '),
        Adversary::Noisy => bytes.extend_from_slice(format!(" {}", std::process::id()).as_bytes()),
        _ => {}
    }
    bytes
}

/// The votes a `lazy` adversary copied, by task.
fn copies() -> &'static std::sync::Mutex<std::collections::HashMap<TaskId, ResultHash>> {
    static COPIES: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<TaskId, ResultHash>>,
    > = std::sync::OnceLock::new();
    COPIES.get_or_init(Default::default)
}

/// A `lazy` adversary waits for another worker's vote on `task` to show on chain (one already
/// there included) and copies it as its own.
pub async fn copy_a_vote(
    provider: &alloy::providers::RootProvider,
    hub: alloy::primitives::Address,
    task: TaskId,
    me: alloy::primitives::Address,
) {
    use alloy::{providers::Provider as _, rpc::types::Filter, sol_types::SolEvent as _};
    use quorate_contracts::bindings::Hub;
    let filter = Filter::new()
        .address(hub)
        .event_signature(Hub::TaskContributed::SIGNATURE_HASH)
        .topic1(task.0)
        .from_block(0);
    loop {
        let logs = provider.get_logs(&filter).await.unwrap_or_default();
        let other = logs
            .iter()
            .filter_map(|log| Hub::TaskContributed::decode_log(&log.inner).ok())
            .find(|e| e.worker != me);
        if let Some(e) = other {
            if let Ok(mut copies) = copies().lock() {
                copies.insert(task, ResultHash::from(e.resultHash));
            }
            return;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// The vote a worker sends on `task` for `digest`: its own, or the one a `lazy` adversary
/// copied.
pub fn vote(task: TaskId, digest: ResultDigest) -> ResultHash {
    if worker() == Adversary::Lazy
        && let Some(hash) = copies().lock().ok().and_then(|c| c.get(&task).copied())
    {
        return hash;
    }
    digest.vote(task)
}

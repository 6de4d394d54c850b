//! Adversaries for the fault tests: with `QUORATE_ADVERSARY=<kind>` in its environment, a debug
//! build of `quorate worker run` cheats in one way, so that the tests can check, on real
//! processes and the real Hub, that cheating costs the cheater and nobody else. Release builds
//! never cheat: [`worker`] is always [`Adversary::Honest`] there.
//!
//! | kind | the worker |
//! |---|---|
//! | `wrong` | votes (and reveals) the digest of a result it changed: it loses the vote, its stake and its score, and the pool bars it |
//! | `withhold` | votes honestly and never reveals: its stake is forfeited when the task is finalized without it |

/// How a worker behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adversary {
    /// As the protocol says.
    Honest,
    /// Votes a result it changed.
    Wrong,
    /// Never reveals.
    Withhold,
}

/// The environment variable naming the adversary.
pub const ADVERSARY: &str = "QUORATE_ADVERSARY";

/// This process's worker behaviour: `QUORATE_ADVERSARY` in debug builds, honest otherwise.
pub fn worker() -> Adversary {
    #[cfg(debug_assertions)]
    {
        static KIND: std::sync::OnceLock<Adversary> = std::sync::OnceLock::new();
        *KIND.get_or_init(|| match std::env::var(ADVERSARY).as_deref() {
            Ok("wrong") => Adversary::Wrong,
            Ok("withhold") => Adversary::Withhold,
            _ => Adversary::Honest,
        })
    }
    #[cfg(not(debug_assertions))]
    Adversary::Honest
}

/// The result bytes a worker votes: changed by a `wrong` adversary.
pub fn result(mut bytes: Vec<u8>) -> Vec<u8> {
    if worker() == Adversary::Wrong {
        bytes.push(b' ');
    }
    bytes
}

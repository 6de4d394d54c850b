//! # quorate-e2e
//!
//! End-to-end scenarios: whole networks started with `quorate-devnet`, driven as users drive
//! them, with faults injected. The scenarios are the integration tests in `tests/it/`; this
//! library holds what they share.
//!
//! | item | contents |
//! |---|---|
//! | [`toolchain_report`] | the node's own `doctor` checks, as one string for assertion messages |

/// Runs the node's installation checks and returns them, one per line, with whether all passed.
pub fn toolchain_report() -> (bool, String) {
    let checks = quorate_node::doctor::run();
    let all_ok = checks.iter().all(quorate_node::doctor::Check::is_ok);
    let text = checks.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    (all_ok, text)
}

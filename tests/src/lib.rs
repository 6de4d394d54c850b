//! # quorate-e2e
//!
//! End-to-end scenarios: whole networks started with `quorate-devnet`, driven as users drive
//! them, with faults injected. The scenarios are the integration tests in `tests/it/`; this
//! library holds what they share.
//!
//! | item | contents |
//! |---|---|
//! | [`toolchain_report`] | the node's own `doctor` checks, as one string for assertion messages |
//! | [`program`] | a binary of the workspace beside the running example, built when missing |
//! | [`roles`] | the roles as `quorate` processes: a pool, its scheduler and workers, killed and started again at will |
//! | [`invariants`] | ROLES.md's money invariants, read from the Hub's events alone |

pub mod invariants;
pub mod roles;

/// Runs the node's installation checks and returns them, one per line, with whether all passed.
pub fn toolchain_report() -> (bool, String) {
    let evaluator = program("quorate-evaluator", "quorate-evaluator").unwrap_or_default();
    let checks = quorate_node::doctor::run(&evaluator, true);
    let all_ok = checks.iter().all(quorate_node::doctor::Check::is_ok);
    let text = checks.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    (all_ok, text)
}

/// The workspace binary `bin` of package `package`, beside the running example
/// (`target/<profile>/examples/x` → `target/<profile>/bin`); built first, in the same profile,
/// when it is missing.
pub fn program(package: &str, bin: &str) -> Result<std::path::PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let profile_dir = exe
        .parent()
        .and_then(|examples| examples.parent())
        .ok_or("cannot tell where this example was built")?;
    let program = profile_dir.join(bin);
    if !program.exists() {
        let release = profile_dir.ends_with("release");
        // Said on stderr: the build takes a while.
        #[allow(clippy::print_stderr, reason = "the one line a long first build shows")]
        {
            eprintln!("building {bin} ({})…", if release { "release" } else { "debug" });
        }
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = std::process::Command::new(cargo);
        build.args(["build", "-p", package, "--bin", bin]);
        if release {
            build.arg("--release");
        }
        let built = build.status().map_err(|e| e.to_string())?.success();
        if !built {
            return Err(format!("building {bin} failed"));
        }
    }
    Ok(program)
}

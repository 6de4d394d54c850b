//! `quorate doctor`: is everything this node needs installed, and does it work?
//!
//! Each check says what it found, or what is missing and what to do, so a missing tool is a
//! sentence, not a stack trace.
//!
//! | check | what |
//! |---|---|
//! | [`run`] | what a node needs: V8, the sandbox program, a Vulkan driver; with `--devnet` anvil, forge and cast |
//! | [`evaluator`] | `--evaluator`: a sandbox started, its capabilities, a test task through it |
//! | [`network`] | `--chain`: the RPC endpoint and the Hub; `--pool N`: the pool on chain and its scheduler over the network |

pub mod evaluator;
pub mod network;

use std::{fmt, path::Path};

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// `Ok(what was found)` or `Err(what is wrong and what to do)`.
    pub outcome: Result<String, String>,
}

impl Check {
    /// A check named `name` with `outcome`.
    pub fn new(name: &str, outcome: Result<String, String>) -> Self {
        Self { name: name.to_owned(), outcome }
    }

    /// True when the check passed.
    pub fn is_ok(&self) -> bool {
        self.outcome.is_ok()
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Ok(found) => write!(f, "ok       {:<12} {found}", self.name),
            Err(problem) => write!(f, "FAILED   {:<12} {problem}", self.name),
        }
    }
}

/// Where Mesa's CPU Vulkan driver (lavapipe) registers itself.
const LAVAPIPE_ICD_DIR: &str = "/usr/share/vulkan/icd.d";

/// What a node needs installed: V8, the sandbox program `program`, a Vulkan driver; with
/// `devnet`, the tools a local devnet runs (anvil, forge, cast).
pub fn run(program: &Path, devnet: bool) -> Vec<Check> {
    let mut checks: Vec<Check> = Vec::new();
    if devnet {
        checks.extend(["anvil", "forge", "cast"].into_iter().map(|tool| {
            Check::new(
                tool,
                quorate_contracts::foundry::find(tool)
                    .map(|path| path.display().to_string())
                    .map_err(|e| e.to_string()),
            )
        }));
    }
    checks.push(Check::new(
        "sandbox",
        if program.is_file() {
            Ok(program.display().to_string())
        } else {
            Err(format!(
                "no sandbox program at {}: install quorate-evaluator beside quorate, or set evaluator.program",
                program.display()
            ))
        },
    ));
    checks.push(Check {
        name: "v8".into(),
        outcome: quorate_evaluator::v8lib::V8Library::locate()
            .map(|v8| format!("V8 {} in {}", v8.version(), v8.dir().display()))
            .map_err(|e| e.to_string()),
    });
    checks.push(Check::new("vulkan", vulkan_cpu_driver(Path::new(LAVAPIPE_ICD_DIR))));
    checks
}

/// Looks for a Vulkan ICD manifest of Mesa's lavapipe, which gives wgpu a CPU adapter.
fn vulkan_cpu_driver(icd_dir: &Path) -> Result<String, String> {
    let missing = || {
        format!(
            "no CPU Vulkan driver (lavapipe) in {}: run ./scripts/setup (installs mesa-vulkan-drivers and libvulkan1)",
            icd_dir.display()
        )
    };
    let entries = std::fs::read_dir(icd_dir).map_err(|_| missing())?;
    entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("lvp_icd")))
        .map(|path| path.display().to_string())
        .ok_or_else(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_vulkan_driver_names_the_setup_command() {
        let err = vulkan_cpu_driver(Path::new("/nonexistent/icd.d")).unwrap_err();
        assert!(err.contains("./scripts/setup"), "{err}");
    }

    #[test]
    fn lines_are_readable() {
        let ok = Check::new("v8", Ok("V8 14.4".into()));
        assert_eq!(ok.to_string(), "ok       v8           V8 14.4");
        let bad = Check::new("anvil", Err("run ./scripts/setup".into()));
        assert!(bad.to_string().starts_with("FAILED   anvil"));
    }
}

//! Where the pinned Foundry binaries are.
//!
//! Looked for, in order: in `$QUORATE_FOUNDRY_BIN` (a directory), in the checkout's
//! `node_modules/.bin` (what `scripts/setup` installs from the npm lockfile), then on `PATH`.

use std::path::{Path, PathBuf};

/// The environment variable naming a directory that holds `anvil`, `forge` and `cast`.
pub const FOUNDRY_BIN_ENV: &str = "QUORATE_FOUNDRY_BIN";

/// A Foundry binary that is not installed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{tool} not found (looked in {}): run ./scripts/setup", .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
pub struct ToolNotFound {
    /// The binary's name.
    pub tool: &'static str,
    /// Every directory looked in.
    pub searched: Vec<PathBuf>,
}

/// The directories searched for Foundry binaries, in order, before `PATH`.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os(FOUNDRY_BIN_ENV).filter(|v| !v.is_empty()) {
        dirs.push(PathBuf::from(dir));
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../node_modules/.bin"));
    dirs
}

/// Finds the Foundry binary `tool` (`"anvil"`, `"forge"` or `"cast"`).
pub fn find(tool: &'static str) -> Result<PathBuf, ToolNotFound> {
    let mut searched = search_dirs();
    if let Some(path) = std::env::var_os("PATH") {
        searched.extend(std::env::split_paths(&path));
    }
    searched
        .iter()
        .map(|dir| dir.join(tool))
        .find(|candidate| is_executable(candidate))
        .ok_or(ToolNotFound { tool, searched })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_that_does_not_exist_lists_where_it_was_looked_for() {
        let err = find("no-such-foundry-tool").unwrap_err();
        assert!(err.searched.iter().any(|d| d.ends_with("node_modules/.bin")));
        assert!(err.to_string().contains("./scripts/setup"), "{err}");
    }
}

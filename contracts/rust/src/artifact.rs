//! Compiled contract artifacts as forge writes them (`out/<Source>.sol/<Contract>.json`).

use std::path::{Path, PathBuf};

use alloy_primitives::Bytes;
use serde::Deserialize;

/// The Foundry project of this checkout (`contracts/`).
pub fn foundry_project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Why an artifact could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// forge has not built this contract (or the name is wrong).
    #[error("no artifact for {contract} at {}: run `forge build` in contracts/ (./scripts/setup installs forge)", .path.display())]
    Missing {
        /// The contract's name.
        contract: String,
        /// Where it was expected.
        path: PathBuf,
    },
    /// The file is not a forge artifact.
    #[error("{} is not a forge artifact: {reason}", .path.display())]
    Malformed {
        /// The file read.
        path: PathBuf,
        /// The parser's words.
        reason: String,
    },
}

/// A compiled contract: its ABI and its creation and runtime bytecode.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The contract's name.
    pub name: String,
    /// The JSON ABI, as forge wrote it.
    pub abi: serde_json::Value,
    /// Creation bytecode (what a deployment sends).
    pub bytecode: Bytes,
    /// Runtime bytecode (what ends up at the contract's address).
    pub deployed_bytecode: Bytes,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ForgeArtifact {
    abi: serde_json::Value,
    bytecode: ForgeBytecode,
    deployed_bytecode: ForgeBytecode,
}

#[derive(Deserialize)]
struct ForgeBytecode {
    object: Bytes,
}

impl Artifact {
    /// Loads contract `name`, compiled from `src/<name>.sol`, from `project/out`.
    pub fn load(project: &Path, name: &str) -> Result<Self, ArtifactError> {
        let path = project.join("out").join(format!("{name}.sol")).join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path).map_err(|_| ArtifactError::Missing {
            contract: name.to_owned(),
            path: path.clone(),
        })?;
        Self::parse(name, &text).map_err(|reason| ArtifactError::Malformed { path, reason })
    }

    /// Parses a forge artifact's JSON text.
    pub fn parse(name: &str, json: &str) -> Result<Self, String> {
        let raw: ForgeArtifact = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if !raw.abi.is_array() {
            return Err("abi is not an array".into());
        }
        Ok(Self {
            name: name.to_owned(),
            abi: raw.abi,
            bytecode: raw.bytecode.object,
            deployed_bytecode: raw.deployed_bytecode.object,
        })
    }

    /// True when the ABI declares a function called `name`.
    pub fn has_function(&self, name: &str) -> bool {
        self.abi.as_array().is_some_and(|items| {
            items.iter().any(|item| item["type"] == "function" && item["name"] == name)
        })
    }
}

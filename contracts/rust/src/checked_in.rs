//! The ABI and bytecode checked in under `contracts/abi/`, from which [`crate::bindings`] are
//! generated, and their comparison with what forge builds from the sources.
//!
//! The files are `{"abi": [...], "bytecode": "0x...", "deployedBytecode": "0x..."}`, written by
//! [`write`] from forge's `out/`. [`check`] fails with [`Error::Drift`] when a source change
//! was not followed by regenerating them.

use std::path::{Path, PathBuf};

use alloy::primitives::Bytes;
use serde::{Deserialize, Serialize};

use crate::{Error, artifact::Artifact};

/// The contracts that have checked-in bindings.
pub const CONTRACTS: [&str; 2] = ["QuorateCredit", "Hub"];

/// `project/abi/<name>.json`.
pub fn path(project: &Path, name: &str) -> PathBuf {
    project.join("abi").join(format!("{name}.json"))
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
struct CheckedIn {
    abi: serde_json::Value,
    bytecode: Bytes,
    deployed_bytecode: Bytes,
}

fn read(project: &Path, name: &str) -> Result<CheckedIn, Error> {
    let file = path(project, name);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| Error::CheckedIn { path: file.clone(), reason: e.to_string() })?;
    serde_json::from_str(&text).map_err(|e| Error::CheckedIn { path: file, reason: e.to_string() })
}

/// Compares the checked-in files of contract `name` with forge's build of it.
pub fn check(project: &Path, name: &str) -> Result<(), Error> {
    let built = Artifact::load(project, name)?;
    let checked = read(project, name)?;
    let drift = |what| Error::Drift { contract: name.to_owned(), what };
    if checked.abi != built.abi {
        return Err(drift("abi"));
    }
    if checked.bytecode != built.bytecode {
        return Err(drift("bytecode"));
    }
    if checked.deployed_bytecode != built.deployed_bytecode {
        return Err(drift("deployedBytecode"));
    }
    Ok(())
}

/// Writes the checked-in files of contract `name` from forge's build of it.
pub fn write(project: &Path, name: &str) -> Result<(), Error> {
    let built = Artifact::load(project, name)?;
    let file = path(project, name);
    let content = CheckedIn {
        abi: built.abi,
        bytecode: built.bytecode,
        deployed_bytecode: built.deployed_bytecode,
    };
    let mut text = serde_json::to_string_pretty(&content)
        .map_err(|e| Error::CheckedIn { path: file.clone(), reason: e.to_string() })?;
    text.push('\n');
    std::fs::write(&file, text).map_err(|e| Error::CheckedIn { path: file, reason: e.to_string() })
}

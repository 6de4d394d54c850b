use quorate_contracts::{
    artifact::foundry_project_dir,
    checked_in::{CONTRACTS, check, write},
};

use crate::forge_build;

/// The bindings are generated from abi/*.json: they must be what forge builds from src/.
/// `QUORATE_UPDATE_ABI=1` rewrites them from the build first.
#[test]
fn checked_in_abi_and_bytecode_match_the_forge_build() {
    forge_build();
    let project = foundry_project_dir();
    let update = std::env::var_os("QUORATE_UPDATE_ABI").is_some_and(|v| v == "1");
    for name in CONTRACTS {
        if update {
            write(&project, name).unwrap_or_else(|e| panic!("{e}"));
        }
        check(&project, name).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A checked-in file that differs from the build is reported, naming what differs.
#[test]
fn a_stale_checked_in_file_is_reported() {
    forge_build();
    let project = foundry_project_dir();
    let scratch = std::env::temp_dir().join(format!("quorate-checked-in-{}", std::process::id()));
    let built = scratch.join("out").join("QuorateCredit.sol");
    std::fs::create_dir_all(&built).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(scratch.join("abi")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(
        project.join("out/QuorateCredit.sol/QuorateCredit.json"),
        built.join("QuorateCredit.json"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    write(&scratch, "QuorateCredit").unwrap_or_else(|e| panic!("{e}"));
    check(&scratch, "QuorateCredit").unwrap_or_else(|e| panic!("{e}"));

    let file = scratch.join("abi/QuorateCredit.json");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}"));
    let mut json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    json["deployedBytecode"] = serde_json::Value::String("0x00".into());
    std::fs::write(&file, json.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let err = check(&scratch, "QuorateCredit").unwrap_err();
    assert!(
        matches!(err, quorate_contracts::Error::Drift { what: "deployedBytecode", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("QUORATE_UPDATE_ABI=1"), "{err}");
    std::fs::remove_dir_all(&scratch).unwrap_or_else(|e| panic!("{e}"));
}

use quorate_contracts::artifact::{Artifact, ArtifactError, foundry_project_dir};

use crate::forge_build;

#[test]
fn the_credit_token_artifact_has_its_abi_and_code() {
    forge_build();
    let credit =
        Artifact::load(&foundry_project_dir(), "QuorateCredit").unwrap_or_else(|e| panic!("{e}"));
    for f in ["mint", "transfer", "balanceOf", "approve", "transferFrom"] {
        assert!(credit.has_function(f), "QuorateCredit lacks {f}");
    }
    assert!(!credit.has_function("burnEverything"));
    assert!(
        credit.bytecode.len() > credit.deployed_bytecode.len(),
        "creation code wraps runtime code"
    );
    assert!(!credit.deployed_bytecode.is_empty());
}

#[test]
fn a_missing_contract_names_the_build_command() {
    let err = Artifact::load(&foundry_project_dir(), "NoSuchContract").unwrap_err();
    assert!(matches!(err, ArtifactError::Missing { .. }));
    assert!(err.to_string().contains("forge build"), "{err}");
}

#[test]
fn malformed_artifacts_are_refused() {
    assert!(Artifact::parse("X", "{}").is_err());
    assert!(Artifact::parse("X", "not json").is_err());
    assert!(
        Artifact::parse(
            "X",
            r#"{"abi":{},"bytecode":{"object":"0x"},"deployedBytecode":{"object":"0x"}}"#
        )
        .is_err()
    );
    assert!(
        Artifact::parse(
            "X",
            r#"{"abi":[],"bytecode":{"object":"0xzz"},"deployedBytecode":{"object":"0x"}}"#
        )
        .is_err()
    );
    let ok = Artifact::parse(
        "X",
        r#"{"abi":[],"bytecode":{"object":"0x6001"},"deployedBytecode":{"object":"0x01"}}"#,
    )
    .unwrap();
    assert_eq!(ok.bytecode.len(), 2);
}

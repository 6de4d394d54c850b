use quorate_devnet::{Anvil, AnvilConfig, DevnetError};

#[tokio::test]
async fn anvil_starts_on_a_free_port_and_answers() {
    let chain = Anvil::spawn(AnvilConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_ne!(chain.port(), 0);
    assert_eq!(chain.chain_id().await.unwrap(), 31337);
    let accounts = chain.rpc("eth_accounts", serde_json::json!([])).await.unwrap();
    assert_eq!(accounts.as_array().map(Vec::len), Some(10));
    // The first dev key is anvil's well-known one for its first account.
    assert_eq!(chain.private_keys().len(), 10);
    assert_eq!(
        chain.private_keys()[0].to_string(),
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    );
}

#[tokio::test]
async fn two_chains_run_side_by_side_and_stop_on_drop() {
    let a =
        Anvil::spawn(AnvilConfig { chain_id: Some(7), accounts: 2, ..Default::default() }).unwrap();
    let b = Anvil::spawn(AnvilConfig::default()).unwrap();
    assert_ne!(a.port(), b.port());
    assert_eq!(a.chain_id().await.unwrap(), 7);
    assert_eq!(b.chain_id().await.unwrap(), 31337);
    let port = a.port();
    drop(a);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "anvil still listening after drop"
    );
}

#[tokio::test]
async fn an_unknown_method_is_an_rpc_error() {
    let chain = Anvil::spawn(AnvilConfig::default()).unwrap();
    let err = chain.rpc("eth_noSuchMethod", serde_json::json!([])).await.unwrap_err();
    assert!(matches!(err, DevnetError::Rpc { .. }), "{err}");
}

#[test]
fn a_binary_that_never_listens_is_reported_with_its_output() {
    let config = AnvilConfig {
        binary: Some("/bin/echo".into()),
        startup_timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    };
    let err = Anvil::spawn(config).unwrap_err();
    assert!(matches!(err, DevnetError::NotReady { .. }), "{err}");
    assert!(err.to_string().contains("--host"), "echo's output should be in the error: {err}");
}

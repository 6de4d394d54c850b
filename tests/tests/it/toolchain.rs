//! The machine the suite runs on has everything a devnet needs, as `scripts/setup` promises.

use quorate_devnet::{Anvil, AnvilConfig};

#[test]
fn setup_installed_everything_the_node_checks_for() {
    let (all_ok, report) = quorate_e2e::toolchain_report();
    assert!(all_ok, "quorate doctor found gaps:\n{report}");
}

#[tokio::test]
async fn a_devnet_chain_mines_blocks_on_its_block_time() {
    let chain = Anvil::spawn(AnvilConfig { block_time: Some(1), ..Default::default() }).unwrap();
    async fn height(chain: &Anvil) -> u64 {
        let hex = chain.rpc("eth_blockNumber", serde_json::json!([])).await.unwrap();
        u64::from_str_radix(hex.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }
    let start = height(&chain).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while height(&chain).await <= start {
        assert!(std::time::Instant::now() < deadline, "no block mined in 10 s with --block-time 1");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

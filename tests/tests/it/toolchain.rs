//! The machine the suite runs on has everything a devnet needs, as `scripts/setup` promises.

use quorate_devnet::{Anvil, AnvilConfig};

#[test]
fn setup_installed_everything_the_node_checks_for() {
    let (all_ok, report) = quorate_e2e::toolchain_report();
    assert!(all_ok, "quorate doctor found gaps:\n{report}");
}

#[test]
fn a_devnet_chain_mines_blocks_on_its_block_time() {
    let chain = Anvil::spawn(AnvilConfig { block_time: Some(1), ..Default::default() }).unwrap();
    let height = |chain: &Anvil| {
        let hex = chain.rpc("eth_blockNumber", &serde_json::json!([])).unwrap();
        u64::from_str_radix(hex.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    };
    let start = height(&chain);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while height(&chain) <= start {
        assert!(std::time::Instant::now() < deadline, "no block mined in 10 s with --block-time 1");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

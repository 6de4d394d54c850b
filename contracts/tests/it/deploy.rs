//! The one deployment sequence (`deploy_hub`, which the devnet and `quorate hub deploy` run
//! with their own senders) on a real anvil through an alloy provider.

use alloy::{
    network::EthereumWallet, providers::ProviderBuilder, signers::local::PrivateKeySigner,
};
use quorate_contracts::{
    bindings::{Hub, QuorateCredit},
    deploy::{CREATE_CATEGORY_GAS, Plan, ProviderSender, deploy_hub, devnet_categories},
};
use quorate_devnet::{Anvil, AnvilConfig};

#[tokio::test]
async fn deploy_hub_deploys_the_token_the_hub_and_the_categories_in_order() {
    let anvil = Anvil::spawn(AnvilConfig::default()).unwrap_or_else(|e| panic!("anvil: {e}"));
    let owner = PrivateKeySigner::from_bytes(&anvil.private_keys()[3]).unwrap();
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(owner.clone()))
        .connect_http(anvil.endpoint().parse().unwrap());
    // The longest name the per-category gas bound covers goes first: the first category also
    // pays for the count's first write.
    let long = "A-CATEGORY-NAME-OF-31-BYTES-XYZ";
    assert_eq!(long.len(), 31);
    let mut categories = vec![(long, 5u32)];
    categories.extend(devnet_categories());
    let plan = Plan { owner: owner.address(), token: None, categories: &categories };
    let deployed =
        deploy_hub(&ProviderSender(&provider), &plan).await.unwrap_or_else(|e| panic!("{e}"));

    assert!(deployed.token_deployed);
    assert_eq!(deployed.receipts.len(), 2 + categories.len(), "token, Hub, one per category");
    assert_eq!(deployed.block, deployed.receipts[1].block_number.unwrap(), "the Hub's block");
    let registered: Vec<(u8, &str, u32)> =
        deployed.categories.iter().map(|c| (c.id, c.name.as_str(), c.time_ref)).collect();
    let expected: Vec<(u8, &str, u32)> =
        categories.iter().enumerate().map(|(id, (n, t))| (id as u8, *n, *t)).collect();
    assert_eq!(registered, expected, "ids from 0 in the order given");
    for receipt in &deployed.receipts[2..] {
        assert!(
            receipt.gas_used <= CREATE_CATEGORY_GAS,
            "createCategory took {} gas, above the bound of {CREATE_CATEGORY_GAS}",
            receipt.gas_used
        );
    }
    let credit = deployed.deployment.credit;
    let hub = Hub::new(deployed.deployment.hub, &provider);
    assert_eq!(hub.token().call().await.unwrap(), credit);
    assert_eq!(hub.owner().call().await.unwrap(), owner.address());
    assert_eq!(
        QuorateCredit::new(credit, &provider).owner().call().await.unwrap(),
        owner.address()
    );
    let first = hub.category(0).call().await.unwrap();
    assert_eq!((first.name.as_str(), first.timeRef), (long, 5));

    // Over an existing token: only the Hub is created, and it counts in that token.
    let over = Plan { token: Some(credit), categories: &[], ..plan };
    let again =
        deploy_hub(&ProviderSender(&provider), &over).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!again.token_deployed);
    assert_eq!(again.receipts.len(), 1);
    assert!(again.categories.is_empty());
    assert_eq!(again.deployment.credit, credit);
    assert_ne!(again.deployment.hub, deployed.deployment.hub);
    assert_eq!(Hub::new(again.deployment.hub, &provider).token().call().await.unwrap(), credit);
}

//! Task authorizations: signed and checked once for every crate, as the Hub checks them.

use alloy_signer_local::PrivateKeySigner;
use quorate_primitives::{Address, B256, TaskAuthorization, TaskId, U256, keccak256};

#[test]
fn a_signature_checks_for_its_worker_task_and_round_only() {
    let owner = PrivateKeySigner::random();
    let auth = TaskAuthorization {
        worker: Address::repeat_byte(7),
        task: TaskId(B256::repeat_byte(1)),
        round: 0,
    };
    let signature = auth.sign(&owner).unwrap();
    assert!(auth.is_signed_by(&signature, owner.address()));
    assert_eq!(auth.signer(&signature).unwrap(), owner.address());
    for other in [
        TaskAuthorization { worker: Address::repeat_byte(8), ..auth },
        TaskAuthorization { task: TaskId(B256::repeat_byte(2)), ..auth },
        TaskAuthorization { round: 1_700_000_000, ..auth },
    ] {
        assert!(!other.is_signed_by(&signature, owner.address()), "{other:?}");
    }
    assert!(!auth.is_signed_by(&signature, Address::repeat_byte(9)));
    assert!(auth.signer(&[0u8; 65]).is_err(), "garbage is an error, not a panic");
}

#[test]
fn the_message_is_the_hubs() {
    let (worker, task) = (Address::repeat_byte(7), TaskId(B256::repeat_byte(1)));
    let first = TaskAuthorization::first_round(worker, task).message();
    assert_eq!(first, keccak256([worker.as_slice(), task.0.as_slice()].concat()));
    let round = 1_700_000_000u64;
    let later = TaskAuthorization { worker, task, round }.message();
    let packed =
        [worker.as_slice(), task.0.as_slice(), &U256::from(round).to_be_bytes::<32>()].concat();
    assert_eq!(later, keccak256(packed));
}

//! Checks every hash function against `vectors/hashes.json`, produced by Foundry's `cast`
//! (an independent implementation). The Solidity tests read the same file.

use quorate_primitives::{Address, B256, DealId, ResultDigest, TaskAuthorization, TaskId, U256};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    request_hash: B256,
    nonce: String,
    index: u64,
    worker: Address,
    result_bytes: alloy_primitives::Bytes,
    deal_id: B256,
    task_id: B256,
    result_digest: B256,
    result_hash: B256,
    result_seal: B256,
    authorization_message: B256,
    authorization_digest: B256,
}

#[derive(Deserialize)]
struct File {
    cases: Vec<Case>,
}

fn cases() -> Vec<Case> {
    let text = include_str!("../../vectors/hashes.json");
    serde_json::from_str::<File>(text).expect("vectors parse").cases
}

#[test]
fn vectors_are_not_empty() {
    assert!(cases().len() >= 3);
}

#[test]
fn every_hash_matches_cast() {
    for (i, case) in cases().into_iter().enumerate() {
        let nonce = U256::from_str_radix(&case.nonce, 10).expect("nonce");
        let deal = DealId::derive(case.request_hash, nonce);
        assert_eq!(deal.0, case.deal_id, "case {i}: dealId");
        let task = TaskId::derive(deal, case.index);
        assert_eq!(task.0, case.task_id, "case {i}: taskId");
        let digest = ResultDigest::of(task, &case.result_bytes);
        assert_eq!(digest.0, case.result_digest, "case {i}: resultDigest");
        let hash = digest.vote(task);
        assert_eq!(hash.0, case.result_hash, "case {i}: resultHash");
        let seal = digest.seal(case.worker, task);
        assert_eq!(seal.0, case.result_seal, "case {i}: resultSeal");
        assert!(digest.matches(case.worker, task, hash, seal), "case {i}: matches");
        assert_eq!(
            TaskAuthorization::first_round(case.worker, task).message(),
            case.authorization_message,
            "case {i}"
        );
        assert_eq!(
            TaskAuthorization::first_round(case.worker, task).digest(),
            case.authorization_digest,
            "case {i}"
        );
    }
}

#[test]
fn a_seal_does_not_verify_for_another_worker() {
    let case = &cases()[0];
    let task = TaskId(case.task_id);
    let digest = ResultDigest(case.result_digest);
    let other = Address::repeat_byte(0x01);
    assert_ne!(other, case.worker);
    let hash = digest.vote(task);
    let seal = digest.seal(case.worker, task);
    assert!(!digest.matches(other, task, hash, seal));
    assert!(!ResultDigest::of(task, b"other").matches(case.worker, task, hash, seal));
}

#[test]
fn ids_round_trip_through_text_and_json() {
    let case = &cases()[0];
    let task = TaskId(case.task_id);
    let text = task.to_string();
    assert_eq!(text.parse::<TaskId>().expect("parse"), task);
    let json = serde_json::to_string(&task).expect("json");
    assert_eq!(json, format!("\"{text}\""));
    assert_eq!(serde_json::from_str::<TaskId>(&json).expect("from json"), task);
    let err = "0x1234".parse::<TaskId>().expect_err("too short");
    assert!(err.to_string().contains("task id"), "{err}");
}

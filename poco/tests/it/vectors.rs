//! The committed vectors are exactly what the crate generates, and they say what the rules say.

use quorate_poco::{
    consensus::{Tally, Trust},
    vectors,
    weight::{payout_weight, vote_weight},
};
use quorate_primitives::{ResultHash, U256};
use serde_json::Value;

const COMMITTED: &str = include_str!("../../vectors/poco.json");

fn u(v: &Value) -> U256 {
    U256::from_str_radix(v.as_str().expect("decimal string"), 10).expect("decimal")
}

#[test]
fn committed_vectors_match_the_generator() {
    let generated = vectors::render().unwrap();
    assert!(
        generated == COMMITTED,
        "poco/vectors/poco.json drifted from the crate: run \
         `cargo run -p quorate-poco --example gen-vectors` and review the diff"
    );
}

#[test]
fn every_list_has_its_count_and_every_integer_is_a_string() {
    let doc: Value = serde_json::from_str(COMMITTED).unwrap();
    assert_eq!(doc["schema"], vectors::SCHEMA);
    for (list, count) in [
        ("weights", "weightCount"),
        ("consensus", "consensusCount"),
        ("payouts", "payoutCount"),
        ("scores", "scoreCount"),
        ("fastPaths", "fastPathCount"),
    ] {
        let n = doc[list].as_array().unwrap().len();
        assert!(n > 0, "{list} is empty");
        assert_eq!(u(&doc[count]), U256::from(n), "{count}");
    }
    for case in
        doc["consensus"].as_array().unwrap().iter().chain(doc["payouts"].as_array().unwrap())
    {
        let steps = case["steps"].as_array().unwrap();
        assert_eq!(u(&case["stepCount"]), U256::from(steps.len()));
        let keys: Vec<_> = steps[0].as_object().unwrap().keys().collect();
        for step in steps {
            // Fixed paths: every step has every field.
            assert_eq!(step.as_object().unwrap().keys().collect::<Vec<_>>(), keys);
        }
    }
    fn no_numbers(v: &Value) {
        match v {
            Value::Number(n) => panic!("bare JSON number {n}: integers must be strings"),
            Value::Array(a) => a.iter().for_each(no_numbers),
            Value::Object(o) => o.values().for_each(no_numbers),
            _ => {}
        }
    }
    no_numbers(&doc);
}

#[test]
fn weights_rows_follow_the_formula() {
    let doc: Value = serde_json::from_str(COMMITTED).unwrap();
    for row in doc["weights"].as_array().unwrap() {
        let s = u(&row["score"]);
        // Independent restatement: max(s/3, 3) - 1 and the bit length minus one.
        let w = std::cmp::max(s / U256::from(3), U256::from(3)) - U256::from(1);
        assert_eq!(u(&row["weight"]), w);
        assert_eq!(u(&row["payoutWeight"]), U256::from(w.bit_len() - 1));
        assert_eq!(vote_weight(s), w);
        assert_eq!(payout_weight(w), U256::from(w.bit_len() - 1));
    }
}

/// Replays every accepted vote of the consensus cases through a bare [`Tally`] and checks the
/// recorded totals: the accounting does not depend on the state machine around it.
#[test]
fn consensus_steps_replay_through_a_bare_tally() {
    let doc: Value = serde_json::from_str(COMMITTED).unwrap();
    let mut cases = 0;
    for case in doc["consensus"].as_array().unwrap() {
        let trust = Trust::new(u(&case["trust"])).unwrap();
        let mut tally = Tally::new();
        let mut consensus: Option<ResultHash> = None;
        for step in case["steps"].as_array().unwrap() {
            let reverts = step["reverts"].as_bool().unwrap();
            match step["op"].as_str().unwrap() {
                "contribute" if !reverts => {
                    let hash: ResultHash = step["hash"].as_str().unwrap().parse().unwrap();
                    let (group, total, reached) =
                        tally.vote(hash, u(&step["weight"]), trust).unwrap();
                    assert_eq!(group, u(&step["groupAfter"]));
                    assert_eq!(total, u(&step["totalAfter"]));
                    assert_eq!(reached, step["statusAfter"] == "REVEALING");
                    if reached {
                        consensus = Some(hash);
                    }
                }
                "reopen" if !reverts => {
                    tally.clear_group(&consensus.take().unwrap()).unwrap();
                    assert_eq!(tally.total(), u(&step["totalAfter"]));
                }
                _ => assert_eq!(tally.total(), u(&step["totalAfter"])),
            }
        }
        cases += 1;
    }
    assert!(cases >= 10);
}

#[test]
fn the_documented_examples_are_present() {
    let doc: Value = serde_json::from_str(COMMITTED).unwrap();
    let find = |name: &str| {
        doc["consensus"]
            .as_array()
            .unwrap()
            .iter()
            .chain(doc["payouts"].as_array().unwrap())
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("case {name} missing"))
            .clone()
    };
    let worked = find("worked-3168-3172");
    let last = worked["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["groupAfter"], "3168");
    assert_eq!(last["totalAfter"], "3172");
    assert_eq!(last["statusAfter"], "REVEALING");
    let fresh = find("fresh-t100");
    let steps = fresh["steps"].as_array().unwrap();
    assert_eq!(steps[5]["statusAfter"], "ACTIVE");
    assert_eq!(steps[6]["statusAfter"], "REVEALING");
    let rounding = find("rounding-remainder");
    assert_eq!(rounding["settlement"]["poolOwnerReward"], "73");
    for case in doc["payouts"].as_array().unwrap() {
        assert_eq!(case["settlement"]["paid"], case["settlement"]["locked"], "{}", case["name"]);
    }
}

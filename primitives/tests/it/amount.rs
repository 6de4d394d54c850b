//! Properties of checked amounts: no operation panics, wraps or loses a unit.

use proptest::prelude::*;
use quorate_primitives::{Amount, Error, U256};

fn any_amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        any::<u64>().prop_map(Amount::from),
        any::<[u8; 32]>().prop_map(|b| Amount::new(U256::from_be_bytes(b))),
        Just(Amount::MAX),
        Just(Amount::ZERO),
    ]
}

proptest! {
    #[test]
    fn add_is_exact_or_reports_overflow(a in any_amount(), b in any_amount()) {
        match a.checked_add(b) {
            Ok(sum) => {
                prop_assert_eq!(sum.checked_sub(b).unwrap(), a);
                prop_assert!(sum >= a && sum >= b);
            }
            Err(e) => {
                prop_assert!(a.raw().overflowing_add(b.raw()).1);
                prop_assert!(e.is_arithmetic());
            }
        }
    }

    #[test]
    fn sub_never_goes_below_zero(a in any_amount(), b in any_amount()) {
        match a.checked_sub(b) {
            Ok(diff) => prop_assert_eq!(diff.checked_add(b).unwrap(), a),
            Err(Error::Underflow { .. }) => prop_assert!(a < b),
            Err(other) => prop_assert!(false, "unexpected {other}"),
        }
    }

    #[test]
    fn percent_shares_never_exceed_the_whole(a in any::<u128>(), p in 0u64..=100) {
        let whole = Amount::from(a);
        let share = whole.percent(p).unwrap();
        let rest = whole.percent(100 - p).unwrap();
        prop_assert!(share <= whole);
        // Two floors lose at most one unit between them.
        let sum = share.checked_add(rest).unwrap();
        prop_assert!(sum <= whole);
        prop_assert!(whole.checked_sub(sum).unwrap() <= Amount::from(1u64));
    }

    #[test]
    fn decimal_text_and_json_round_trip(a in any_amount()) {
        let text = a.to_string();
        prop_assert_eq!(text.parse::<Amount>().unwrap(), a);
        let json = serde_json::to_string(&a).unwrap();
        prop_assert_eq!(serde_json::from_str::<Amount>(&json).unwrap(), a);
    }

    #[test]
    fn parsing_garbage_is_an_error_not_a_panic(s in "\\PC{0,80}") {
        let _ = s.parse::<Amount>();
    }
}

#[test]
fn ratio_above_100_is_refused() {
    assert_eq!(Amount::from(10u64).percent(101), Err(Error::RatioOutOfRange(101)));
}

#[test]
fn division_by_zero_is_refused() {
    let err = Amount::from(10u64).mul_div(U256::from(1u64), U256::ZERO).unwrap_err();
    assert!(matches!(err, Error::DivisionByZero { .. }));
}

#[test]
fn malformed_amounts_are_refused_with_a_reason() {
    for bad in ["", "-1", "1e18", "0x10", " 1", "1 000"] {
        let err = bad.parse::<Amount>().unwrap_err();
        assert!(err.to_string().contains("amount"), "{bad:?}: {err}");
    }
    let too_big = format!("{}0", U256::MAX);
    assert!(too_big.parse::<Amount>().is_err());
}

#[test]
fn json_amounts_are_decimal_strings() {
    let a = Amount::from(1_000_000_000_000_000_000u128);
    assert_eq!(serde_json::to_string(&a).unwrap(), "\"1000000000000000000\"");
}

//! A small Byzantine simulation in the normal test suite: the bound holds where it should, and
//! the long con is shown to break it (and spot-checks to push it back).

use quorate_poco::sim::{self, Scenario, SimConfig};

fn small(scenario: Scenario, trust: u64, faulty: f64) -> SimConfig {
    SimConfig { workers: 60, tasks: 1_500, ..SimConfig::new(scenario, trust, faulty) }
}

#[test]
fn honest_pools_get_right_results_at_the_planners_minimum() {
    let r = sim::run(small(Scenario::Honest, 10, 0.1)).unwrap();
    assert_eq!(r.tasks, 1_500);
    assert_eq!(r.wrong, 0);
    assert!(r.timeouts > 0, "crashed workers must time out");
    // No disagreement: every replica beyond the first round replaces one that timed out (some
    // time out after consensus and need no replacement).
    assert!(r.replicas <= r.first_round + r.timeouts, "{r:?}");
    assert!(r.replicas > r.first_round, "{r:?}");
    assert_eq!(r.faulty_rewards, 0);
}

#[test]
fn the_bound_holds_for_faulty_shares_up_to_a_fifth() {
    for scenario in
        [Scenario::RandomWrong, Scenario::Colluders, Scenario::Sybil, Scenario::LazyCopiers]
    {
        for trust in [10, 100] {
            let r = sim::run(small(scenario, trust, 0.2)).unwrap();
            let score = r.wrong_rate() * trust as f64;
            assert!(score <= 1.0, "{scenario:?} T = {trust}: wrong rate x T = {score}");
        }
    }
}

#[test]
fn poco_beats_boinc_two_of_three_against_colluders() {
    let cfg = small(Scenario::Colluders, 10, 0.2);
    let poco = sim::run(cfg).unwrap();
    let boinc = sim::run_boinc(cfg).unwrap();
    assert!(boinc.wrong_rate() > 0.05, "BOINC 2-of-3 with f = 0.2: {}", boinc.wrong_rate());
    assert!(poco.wrong_rate() * 10.0 < boinc.wrong_rate(), "{poco:?} vs {boinc:?}");
}

#[test]
fn the_long_con_breaks_the_bound_and_spot_checks_push_it_back() {
    // Few workers, so reputations grow high enough in the honest half for one colluder to
    // reach T = 10 alone.
    let cfg = SimConfig { workers: 40, tasks: 2_000, ..SimConfig::new(Scenario::LongCon, 10, 0.2) };
    let plain = sim::run(cfg).unwrap();
    assert_eq!(plain.tasks, 1_000, "only the defection half is measured");
    assert!(plain.wrong_rate() > 0.1, "long con at f = 0.2, T = 10: {}", plain.wrong_rate());
    let checked = sim::run(SimConfig { scenario: Scenario::LongConSpotChecks, ..cfg }).unwrap();
    assert!(checked.barred > 0);
    assert!(checked.wrong_rate() < plain.wrong_rate() / 2.0, "{checked:?} vs {plain:?}");
}

#[test]
fn runs_are_deterministic() {
    let cfg = SimConfig { tasks: 300, ..small(Scenario::Colluders, 10, 0.3) };
    assert_eq!(sim::run(cfg).unwrap(), sim::run(cfg).unwrap());
    assert!(sim::run(SimConfig { faulty: 1.5, ..cfg }).is_err());
}

#[test]
fn withheld_reveals_are_reopened_and_still_complete() {
    let r = sim::run(small(Scenario::NonRevealers, 10, 0.3)).unwrap();
    assert_eq!((r.wrong, r.failed), (0, 0), "{r:?}");
    assert!(r.reopens > 0, "{r:?}");
    assert_eq!(r.faulty_rewards, 0, "non-revealers are never paid");
}

#[test]
fn farmed_reputation_carries_into_an_honest_pool_only_where_scores_are_hub_wide() {
    // Colluders farmed a score of 300 (weight 99) in a pool of their own, then join this one.
    let scoped = small(Scenario::FarmedSybils, 10, 0.2);
    let hub_wide = SimConfig { hub_wide_scores: true, ..scoped };
    let attack = sim::run(hub_wide).unwrap();
    assert!(attack.wrong_rate() > 0.1, "Hub-wide scores: the farmed weight wins: {attack:?}");
    let defended = sim::run(scoped).unwrap();
    let score = defended.wrong_rate() * 10.0;
    assert!(score <= 1.0, "scores per pool owner: the bound holds: {defended:?}");
    assert_eq!(defended, sim::run(small(Scenario::Colluders, 10, 0.2)).unwrap(), "plain colluders");
}

//! The simulation's bounds in a quick form: wrong-rate × T ≤ 1 for f ≤ 0.2 through the real
//! core, and every invariant of every assignment holds.

use quorate_scheduler::sim::{self, Scenario, SimConfig, SimReport};

fn quick(scenario: Scenario, trust: u64, faulty: f64) -> SimReport {
    // The long con measures only the tasks after the defection: it runs twice as many.
    let tasks = if scenario == Scenario::LongCon { 800 } else { 500 };
    let config = SimConfig { workers: 80, tasks, ..SimConfig::new(scenario, trust, faulty) };
    sim::run(config).unwrap()
}

fn assert_invariants(r: &SimReport) {
    assert_eq!(
        r.unfinished, 0,
        "every task ends finalized or failed: {} of {}",
        r.unfinished, r.tasks
    );
    assert_eq!(r.double_assignments, 0, "no replica twice to one worker");
    assert_eq!(r.over_capacity, 0, "load never exceeds capacity");
    assert_eq!(r.mixed_classes, 0, "a task's replicas share a class");
}

fn keeps_the_bound(scenario: Scenario) {
    for trust in [10, 100] {
        let r = quick(scenario, trust, 0.2);
        assert_invariants(&r);
        let score = r.wrong_rate() * trust as f64;
        assert!(score <= 1.0, "{} T = {trust}: rate x T = {score}", scenario.name());
        // Liveness: the anti-long-con policy refuses workers heavy enough to break k alone,
        // which costs tasks as reputation grows (docs/poco.md); bounded here.
        assert!(
            r.failed * 3 <= r.tasks,
            "{}: {} of {} tasks failed",
            scenario.name(),
            r.failed,
            r.tasks
        );
    }
}

// One test per scenario, so that the test runner spreads them over the cores.
macro_rules! bound_tests {
    ($($name:ident => $scenario:expr),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                keeps_the_bound($scenario);
            }
        )*
    };
}

bound_tests! {
    crashing_workers_keep_the_bound => Scenario::Crashing,
    slow_workers_keep_the_bound => Scenario::Slow,
    random_wrong_workers_keep_the_bound => Scenario::RandomWrong,
    colluders_keep_the_bound => Scenario::Colluders,
    lazy_copiers_keep_the_bound => Scenario::LazyCopiers,
    non_revealers_keep_the_bound => Scenario::NonRevealers,
    fresh_sybils_keep_the_bound => Scenario::Sybil,
    the_long_con_keeps_the_bound => Scenario::LongCon,
}

#[test]
fn the_table_covers_every_scenario() {
    assert_eq!(Scenario::ALL.len(), 8, "a new scenario needs its bound test above");
}

#[test]
fn the_long_con_breaks_through_without_a_policy() {
    // The bound is the policy's doing: without it, reputable colluders finalize alone.
    let policy = quorate_scheduler::LongConPolicy {
        min_contributors_one_in: None,
        spot_check_permille: 0,
        relax: true,
    };
    let r = sim::run(SimConfig {
        workers: 60,
        tasks: 400,
        policy,
        ..SimConfig::new(Scenario::LongCon, 10, 0.2)
    })
    .unwrap();
    assert!(r.wrong_rate() * 10.0 > 1.0, "wrong rate {}", r.wrong_rate());
}

#[test]
fn honest_pools_finish_everything_right() {
    let r = quick(Scenario::Crashing, 10, 0.0);
    assert_invariants(&r);
    assert_eq!((r.wrong, r.failed), (0, 0));
    assert_eq!(r.tasks, 500);
    assert_eq!(r.barred_honest, 0);
}

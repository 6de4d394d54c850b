//! Crash and restore: the core killed at random batch boundaries of a simulated run and rebuilt
//! from its store image plus the chain events after its cursor ends every task exactly as the
//! run without crashes does.

use proptest::prelude::*;
use quorate_scheduler::sim::{self, Scenario, SimConfig};

fn config(seed: u64, crash_every: u64, scenario: Scenario) -> SimConfig {
    SimConfig {
        workers: 40,
        tasks: 120,
        seed,
        crash_every,
        churn_every: 0,
        loss: 0.0,
        ..SimConfig::new(scenario, 100, 0.1)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn restored_runs_end_every_task_as_the_uncrashed_run(seed in 1u64..1_000_000, every in 5u64..60) {
        for scenario in [Scenario::Crashing, Scenario::RandomWrong] {
            let straight = sim::run(config(seed, 0, scenario)).unwrap();
            let crashed = sim::run(config(seed, every, scenario)).unwrap();
            prop_assert!(crashed.restarts > 0);
            prop_assert_eq!(crashed.unfinished, 0);
            prop_assert_eq!(crashed.double_assignments, 0);
            prop_assert_eq!(straight.outcomes.len(), crashed.outcomes.len());
            prop_assert_eq!(&straight.outcomes, &crashed.outcomes);
        }
    }
}

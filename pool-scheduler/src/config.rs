//! The scheduler's policy settings.

use std::time::Duration;

/// The pool's defence against the long con (docs/poco.md, "The scheduler's defence against the
/// long con"): colluders who earned reputation honestly, then defect together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongConPolicy {
    /// Minimum distinct contributors: the pool assumes at most one worker in `one_in` colludes
    /// and lets consensus at trust `T` form only from at least `k` distinct agreeing workers,
    /// `k` the smallest with `one_in^k ≥ 2T` (so `f^k · T ≤ 1/2`, a margin of two over the
    /// credibility bound). It is enforced on chain by whom the pool authorizes: a worker is
    /// authorized on a task only if no group of fewer than `k` of its authorized workers could
    /// then reach consensus. `None` turns it off. Default `Some(5)` (f ≤ 0.2): k = 2 at T = 10,
    /// 4 at T = 100, 5 at T = 1000.
    pub min_contributors_one_in: Option<u64>,
    /// Spot-checks: the share, in per mille, of tasks (drawn with the pool's secret seed) that
    /// get one replica more than they need, sent like any other in the first round, so no
    /// worker can tell a check from a task. Whatever the check, a worker whose vote or report
    /// differs from a result the pool finalizes is never assigned again. Default 0 (see
    /// docs/poco.md for why).
    pub spot_check_permille: u32,
    /// Liveness over the bound: a task that cannot find a worker light enough for its `k`
    /// lowers `k` by one for every three replica timeouts it has been running (or every time
    /// reference of its category, when that is shorter), down to 1, so a pool whose workers
    /// all earned high scores still finishes its work in time (docs/poco.md says what that
    /// costs). Default true.
    pub relax: bool,
}

impl Default for LongConPolicy {
    fn default() -> Self {
        Self { min_contributors_one_in: Some(5), spot_check_permille: 0, relax: true }
    }
}

impl LongConPolicy {
    /// The distinct contributors a consensus at trust `trust` needs (≥ 1), capped at `cap`.
    pub fn min_contributors(&self, trust: u64, cap: u32) -> u32 {
        let Some(one_in) = self.min_contributors_one_in.filter(|n| *n >= 2) else { return 1 };
        let target = trust.saturating_mul(2);
        let mut k = 0u32;
        let mut reach = 1u64;
        while reach < target && k < cap {
            reach = reach.saturating_mul(one_in);
            k = k.saturating_add(1);
        }
        k.clamp(1, cap.max(1))
    }
}

/// How a pool scheduler replicates and times out work. Built by the node from its TOML file
/// and flags; checked with [`SchedulerConfig::validate`] before use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Most replicas one task may ever get, BOINC's `max_total_results`: a task whose replicas
    /// cannot agree (nondeterministic code) fails instead of replicating forever. Default 8.
    pub max_replicas_per_task: u32,
    /// How long an assigned replica counts as "pending, assumed to agree" before the planner
    /// stops counting it and sends another. Default 120 s.
    pub replica_timeout: Duration,
    /// Most tasks one worker runs at once, whatever capacity it reports. Default 64.
    pub max_tasks_per_worker: u32,
    /// A worker silent for longer than this is considered gone and its work re-assigned.
    /// Default 30 s.
    pub heartbeat_timeout: Duration,
    /// Most tasks the pool has in flight (initialize asked for, not yet ended); deals beyond
    /// wait in the backlog. Default 1,000,000.
    pub max_tasks_in_flight: u64,
    /// Machine-dependent failures (timeout, heap limit, sandbox crash) after which a task is
    /// given up and left to `claim`. Default 3.
    pub max_machine_failures: u32,
    /// Most tasks one `initializeRange` chain call opens. Default 64.
    pub initialize_batch: u32,
    /// The defence against the long con.
    pub long_con: LongConPolicy,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            max_replicas_per_task: 8,
            replica_timeout: Duration::from_secs(120),
            max_tasks_per_worker: 64,
            heartbeat_timeout: Duration::from_secs(30),
            max_tasks_in_flight: 1_000_000,
            max_machine_failures: 3,
            initialize_batch: 64,
            long_con: LongConPolicy::default(),
        }
    }
}

/// A setting that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field is outside the range it can take.
    #[error("{field} = {value} is invalid: {reason}")]
    OutOfRange {
        /// The field's name as written in the config file.
        field: &'static str,
        /// The value given.
        value: String,
        /// What it must be instead.
        reason: &'static str,
    },
}

impl SchedulerConfig {
    /// Checks that every field can work, naming the first that cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive: [(&'static str, u64, &'static str); 5] = [
            (
                "max_replicas_per_task",
                self.max_replicas_per_task.into(),
                "a task needs at least one replica",
            ),
            (
                "max_tasks_per_worker",
                self.max_tasks_per_worker.into(),
                "a worker must be able to run at least one task",
            ),
            (
                "max_tasks_in_flight",
                self.max_tasks_in_flight,
                "the pool must run at least one task",
            ),
            (
                "max_machine_failures",
                self.max_machine_failures.into(),
                "a task must survive at least one failure",
            ),
            ("initialize_batch", self.initialize_batch.into(), "a call names at least one task"),
        ];
        for (field, value, reason) in positive {
            if value == 0 {
                return Err(ConfigError::OutOfRange { field, value: value.to_string(), reason });
            }
        }
        for (field, value) in [
            ("replica_timeout", self.replica_timeout),
            ("heartbeat_timeout", self.heartbeat_timeout),
        ] {
            if value.as_secs() == 0 {
                return Err(ConfigError::OutOfRange {
                    field,
                    value: format!("{value:?}"),
                    reason: "must be at least one second",
                });
            }
        }
        if let Some(one_in) = self.long_con.min_contributors_one_in
            && one_in < 2
        {
            return Err(ConfigError::OutOfRange {
                field: "long_con.min_contributors_one_in",
                value: one_in.to_string(),
                reason: "must be at least 2 (one worker in two colluding)",
            });
        }
        if self.long_con.spot_check_permille > 1000 {
            return Err(ConfigError::OutOfRange {
                field: "long_con.spot_check_permille",
                value: self.long_con.spot_check_permille.to_string(),
                reason: "a share in per mille is at most 1000",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(SchedulerConfig::default().validate(), Ok(()));
    }

    #[test]
    fn impossible_settings_are_named() {
        let zero_replicas = SchedulerConfig { max_replicas_per_task: 0, ..Default::default() };
        let err = zero_replicas.validate().unwrap_err();
        assert!(err.to_string().starts_with("max_replicas_per_task = 0"), "{err}");

        let no_timeout = SchedulerConfig { replica_timeout: Duration::ZERO, ..Default::default() };
        let err = no_timeout.validate().unwrap_err();
        assert!(err.to_string().starts_with("replica_timeout"), "{err}");

        let no_capacity = SchedulerConfig { max_tasks_per_worker: 0, ..Default::default() };
        assert!(no_capacity.validate().is_err());

        let policy =
            LongConPolicy { min_contributors_one_in: Some(1), spot_check_permille: 0, relax: true };
        let lone = SchedulerConfig { long_con: policy, ..Default::default() };
        assert!(lone.validate().unwrap_err().to_string().contains("one_in"));
    }

    #[test]
    fn min_contributors_follow_the_assumed_collusion() {
        let p = LongConPolicy::default();
        let k: Vec<u32> =
            [1, 2, 5, 10, 25, 26, 100, 1000].iter().map(|t| p.min_contributors(*t, 8)).collect();
        assert_eq!(k, vec![1, 1, 2, 2, 3, 3, 4, 5]);
        assert_eq!(p.min_contributors(1_000_000, 4), 4, "capped");
        let off = LongConPolicy { min_contributors_one_in: None, ..p };
        assert_eq!(off.min_contributors(1000, 8), 1);
    }
}

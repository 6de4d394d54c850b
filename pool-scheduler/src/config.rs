//! The scheduler's policy settings.

use std::time::Duration;

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
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            max_replicas_per_task: 8,
            replica_timeout: Duration::from_secs(120),
            max_tasks_per_worker: 64,
            heartbeat_timeout: Duration::from_secs(30),
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
        if self.max_replicas_per_task == 0 {
            return Err(ConfigError::OutOfRange {
                field: "max_replicas_per_task",
                value: self.max_replicas_per_task.to_string(),
                reason: "a task needs at least one replica",
            });
        }
        if self.max_tasks_per_worker == 0 {
            return Err(ConfigError::OutOfRange {
                field: "max_tasks_per_worker",
                value: self.max_tasks_per_worker.to_string(),
                reason: "a worker must be able to run at least one task",
            });
        }
        for (field, value) in [
            ("replica_timeout", self.replica_timeout),
            ("heartbeat_timeout", self.heartbeat_timeout),
        ] {
            if value.is_zero() {
                return Err(ConfigError::OutOfRange {
                    field,
                    value: format!("{value:?}"),
                    reason: "must be longer than zero",
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
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
    }
}

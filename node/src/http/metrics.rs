//! The Prometheus text exposition format (version 0.0.4): families declared once with their
//! help and type, samples with escaped label values. Values are rendered from a role's state at
//! scrape time, so there is no registry to keep in step.

use std::fmt::{Display, Write as _};

/// The `Content-Type` of a scrape.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (resets with the process).
    Counter,
    /// Goes up and down.
    Gauge,
    /// `_sum` and `_count` samples of observations.
    Summary,
}

/// A scrape's text, built family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares the family `name` (`quorate_…`, with `_total` for counters).
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Summary => "summary",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    /// One sample of `name` with `labels`.
    pub fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: impl Display,
    ) -> &mut Self {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{key}=\"");
                for c in value.chars() {
                    match c {
                        '\\' => self.text.push_str("\\\\"),
                        '"' => self.text.push_str("\\\""),
                        '\n' => self.text.push_str("\\n"),
                        c => self.text.push(c),
                    }
                }
                self.text.push('"');
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
        self
    }

    /// A family with a single unlabelled sample.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: impl Display) -> &mut Self {
        self.family(name, kind, help).sample(name, &[], value)
    }

    /// The text to serve.
    pub fn finish(self) -> String {
        self.text
    }
}

/// Wei as a decimal number of whole credits (18 decimals), for gauges: exact up to 2^53 wei
/// steps, which is all a chart needs.
pub fn credits(wei: alloy::primitives::U256) -> f64 {
    let whole = wei / alloy::primitives::U256::from(10u64.pow(18));
    let frac = wei % alloy::primitives::U256::from(10u64.pow(18));
    let whole = u128::try_from(whole).map_or(f64::MAX, |w| w as f64);
    let frac = u64::try_from(frac).map_or(0.0, |f| f as f64 / 1e18);
    whole + frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_escaped_labels() {
        let mut e = Exposition::new();
        e.family("quorate_tasks", Kind::Gauge, "Tasks by state.")
            .sample("quorate_tasks", &[("state", "active")], 3)
            .sample("quorate_tasks", &[("state", "a\"b\\c\nd")], 0);
        e.single("quorate_errors_total", Kind::Counter, "Errors.", 7);
        assert_eq!(
            e.finish(),
            "# HELP quorate_tasks Tasks by state.\n# TYPE quorate_tasks gauge\n\
             quorate_tasks{state=\"active\"} 3\nquorate_tasks{state=\"a\\\"b\\\\c\\nd\"} 0\n\
             # HELP quorate_errors_total Errors.\n# TYPE quorate_errors_total counter\n\
             quorate_errors_total 7\n"
        );
    }

    #[test]
    fn wei_as_credits() {
        use alloy::primitives::U256;
        assert!((credits(U256::from(1_500_000_000_000_000_000u128)) - 1.5).abs() < 1e-12);
        assert!(credits(U256::MAX) > 1e50);
    }
}

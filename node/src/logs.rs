//! The node's logs on stderr: one line per event, human-readable on a terminal, or one JSON
//! object per line (`--log-format json`) for a log collector: `time` (RFC 3339, UTC), `level`,
//! `target`, `message` and the event's own fields, each under its name.

use std::io::Write;

use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    Layer,
    filter::Targets,
    fmt::{
        format::Writer,
        time::{FormatTime, SystemTime},
    },
    layer::{Context, SubscriberExt},
    util::SubscriberInitExt,
};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// A line of text per event.
    #[default]
    Human,
    /// A JSON object per line.
    Json,
}

/// Starts logging to stderr: the node's own events at info, its libraries' warnings, or what
/// `QUORATE_LOG` asks (`quorate::worker=debug,quorate=info,warn`). A second call does nothing.
pub fn init(format: LogFormat) {
    let filter = filter();
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Human => registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false))
            .try_init(),
        LogFormat::Json => registry.with(JsonLines).try_init(),
    };
}

/// Starts logging to the file at `path` (appended to) instead of stderr, as [`init`] does
/// otherwise: for a terminal dashboard that owns the screen.
pub fn init_to_file(path: &std::path::Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    let filter = filter();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_target(false);
    let _ = tracing_subscriber::registry().with(filter).with(layer).try_init();
    Ok(())
}

/// `QUORATE_LOG`'s targets, else the node's own events at info and its libraries' warnings.
fn filter() -> Targets {
    std::env::var("QUORATE_LOG").ok().and_then(|text| text.parse::<Targets>().ok()).unwrap_or_else(
        || {
            Targets::new()
                .with_target("quorate", tracing::Level::INFO)
                .with_default(tracing::Level::WARN)
        },
    )
}

/// Writes each event as one JSON object on stderr.
struct JsonLines;

impl<S: Subscriber> Layer<S> for JsonLines {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let line = json_line(event);
        // One write per line, so lines from several threads never interleave.
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

fn json_line(event: &Event<'_>) -> String {
    let meta = event.metadata();
    let mut time = String::new();
    let _ = SystemTime.format_time(&mut Writer::new(&mut time));
    let mut object = serde_json::Map::new();
    object.insert("time".into(), time.into());
    object.insert("level".into(), meta.level().as_str().into());
    object.insert("target".into(), meta.target().into());
    event.record(&mut Fields(&mut object));
    let mut line = serde_json::Value::Object(object).to_string();
    line.push('\n');
    line
}

/// Collects an event's fields into a JSON object: numbers and booleans as themselves, the
/// rest as their `Display` (or `Debug`) text.
struct Fields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}").into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().into(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().into(), value.to_string().into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Captures the lines the JSON layer would write.
    struct Capture(Arc<Mutex<Vec<String>>>);

    impl<S: Subscriber> Layer<S> for Capture {
        fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
            self.0.lock().unwrap().push(json_line(event));
        }
    }

    #[test]
    fn an_event_is_one_json_object_with_its_fields() {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Capture(lines.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let deal = "0xab";
            tracing::info!(target: "quorate::scheduler", %deal, tasks = 3u64, done = true, "deal \"seen\"");
        });
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].ends_with('\n') && lines[0].matches('\n').count() == 1);
        let value: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(value["level"], "INFO");
        assert_eq!(value["target"], "quorate::scheduler");
        assert_eq!(value["message"], "deal \"seen\"");
        assert_eq!(value["deal"], "0xab");
        assert_eq!(value["tasks"], 3);
        assert_eq!(value["done"], true);
        let time = value["time"].as_str().unwrap();
        assert!(time.len() >= 20 && time.ends_with('Z') && time.contains('T'), "{time}");
    }
}

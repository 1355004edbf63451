//! Logs: stderr, filtered by `RUST_LOG`, each call site throttled, as text
//! or as JSON lines (`--log-format json`).
//!
//! A node that cannot make progress tends to say so at the rate of its loop:
//! Malachite's "SYNC REQUIRED: Falling behind" came ten times a second for
//! half an hour, burying everything else. [`Throttle`] lets each line (one
//! call site and message, whatever its field values) be logged a few times
//! per window, mutes the rest, and says how many it muted when the line
//! comes again. Keying on the message too keeps apart the lines that one
//! helper logs for many causes (the provider agent's). tracing-throttle was
//! considered: it keys on every field value as well, so a warning repeated
//! with a changing height passes every time.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing::callsite::Identifier;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;

/// Times one line may be logged per [`WINDOW`].
const LINES_PER_WINDOW: u32 = 3;
const WINDOW: Duration = Duration::from_secs(10);

/// Lines remembered at most; past it, those whose window is over are forgotten.
const MAX_LINES: usize = 4096;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One line of text per event, for people.
    #[default]
    Text,
    /// One JSON object per event (`timestamp`, `level`, `target`, `fields`
    /// with `message`, and the spans it happened in), for log collectors.
    Json,
}

/// The format `init` chose, for the lines a service writes itself.
static FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// Writes `message` to stderr the way log lines are written: as it is, or
/// as a JSON log line. For what a long-running command (a node, an agent)
/// says once of itself, such as the address it serves, so that under
/// `--log-format json` its stderr holds nothing but JSON lines.
pub(crate) fn announce(message: &str) {
    eprintln!(
        "{}",
        log_line(FORMAT.get().copied().unwrap_or_default(), message, None)
    );
}

/// `message` as a line of `format`, with `muted` (lines muted before it) in
/// its fields when given.
fn log_line(format: LogFormat, message: &str, muted: Option<u64>) -> String {
    match format {
        LogFormat::Text => message.to_string(),
        LogFormat::Json => {
            let mut fields = serde_json::json!({ "message": message });
            if let Some(muted) = muted {
                fields["muted"] = muted.into();
            }
            serde_json::json!({
                "timestamp": humantime::format_rfc3339_micros(std::time::SystemTime::now())
                    .to_string(),
                "level": "INFO",
                "fields": fields,
                "target": "gpunet",
            })
            .to_string()
        }
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (or `default` without it),
/// throttled, in `format`.
pub(crate) fn init(default: &str, format: LogFormat) {
    let _ = FORMAT.set(format);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(Throttle::new(format));
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => registry.with(lines).init(),
        LogFormat::Json => registry.with(lines.json()).init(),
    }
}

/// Mutes a line past [`LINES_PER_WINDOW`] times in a [`WINDOW`].
#[derive(Default)]
pub(crate) struct Throttle {
    sites: Mutex<HashMap<(Identifier, u64), Site>>,
    /// How the note of muted lines is written: as the lines are.
    format: LogFormat,
}

/// The hash of an event's message (its fields aside).
#[derive(Default)]
struct MessageHash(DefaultHasher);

impl tracing::field::Visit for MessageHash {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            format!("{value:?}").hash(&mut self.0);
        }
    }
}

struct Site {
    since: Instant,
    logged: u32,
    muted: u64,
}

impl Throttle {
    fn new(format: LogFormat) -> Throttle {
        Throttle {
            sites: Mutex::default(),
            format,
        }
    }

    /// The line that says `muted` lines like the next from `source` were muted.
    fn muted_note(&self, muted: u64, source: &str) -> String {
        let message = format!("({muted} more lines like the next from {source} were muted)");
        log_line(self.format, &message, Some(muted))
    }

    /// Whether an event from `site` at `now` is logged, and how many lines
    /// from it were muted before it (reported with it).
    fn admit(&self, site: (Identifier, u64), now: Instant) -> (bool, u64) {
        let mut sites = self.sites.lock().unwrap_or_else(|e| e.into_inner());
        if sites.len() >= MAX_LINES {
            sites.retain(|_, s| now.duration_since(s.since) < WINDOW);
        }
        let site = sites.entry(site).or_insert(Site {
            since: now,
            logged: 0,
            muted: 0,
        });
        if now.duration_since(site.since) >= WINDOW {
            site.since = now;
            site.logged = 0;
        }
        if site.logged < LINES_PER_WINDOW {
            site.logged += 1;
            (true, std::mem::take(&mut site.muted))
        } else {
            site.muted += 1;
            (false, 0)
        }
    }
}

impl<S: Subscriber> Layer<S> for Throttle {
    fn event_enabled(&self, event: &Event<'_>, _: Context<'_, S>) -> bool {
        let meta = event.metadata();
        let mut message = MessageHash::default();
        event.record(&mut message);
        let line = (meta.callsite(), message.0.finish());
        let (logged, muted) = self.admit(line, Instant::now());
        if logged && muted > 0 {
            // Written apart from the event: a filter must not log through
            // the subscriber that is asking it.
            let source = meta.module_path().unwrap_or(meta.target());
            eprintln!("{}", self.muted_note(muted, source));
        }
        logged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> (Identifier, u64) {
        (tracing::callsite::Identifier(&CALLSITE), 0)
    }

    struct Callsite;
    static CALLSITE: Callsite = Callsite;
    impl tracing::Callsite for Callsite {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &tracing::Metadata<'_> {
            unreachable!("not asked by the throttle")
        }
    }

    #[test]
    fn a_call_site_logs_a_few_lines_per_window_and_then_counts_what_it_muted() {
        let throttle = Throttle::default();
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // Ten a second, as the sync warning came.
        let admitted: Vec<(bool, u64)> = (0..100)
            .map(|i| throttle.admit(site(), at(i * 100)))
            .collect();
        assert_eq!(admitted.iter().filter(|(logged, _)| *logged).count(), 3);
        assert!(admitted[..3].iter().all(|a| *a == (true, 0)));
        // The next window: the first line says how many were muted.
        assert_eq!(throttle.admit(site(), at(10_000)), (true, 97));
        assert_eq!(throttle.admit(site(), at(10_100)), (true, 0));
        // Another message from the same call site is a line of its own.
        let other = (site().0, 1);
        assert_eq!(throttle.admit(other, at(10_200)), (true, 0));
    }

    #[test]
    fn the_note_of_muted_lines_is_written_as_the_lines_are() {
        let text = Throttle::new(LogFormat::Text).muted_note(97, "gpunet_bft::app");
        assert_eq!(
            text,
            "(97 more lines like the next from gpunet_bft::app were muted)"
        );
        let json = Throttle::new(LogFormat::Json).muted_note(97, "gpunet_bft::app");
        let line: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(line["fields"]["message"], text);
        assert_eq!(line["fields"]["muted"], 97);
        assert_eq!(line["level"], "INFO");
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'), "{line}");
    }

    /// Through a real subscriber: a warning repeated ten times a second with
    /// a changing field is printed three times; others still get through.
    #[test]
    fn a_repeated_warning_is_muted_whatever_its_fields() {
        #[derive(Clone, Default)]
        struct Buffer(std::sync::Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry()
            .with(Throttle::default())
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || writer.clone()),
            );
        tracing::subscriber::with_default(subscriber, || {
            for height in 0..100 {
                tracing::warn!(height, "falling behind");
                tracing::warn!("order {height}: declined");
            }
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.matches("falling behind").count(), 3, "{text}");
        assert_eq!(text.matches("declined").count(), 100, "{text}");
    }
}

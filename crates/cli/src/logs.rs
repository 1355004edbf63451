//! Logs: stderr, filtered by `RUST_LOG`, each call site throttled.
//!
//! A node that cannot make progress tends to say so at the rate of its loop:
//! Malachite's "SYNC REQUIRED: Falling behind" came ten times a second for
//! half an hour, burying everything else. [`Throttle`] lets each call site
//! (one `warn!` in the source, whatever its field values) log a few lines
//! per window, mutes the rest, and says how many it muted when the site
//! speaks again. tracing-throttle was considered: it keys on the message and
//! every field value, so a warning repeated with a changing height passes
//! every time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing::callsite::Identifier;
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;

/// Lines one call site may log per [`WINDOW`].
const LINES_PER_WINDOW: u32 = 3;
const WINDOW: Duration = Duration::from_secs(10);

/// Logs go to stderr, filtered by `RUST_LOG` (or `default` without it), throttled.
pub fn init(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::registry()
        .with(filter)
        .with(Throttle::default())
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();
}

/// Mutes a call site past [`LINES_PER_WINDOW`] lines in a [`WINDOW`].
#[derive(Default)]
pub struct Throttle {
    sites: Mutex<HashMap<Identifier, Site>>,
}

struct Site {
    since: Instant,
    logged: u32,
    muted: u64,
}

impl Throttle {
    /// Whether an event from `site` at `now` is logged, and how many lines
    /// from it were muted before it (reported with it).
    fn admit(&self, site: Identifier, now: Instant) -> (bool, u64) {
        let mut sites = self.sites.lock().unwrap_or_else(|e| e.into_inner());
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
        let (logged, muted) = self.admit(meta.callsite(), Instant::now());
        if logged && muted > 0 {
            // Written apart from the event: a filter must not log through
            // the subscriber that is asking it.
            eprintln!(
                "({muted} more lines like the next from {} were muted)",
                meta.module_path().unwrap_or(meta.target())
            );
        }
        logged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Identifier {
        tracing::callsite::Identifier(&CALLSITE)
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
    }
}

//! The receiver's Prometheus metrics (prometheus-client): events received, ignored, refused and
//! failed, images converted, queue depth, and the push→discoverable latency.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Every metric, and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    /// Manifest pushes received (after parsing).
    pub received: Counter,
    /// Events ignored without any request: referrify's own writes, pulls, blob pushes, indexes
    /// without attestations.
    pub ignored: Counter,
    /// Events refused: they name a registry the receiver is not configured for.
    pub refused: Counter,
    /// Requests whose body could not be parsed.
    pub malformed: Counter,
    /// Images whose work failed after every attempt.
    pub failed: Counter,
    /// Attempts that failed and will be retried.
    pub retries: Counter,
    /// Images finished (whatever the outcome).
    pub processed: Counter,
    /// Images where this receiver made attestations discoverable.
    pub conversions: Counter,
    /// Images waiting.
    pub queue_depth: Gauge,
    /// Seconds from receiving an event to its image being discoverable (or found so).
    pub latency: Histogram,
}

impl Metrics {
    /// Fresh metrics.
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("referrify_serve"),
            received: Counter::default(),
            ignored: Counter::default(),
            refused: Counter::default(),
            malformed: Counter::default(),
            failed: Counter::default(),
            retries: Counter::default(),
            processed: Counter::default(),
            conversions: Counter::default(),
            queue_depth: Gauge::default(),
            latency: Histogram::new(exponential_buckets(0.01, 1.5, 24)),
        };
        let counters = [
            (
                "events_received",
                "Manifest push events received",
                &m.received,
            ),
            (
                "events_ignored",
                "Events ignored without a request (own writes, non-pushes, no attestations)",
                &m.ignored,
            ),
            (
                "events_refused",
                "Events naming a registry this receiver does not serve",
                &m.refused,
            ),
            (
                "requests_malformed",
                "Requests whose body is not a known notification",
                &m.malformed,
            ),
            (
                "events_failed",
                "Images whose work failed after every attempt",
                &m.failed,
            ),
            (
                "retries",
                "Attempts that failed and were retried",
                &m.retries,
            ),
            ("processed", "Images finished", &m.processed),
            (
                "conversions",
                "Images whose attestations this receiver made discoverable",
                &m.conversions,
            ),
        ];
        let r = &mut m.registry;
        for (name, help, counter) in counters {
            r.register(name, help, counter.clone());
        }
        r.register("queue_depth", "Images waiting", m.queue_depth.clone());
        r.register(
            "push_to_discoverable_seconds",
            "Seconds from receiving a push event to its attestations being discoverable",
            m.latency.clone(),
        );
        m
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

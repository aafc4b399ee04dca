//! Prometheus metrics: requests by route and status, latency, pool, journal length.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The service's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool_connections: IntGauge,
    pool_idle: IntGauge,
    pool_max: IntGauge,
    journal_entries: IntGauge,
    mail_pending: IntGauge,
    password_verifications: IntCounter,
    unknown_state_callbacks: IntCounter,
    render_lock: std::sync::Arc<std::sync::Mutex<()>>,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("procura".into()), None).expect("valid prefix");
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ],
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        let pool_connections = gauge("db_pool_connections", "Open database connections");
        let pool_idle = gauge("db_pool_idle_connections", "Idle database connections");
        let pool_max = gauge("db_pool_max_connections", "Maximum database connections");
        let journal_entries = gauge("journal_entries", "Entries in the journal (chain head)");
        let mail_pending = gauge(
            "mail_outbox_pending",
            "E-mails waiting in the outbox (not yet accepted by the SMTP server)",
        );
        let password_verifications = IntCounter::new(
            "password_verifications_total",
            "Argon2 password verifications (an unknown e-mail costs one too)",
        )
        .expect("valid metric");
        let unknown_state_callbacks = IntCounter::new(
            "fc_callback_unknown_state_total",
            "FranceConnect callbacks with a missing or unknown state (counted, not journaled)",
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(pool_connections.clone()),
            Box::new(pool_idle.clone()),
            Box::new(pool_max.clone()),
            Box::new(journal_entries.clone()),
            Box::new(mail_pending.clone()),
            Box::new(password_verifications.clone()),
            Box::new(unknown_state_callbacks.clone()),
        ] {
            registry.register(c).expect("unique metric");
        }
        Metrics {
            registry,
            requests,
            latency,
            pool_connections,
            pool_idle,
            pool_max,
            journal_entries,
            mail_pending,
            password_verifications,
            unknown_state_callbacks,
            render_lock: Default::default(),
        }
    }

    /// Records one finished request. Every label comes from a fixed set, so that no
    /// client can grow the series: the method is one of the standard ones or `other`,
    /// the route is a registered pattern or `unmatched`, the status a number.
    pub fn observe(
        &self,
        route: &str,
        method: &actix_web::http::Method,
        status: u16,
        seconds: f64,
    ) {
        let status = status.to_string();
        let labels = [route, method_label(method), status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    /// Renders the text exposition format with the given gauges.
    pub fn render(
        &self,
        pool: (u32, u32),
        pool_max: u32,
        journal: i64,
        mail_pending: i64,
    ) -> String {
        self.mail_pending.set(mail_pending);
        self.pool_connections.set(i64::from(pool.0));
        self.pool_idle.set(i64::from(pool.1));
        self.pool_max.set(i64::from(pool_max));
        self.journal_entries.set(journal);
        // One render at a time, so the counter catches up exactly once.
        let _guard = self.render_lock.lock();
        let seen = crate::accounts::password::verifications();
        let shown = self.password_verifications.get();
        if seen > shown {
            self.password_verifications.inc_by(seen - shown);
        }
        let seen = crate::mandates::unknown_state_callbacks();
        let shown = self.unknown_state_callbacks.get();
        if seen > shown {
            self.unknown_state_callbacks.inc_by(seen - shown);
        }
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The metric label of a request method: the standard methods by name, anything else
/// (made-up methods, extension methods) as `other`.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    const STANDARD: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::CONNECT, "CONNECT"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::TRACE, "TRACE"),
        (Method::PATCH, "PATCH"),
    ];
    STANDARD
        .iter()
        .find(|(m, _)| m == method)
        .map_or("other", |(_, name)| name)
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::method_label;
    use actix_web::http::Method;

    #[test]
    fn methods_are_labelled_from_a_fixed_set() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        for made_up in ["FOO", "BREW", "get", "PROPFIND"] {
            let m = Method::from_bytes(made_up.as_bytes()).expect("token");
            assert_eq!(method_label(&m), "other", "{made_up}");
        }
    }
}

//! What a load run measured: bytes verified, round trips, latency (an HDR histogram in microseconds), errors by
//! kind, and the server process's memory and descriptors when it could be read; and the JSON document with stable
//! keys that `load --json` prints.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serializer;

use super::Settings;

/// The kinds of error a client can meet; the JSON document lists each, with 0 when it did not happen.
pub const ERROR_KINDS: [&str; 7] = ["refused", "connect_timeout", "reset", "early_eof", "timeout", "corrupt", "other"];

/// What one client (or all of them, merged) measured.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Echoed bytes that matched what was sent, transformed.
    pub verified_bytes: u64,
    /// Bytes written.
    pub sent_bytes: u64,
    /// Completed round trips (ping-pong and churn: whole messages; stream: whole writes echoed).
    pub round_trips: u64,
    /// Connections opened.
    pub connections: u64,
    /// Latency of each round trip, in microseconds (ping-pong: from when it was due; stream: from the write to
    /// its echo's last byte).
    pub latency: Histogram<u64>,
    /// Errors by kind.
    pub errors: BTreeMap<&'static str, u64>,
    /// The first corruption seen: where, and what came instead of what.
    pub first_corruption: Option<String>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            verified_bytes: 0,
            sent_bytes: 0,
            round_trips: 0,
            connections: 0,
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds"),
            errors: BTreeMap::new(),
            first_corruption: None,
        }
    }
}

impl Tally {
    /// Counts an error of `kind` (one of [`ERROR_KINDS`]).
    pub fn error(&mut self, kind: &'static str) {
        *self.errors.entry(kind).or_default() += 1;
    }

    /// Records one round trip that took `took`.
    pub fn round_trip(&mut self, took: Duration) {
        self.round_trips += 1;
        self.latency.saturating_record((took.as_micros() as u64).max(1));
    }

    /// Adds `other` into this one.
    pub fn merge(&mut self, other: &Tally) {
        self.verified_bytes += other.verified_bytes;
        self.sent_bytes += other.sent_bytes;
        self.round_trips += other.round_trips;
        self.connections += other.connections;
        let _ = self.latency.add(&other.latency);
        for (kind, n) in &other.errors {
            *self.errors.entry(kind).or_default() += n;
        }
        if self.first_corruption.is_none() {
            self.first_corruption.clone_from(&other.first_corruption);
        }
    }

    /// Errors of every kind together.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// The server process, as /proc showed it (when the harness could find and read it).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ServerProcess {
    /// Its process id.
    pub pid: Option<u32>,
    /// The largest resident set, in bytes: sampled every 100 ms while the load ran, and the kernel's high-water
    /// mark (VmHWM) at the end (for a server already running, that mark may predate the run).
    pub peak_rss_bytes: Option<u64>,
    /// Open descriptors before the first client connected.
    pub fds_before: Option<u64>,
    /// Open descriptors after the last client closed and the server had a moment to close its side.
    pub fds_after: Option<u64>,
}

/// A whole run: the settings, how long it took, the normal clients' tally, the slow clients' and the server.
#[derive(Debug, Clone)]
pub struct Measured {
    /// What was asked.
    pub settings: Settings,
    /// From the first connect to the last byte owed (or the give-up).
    pub elapsed: Duration,
    /// Whether Ctrl-C ended it early.
    pub interrupted: bool,
    /// The normal clients.
    pub tally: Tally,
    /// The slow clients (slowloris), kept apart so that their latency does not hide the others'.
    pub slow: Tally,
    /// Clients that never got a byte echoed (a server that keeps them waiting past its connection limit).
    pub unserved_clients: u64,
    /// The server's process.
    pub server: ServerProcess,
}

impl Measured {
    /// Verified megabytes (10^6 bytes) a second.
    pub fn mb_per_s(&self) -> f64 {
        self.tally.verified_bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Round trips a second.
    pub fn round_trips_per_s(&self) -> f64 {
        self.tally.round_trips as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// A latency percentile of the normal clients, in microseconds (`None` without any round trip).
    pub fn percentile_us(&self, q: f64) -> Option<u64> {
        (!self.tally.latency.is_empty()).then(|| self.tally.latency.value_at_quantile(q))
    }

    /// Whether the run met no error and every byte owed came back verified.
    pub fn clean(&self) -> bool {
        self.tally.error_count() == 0 && self.slow.error_count() == 0
    }

    /// The JSON document with stable keys: every key is present, `null` when unknown.
    pub fn to_json(&self) -> serde_json::Value {
        let errors = |t: &Tally| -> serde_json::Value {
            ERROR_KINDS
                .iter()
                .map(|k| (k.to_string(), serde_json::Value::from(t.errors.get(k).copied().unwrap_or(0))))
                .collect()
        };
        serde_json::json!({
            "schema_version": 1,
            "settings": self.settings,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "interrupted": self.interrupted,
            "mb_per_s": self.mb_per_s(),
            "round_trips_per_s": self.round_trips_per_s(),
            "p50_us": self.percentile_us(0.5),
            "p99_us": self.percentile_us(0.99),
            "p999_us": self.percentile_us(0.999),
            "max_us": self.percentile_us(1.0),
            "errors": errors(&self.tally),
            "error_total": self.tally.error_count(),
            "first_corruption": self.tally.first_corruption,
            "verified_bytes": self.tally.verified_bytes,
            "sent_bytes": self.tally.sent_bytes,
            "round_trips": self.tally.round_trips,
            "connections": self.tally.connections,
            "unserved_clients": self.unserved_clients,
            "slow_clients": {
                "verified_bytes": self.slow.verified_bytes,
                "errors": errors(&self.slow),
            },
            "server_pid": self.server.pid,
            "peak_rss_bytes": self.server.peak_rss_bytes,
            "fds_before": self.server.fds_before,
            "fds_after": self.server.fds_after,
        })
    }
}

/// Serializes a duration as seconds.
pub fn as_secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Serializes an optional duration as seconds or `null`.
pub fn as_secs_opt<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_tallies_add_up_and_every_error_kind_is_in_the_document() {
        let mut a = Tally { verified_bytes: 10, ..Tally::default() };
        a.round_trip(Duration::from_micros(100));
        a.error("reset");
        let mut b = Tally { verified_bytes: 5, ..Tally::default() };
        b.round_trip(Duration::from_micros(300));
        a.merge(&b);
        assert_eq!((a.verified_bytes, a.round_trips, a.error_count()), (15, 2, 1));
        let m = Measured {
            settings: Settings::default(),
            elapsed: Duration::from_secs(1),
            interrupted: false,
            tally: a,
            slow: Tally::default(),
            unserved_clients: 0,
            server: ServerProcess::default(),
        };
        let doc = m.to_json();
        for kind in ERROR_KINDS {
            assert!(doc["errors"][kind].is_u64(), "{kind} missing: {doc}");
        }
        assert_eq!(doc["errors"]["reset"], 1);
        assert_eq!(doc["verified_bytes"], 15);
        assert!(doc["peak_rss_bytes"].is_null());
        assert!(doc["p99_us"].as_u64().unwrap() >= 299, "{doc}");
    }
}

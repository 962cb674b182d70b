//! Process counters for Prometheus (`GET /metrics`): clicks, refusals, conversions by outcome
//! and reason, group-commit batches, postback deliveries. Plain atomics: counting costs nothing
//! on the hot path.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

static CLICKS: AtomicU64 = AtomicU64::new(0);
static CLICK_BATCHES: AtomicU64 = AtomicU64::new(0);
static CONVERSION_BATCHES: AtomicU64 = AtomicU64::new(0);
static CONVERSION_BATCH_ROWS: AtomicU64 = AtomicU64::new(0);
static DELIVERED: AtomicU64 = AtomicU64::new(0);
static NOT_DELIVERED: AtomicU64 = AtomicU64::new(0);
static DEFERRED: AtomicU64 = AtomicU64::new(0);
/// (metric, label value) → count, for the labelled counters (reasons are a small fixed set).
static LABELLED: Mutex<BTreeMap<(&'static str, &'static str), u64>> = Mutex::new(BTreeMap::new());

fn labelled(metric: &'static str, label: &'static str) {
    if let Ok(mut m) = LABELLED.lock() {
        *m.entry((metric, label)).or_default() += 1;
    }
}

pub(crate) fn click_batch(clicks: usize) {
    CLICK_BATCHES.fetch_add(1, Ordering::Relaxed);
    CLICKS.fetch_add(clicks as u64, Ordering::Relaxed);
}

pub(crate) fn click_refused(reason: &'static str) {
    labelled("affnet_clicks_refused_total", reason);
}

pub(crate) fn conversion_batch(calls: usize) {
    CONVERSION_BATCHES.fetch_add(1, Ordering::Relaxed);
    CONVERSION_BATCH_ROWS.fetch_add(calls as u64, Ordering::Relaxed);
}

pub(crate) fn conversion(reason: Option<&'static str>) {
    match reason {
        None => labelled("affnet_conversion_calls_total", "accepted"),
        Some(r) => labelled("affnet_conversion_calls_total", r),
    }
}

pub(crate) fn delivery(delivered: bool) {
    if delivered { &DELIVERED } else { &NOT_DELIVERED }.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn deferred(jobs: usize) {
    DEFERRED.fetch_add(jobs as u64, Ordering::Relaxed);
}

/// The Prometheus text exposition of every counter.
pub fn render() -> String {
    let mut out = String::with_capacity(2048);
    let mut counter = |name: &str, help: &str, value: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
    };
    counter(
        "affnet_clicks_recorded_total",
        "Clicks committed (each answered with a 302 after commit).",
        CLICKS.load(Ordering::Relaxed),
    );
    counter(
        "affnet_click_batches_total",
        "Group commits of the click recorder.",
        CLICK_BATCHES.load(Ordering::Relaxed),
    );
    counter(
        "affnet_conversion_batches_total",
        "Group commits of the conversion writers.",
        CONVERSION_BATCHES.load(Ordering::Relaxed),
    );
    counter(
        "affnet_conversion_batch_calls_total",
        "Conversion calls written in those batches.",
        CONVERSION_BATCH_ROWS.load(Ordering::Relaxed),
    );
    counter(
        "affnet_postback_attempts_delivered_total",
        "Postback requests answered 2xx.",
        DELIVERED.load(Ordering::Relaxed),
    );
    counter(
        "affnet_postback_attempts_failed_total",
        "Postback requests that failed (to be retried or failed).",
        NOT_DELIVERED.load(Ordering::Relaxed),
    );
    counter(
        "affnet_postback_jobs_deferred_total",
        "Postback jobs given back unsent because their host was busy (due again when it should have room).",
        DEFERRED.load(Ordering::Relaxed),
    );
    let labelled = LABELLED.lock().map(|m| m.clone()).unwrap_or_default();
    for (metric, help, label) in [
        ("affnet_clicks_refused_total", "Clicks refused at the redirect, by reason.", "reason"),
        (
            "affnet_conversion_calls_total",
            "Conversion endpoint calls, by outcome (accepted or the refusal reason).",
            "outcome",
        ),
    ] {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} counter");
        for ((m, value), n) in &labelled {
            if *m == metric {
                let _ = writeln!(out, "{metric}{{{label}=\"{value}\"}} {n}");
            }
        }
    }
    out
}

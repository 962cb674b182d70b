//! A graceful stop, bounded by one deadline: `AFFNET_SHUTDOWN_TIMEOUT` from the signal.
//!
//! On SIGTERM or SIGINT the HTTP server stops taking connections and lets its requests finish,
//! and at the same moment the background workers are told to stop: the postback worker waits for
//! the requests it has in flight, gives back the rest, and the alert mails already raised go
//! out, all within the same timeout. (actix's own handler stopped the HTTP server first, and only
//! then the workers began their own wait: a stop took twice the timeout, then the mail's. And
//! its SIGINT stopped at once, cutting requests.) A second signal ends the process at once.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use actix_rt::signal::unix::{signal, Signal, SignalKind};
use actix_web::dev::ServerHandle;

/// SIGTERM and SIGINT, caught from the moment [`Signals::listen`] is called (within the
/// runtime that will serve): a signal that comes before the server runs is acted on once it does.
pub struct Signals {
    term: Signal,
    int: Signal,
}

impl Signals {
    pub fn listen() -> std::io::Result<Self> {
        Ok(Self { term: signal(SignalKind::terminate())?, int: signal(SignalKind::interrupt())? })
    }

    /// The next signal's name and the exit status of a process it ends (128 + its number).
    async fn next(&mut self) -> (&'static str, i32) {
        poll_fn(|cx| {
            if self.term.poll_recv(cx).is_ready() {
                Poll::Ready(("SIGTERM", 128 + 15))
            } else if self.int.poll_recv(cx).is_ready() {
                Poll::Ready(("SIGINT", 128 + 2))
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// When the stop began, and how long it may take.
#[derive(Clone)]
pub struct Stop {
    began: Arc<OnceLock<Instant>>,
    timeout: Duration,
}

impl Stop {
    pub fn new(timeout: Duration) -> Self {
        Self { began: Arc::default(), timeout }
    }

    /// What is left of the stop's time (all of it before a stop began).
    pub fn left(&self) -> Duration {
        match self.began.get() {
            Some(began) => self.timeout.saturating_sub(began.elapsed()),
            None => self.timeout,
        }
    }

    /// Waits for SIGTERM or SIGINT; then sets `workers` (their stop flags) and stops `server`
    /// gracefully, together. A second signal ends the process at once (what was acknowledged is
    /// on disk; what was not, was not answered). Runs while the runtime lives: the process waits
    /// for its workers within it, so that a second signal is heard until the end.
    pub async fn on_signal(self, mut signals: Signals, server: ServerHandle, workers: Vec<Arc<AtomicBool>>) {
        let (name, _) = signals.next().await;
        let _ = self.began.set(Instant::now());
        tracing::info!(signal = name, timeout_secs = self.timeout.as_secs(), "stopping gracefully");
        for stop in &workers {
            stop.store(true, Ordering::Release);
        }
        actix_rt::spawn(async move { server.stop(true).await });
        let (name, status) = signals.next().await;
        tracing::warn!(signal = name, "a second signal: stopping at once");
        std::process::exit(status);
    }
}

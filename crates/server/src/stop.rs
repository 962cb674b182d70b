//! A graceful stop, bounded by one deadline: `AFFNET_SHUTDOWN_TIMEOUT` from the signal.
//!
//! On SIGTERM or SIGINT the HTTP server stops taking connections and lets its requests finish,
//! and at the same moment the background workers are told to stop: the postback worker waits for
//! the requests it has in flight, gives back the rest, and the alert mails already raised go
//! out, all within the same timeout. (actix's own handler stopped the HTTP server first, and only
//! then the workers began their own wait: a stop took twice the timeout, then the mail's. And
//! its SIGINT stopped at once, cutting requests.) A second signal stops at once.

use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use actix_rt::signal::unix::{signal, Signal, SignalKind};
use actix_web::dev::ServerHandle;

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
    /// gracefully, together. A second signal stops the server at once.
    pub async fn on_signal(self, server: ServerHandle, workers: Vec<Arc<AtomicBool>>) {
        let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
            tracing::error!("cannot listen for SIGTERM and SIGINT: this server stops only when killed");
            return;
        };
        let name = next_signal(&mut term, &mut int).await;
        let _ = self.began.set(Instant::now());
        tracing::info!(signal = name, timeout_secs = self.timeout.as_secs(), "stopping gracefully");
        for stop in &workers {
            stop.store(true, Ordering::Release);
        }
        let graceful = server.clone();
        actix_rt::spawn(async move { graceful.stop(true).await });
        let name = next_signal(&mut term, &mut int).await;
        tracing::warn!(signal = name, "a second signal: stopping at once");
        server.stop(false).await;
    }
}

async fn next_signal(term: &mut Signal, int: &mut Signal) -> &'static str {
    poll_fn(|cx| {
        if term.poll_recv(cx).is_ready() {
            Poll::Ready("SIGTERM")
        } else if int.poll_recv(cx).is_ready() {
            Poll::Ready("SIGINT")
        } else {
            Poll::Pending
        }
    })
    .await
}

//! The requests a postback worker sends to each host (`host:port`): at most `per_host` at once,
//! and, for a job that finds its host full, whether it waits for a free request or is given back
//! until the host is expected to have room. A job waiting in the worker holds one of the
//! worker's slots (`AFFNET_POSTBACK_CONCURRENCY`), which every other host's postbacks need: a
//! slow or hanging tracker with a backlog must not keep them (its jobs waited for its requests
//! to time out, round after round, while other affiliates' postbacks waited behind them).
//!
//! A host is paced by what its requests take: the smoothed duration of the ones that ended, or
//! the age of the oldest one in flight, whichever is longer. A job that would wait longer than
//! the worker's `host_wait` (or that did wait that long) is deferred: to when the host should
//! have room for it, behind the host's jobs deferred before it, at most [`MAX_DEFER`] on (so that
//! a tracker that recovers gets its backlog within minutes). Jobs to a fast host wait as before
//! (a burst to one tracker queues for milliseconds).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
// Tokio's clock: the tests pause and advance it.
use tokio::time::Instant;

/// The longest a job is deferred for at a time.
pub const MAX_DEFER: Duration = Duration::from_secs(300);

/// Hosts kept without a request in flight (for their pacing) before the idle ones are dropped.
const KEEP_IDLE: usize = 256;

/// The weight of a request that ends in its host's smoothed request duration.
const SMOOTHING: f64 = 0.3;

/// The request slots of every host being sent to.
pub struct HostSlots {
    per_host: usize,
    wait: Duration,
    hosts: Mutex<HashMap<String, Host>>,
}

struct Host {
    /// Its `per_host` request permits.
    slots: Arc<Semaphore>,
    /// Jobs waiting for a permit.
    waiting: usize,
    /// When each request in flight started, by a number of its own.
    in_flight: HashMap<u64, Instant>,
    next_request: u64,
    /// The smoothed duration of its requests that ended.
    took: Option<Duration>,
    /// The latest time a job of this host was deferred to.
    deferred_to: Option<Instant>,
}

impl Host {
    /// What one request to the host takes: the longer of its smoothed duration and the age of
    /// its oldest request in flight (a host that hangs shows it before any request ends).
    fn request_time(&self, now: Instant) -> Duration {
        let oldest = self.in_flight.values().map(|s| now.saturating_duration_since(*s)).max().unwrap_or_default();
        self.took.unwrap_or_default().max(oldest)
    }

    /// How long a job arriving now would wait for a permit: a round of requests for the ones in
    /// flight, and one more per `per_host` jobs waiting ahead of it.
    fn expected_wait(&self, now: Instant, per_host: usize) -> Duration {
        let rounds = 1.0 + self.waiting as f64 / per_host.max(1) as f64;
        self.request_time(now).mul_f64(rounds)
    }

    /// Where a job deferred now goes: at least `at_least` on, and behind the host's jobs
    /// deferred before it (one `per_host`-th of a request apart), at most [`MAX_DEFER`] on.
    fn defer(&mut self, now: Instant, at_least: Duration, per_host: usize) -> Duration {
        let step = self.request_time(now) / u32::try_from(per_host.max(1)).unwrap_or(u32::MAX);
        let mut at = now + at_least;
        if let Some(last) = self.deferred_to {
            at = at.max(last + step);
        }
        let at = at.min(now + MAX_DEFER);
        self.deferred_to = Some(at);
        at - now
    }

    /// Nothing refers to it but the map, and no job was deferred to a time still to come.
    fn idle(&self, now: Instant) -> bool {
        Arc::strong_count(&self.slots) == 1 && self.deferred_to.is_none_or(|t| t <= now)
    }
}

/// What a job gets from [`HostSlots::acquire`].
pub enum Slot<'a> {
    /// Send its request now, holding this until it ends.
    Granted(Request<'a>),
    /// Give it back: its host is expected to have room for it in this long.
    Deferred(Duration),
}

/// A request in flight to a host: ending it (dropping it, also when its task is cut) frees its
/// permit and counts how long it took.
pub struct Request<'a> {
    owner: &'a HostSlots,
    host: String,
    number: u64,
    started: Instant,
    slots: Arc<Semaphore>,
    permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Request<'_> {
    fn drop(&mut self) {
        let took = self.started.elapsed();
        drop(self.permit.take());
        self.owner.with(&self.host, |host| {
            host.in_flight.remove(&self.number);
            host.took = Some(match host.took {
                None => took,
                Some(before) => before.mul_f64(1.0 - SMOOTHING) + took.mul_f64(SMOOTHING),
            });
        });
        self.owner.release(&self.host, &self.slots);
    }
}

/// A job waiting for a permit: counted while it waits, also when its task is cut.
struct Waiting<'a> {
    owner: &'a HostSlots,
    host: &'a str,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.owner.with(self.host, |h| h.waiting = h.waiting.saturating_sub(1));
    }
}

impl HostSlots {
    /// `per_host` requests at once to a host; a job waits at most `wait` for one.
    pub fn new(per_host: usize, wait: Duration) -> Self {
        HostSlots { per_host: per_host.max(1), wait, hosts: Mutex::default() }
    }

    /// A request slot to `host` for a job: at once if one is free; after a wait if the host is
    /// expected to free one within `wait`; else (or if none came within `wait`) the time after
    /// which the job should come back.
    pub async fn acquire(&self, host: &str) -> Slot<'_> {
        let slots = self.slots_of(host);
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                let expected = self.with(host, |h| h.expected_wait(Instant::now(), self.per_host)).unwrap_or_default();
                if expected >= self.wait {
                    None
                } else {
                    self.with(host, |h| h.waiting += 1);
                    let _waiting = Waiting { owner: self, host };
                    tokio::time::timeout(self.wait, slots.clone().acquire_owned()).await.ok().and_then(Result::ok)
                }
            }
        };
        match permit {
            Some(permit) => {
                let started = Instant::now();
                let number = self
                    .with(host, |h| {
                        h.next_request += 1;
                        h.in_flight.insert(h.next_request, started);
                        h.next_request
                    })
                    .unwrap_or_default();
                Slot::Granted(Request {
                    owner: self,
                    host: host.to_owned(),
                    number,
                    started,
                    slots,
                    permit: Some(permit),
                })
            }
            None => {
                let now = Instant::now();
                let after = self
                    .with(host, |h| {
                        let expected = h.expected_wait(now, self.per_host);
                        h.defer(now, expected.max(self.wait), self.per_host)
                    })
                    .unwrap_or(self.wait);
                self.release(host, &slots);
                Slot::Deferred(after)
            }
        }
    }

    /// `host`'s permits (its entry made on first use), referred to until [`HostSlots::release`].
    fn slots_of(&self, host: &str) -> Arc<Semaphore> {
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        if !hosts.contains_key(host) && hosts.len() >= KEEP_IDLE {
            let now = Instant::now();
            hosts.retain(|_, h| !h.idle(now));
        }
        hosts
            .entry(host.to_owned())
            .or_insert_with(|| Host {
                slots: Arc::new(Semaphore::new(self.per_host)),
                waiting: 0,
                in_flight: HashMap::new(),
                next_request: 0,
                took: None,
                deferred_to: None,
            })
            .slots
            .clone()
    }

    /// Lets go of `slots` (`host`'s, from [`HostSlots::slots_of`]); drops the host's entry when
    /// nothing else refers to it and nothing of it is deferred to a time still to come.
    fn release(&self, host: &str, slots: &Arc<Semaphore>) {
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        // Ours and the map's are the only references left.
        if Arc::strong_count(slots) == 2
            && hosts.get(host).is_some_and(|h| h.deferred_to.is_none_or(|t| t <= Instant::now()))
        {
            hosts.remove(host);
        }
    }

    fn with<T>(&self, host: &str, f: impl FnOnce(&mut Host) -> T) -> Option<T> {
        self.hosts.lock().unwrap_or_else(PoisonError::into_inner).get_mut(host).map(f)
    }

    /// Hosts with an entry (tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.hosts.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(slot: Slot<'_>) -> Request<'_> {
        match slot {
            Slot::Granted(r) => r,
            Slot::Deferred(d) => panic!("deferred for {d:?}"),
        }
    }

    fn deferred(slot: Slot<'_>) -> Duration {
        match slot {
            Slot::Granted(_) => panic!("granted"),
            Slot::Deferred(d) => d,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_fast_host_queues_its_jobs_and_a_hanging_one_defers_them() {
        let slots = HostSlots::new(2, Duration::from_secs(1));
        let a = granted(slots.acquire("fast:80").await);
        let b = granted(slots.acquire("fast:80").await);
        // Full, with nothing known of its requests: a job waits for one to end.
        let waiter = slots.acquire("fast:80");
        let release = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            drop(a);
        };
        let (slot, ()) = tokio::join!(waiter, release);
        let c = granted(slot);
        drop((b, c));
        assert_eq!(slots.len(), 0, "an idle host leaves no entry");

        // Two requests that hang: the next job waits `wait`, then is deferred; once the host is
        // known to be slow, jobs are deferred at once, each behind the one before.
        let h1 = granted(slots.acquire("hang:80").await);
        let h2 = granted(slots.acquire("hang:80").await);
        let started = tokio::time::Instant::now();
        let first = deferred(slots.acquire("hang:80").await);
        assert_eq!(started.elapsed(), Duration::from_secs(1), "waited `wait`");
        assert!(first >= Duration::from_secs(1), "{first:?}");
        let started = tokio::time::Instant::now();
        let second = deferred(slots.acquire("hang:80").await);
        assert_eq!(started.elapsed(), Duration::ZERO, "deferred at once");
        assert!(second > first, "{second:?} after {first:?}");
        // Another host is not held up.
        drop(granted(slots.acquire("other:80").await));
        // The cap.
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(deferred(slots.acquire("hang:80").await), MAX_DEFER);
        drop((h1, h2));
        assert_eq!(slots.len(), 1, "the hanging host keeps its pacing while jobs are deferred");
        tokio::time::advance(MAX_DEFER).await;
        drop(granted(slots.acquire("hang:80").await));
        assert_eq!(slots.len(), 0);
    }
}

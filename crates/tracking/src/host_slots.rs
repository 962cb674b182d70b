//! The requests a postback worker sends to each host (`host:port`): at most `per_host` at once,
//! and, for a job that finds its host full, whether it waits for a free request or is given back
//! until the host is expected to have room. A job waiting in the worker holds one of the
//! worker's slots (`AFFNET_POSTBACK_CONCURRENCY`), which every other host's postbacks need: a
//! slow or hanging tracker with a backlog must not keep them (its jobs waited for its requests
//! to time out, round after round, while other affiliates' postbacks waited behind them).
//!
//! - A host is paced by what its requests take: the smoothed duration of the ones that ended,
//!   or, while none ends, the time since one last did (a host that hangs shows it before any of
//!   its requests times out; one stalled request of a fast host does not make it look hung).
//! - A job that would wait longer than the worker's `host_wait` (or that did wait that long) is
//!   deferred: to a little before the host should have room for it, behind the host's jobs
//!   deferred before it, at most [`MAX_DEFER`] on (spread over the last half of that, so that a
//!   long backlog does not come back in one lump), so that a tracker that recovers gets its
//!   backlog within minutes. Jobs to a fast host wait as before (a burst to one tracker queues
//!   for milliseconds).
//! - Slow hosts (requests taking `host_wait` or more) share half of the worker's slots
//!   (`slow_lane`): several hanging trackers cannot hold every slot for their timeout, round
//!   after round.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
// Tokio's clock: the tests pause and advance it.
use tokio::time::Instant;

/// The longest a job is deferred for at a time.
pub const MAX_DEFER: Duration = Duration::from_secs(300);

/// The shortest: a deferred job comes back no sooner (no busy loop of claims).
pub const MIN_DEFER: Duration = Duration::from_millis(250);

/// Hosts kept without a request in flight (for their pacing) before the idle ones are dropped.
const KEEP_IDLE: usize = 256;

/// The weight of a request that ends in its host's smoothed request duration.
const SMOOTHING: f64 = 0.2;

/// The request slots of every host being sent to.
pub struct HostSlots {
    per_host: usize,
    wait: Duration,
    /// The requests slow hosts may have in flight at once, all together.
    slow_lane: Arc<Semaphore>,
    hosts: Mutex<HashMap<String, Host>>,
}

struct Host {
    /// Its `per_host` request permits.
    slots: Arc<Semaphore>,
    /// Jobs waiting for a permit.
    waiting: usize,
    /// When a request to it last ended (or, before any did, when the first one started).
    last_end: Instant,
    /// The smoothed duration of its requests that ended.
    took: Option<Duration>,
    /// The latest time a job of this host was deferred to.
    deferred_to: Option<Instant>,
}

impl Host {
    /// What one request to the host takes: its smoothed duration, or, when longer, the time
    /// since a request last ended while some are in flight (a host that hangs).
    fn request_time(&self, now: Instant) -> Duration {
        let busy = Arc::strong_count(&self.slots) > 1 && self.slots.available_permits() == 0;
        let stalled = if busy { now.saturating_duration_since(self.last_end) } else { Duration::ZERO };
        self.took.unwrap_or_default().max(stalled)
    }

    /// How long a job arriving now would wait for a permit: a round of requests for the ones in
    /// flight, and one more per `per_host` jobs waiting ahead of it.
    fn expected_wait(&self, now: Instant, per_host: usize) -> Duration {
        let rounds = 1.0 + self.waiting as f64 / per_host.max(1) as f64;
        self.request_time(now).mul_f64(rounds)
    }

    /// Whether its requests take `wait` or more.
    fn slow(&self, now: Instant, wait: Duration) -> bool {
        self.request_time(now) >= wait
    }

    /// Whether its entry is kept with nothing in flight: a job of it is deferred to a time still
    /// to come, or it was slow a short while ago (its next requests take the slow lane at once).
    fn keep(&self, now: Instant, wait: Duration) -> bool {
        self.deferred_to.is_some_and(|t| t > now)
            || (self.took.is_some_and(|t| t >= wait) && now.saturating_duration_since(self.last_end) < MAX_DEFER)
    }

    /// When a job deferred now comes back: `expected` on, less half of `wait` (it then waits for
    /// its slot rather than leave the host idle), behind the host's jobs deferred before it (one
    /// `per_host`-th of a request apart), at least [`MIN_DEFER`] and at most [`MAX_DEFER`] on.
    fn defer(&mut self, now: Instant, expected: Duration, wait: Duration, per_host: usize) -> Duration {
        let step = self.request_time(now) / u32::try_from(per_host.max(1)).unwrap_or(u32::MAX);
        let mut after = expected.saturating_sub(wait / 2).clamp(MIN_DEFER, MAX_DEFER);
        if let Some(last) = self.deferred_to {
            after = after.max(last.saturating_duration_since(now).saturating_add(step));
        }
        if after >= MAX_DEFER {
            // The host's schedule is full for the next minutes: spread the rest over the last
            // half of them rather than bring them back in one lump.
            self.deferred_to = Some(now + MAX_DEFER);
            return MAX_DEFER.mul_f64(rand::thread_rng().gen_range(0.5..=1.0));
        }
        self.deferred_to = Some(now + after);
        after
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
/// permits and counts how long it took.
pub struct Request<'a> {
    owner: &'a HostSlots,
    host: String,
    started: Instant,
    slots: Arc<Semaphore>,
    permit: Option<OwnedSemaphorePermit>,
    slow_permit: Option<OwnedSemaphorePermit>,
}

impl Drop for Request<'_> {
    fn drop(&mut self) {
        let now = Instant::now();
        let took = now.saturating_duration_since(self.started);
        drop((self.permit.take(), self.slow_permit.take()));
        self.owner.with(&self.host, |host| {
            host.last_end = now;
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
    /// `per_host` requests at once to a host; a job waits at most `wait` for one; slow hosts
    /// have `slow_lane` requests in flight at once, all together.
    pub fn new(per_host: usize, wait: Duration, slow_lane: usize) -> Self {
        HostSlots {
            per_host: per_host.max(1),
            wait: wait.min(MAX_DEFER),
            slow_lane: Arc::new(Semaphore::new(slow_lane.clamp(1, Semaphore::MAX_PERMITS))),
            hosts: Mutex::default(),
        }
    }

    /// A request slot to `host` for a job: at once if one is free; after a wait if the host is
    /// expected to free one within `wait`; else (or if none came within `wait`, or the host is
    /// slow and the slow lane is full) the time after which the job should come back.
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
        let permits = permit.and_then(|permit| {
            let slow = self.with(host, |h| h.slow(Instant::now(), self.wait)).unwrap_or(false);
            if !slow {
                return Some((permit, None));
            }
            // The slow lane's permit, or none: the host's permit goes back with the job.
            self.slow_lane.clone().try_acquire_owned().ok().map(|s| (permit, Some(s)))
        });
        match permits {
            Some((permit, slow_permit)) => Slot::Granted(Request {
                owner: self,
                host: host.to_owned(),
                started: Instant::now(),
                slots,
                permit: Some(permit),
                slow_permit,
            }),
            None => {
                let now = Instant::now();
                let after = self
                    .with(host, |h| {
                        let expected = h.expected_wait(now, self.per_host).max(self.wait);
                        h.defer(now, expected, self.wait, self.per_host)
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
        let now = Instant::now();
        if !hosts.contains_key(host) && hosts.len() >= KEEP_IDLE {
            hosts.retain(|_, h| Arc::strong_count(&h.slots) > 1 || h.keep(now, self.wait));
        }
        hosts
            .entry(host.to_owned())
            .or_insert_with(|| Host {
                slots: Arc::new(Semaphore::new(self.per_host)),
                waiting: 0,
                last_end: now,
                took: None,
                deferred_to: None,
            })
            .slots
            .clone()
    }

    /// Lets go of `slots` (`host`'s, from [`HostSlots::slots_of`]); drops the host's entry when
    /// nothing else refers to it and it need not be kept ([`Host::keep`]).
    fn release(&self, host: &str, slots: &Arc<Semaphore>) {
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        // Ours and the map's are the only references left.
        if Arc::strong_count(slots) == 2 && hosts.get(host).is_some_and(|h| !h.keep(now, self.wait)) {
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

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn a_fast_host_queues_its_jobs_and_a_hanging_one_defers_them() {
        let slots = HostSlots::new(2, SECOND, 8);
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
        assert_eq!(started.elapsed(), SECOND, "waited `wait`");
        assert_eq!(first, Duration::from_millis(500), "back half a `wait` before the host's expected room");
        let started = tokio::time::Instant::now();
        let second = deferred(slots.acquire("hang:80").await);
        assert_eq!(started.elapsed(), Duration::ZERO, "deferred at once");
        assert_eq!(second, first + Duration::from_millis(500), "behind the first, half a request later");
        // Another host is not held up.
        drop(granted(slots.acquire("other:80").await));
        // The cap, spread over its last half.
        tokio::time::advance(Duration::from_secs(3600)).await;
        let capped = deferred(slots.acquire("hang:80").await);
        assert!(capped >= MAX_DEFER / 2 && capped <= MAX_DEFER, "{capped:?}");
        drop((h1, h2));
        assert_eq!(slots.len(), 1, "the hanging host keeps its pacing while jobs are deferred");
        // Kept while it was slow a short while ago (its next requests take the slow lane).
        tokio::time::advance(MAX_DEFER).await;
        drop(granted(slots.acquire("hang:80").await));
        assert_eq!(slots.len(), 1);
        tokio::time::advance(MAX_DEFER).await;
        assert_eq!(slots.len(), 1);
        drop(granted(slots.acquire("other:80").await));
        assert_eq!(slots.len(), 1);
    }

    /// One stalled request of a fast host does not make it look hung while its other requests
    /// end: the jobs behind it wait (milliseconds), they are not deferred.
    #[tokio::test(start_paused = true)]
    async fn one_stalled_request_does_not_make_a_fast_host_look_hung() {
        let slots = HostSlots::new(2, SECOND, 8);
        let stalled = granted(slots.acquire("fast:80").await);
        // 2 s of requests ending every 5 ms while the stalled one lasts.
        for _ in 0..400 {
            let r = granted(slots.acquire("fast:80").await);
            let next = slots.acquire("fast:80");
            let end = async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(r);
            };
            let (slot, ()) = tokio::join!(next, end);
            drop(granted(slot));
        }
        drop(stalled);
    }

    /// Slow hosts share the slow lane: a third hanging host gets no request while two hold it.
    #[tokio::test(start_paused = true)]
    async fn slow_hosts_share_the_slow_lane() {
        let slots = HostSlots::new(1, SECOND, 2);
        let mut held = Vec::new();
        for host in ["a:80", "b:80", "c:80"] {
            held.push(granted(slots.acquire(host).await));
        }
        // All three hang; once their requests end (timed out), they are known to be slow.
        tokio::time::advance(Duration::from_secs(10)).await;
        held.clear();
        let a = granted(slots.acquire("a:80").await);
        let b = granted(slots.acquire("b:80").await);
        assert!(deferred(slots.acquire("c:80").await) >= MIN_DEFER, "the slow lane is full");
        assert_eq!(slots.slow_lane.available_permits(), 0);
        drop(a);
        drop(granted(slots.acquire("c:80").await));
        drop(b);
        // A fast host needs no slow-lane permit.
        drop(granted(slots.acquire("fast:80").await));
    }
}

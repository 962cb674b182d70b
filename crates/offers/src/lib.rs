//! affnet's catalogue: advertisers, affiliates, offers, goals, payouts and revenue,
//! per-affiliate access and payout overrides, caps and attribution windows (built out by the
//! offers issue). Plain functions over a connection; nothing of HTTP.

pub mod macros;

//! affnet's tracking engine: transaction (click) ids, the click recorder, the redirect,
//! conversion intake, affiliate postbacks and the stats rollups. It owns its hot-path actix
//! handlers (added with the tracking issue); everything else is plain functions over a
//! connection.

pub mod transaction_id;

pub use transaction_id::TransactionId;

//! affnet's tracking engine: transaction (click) ids, the click recorder (group commit), the
//! redirect, conversion intake, the postback outbox and the stats rollups. It owns its hot-path
//! actix handlers ([`handlers`]); everything else is plain functions over a connection.

pub mod cache;
pub mod click;
pub mod conversion;
pub mod delivery;
pub mod handlers;
pub mod listing;
pub mod outbox;
pub mod postback;
pub mod recorder;
pub mod reports;
pub mod rollup;
pub mod template;
pub mod transaction_id;

pub use handlers::{configure, Tracking};
pub use transaction_id::TransactionId;

pub use affnet_db::write_tx;

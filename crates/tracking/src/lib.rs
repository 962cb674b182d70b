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
pub mod rollup;
pub mod template;
pub mod transaction_id;

pub use handlers::{configure, Tracking};
pub use transaction_id::TransactionId;

use affnet_db::DbConn;
use diesel::connection::SimpleConnection;
use diesel::Connection;

/// A write transaction. On SQLite it takes the write lock first (a no-op `UPDATE`), so that a
/// transaction that reads before it writes waits for other writers (busy timeout) instead of
/// failing when another connection committed in between.
pub fn write_tx<T, E>(conn: &mut DbConn, f: impl FnOnce(&mut DbConn) -> Result<T, E>) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    conn.transaction(|c| {
        if let DbConn::Sqlite(s) = c {
            s.batch_execute("UPDATE app_settings SET value = value WHERE 0")?;
        }
        f(c)
    })
}

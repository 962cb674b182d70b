#![allow(clippy::unwrap_used, clippy::expect_used)]

//! Opening connections: several at once to a new database all succeed (a server's pool opens
//! some together, and nodes or `affnet` commands start beside each other).

use std::sync::{Arc, Barrier};

use affnet_db::testing::TestDb;
use affnet_db::Backend;

/// The first connections to a new SQLite file all switch it to WAL at once; that switch needs
/// the file's exclusive lock, which SQLite refuses at once (without waiting the busy timeout)
/// to a connection that already reads it. None of them may fail.
#[test]
fn connections_opened_at_once_to_a_new_database_all_succeed_on_both_backends() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        for round in 0..20 {
            let db = TestDb::unmigrated(backend);
            let start = Arc::new(Barrier::new(8));
            let openers: Vec<_> = (0..8)
                .map(|_| {
                    let (url, start) = (db.url.clone(), start.clone());
                    std::thread::spawn(move || {
                        start.wait();
                        url.connect().map(|_| ())
                    })
                })
                .collect();
            for opener in openers {
                if let Err(e) = opener.join().unwrap() {
                    panic!("{backend:?}, round {round}: {e}");
                }
            }
        }
    }
}

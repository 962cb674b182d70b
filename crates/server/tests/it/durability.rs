//! A click whose redirect was sent is on disk: the real `affnet` binary is killed with SIGKILL
//! while clients click; after the kill every transaction id that came back in a 302 is in the
//! database, and the server starts again on it.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use affnet_db::schema::clicks;
use affnet_db::testing::TestDb;
use affnet_db::{Backend, Micros};
use affnet_offers::{Advertiser, AdvertiserInput, Affiliate, AffiliateInput, Offer, OfferInput};
use diesel::prelude::*;

fn spawn(db: &TestDb, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_affnet"))
        .env("DATABASE_URL", &db.raw_url)
        .env("AFFNET_LISTEN", format!("127.0.0.1:{port}"))
        .env("AFFNET_WORKERS", "2")
        .env("AFFNET_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not start");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn acknowledged_clicks_survive_sigkill(backend: Backend) {
    let db = TestDb::new(backend);
    let (offer, aff) = {
        let mut c = db.url.connect().unwrap();
        let now = Micros::now();
        let t = affnet_accounts::Tenant::provision(&mut c, "acme", "Acme", "a@acme.test", "long enough pw", now)
            .unwrap()
            .tenant;
        let adv = Advertiser::create(&mut c, t.id, &AdvertiserInput { name: "Shop".into(), ..Default::default() }, now)
            .unwrap();
        let aff_input = AffiliateInput { name: "Aff".into(), status: Some("active".into()), ..Default::default() };
        let aff = Affiliate::create(&mut c, t.id, &aff_input, now).unwrap();
        let input = OfferInput::simple(adv.id, "Offer", "https://shop.example/?t={transaction_id}", 100);
        (Offer::create(&mut c, t.id, &input, now).unwrap(), aff)
    };
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = spawn(&db, port);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    wait_ready(&client, &base).await;

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let url = format!("{base}/aff_c?offer_id={}&aff_id={}&aff_sub=load", offer.id, aff.id);
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (client, url, acked) = (client.clone(), url.clone(), acked.clone());
            actix_web::rt::spawn(async move {
                loop {
                    let Ok(res) = client.get(&url).send().await else { return };
                    if res.status().as_u16() != 302 {
                        continue;
                    }
                    let loc = res.headers()["location"].to_str().unwrap().to_owned();
                    acked.lock().unwrap().push(loc.rsplit("t=").next().unwrap().to_owned());
                }
            })
        })
        .collect();
    // Let the load run, then kill the server in the middle of it.
    let started = Instant::now();
    while acked.lock().unwrap().len() < 300 && started.elapsed() < Duration::from_secs(30) {
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for c in clients {
        let _ = c.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 300, "the load generator got {} redirects", acked.len());

    // Restart on the same database: it serves again, and every acknowledged click is there.
    let mut child = spawn(&db, port);
    wait_ready(&client, &base).await;
    let mut conn = db.url.connect().unwrap();
    let stored: Vec<String> = clicks::table.select(clicks::id).load(&mut conn).unwrap();
    let stored: std::collections::HashSet<String> = stored.into_iter().collect();
    let lost: Vec<&String> = acked.iter().filter(|t| !stored.contains(*t)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged clicks were lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        lost.first()
    );
    assert!(stored.len() >= acked.len());
    let res = client.get(&url).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 302);
    child.kill().unwrap();
    child.wait().unwrap();
}

crate::on_both_backends!(acknowledged_clicks_survive_sigkill);

/// SQLite takes one server per database file (clicks are keyed by a sequence each server counts):
/// a second `affnet serve` on the same file refuses to start, saying why; the first one goes on.
#[actix_web::test]
async fn a_second_server_on_one_sqlite_file_refuses_to_start() {
    let db = TestDb::new(Backend::Sqlite);
    let port = free_port();
    let mut first = spawn(&db, port);
    let client = reqwest::Client::new();
    wait_ready(&client, &format!("http://127.0.0.1:{port}")).await;
    let second = Command::new(env!("CARGO_BIN_EXE_affnet"))
        .env("DATABASE_URL", &db.raw_url)
        .env("AFFNET_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("AFFNET_LOG", "warn")
        .output()
        .unwrap();
    assert!(!second.status.success());
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(said.contains("another `affnet serve` is using the SQLite database"), "{said}");
    let ok = client.get(format!("http://127.0.0.1:{port}/readyz")).send().await.unwrap();
    assert!(ok.status().is_success());
    first.kill().unwrap();
    first.wait().unwrap();
}

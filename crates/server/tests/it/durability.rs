//! A click whose redirect was sent is on disk: the real `affnet` binary is killed with SIGKILL
//! while clients click; after the kill every transaction id that came back in a 302 is in the
//! database, and the server starts again on it. Postbacks being sent at the kill are sent again
//! as soon as a server is back.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use affnet_db::schema::{clicks, conversions, postback_attempts, postback_jobs};
use affnet_db::testing::TestDb;
use affnet_db::{Backend, Micros};
use affnet_offers::{Advertiser, AdvertiserInput, Affiliate, AffiliateInput, Offer, OfferInput};
use diesel::prelude::*;

fn spawn(db: &TestDb, port: u16) -> Server {
    spawn_with(db, port, &[])
}

/// A spawned `affnet serve`, its standard error kept in a file: a server that does not come up
/// says why in the test's failure.
struct Server {
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Server {
    /// What the server wrote to its standard error so far.
    fn said(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_else(|e| format!("(its log is unreadable: {e})"))
    }
}

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.child
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

fn spawn_with(db: &TestDb, port: u16, env: &[(&str, &str)]) -> Server {
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_affnet"))
        // Tests run side by side on one PostgreSQL (100 connections): each server takes few.
        .env("AFFNET_DB_POOL_SIZE", "4")
        .envs(env.iter().copied())
        .env("DATABASE_URL", &db.raw_url)
        .env("AFFNET_LISTEN", format!("127.0.0.1:{port}"))
        .env("AFFNET_WORKERS", "2")
        .env("AFFNET_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log.as_file().try_clone().unwrap())
        .spawn()
        .unwrap();
    Server { child, log }
}

/// Waits until `server` answers `/readyz` at `base`; fails with what the server said if it
/// exits first or is not ready within 60 s.
async fn wait_ready(client: &reqwest::Client, base: &str, server: &mut Server) {
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        if let Some(status) = server.try_wait().unwrap() {
            panic!("the server exited ({status}) before it was ready; it said:\n{}", server.said());
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the server did not start; it said:\n{}", server.said());
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

use crate::support::free_port;

/// Kills `child` with SIGKILL once `acked` holds `enough` acknowledgements (or after 30 s), lets
/// the load's `tasks` end, and returns every acknowledgement they got.
async fn kill_under_load(
    child: &mut Server,
    acked: &Arc<Mutex<Vec<String>>>,
    enough: usize,
    tasks: Vec<actix_web::rt::task::JoinHandle<()>>,
) -> Vec<String> {
    let started = Instant::now();
    while acked.lock().unwrap().len() < enough && started.elapsed() < Duration::from_secs(30) {
        actix_web::rt::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap().clone();
    acked
}

/// A network with one offer and an active affiliate.
fn network(db: &TestDb) -> (Offer, Affiliate) {
    let mut c = db.url.connect().unwrap();
    let now = Micros::now();
    let t = affnet_accounts::Tenant::provision(&mut c, "acme", "Acme", "a@acme.test", "long enough pw", now)
        .unwrap()
        .tenant;
    let adv =
        Advertiser::create(&mut c, t.id, &AdvertiserInput { name: "Shop".into(), ..Default::default() }, now).unwrap();
    let aff_input = AffiliateInput { name: "Aff".into(), status: Some("active".into()), ..Default::default() };
    let aff = Affiliate::create(&mut c, t.id, &aff_input, now).unwrap();
    let input = OfferInput::simple(adv.id, "Offer", "https://shop.example/?t={transaction_id}", 100);
    (Offer::create(&mut c, t.id, &input, now).unwrap(), aff)
}

/// A global postback of `aff` to `url` (fired for approved conversions).
fn global_postback(c: &mut affnet_db::DbConn, offer: &Offer, aff: &Affiliate, url: impl Into<String>) {
    let input = affnet_tracking::postback::PostbackInput::new(url);
    affnet_tracking::postback::Postback::create(c, offer.tenant_id, aff.id, &input, Micros::now()).unwrap();
}

async fn acknowledged_clicks_survive_sigkill(backend: Backend) {
    let db = TestDb::new(backend);
    let (offer, aff) = network(&db);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = spawn(&db, port);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    wait_ready(&client, &base, &mut child).await;

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
    let acked = kill_under_load(&mut child, &acked, 300, clients).await;
    assert!(acked.len() >= 300, "the load generator got {} redirects", acked.len());

    // Restart on the same database: it serves again, and every acknowledged click is there.
    let mut child = spawn(&db, port);
    wait_ready(&client, &base, &mut child).await;
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

/// A conversion answered `success=true;` is on disk: the server is killed with SIGKILL while
/// advertisers post conversions; the restarted server has every acknowledged one.
async fn acknowledged_conversions_survive_sigkill(backend: Backend) {
    let db = TestDb::new(backend);
    let (offer, aff) = network(&db);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = spawn(&db, port);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    wait_ready(&client, &base, &mut child).await;
    let click = format!("{base}/aff_c?offer_id={}&aff_id={}", offer.id, aff.id);
    let clickers: Vec<_> = (0..8)
        .map(|_| {
            let (client, click) = (client.clone(), click.clone());
            actix_web::rt::spawn(async move {
                let mut tids = Vec::new();
                for _ in 0..100 {
                    let res = client.get(&click).send().await.unwrap();
                    assert_eq!(res.status().as_u16(), 302);
                    tids.push(res.headers()["location"].to_str().unwrap().rsplit("t=").next().unwrap().to_owned());
                }
                tids
            })
        })
        .collect();
    let mut shares = Vec::new();
    for c in clickers {
        shares.push(c.await.unwrap());
    }

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let posters: Vec<_> = shares
        .into_iter()
        .map(|tids| {
            let (client, base, acked) = (client.clone(), base.clone(), acked.clone());
            let token = offer.security_token.clone();
            actix_web::rt::spawn(async move {
                for tid in tids {
                    let url = format!("{base}/aff_lsr?transaction_id={tid}&security_token={token}&amount=12.50");
                    let Ok(res) = client.post(url).send().await else { return };
                    let ok = res.status().as_u16() == 200;
                    let Ok(body) = res.text().await else { return };
                    if ok && body.starts_with("success=true;") {
                        acked.lock().unwrap().push(tid);
                    }
                }
            })
        })
        .collect();
    let acked = kill_under_load(&mut child, &acked, 200, posters).await;
    assert!(acked.len() >= 200, "the advertisers got {} acknowledgements", acked.len());

    let mut child = spawn(&db, port);
    wait_ready(&client, &base, &mut child).await;
    let mut conn = db.url.connect().unwrap();
    let stored: std::collections::HashSet<String> =
        conversions::table.select(conversions::click_id).load::<String>(&mut conn).unwrap().into_iter().collect();
    let lost: Vec<&String> = acked.iter().filter(|t| !stored.contains(*t)).collect();
    assert!(lost.is_empty(), "{} of {} acknowledged conversions were lost", lost.len(), acked.len());
    // The restarted server refuses a repeat of an acknowledged one (it is there, not half-there).
    let again = format!("{base}/aff_lsr?transaction_id={}&security_token={}", acked[0], offer.security_token);
    let res = client.get(again).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 409);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A postback receiver on a thread of its own: it records the `t` of every request; until
/// `answer` is set it holds each request unanswered, after that it answers `500` to the first
/// `fail` requests, then `200`.
struct HoldingReceiver {
    base: String,
    answer: Arc<std::sync::atomic::AtomicBool>,
    fail: Arc<std::sync::atomic::AtomicUsize>,
    seen: Arc<Mutex<Vec<String>>>,
    answered: Arc<Mutex<Vec<String>>>,
}

impl HoldingReceiver {
    fn start() -> HoldingReceiver {
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::Ordering::SeqCst;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let rx = HoldingReceiver {
            base,
            answer: Arc::default(),
            fail: Arc::default(),
            seen: Arc::default(),
            answered: Arc::default(),
        };
        let (answer, fail, seen, answered) = (rx.answer.clone(), rx.fail.clone(), rx.seen.clone(), rx.answered.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let (answer, fail, seen, answered) = (answer.clone(), fail.clone(), seen.clone(), answered.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    // Requests one after another on a kept-alive connection (GET: no body).
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let t = line.split_once("t=").map(|(_, t)| t.split([' ', '&']).next().unwrap().to_owned());
                        loop {
                            let mut header = String::new();
                            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                                return;
                            }
                            if header == "\r\n" {
                                break;
                            }
                        }
                        let t = t.unwrap_or_default();
                        seen.lock().unwrap().push(t.clone());
                        if !answer.load(SeqCst) {
                            // Held: never answered; the thread ends when the sender hangs up.
                            let _ = std::io::copy(&mut reader, &mut std::io::sink());
                            return;
                        }
                        if fail.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)).is_ok() {
                            if stream.write_all(b"HTTP/1.1 500 Oops\r\ncontent-length: 4\r\n\r\nfail").is_err() {
                                return;
                            }
                            continue;
                        }
                        if stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").is_err() {
                            return;
                        }
                        answered.lock().unwrap().push(t);
                    }
                });
            }
        });
        rx
    }
}

/// `n` clicks on `offer` by `aff`, each converted (200): their transaction ids, sorted.
async fn convert_clicks(client: &reqwest::Client, base: &str, offer: &Offer, aff: &Affiliate, n: usize) -> Vec<String> {
    let mut tids = Vec::new();
    for _ in 0..n {
        let res = client.get(format!("{base}/aff_c?offer_id={}&aff_id={}", offer.id, aff.id)).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 302);
        let tid = res.headers()["location"].to_str().unwrap().rsplit("t=").next().unwrap().to_owned();
        let lsr = format!("{base}/aff_lsr?transaction_id={tid}&security_token={}", offer.security_token);
        let res = client.get(lsr).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 200, "{}", res.text().await.unwrap());
        tids.push(tid);
    }
    tids.sort();
    tids
}

/// Waits (at most 30 s) until the receiver has seen `n` postbacks.
async fn wait_seen(rx: &HoldingReceiver, n: usize) {
    let started = Instant::now();
    while rx.seen.lock().unwrap().len() < n {
        assert!(started.elapsed() < Duration::from_secs(30), "postbacks sent: {:?}", rx.seen.lock().unwrap());
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (at most `limit`) until the receiver has answered a postback for each of `tids`.
async fn wait_answered(rx: &HoldingReceiver, tids: &[String], limit: Duration) {
    let started = Instant::now();
    loop {
        let mut answered = rx.answered.lock().unwrap().clone();
        answered.sort();
        answered.dedup();
        if answered == tids {
            return;
        }
        assert!(started.elapsed() < limit, "postbacks delivered after the restart: {answered:?}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (at most 10 s) until every job is delivered, then checks its log: `interrupted` jobs
/// show the request whose answer was never recorded (`interrupted_by`), then the delivered one
/// (the affiliate may have received both: both count as attempts); the others only the delivered
/// one (their request never left).
fn assert_interrupted_then_delivered(
    conn: &mut affnet_db::DbConn,
    jobs: usize,
    interrupted: usize,
    interrupted_by: &str,
) {
    let started = Instant::now();
    loop {
        let states: Vec<String> = postback_jobs::table.select(postback_jobs::state).load(conn).unwrap();
        if states.len() == jobs && states.iter().all(|s| s == "delivered") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{states:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let expected = format!("interrupted: {interrupted_by}; the request may have reached the affiliate; sent again");
    let delivered = (Some(200), String::new());
    let mut cut = 0;
    let jobs: Vec<(i64, i64)> =
        postback_jobs::table.select((postback_jobs::id, postback_jobs::attempts)).load(conn).unwrap();
    for (id, attempts) in jobs {
        let log: Vec<(Option<i64>, String)> = postback_attempts::table
            .filter(postback_attempts::job_id.eq(id))
            .order(postback_attempts::id.asc())
            .select((postback_attempts::status_code, postback_attempts::error))
            .load(conn)
            .unwrap();
        if log.len() == 2 {
            cut += 1;
            assert_eq!((log, attempts), (vec![(None, expected.clone()), delivered.clone()], 2), "job {id}");
        } else {
            assert_eq!((log, attempts), (vec![delivered.clone()], 1), "job {id}");
        }
    }
    assert_eq!(cut, interrupted, "jobs whose request was cut");
}

/// Postbacks being sent when the server is killed (the receiver has their requests and has not
/// answered) are sent again as soon as the server is back: on SQLite the server knows it is the
/// only one on the file; on PostgreSQL the dead node's advisory lock is gone with its session,
/// and its requests are surely over after their timeout. Not after their lease (5 minutes by
/// default) runs out. Every conversion's postback arrives, and the delivery log shows the
/// request cut by the kill too (the affiliate may have received it: before, the log held one
/// request where the affiliate got two).
async fn postbacks_in_flight_at_sigkill_are_sent_after_restart(backend: Backend) {
    let db = TestDb::new(backend);
    let (offer, aff) = network(&db);
    let rx = HoldingReceiver::start();
    global_postback(&mut db.url.connect().unwrap(), &offer, &aff, format!("{}/pb?t={{transaction_id}}", rx.base));
    // Held requests time out after 5 s: the kill comes before that; on PostgreSQL the restarted
    // node claims the dead one's jobs once that timeout (and a 5 s margin) has passed.
    let env = [("AFFNET_POSTBACK_ALLOW_PRIVATE", "true"), ("AFFNET_POSTBACK_TIMEOUT", "5")];
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = spawn_with(&db, port, &env);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    wait_ready(&client, &base, &mut child).await;
    let tids = convert_clicks(&client, &base, &offer, &aff, 10).await;
    wait_seen(&rx, tids.len()).await;
    child.kill().unwrap(); // SIGKILL, every postback sent and none answered
    child.wait().unwrap();
    let mut conn = db.url.connect().unwrap();
    let states: Vec<String> = postback_jobs::table.select(postback_jobs::state).load(&mut conn).unwrap();
    assert_eq!(states, vec!["sending"; tids.len()]);

    rx.answer.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut child = spawn_with(&db, port, &env);
    wait_ready(&client, &base, &mut child).await;
    wait_answered(&rx, &tids, Duration::from_secs(30)).await;
    let mut conn = db.url.connect().unwrap();
    actix_web::rt::task::spawn_blocking(move || {
        assert_interrupted_then_delivered(
            &mut conn,
            10,
            10,
            "the server sending it stopped without recording the answer",
        )
    })
    .await
    .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A graceful stop (SIGTERM) sends the postback alerts already raised before the process ends,
/// even through a slow mail server: the affiliate hears that their postback failed. (Before, the
/// process ended with them queued, unsent.)
async fn alerts_raised_before_a_graceful_stop_are_mailed(backend: Backend) {
    use affnet_accounts::{NewUser, Role, User};
    let db = TestDb::new(backend);
    let (offer, aff) = network(&db);
    {
        let mut c = db.url.connect().unwrap();
        let user = NewUser {
            email: "pub@media.test",
            name: "Jo",
            role: Role::Affiliate,
            password: &affnet_accounts::NewPassword::hash("long enough pw"),
            advertiser_id: None,
            affiliate_id: Some(aff.id),
        };
        User::create(&mut c, offer.tenant_id, &user, Micros::now()).unwrap();
        // A loopback target on a server that refuses them: the job fails at once, an alert.
        global_postback(&mut c, &offer, &aff, "http://127.0.0.1:9/pb?t={transaction_id}");
    }
    let mail = crate::smtp_sink::SmtpSink::start_slow(Duration::from_millis(1500));
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = spawn_with(&db, port, &[("AFFNET_SMTP_URL", &mail.url())]);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    wait_ready(&client, &base, &mut child).await;
    let res = client.get(format!("{base}/aff_c?offer_id={}&aff_id={}", offer.id, aff.id)).send().await.unwrap();
    let tid = res.headers()["location"].to_str().unwrap().rsplit("t=").next().unwrap().to_owned();
    let lsr = format!("{base}/aff_lsr?transaction_id={tid}&security_token={}", offer.security_token);
    assert_eq!(client.get(lsr).send().await.unwrap().status().as_u16(), 200);
    let mut conn = db.url.connect().unwrap();
    let started = Instant::now();
    loop {
        let states: Vec<String> = postback_jobs::table.select(postback_jobs::state).load(&mut conn).unwrap();
        if states == ["failed"] {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{states:?}");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(mail.all().is_empty(), "the slow mail server has not accepted it yet");
    let term = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not stop");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = mail.to("pub@media.test");
    assert_eq!(sent.len(), 1, "the alert went out before the process ended: {:?}", mail.all());
    assert!(sent[0].text().contains("127.0.0.1:9/pb"), "{}", sent[0].text());
}

/// The wait before a failed postback is retried is the operator's setting
/// (`AFFNET_POSTBACK_RETRY_AFTER`, default one minute): with 1 s, a postback whose first request
/// got a 500 is delivered on its second attempt within seconds.
async fn the_retry_wait_is_the_operators_setting(backend: Backend) {
    let db = TestDb::new(backend);
    let (offer, aff) = network(&db);
    let rx = HoldingReceiver::start();
    rx.answer.store(true, std::sync::atomic::Ordering::SeqCst);
    rx.fail.store(1, std::sync::atomic::Ordering::SeqCst);
    global_postback(&mut db.url.connect().unwrap(), &offer, &aff, format!("{}/pb?t={{transaction_id}}", rx.base));
    let env = [("AFFNET_POSTBACK_ALLOW_PRIVATE", "true"), ("AFFNET_POSTBACK_RETRY_AFTER", "1")];
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = spawn_with(&db, port, &env);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    wait_ready(&client, &base, &mut child).await;
    let res = client.get(format!("{base}/aff_c?offer_id={}&aff_id={}", offer.id, aff.id)).send().await.unwrap();
    let tid = res.headers()["location"].to_str().unwrap().rsplit("t=").next().unwrap().to_owned();
    let lsr = format!("{base}/aff_lsr?transaction_id={tid}&security_token={}", offer.security_token);
    assert_eq!(client.get(lsr).send().await.unwrap().status().as_u16(), 200);
    let mut conn = db.url.connect().unwrap();
    let started = Instant::now();
    loop {
        let jobs: Vec<(String, i64)> =
            postback_jobs::table.select((postback_jobs::state, postback_jobs::attempts)).load(&mut conn).unwrap();
        if jobs == [("delivered".to_owned(), 2)] {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "not retried within seconds: {jobs:?}");
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(*rx.seen.lock().unwrap(), [tid.clone(), tid.clone()], "one failed request, one delivered");
    assert_eq!(*rx.answered.lock().unwrap(), [tid]);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// A graceful stop waits for postbacks in flight only for the shutdown timeout, not for the
/// postback timeout: a receiver holding requests open cannot hold the stop (it took up to
/// `AFFNET_POSTBACK_TIMEOUT`). The jobs it stopped waiting for are given back, due at once: the
/// next server sends them as it starts (on PostgreSQL too, where a node's jobs otherwise wait
/// until they look orphaned). The delivery log shows the requests the stop cut (they may have
/// reached the affiliate), not the job that was still waiting for a request slot to its host.
/// The HTTP server's wait (here for a request whose body stalled) and the postbacks' run side by
/// side, within one timeout: they ran one after the other, and a stop took twice the timeout.
async fn a_graceful_stop_waits_for_postbacks_only_the_shutdown_timeout(backend: Backend) {
    let db = TestDb::new(backend);
    let (offer, aff) = network(&db);
    let rx = HoldingReceiver::start();
    global_postback(&mut db.url.connect().unwrap(), &offer, &aff, format!("{}/pb?t={{transaction_id}}", rx.base));
    let env = [
        ("AFFNET_POSTBACK_ALLOW_PRIVATE", "true"),
        ("AFFNET_POSTBACK_TIMEOUT", "60"),
        ("AFFNET_SHUTDOWN_TIMEOUT", "3"),
        ("AFFNET_POSTBACK_PER_HOST", "2"),
    ];
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = spawn_with(&db, port, &env);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    wait_ready(&client, &base, &mut child).await;
    let tids = convert_clicks(&client, &base, &offer, &aff, 3).await;
    // Two requests out, the third waits for a slot.
    wait_seen(&rx, 2).await;
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.seen.lock().unwrap().len(), 2);
    // A conversion call whose body never comes: the HTTP server waits for it at the stop.
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(
        &mut stalled,
        b"POST /aff_lsr HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
          Content-Length: 100\r\n\r\ntransaction_id=",
    )
    .unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    let stopping = Instant::now();
    let pid = i32::try_from(child.id()).unwrap();
    assert!(Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap().success());
    let status = actix_web::rt::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    let took = stopping.elapsed();
    drop(stalled);
    assert!(status.success(), "{status:?}");
    // 3 s for both waits at once (and a margin for a busy machine): one after the other took 6.
    assert!(took < Duration::from_millis(4_800), "stopped after the shutdown timeout, once: {took:?}");

    rx.answer.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut child = spawn_with(&db, port, &env);
    wait_ready(&client, &base, &mut child).await;
    wait_answered(&rx, &tids, Duration::from_secs(20)).await;
    let mut conn = db.url.connect().unwrap();
    actix_web::rt::task::spawn_blocking(move || {
        assert_interrupted_then_delivered(&mut conn, 3, 2, "the server stopped before the answer came")
    })
    .await
    .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}

/// SIGINT (Ctrl-C) stops as gracefully as SIGTERM, as documented: a conversion call whose body
/// is still coming when the signal arrives is answered and recorded (actix's own handler stopped
/// at once on SIGINT, cutting it), and the server then exits cleanly.
async fn sigint_stops_gracefully_like_sigterm(backend: Backend) {
    use std::io::{Read, Write};
    let db = TestDb::new(backend);
    let (offer, aff) = network(&db);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = spawn_with(&db, port, &[("AFFNET_SHUTDOWN_TIMEOUT", "10")]);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    wait_ready(&client, &base, &mut child).await;
    let res = client.get(format!("{base}/aff_c?offer_id={}&aff_id={}", offer.id, aff.id)).send().await.unwrap();
    let tid = res.headers()["location"].to_str().unwrap().rsplit("t=").next().unwrap().to_owned();
    let body = format!("transaction_id={tid}&security_token={}", offer.security_token);
    let (first, rest) = body.split_at(10);
    let mut call = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let head = format!(
        "POST /aff_lsr HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{first}",
        body.len()
    );
    call.write_all(head.as_bytes()).unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    assert!(child.try_wait().unwrap().is_none(), "still finishing the call");
    call.write_all(rest.as_bytes()).unwrap();
    let mut answer = String::new();
    call.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("success=true;"), "{answer}");
    let status = actix_web::rt::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(status.success(), "{status:?}");
    let stored: i64 = conversions::table.count().get_result(&mut db.url.connect().unwrap()).unwrap();
    assert_eq!(stored, 1);
}

/// A second signal ends a graceful stop at once: an operator's second Ctrl-C does not wait for
/// a request that holds the stop (here a body that never comes, with a 30 s timeout).
async fn a_second_signal_stops_at_once(backend: Backend) {
    use std::io::Write;
    let db = TestDb::new(backend);
    network(&db);
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = spawn_with(&db, port, &[("AFFNET_SHUTDOWN_TIMEOUT", "30")]);
    let client = reqwest::Client::builder().build().unwrap();
    wait_ready(&client, &base, &mut child).await;
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled
        .write_all(b"POST /aff_lsr HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nt=")
        .unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    actix_web::rt::time::sleep(Duration::from_millis(700)).await;
    assert!(child.try_wait().unwrap().is_none(), "the first signal waits for the request");
    let stopping = Instant::now();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let status = actix_web::rt::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    assert!(stopping.elapsed() < Duration::from_secs(5), "{:?}", stopping.elapsed());
    assert_eq!(status.code(), Some(130), "{status:?}");
    drop(stalled);
}

crate::on_both_backends!(
    a_second_signal_stops_at_once,
    sigint_stops_gracefully_like_sigterm,
    the_server_takes_its_port_before_it_connects,
    the_retry_wait_is_the_operators_setting,
    acknowledged_clicks_survive_sigkill,
    acknowledged_conversions_survive_sigkill,
    postbacks_in_flight_at_sigkill_are_sent_after_restart,
    alerts_raised_before_a_graceful_stop_are_mailed,
    a_graceful_stop_waits_for_postbacks_only_the_shutdown_timeout,
);

/// A server takes its port before it opens its database connections: those connections'
/// source ports come from the range a caller picks a free port from (`bind` on port 0), and one
/// of them could take the port before the server bound it ("Address already in use", seen by a
/// probe on PostgreSQL). Shown by holding the migration lock: the server waits for it with its
/// port already taken, then serves once the lock is released.
async fn the_server_takes_its_port_before_it_connects(backend: Backend) {
    let db = TestDb::new(backend);
    let lock_file;
    let mut lock_conn = db.url.connect().unwrap();
    match backend {
        Backend::Postgres => {
            diesel::sql_query("SELECT pg_advisory_lock($1)")
                .bind::<diesel::sql_types::BigInt, _>(affnet_db::migrate::MIGRATION_LOCK)
                .execute(&mut lock_conn)
                .unwrap();
            lock_file = None;
        }
        Backend::Sqlite => {
            let path = format!("{}.migrate-lock", db.url.sqlite_path().unwrap());
            let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(path).unwrap();
            file.lock().unwrap();
            lock_file = Some(file);
        }
    }
    let port = free_port();
    let mut server = spawn(&db, port);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(server.try_wait().unwrap().is_none(), "the server exited: {}", server.said());
        assert!(started.elapsed() < Duration::from_secs(20), "the port is not taken while the server migrates");
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
    let client = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    assert!(client.get(format!("{base}/readyz")).send().await.is_err(), "not serving before it has migrated");
    drop(lock_file);
    drop(lock_conn);
    wait_ready(&reqwest::Client::new(), &base, &mut server).await;
    server.kill().unwrap();
    server.wait().unwrap();
}

/// SQLite takes one server per database file (clicks are keyed by a sequence each server counts):
/// a second `affnet serve` on the same file refuses to start, saying why; the first one goes on.
#[actix_web::test]
async fn a_second_server_on_one_sqlite_file_refuses_to_start() {
    let db = TestDb::new(Backend::Sqlite);
    let port = free_port();
    let mut first = spawn(&db, port);
    let client = reqwest::Client::new();
    wait_ready(&client, &format!("http://127.0.0.1:{port}"), &mut first).await;
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

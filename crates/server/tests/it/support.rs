//! The test app: a real affnet server on a free loopback port, over a throw-away database of the
//! chosen backend, with a clock the test moves by hand; and a browser-like client that keeps
//! cookies and reads CSRF tokens from pages.

#![allow(dead_code)]

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::cookie::Key;
use affnet_accounts::tenant::ProvisionedTenant;
use affnet_accounts::{NewUser, Role, Tenant, User};
use affnet_admin_ui::{AppState, WebConfig};
use affnet_db::testing::TestDb;
use affnet_db::{Backend, Clock, DbPool, ManualClock, Micros};

pub const PASSWORD: &str = "correct horse battery";

pub struct TestApp {
    pub base: String,
    pub pool: DbPool,
    pub clock: ManualClock,
    /// Every email the app sent (through SMTP on loopback).
    pub mail: crate::smtp_sink::SmtpSink,
    handle: actix_web::dev::ServerHandle,
    _db: TestDb,
}

impl TestApp {
    pub async fn start(backend: Backend) -> TestApp {
        Self::start_with_mail(backend, crate::smtp_sink::SmtpSink::start()).await
    }

    /// An app sending its mail to `mail` (a slow mail server, say).
    pub async fn start_with_mail(backend: Backend, mail: crate::smtp_sink::SmtpSink) -> TestApp {
        let db = TestDb::new(backend);
        let pool = db.pool();
        let clock = ManualClock::at(Micros::now());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState {
            pool: pool.clone(),
            clock: Arc::new(clock.clone()),
            web: WebConfig {
                cookie_key: Key::derive_from(&[7u8; 64]),
                secure_cookies: false,
                trust_proxy: false,
                public_url: base.clone(),
                postbacks: affnet_tracking::delivery::DeliveryConfig::default(),
            },
            mailer: Arc::new(
                affnet_accounts::mail::Mailer::from_settings(
                    Some(&mail.url()),
                    "Network <noreply@affnet.test>",
                    std::path::Path::new("unused"),
                )
                .unwrap(),
            ),
        };
        let (tracking, _writers) = affnet_tracking::handlers::start(
            &db.url,
            pool.clone(),
            Arc::new(clock.clone()),
            false,
            std::time::Duration::from_secs(2),
            affnet_tracking::delivery::DeliveryConfig {
                allow_private: true,
                timeout: std::time::Duration::from_secs(2),
                ..Default::default()
            },
        )
        .unwrap();
        let server = affnet_server::app::http_server(state, tracking, listener, 1, 1).unwrap();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        TestApp { base, pool, clock, mail, handle, _db: db }
    }

    /// The test's database.
    pub fn db(&self) -> &TestDb {
        &self._db
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A network with its admin (password [`PASSWORD`]) and an admin API key.
    pub fn network(&self, slug: &str) -> ProvisionedTenant {
        let mut conn = self.pool.get().unwrap();
        Tenant::provision(
            &mut conn,
            slug,
            &format!("{slug} network"),
            &format!("admin@{slug}.test"),
            PASSWORD,
            self.clock.now(),
        )
        .unwrap()
    }

    /// A user of `tenant` with `role` (password [`PASSWORD`]).
    pub fn user(&self, tenant: &Tenant, email: &str, role: Role) -> User {
        let mut conn = self.pool.get().unwrap();
        let (advertiser_id, affiliate_id) = match role {
            Role::Affiliate => (None, Some(self.affiliate(tenant, email).id)),
            Role::Advertiser => (Some(self.advertiser(tenant, email).id), None),
            _ => (None, None),
        };
        let new = NewUser {
            email,
            name: "",
            role,
            password: &affnet_accounts::NewPassword::hash(PASSWORD),
            advertiser_id,
            affiliate_id,
        };
        User::create(&mut conn, tenant.id, &new, self.clock.now()).unwrap()
    }

    /// An active affiliate company of `tenant`.
    pub fn affiliate(&self, tenant: &Tenant, name: &str) -> affnet_offers::Affiliate {
        let mut conn = self.pool.get().unwrap();
        let input = affnet_offers::AffiliateInput {
            name: name.to_owned(),
            status: Some("active".into()),
            ..Default::default()
        };
        affnet_offers::Affiliate::create(&mut conn, tenant.id, &input, self.clock.now()).unwrap()
    }

    /// An active advertiser company of `tenant`.
    pub fn advertiser(&self, tenant: &Tenant, name: &str) -> affnet_offers::Advertiser {
        let mut conn = self.pool.get().unwrap();
        let input = affnet_offers::AdvertiserInput { name: name.to_owned(), ..Default::default() };
        affnet_offers::Advertiser::create(&mut conn, tenant.id, &input, self.clock.now()).unwrap()
    }

    pub fn users_of(&self, tenant: &Tenant) -> Vec<User> {
        let mut conn = self.pool.get().unwrap();
        User::list(&mut conn, tenant.id, None, 1000, 0).unwrap()
    }

    pub fn browser(&self) -> Browser {
        Browser {
            base: self.base.clone(),
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    /// A browser whose connections come from another loopback address (`127.0.0.2`, ...): a
    /// different client address to the server, without a proxy.
    pub fn browser_from(&self, address: &str) -> Browser {
        Browser {
            base: self.base.clone(),
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .local_address(address.parse::<std::net::IpAddr>().unwrap())
                .build()
                .unwrap(),
        }
    }

    pub fn api(&self, token: &str) -> Api {
        Api { base: self.base.clone(), token: token.to_owned(), client: reqwest::Client::new() }
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
    pub headers: reqwest::header::HeaderMap,
}

impl Page {
    async fn from(res: reqwest::Response) -> Page {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let location = headers.get("location").map(|v| v.to_str().unwrap().to_owned());
        Page { status, location, body: res.text().await.unwrap(), headers }
    }

    /// The CSRF token of the first form on the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start =
            self.body.find(marker).unwrap_or_else(|| panic!("no CSRF token on page:\n{}", self.body)) + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }
}

/// A cookie-keeping client that does not follow redirects, like a browser tab we inspect.
pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
}

impl Browser {
    pub async fn get(&self, path: &str) -> Page {
        Page::from(self.client.get(format!("{}{}", self.base, path)).send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Page::from(self.client.post(format!("{}{}", self.base, path)).form(form).send().await.unwrap()).await
    }

    /// Posts `body` as it is, as a form (for malformed forms).
    pub async fn post_raw(&self, path: &str, body: &str) -> Page {
        let req = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned());
        Page::from(req.send().await.unwrap()).await
    }

    /// Posts `form` with the CSRF token taken from the page at `form_page`.
    pub async fn submit(&self, form_page: &str, action: &str, form: &[(&str, &str)]) -> Page {
        let token = self.get(form_page).await.csrf();
        let mut fields = vec![("csrf_token", token.as_str())];
        fields.extend_from_slice(form);
        self.post(action, &fields).await
    }

    pub async fn sign_in(&self, slug: &str, email: &str, password: &str) -> Page {
        let login = format!("/t/{slug}/login");
        self.submit(&login, &login, &[("email", email), ("password", password)]).await
    }
}

/// An API client with a bearer token.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
}

pub struct Json {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Api {
    pub async fn get(&self, path: &str) -> Json {
        let res = self.client.get(format!("{}{}", self.base, path)).bearer_auth(&self.token).send().await.unwrap();
        Json { status: res.status().as_u16(), body: res.json().await.unwrap_or(serde_json::Value::Null) }
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> Json {
        let res = self
            .client
            .post(format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        Json { status: res.status().as_u16(), body: res.json().await.unwrap_or(serde_json::Value::Null) }
    }

    pub async fn put(&self, path: &str, body: serde_json::Value) -> Json {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Json {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    /// Any method, with an optional JSON body.
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> Json {
        let mut req = self.client.request(method, format!("{}{}", self.base, path)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        Json { status: res.status().as_u16(), body: res.json().await.unwrap_or(serde_json::Value::Null) }
    }

    /// Posts `body` as it is, declared as JSON (for malformed bodies).
    pub async fn post_raw(&self, path: &str, body: &str) -> Json {
        self.send_raw(reqwest::Method::POST, path, body).await
    }

    /// Sends `body` as it is with any method, declared as JSON (for malformed bodies).
    pub async fn send_raw(&self, method: reqwest::Method, path: &str, body: &str) -> Json {
        let res = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        Json { status: res.status().as_u16(), body: res.json().await.unwrap_or(serde_json::Value::Null) }
    }
}

/// Runs each named `async fn(Backend)` as two tests: on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[actix_web::test] async fn $name() { super::$name(affnet_db::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[actix_web::test] async fn $name() { super::$name(affnet_db::Backend::Postgres).await } )*
        }
    };
}

/// A free port for a process a test starts (a server, chromedriver), below Linux's ephemeral
/// range (32768–60999): a port the kernel handed out there could be taken, before the process
/// binds it, as the source port of any outgoing connection (a pool's, a client's).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static TAKEN: AtomicU32 = AtomicU32::new(0);
    // Runs of the suite side by side start at different places.
    let start = std::process::id() % 1_000 * 12;
    loop {
        let port = 20_000 + u16::try_from((start + TAKEN.fetch_add(1, Ordering::SeqCst)) % 12_000).unwrap();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// Whether `body` shows `message` as a field's error (`<p class="field-error" …>message…`).
pub fn shows_field_error(body: &str, message: &str) -> bool {
    body.split("<p class=\"field-error\"")
        .skip(1)
        .any(|rest| rest.split_once('>').is_some_and(|(_, t)| t.starts_with(message)))
}

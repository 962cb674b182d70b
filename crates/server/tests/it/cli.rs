//! The `affnet` command line, run as a real process.

use std::process::{Command, Output};

use affnet_db::testing::TestDb;
use affnet_db::Backend;

fn affnet(db_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_affnet"))
        .args(args)
        .env("DATABASE_URL", db_url)
        .env("AFFNET_LOG", "warn")
        .env_remove("AFFNET_ADMIN_PASSWORD")
        .env_remove("AFFNET_USER_PASSWORD")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

async fn tenant_and_user_create(backend: Backend) {
    let db = TestDb::new(backend);
    let create = [
        "tenant",
        "create",
        "--slug",
        "acme",
        "--name",
        "Acme",
        "--admin-email",
        "boss@acme.test",
        "--admin-password",
        "long enough pw",
    ];
    let out = affnet(&db.raw_url, &create);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["tenant"]["slug"], "acme");
    assert_eq!(json["admin"]["email"], "boss@acme.test");
    assert!(json["api_key"].as_str().unwrap().starts_with("afk_"));
    // The printed key works.
    let mut conn = db.url.connect().unwrap();
    let user =
        affnet_accounts::ApiKey::authenticate(&mut conn, json["api_key"].as_str().unwrap(), affnet_db::Micros::now())
            .unwrap();
    assert_eq!(user.unwrap().email, "boss@acme.test");

    let again = affnet(&db.raw_url, &create);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("--slug: a network with slug 'acme' already exists"), "{}", stderr(&again));

    let user = affnet(
        &db.raw_url,
        &[
            "user",
            "create",
            "--tenant",
            "acme",
            "--email",
            "aff@acme.test",
            "--role",
            "affiliate",
            "--password",
            "long enough pw",
        ],
    );
    assert!(user.status.success(), "{}", stderr(&user));
    let json: serde_json::Value = serde_json::from_slice(&user.stdout).unwrap();
    assert_eq!(json["role"], "affiliate");

    let no_tenant = affnet(
        &db.raw_url,
        &[
            "user",
            "create",
            "--tenant",
            "nope",
            "--email",
            "a@b.co",
            "--role",
            "affiliate",
            "--password",
            "long enough pw",
        ],
    );
    assert_eq!(no_tenant.status.code(), Some(1));
    assert!(stderr(&no_tenant).contains("no network with slug 'nope'"));
    let weak = affnet(
        &db.raw_url,
        &["user", "create", "--tenant", "acme", "--email", "b@acme.test", "--role", "manager", "--password", "short"],
    );
    assert_eq!(weak.status.code(), Some(1));
    assert!(stderr(&weak).contains("--password: use at least 10 characters"), "{}", stderr(&weak));
    let bad_slug = affnet(
        &db.raw_url,
        &[
            "tenant",
            "create",
            "--slug",
            "Bad Slug!",
            "--name",
            "x",
            "--admin-email",
            "a@b.co",
            "--admin-password",
            "long enough pw",
        ],
    );
    assert_eq!(bad_slug.status.code(), Some(1));
    assert!(stderr(&bad_slug).contains("--slug:"));
}

async fn bad_arguments_fail_clearly_without_a_panic(backend: Backend) {
    let db = TestDb::new(backend);
    let role = affnet(
        &db.raw_url,
        &["user", "create", "--tenant", "acme", "--email", "a@b.co", "--role", "root", "--password", "x"],
    );
    assert_eq!(role.status.code(), Some(2));
    assert!(stderr(&role).contains("unknown role 'root'"));
    let missing = affnet(&db.raw_url, &["tenant", "create", "--slug", "x"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("--name"));
    let unknown = affnet(&db.raw_url, &["frobnicate"]);
    assert_eq!(unknown.status.code(), Some(2));
    for s in [stderr(&role), stderr(&missing), stderr(&unknown)] {
        assert!(!s.contains("panicked"), "{s}");
    }
}

#[test]
fn a_malformed_or_unreachable_database_url_is_reported() {
    for (url, message) in [
        ("mysql://root@localhost/x", "DATABASE_URL must start with sqlite:// or postgres://"),
        ("sqlite://", "a SQLite URL names a file"),
        ("postgres://nobody@127.0.0.1:1/none", "cannot connect to the database"),
    ] {
        let out = affnet(url, &["migrate"]);
        assert_eq!(out.status.code(), Some(1), "{url}");
        let err = stderr(&out);
        assert!(err.contains(message), "{url}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_affnet"))
        .arg("migrate")
        .env("DATABASE_URL", "sqlite://x.db")
        .env("AFFNET_LISTEN", "not an address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("AFFNET_LISTEN"));
}

#[test]
fn migrate_applies_the_schema_once() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = TestDb::new(backend);
        let out = affnet(&db.raw_url, &["migrate"]);
        assert!(out.status.success(), "{backend:?}: {:?} {}", out.status, stderr(&out));
    }
}

crate::on_both_backends!(tenant_and_user_create, bad_arguments_fail_clearly_without_a_panic);

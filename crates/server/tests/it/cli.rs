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
    // In the network's audit log, by the command line.
    {
        use affnet_db::schema::audit_log;
        use diesel::prelude::*;
        let entries: Vec<(String, String, String, String)> = audit_log::table
            .select((audit_log::actor_label, audit_log::entity, audit_log::action, audit_log::summary))
            .load(&mut conn)
            .unwrap();
        assert_eq!(
            entries,
            [(
                "command line (affnet user create)".to_owned(),
                "user".to_owned(),
                "create".to_owned(),
                "aff@acme.test created as Affiliate, status active".to_owned()
            )]
        );
    }

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
    // Errors name the flags the command has (they named --company (contact_email) and
    // --affiliate-id).
    let user_create = |email: &str, extra: &[&str]| {
        let args = [
            &["user", "create", "--tenant", "acme", "--email", email, "--role", "affiliate"][..],
            &["--password", "long enough pw"],
            extra,
        ]
        .concat();
        affnet(&db.raw_url, &args)
    };
    for (email, extra, said) in [
        ("bad", &[][..], "--email: "),
        ("c@acme.test", &["--company-id", "999"][..], "--company-id: "),
        ("d@acme.test", &["--company", " "][..], "--company: "),
    ] {
        let out = user_create(email, extra);
        assert_eq!(out.status.code(), Some(1), "{email}");
        let err = stderr(&out);
        assert!(err.contains(said), "{email} {extra:?}: {err}");
        assert!(!err.contains("contact_email") && !err.contains("--affiliate-id"), "{err}");
    }
    // A company for a role without one is refused, not ignored.
    for extra in [&["--company", "Media"][..], &["--company-id", "1"]] {
        let args = [
            &["user", "create", "--tenant", "acme", "--email", "m@acme.test", "--role", "manager"][..],
            &["--password", "long enough pw"],
            extra,
        ]
        .concat();
        let out = affnet(&db.raw_url, &args);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("only affiliate and advertiser users belong to a company"), "{}", stderr(&out));
    }
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
    // A network's name is one line, as every other name (it was stored with its line break).
    for name in ["line\nbreak", "esc\u{1b}[31mred", "sep\u{2028}arator"] {
        let slug = format!("n{}", name.len());
        let args = ["tenant", "create", "--slug", &slug, "--name", name];
        let out = affnet(
            &db.raw_url,
            &[&args[..], &["--admin-email", "n@b.co", "--admin-password", "long enough pw"]].concat(),
        );
        assert_eq!(out.status.code(), Some(1), "{name:?}");
        let expected = format!("error: --name: {}", affnet_db::validation::ONE_LINE);
        assert!(stderr(&out).contains(&expected), "{name:?}: {}", stderr(&out));
    }
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

/// Settings out of their documented range, a public URL that is not one, and a log filter that
/// does not parse are refused at start, naming the variable (they were clamped, taken as
/// written, or replaced by `info` without a word).
#[test]
fn settings_out_of_range_or_malformed_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("x.db").display());
    for (env, said) in [
        (vec![("AFFNET_POSTBACK_RETRY_AFTER", "0")], "AFFNET_POSTBACK_RETRY_AFTER: '0' is not between 1 and 86400"),
        (vec![("AFFNET_POSTBACK_RETRY_AFTER", "100000")], "AFFNET_POSTBACK_RETRY_AFTER: '100000' is not between"),
        (
            vec![("AFFNET_POSTBACK_RETRY_AFTER", "120"), ("AFFNET_POSTBACK_RETRY_MAX", "60")],
            "AFFNET_POSTBACK_RETRY_MAX: must be at least AFFNET_POSTBACK_RETRY_AFTER (120)",
        ),
        (vec![("AFFNET_POSTBACK_CONCURRENCY", "0")], "AFFNET_POSTBACK_CONCURRENCY: '0' is not between 1 and 1024"),
        (vec![("AFFNET_POSTBACK_PER_HOST", "5000")], "AFFNET_POSTBACK_PER_HOST: '5000' is not between 1 and 1024"),
        (vec![("AFFNET_POSTBACK_MAX_ATTEMPTS", "0")], "AFFNET_POSTBACK_MAX_ATTEMPTS: '0' is not between 1 and 100"),
        (vec![("AFFNET_POSTBACK_TIMEOUT", "0")], "AFFNET_POSTBACK_TIMEOUT: '0' is not between 1 and 300"),
        (vec![("AFFNET_SUB_ROLLUP_INTERVAL", "999999")], "AFFNET_SUB_ROLLUP_INTERVAL: '999999' is not between 0 and"),
        (vec![("AFFNET_SUB_ROLLUP_GRACE", "999999")], "AFFNET_SUB_ROLLUP_GRACE: '999999' is not between 0 and"),
        (vec![("AFFNET_PUBLIC_URL", "http://")], "AFFNET_PUBLIC_URL: "),
        (vec![("AFFNET_PUBLIC_URL", "http://a b")], "AFFNET_PUBLIC_URL: "),
        (vec![("AFFNET_PUBLIC_URL", "https://net.example/?x=1")], "AFFNET_PUBLIC_URL: "),
        (vec![("AFFNET_PUBLIC_URL", "ftp://x")], "AFFNET_PUBLIC_URL: 'ftp://x': must start with http:// or https://"),
        // A password in the URL is refused without being echoed.
        (
            vec![("AFFNET_PUBLIC_URL", "https://user:s3cret@net.example")],
            "AFFNET_PUBLIC_URL: a base URL has no user name or password before its host",
        ),
        (
            vec![("AFFNET_PUBLIC_URL", "https://user:s3cret/x?y#z@net.example/?q")],
            "AFFNET_PUBLIC_URL: a base URL has no user name or password before its host",
        ),
        (
            vec![("AFFNET_PUBLIC_URL", "https://net.example.com:8443/base/")],
            "AFFNET_PUBLIC_URL: 'https://net.example.com:8443/base/': affnet answers at the root of its host",
        ),
        (vec![("AFFNET_WORKERS", "0")], "AFFNET_WORKERS: must be at least 1"),
        (vec![("AFFNET_DB_POOL_SIZE", "0")], "AFFNET_DB_POOL_SIZE: must be at least 1"),
        (vec![("DATABASE_URL", "mysql://x")], "DATABASE_URL: "),
        (vec![("AFFNET_SMTP_URL", "http://x")], "AFFNET_SMTP_URL: must start with smtp:// or smtps://"),
        (vec![("AFFNET_SMTP_URL", "smtp://h:25?tls=bogus")], "AFFNET_SMTP_URL: tls=bogus is not one of"),
        (vec![("AFFNET_SMTP_URL", "smtp://h:25?foo=bar")], "AFFNET_SMTP_URL: unknown parameter 'foo'"),
        (vec![("AFFNET_MAIL_FROM", "not an address")], "AFFNET_MAIL_FROM: 'not an address' is not an address"),
        (vec![("AFFNET_LOG", "info,,=[")], "AFFNET_LOG: 'info,,=[' is not a log filter"),
        (vec![("AFFNET_LOG", ""), ("RUST_LOG", "=[")], "RUST_LOG: '=[' is not a log filter"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_affnet"))
            .arg("migrate")
            .env("DATABASE_URL", &db)
            .env_remove("AFFNET_LOG")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{env:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(said), "{env:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("s3cret"), "{env:?}: {}", stderr(&out));
    }
    // The bounds themselves and good URLs start.
    for env in [
        vec![("AFFNET_POSTBACK_RETRY_AFTER", "86400"), ("AFFNET_POSTBACK_RETRY_MAX", "86400")],
        vec![("AFFNET_POSTBACK_PER_HOST", "1024"), ("AFFNET_SUB_ROLLUP_INTERVAL", "0")],
        vec![("AFFNET_PUBLIC_URL", "https://net.example.com:8443/")],
        vec![("AFFNET_SMTP_URL", "smtp://mail.example.com:587?tls=opportunistic&ehlo_domain=net.example.com")],
        vec![("AFFNET_PUBLIC_URL", "http://[::1]:8080")],
        // Schemes are case-insensitive.
        vec![("AFFNET_PUBLIC_URL", "HTTPS://net.example.com")],
        vec![("AFFNET_LOG", "warn,affnet_admin_ui=debug")],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_affnet"))
            .arg("migrate")
            .env("DATABASE_URL", &db)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(out.status.success(), "{env:?}: {}", stderr(&out));
    }
}

#[test]
fn a_malformed_or_unreachable_database_url_is_reported() {
    for (url, message) in [
        ("mysql://root@localhost/x", "DATABASE_URL must start with sqlite:// or postgres://"),
        ("sqlite://", "a SQLite URL names a file"),
        ("postgres://nobody@127.0.0.1:1/none", "error: DATABASE_URL: cannot connect to the database"),
        (
            &format!("{}?bogus=1", affnet_db::testing::pg_admin_url()),
            "error: DATABASE_URL: cannot connect to the database",
        ),
    ] {
        let out = affnet(url, &["migrate"]);
        assert_eq!(out.status.code(), Some(1), "{url}");
        let err = stderr(&out);
        assert!(err.contains(message), "{url}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // The server says at once why it cannot connect (it waited for its pool's 10 s, then said
    // "timed out waiting for connection").
    let started = std::time::Instant::now();
    let admin = affnet_db::testing::pg_admin_url();
    let missing = format!("{}/affnet_no_such_database", &admin[..admin.rfind('/').unwrap()]);
    let out = Command::new(env!("CARGO_BIN_EXE_affnet"))
        .arg("serve")
        .env("DATABASE_URL", &missing)
        .env("AFFNET_LISTEN", "127.0.0.1:0")
        .env("AFFNET_PUBLIC_URL", "http://127.0.0.1:8080")
        .env("AFFNET_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("error: DATABASE_URL: cannot connect to the database"), "{err}");
    assert!(err.contains("does not exist"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    // On SQLite, a file in a directory that does not exist is said the same way, by serve too.
    for command in ["migrate", "serve"] {
        let out = Command::new(env!("CARGO_BIN_EXE_affnet"))
            .arg(command)
            .env("DATABASE_URL", "sqlite:///affnet-no-such-directory/x.db")
            .env("AFFNET_LISTEN", "127.0.0.1:0")
            .env("AFFNET_PUBLIC_URL", "http://127.0.0.1:8080")
            .env("AFFNET_LOG", "warn")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{command}");
        assert!(stderr(&out).contains("error: DATABASE_URL: cannot"), "{command}: {}", stderr(&out));
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

/// `affnet tenant domain`: the operator gives a network its tracking domain (normalised,
/// unique, never the public URL's host) and takes it away.
async fn the_operator_sets_and_clears_a_tracking_domain(backend: Backend) {
    let db = TestDb::new(backend);
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_affnet"))
            .args(args)
            .env("DATABASE_URL", &db.raw_url)
            .env("AFFNET_LOG", "warn")
            .env("AFFNET_PUBLIC_URL", "https://Net.Example.com:8443/")
            .output()
            .unwrap()
    };
    for slug in ["acme", "other"] {
        let admin = format!("boss@{slug}.test");
        let made = run(&[
            "tenant",
            "create",
            "--slug",
            slug,
            "--name",
            slug,
            "--admin-email",
            &admin,
            "--admin-password",
            "long enough pw",
        ]);
        assert!(made.status.success(), "{}", stderr(&made));
    }
    let domain_of = |slug: &str| -> Option<String> {
        use diesel::prelude::*;
        affnet_db::schema::tenants::table
            .filter(affnet_db::schema::tenants::slug.eq(slug))
            .select(affnet_db::schema::tenants::tracking_domain)
            .first(&mut db.url.connect().unwrap())
            .unwrap()
    };
    let set = run(&["tenant", "domain", "--slug", "acme", "--domain", "Track.Acme.TEST."]);
    assert!(set.status.success(), "{}", stderr(&set));
    let json: serde_json::Value = serde_json::from_slice(&set.stdout).unwrap();
    assert_eq!(
        (json["tenant"]["slug"].as_str(), json["tracking_domain"].as_str()),
        (Some("acme"), Some("track.acme.test"))
    );
    assert_eq!(domain_of("acme").as_deref(), Some("track.acme.test"));

    for (args, said) in [
        (vec!["--slug", "other", "--domain", "track.acme.test"], "--domain: another network uses this domain"),
        (vec!["--slug", "other", "--domain", "net.example.com"], "the server's own address"),
        (vec!["--slug", "other", "--domain", "https://x.test/"], "--domain: enter a host name"),
        // An empty domain is not a way to clear it (it cleared it, silently).
        (vec!["--slug", "acme", "--domain", ""], "--domain: enter a host name, or use --clear"),
        (vec!["--slug", "acme", "--domain", "  "], "--domain: enter a host name, or use --clear"),
        (vec!["--slug", "nobody", "--domain", "x.test"], "--slug: no network with slug 'nobody'"),
        (vec!["--slug", "other"], "--domain"),
        (vec!["--slug", "other", "--domain", "x.test", "--clear"], "cannot be used with"),
    ] {
        let out = run(&[&["tenant", "domain"][..], &args].concat());
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr(&out).contains(said), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(domain_of("other"), None);
    assert_eq!(domain_of("acme").as_deref(), Some("track.acme.test"));

    let cleared = run(&["tenant", "domain", "--slug", "acme", "--clear"]);
    assert!(cleared.status.success(), "{}", stderr(&cleared));
    assert_eq!(domain_of("acme"), None);
}

crate::on_both_backends!(
    tenant_and_user_create,
    bad_arguments_fail_clearly_without_a_panic,
    the_operator_sets_and_clears_a_tracking_domain
);

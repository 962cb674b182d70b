//! `affnet`: the single binary of an affnet node.

use std::net::TcpListener;
use std::process::ExitCode;

use affnet_server::cli::{Cli, CliError, Command, RollupCommand, TenantCommand, UserCommand};
use affnet_server::{app, cli, startup, Config};
use clap::Parser;

/// mimalloc instead of the system allocator: a click allocates a few dozen small blocks across
/// threads (handler → writer → handler), where glibc's malloc was ~8 % of the server's CPU
/// (perf, BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// actix's HTTP/1 dispatcher logs every malformed request a client sends (a bad header, an
/// oversized head) at ERROR, although the client already got its 400/413/431: anyone could fill
/// the error log. Off unless the filter names `actix_http` itself.
const QUIET_MALFORMED_REQUESTS: &str = "actix_http::h1::dispatcher=off";

/// The log filter: `AFFNET_LOG`, else `RUST_LOG`, else `info`. A filter that does not parse is
/// refused, naming its variable (it was replaced by the next one without a word).
fn log_filter() -> Result<tracing_subscriber::EnvFilter, String> {
    let set = |name: &'static str| std::env::var(name).ok().filter(|v| !v.trim().is_empty()).map(|v| (name, v));
    let (name, spec) = set("AFFNET_LOG").or_else(|| set("RUST_LOG")).unwrap_or(("", "info".to_owned()));
    let full = if spec.contains("actix_http") { spec.clone() } else { format!("{spec},{QUIET_MALFORMED_REQUESTS}") };
    tracing_subscriber::EnvFilter::try_new(full).map_err(|e| {
        format!("{name}: '{spec}' is not a log filter ({e}; tracing syntax, e.g. info,affnet_admin_ui=debug)")
    })
}

fn init_logging(filter: tracing_subscriber::EnvFilter, json: bool) {
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// On SQLite, one server per database file: a lock next to it, held while this process lives
/// (the OS drops it when the process ends, even killed). Clicks are keyed by a sequence each
/// server counts on its own; a second server on the file would repeat keys and fail clicks.
fn lock_sqlite_database(config: &Config) -> Result<Option<std::fs::File>, CliError> {
    let Some(path) = config.database_url.sqlite_path() else { return Ok(None) };
    let lock_path = format!("{path}.serve-lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| CliError::Refused(format!("DATABASE_URL: cannot open {lock_path}: {e}")))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Err(CliError::Refused(format!(
            "another `affnet serve` is using the SQLite database {path}: one server per SQLite file \
             (run several nodes on PostgreSQL)"
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(CliError::Refused(format!("cannot lock {lock_path}: {e}"))),
    }
}

fn serve(config: Config) -> Result<(), CliError> {
    config.log();
    let one_server = lock_sqlite_database(&config)?;
    // The port first: the pool's connections take source ports from the range a free port is
    // usually picked from, and one of them could take this one before it was bound. Requests
    // wait in the backlog until the server is ready.
    let listener = TcpListener::bind(config.listen)
        .map_err(|e| CliError::Refused(format!("AFFNET_LISTEN: cannot listen on {}: {e}", config.listen)))?;
    let pool = startup::connect_and_migrate(&config)?;
    if one_server.is_some() {
        // This process is the only server on the file: postbacks left `sending` by the previous
        // one (killed while sending) are sent again now, not when their lease runs out.
        let mut conn = pool.get().map_err(|e| CliError::Refused(e.to_string()))?;
        let released = affnet_tracking::delivery::take_back(
            &mut conn,
            None,
            affnet_tracking::delivery::TakenBack::Died,
            affnet_db::Micros::now(),
        )
        .map_err(|e| CliError::Refused(format!("cannot release the postbacks left sending: {e}")))?;
        if released > 0 {
            tracing::warn!(jobs = released, "postbacks left sending by the previous server are due again");
        }
    }
    let mailer = startup::mailer(&config).map_err(|e| CliError::Refused(e.to_string()))?;
    let state = startup::app_state(&config, pool.clone(), mailer)?;
    // Signals are caught from here on, before the workers start (a signal until now ends the
    // process, as during a long migration): one that comes before the server runs stops it
    // gracefully once it does.
    let system = actix_web::rt::System::new();
    let signals = system
        .block_on(async { affnet_server::stop::Signals::listen() })
        .map_err(|e| CliError::Refused(format!("cannot listen for SIGTERM and SIGINT: {e}")))?;
    let (tracking, writers) = affnet_tracking::handlers::start(
        &config.database_url,
        pool,
        state.clock.clone(),
        config.trust_proxy,
        std::time::Duration::from_secs(config.cache_ttl_secs),
        config.postbacks.clone(),
    )
    .map_err(CliError::Refused)?;
    let stop_deliveries = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (alerts, alert_mail) = startup::postback_alerts(state.mailer.clone(), &config.public_url);
    let deliverer =
        affnet_tracking::delivery::Deliverer::new(state.pool.clone(), config.postbacks.clone(), state.clock.clone())
            .map_err(CliError::Refused)?
            .with_alerts(alerts)
            .spawn(stop_deliveries.clone())?;
    let stop_sub_rollups = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sub_rollups =
        affnet_tracking::sub_rollup::Worker::new(&config.database_url, state.clock.clone(), config.sub_rollups)
            .spawn(stop_sub_rollups.clone())?;
    tracing::info!(listen = %config.listen, public_url = %config.public_url, "affnet is serving");
    let stop = affnet_server::stop::Stop::new(std::time::Duration::from_secs(config.shutdown_timeout));
    let workers = vec![stop_deliveries.clone(), stop_sub_rollups.clone()];
    system.block_on(async move {
        let server = app::http_server(state, tracking, listener, config.workers, config.shutdown_timeout)?;
        actix_web::rt::spawn(stop.clone().on_signal(signals, server.handle(), workers));
        server.await?;
        // The workers are waited for inside the runtime, where a second signal is still heard.
        actix_web::rt::task::spawn_blocking(move || {
            // The server dropped its handles on the writers: they finish what was queued, then end.
            for writer in writers {
                let _ = writer.join();
            }
            // Told to stop with the server (if it ended for another reason, now).
            stop_deliveries.store(true, std::sync::atomic::Ordering::Release);
            stop_sub_rollups.store(true, std::sync::atomic::Ordering::Release);
            let _ = deliverer.join();
            // The worker and its alert sender are gone: the alerts it raised go out in the time
            // left, and at least a second.
            alert_mail.finish(stop.left().max(ALERT_MAIL_AT_LEAST));
            let _ = sub_rollups.join();
        })
        .await
        .map_err(|e| CliError::Refused(format!("stopping: {e}")))?;
        Ok::<_, CliError>(())
    })?;
    tracing::info!("stopped");
    Ok(())
}

/// The least time the alert mails already raised get at a stop, whatever is left of its timeout.
const ALERT_MAIL_AT_LEAST: std::time::Duration = std::time::Duration::from_secs(1);

fn run(cli: Cli) -> Result<(), CliError> {
    let config = Config::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
        Command::Migrate => {
            cli::connect_one(&config)?;
            tracing::info!("database schema is up to date");
            Ok(())
        }
        Command::Rollup { command: RollupCommand::Subs { grace } } => {
            println!("{}", cli::rollup_subs(&config, grace)?);
            Ok(())
        }
        Command::Tenant { command: TenantCommand::Create { slug, name, admin_email, admin_password } } => {
            println!("{}", cli::tenant_create(&config, &slug, &name, &admin_email, &admin_password)?);
            Ok(())
        }
        Command::Tenant { command: TenantCommand::Domain { slug, domain, clear } } => {
            let domain = if clear { None } else { domain };
            println!("{}", cli::tenant_domain(&config, &slug, domain.as_deref())?);
            Ok(())
        }
        Command::User { command: UserCommand::Create { tenant, email, role, password, name, company_id, company } } => {
            let args = cli::UserCreate {
                tenant: &tenant,
                email: &email,
                role,
                password: &password,
                name: &name,
                company_id,
                company: company.as_deref(),
            };
            println!("{}", cli::user_create(&config, &args)?);
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = std::env::var("AFFNET_LOG_FORMAT").is_ok_and(|v| v == "json");
    match log_filter() {
        Ok(filter) => init_logging(filter, json),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

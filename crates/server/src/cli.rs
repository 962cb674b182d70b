//! The command line: `affnet [serve]`, `affnet migrate`, `affnet rollup subs`,
//! `affnet tenant create`, `affnet user create`.

use affnet_accounts::{AccountsError, NewPassword, NewUser, Role, Tenant, User};
use affnet_db::Micros;
use clap::{Parser, Subcommand};

use crate::Config;

#[derive(Debug, Parser)]
#[command(name = "affnet", version, about = "affnet: an affiliate network with exact server-to-server tracking")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve HTTP on AFFNET_LISTEN (the default command).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Bring rollups up to date now (the server's background workers do it continuously).
    Rollup {
        #[command(subcommand)]
        command: RollupCommand,
    },
    /// Manage networks (tenants).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Manage users of a network.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a network with its first admin; prints the network and an admin API key as JSON.
    Create {
        /// Unique short name, used in sign-in URLs (/t/<slug>/login): lower-case letters, digits, dashes.
        #[arg(long)]
        slug: String,
        /// Display name of the network.
        #[arg(long)]
        name: String,
        #[arg(long)]
        admin_email: String,
        /// At least 10 characters (or set AFFNET_ADMIN_PASSWORD to keep it out of shell history).
        #[arg(long, env = "AFFNET_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: String,
    },
    /// Give a network its own tracking domain (a host name pointed at this server by DNS), or
    /// take it away with --clear; prints the network as JSON. Requests to the tracking endpoints
    /// on that host know only this network's offers and clicks. Set by the operator: a network
    /// cannot claim a host on its own.
    Domain {
        /// The network's slug.
        #[arg(long)]
        slug: String,
        /// A host name such as track.acme.com (no scheme, port or path).
        #[arg(long, required_unless_present = "clear", conflicts_with = "clear")]
        domain: Option<String>,
        /// Remove the network's tracking domain.
        #[arg(long)]
        clear: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RollupCommand {
    /// Count every committed click per sub id (aff_sub .. aff_sub5, source) into the sub id
    /// rollups, up to now minus the grace, the current hour included; prints what was done as
    /// JSON. Safe while servers run (their workers do the same, idempotently).
    Subs {
        /// Seconds before now that clicks are left out (default AFFNET_SUB_ROLLUP_GRACE, 60).
        #[arg(long)]
        grace: Option<u64>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user in a network; prints the user as JSON.
    Create {
        /// The network's slug.
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        email: String,
        /// admin, manager, affiliate or advertiser.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// At least 10 characters (or set AFFNET_USER_PASSWORD).
        #[arg(long, env = "AFFNET_USER_PASSWORD", hide_env_values = true)]
        password: String,
        #[arg(long, default_value = "")]
        name: String,
        /// For role affiliate or advertiser: the id of the company (of the same network) the user
        /// joins. Without it, a new active company named by --company is created.
        #[arg(long)]
        company_id: Option<i64>,
        /// For role affiliate or advertiser without --company-id: the new company's name
        /// (default: the user's email).
        #[arg(long, conflicts_with = "company_id")]
        company: Option<String>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

/// A command's failure, printed as one line on stderr with a non-zero exit.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Db(#[from] affnet_db::DbError),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl From<diesel::result::Error> for CliError {
    fn from(e: diesel::result::Error) -> Self {
        CliError::Db(e.into())
    }
}

impl From<AccountsError> for CliError {
    fn from(e: AccountsError) -> Self {
        as_flags(e, &[])
    }
}

/// A refusal naming each invalid field as the command's flag: `--field-name`, or the flag
/// `flags` gives the field (`("tracking_domain", "domain")`).
fn as_flags(e: AccountsError, flags: &[(&str, &str)]) -> CliError {
    match e {
        AccountsError::Invalid(fields) => CliError::Refused(
            fields
                .0
                .iter()
                .map(|(field, message)| {
                    let flag = flags.iter().find(|(f, _)| f == field).map_or(field.as_str(), |(_, flag)| flag);
                    format!("--{}: {message}", flag.replace('_', "-"))
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        AccountsError::Db(e) => CliError::Db(e),
        other => CliError::Refused(other.to_string()),
    }
}

/// One migrated connection for a one-shot command. (Not a pool: a pool opens connections on
/// background threads, and a process that exits while libpq is connecting there can crash.)
pub fn connect_one(config: &Config) -> Result<affnet_db::DbConn, CliError> {
    let mut conn = config.database_url.connect()?;
    let applied = affnet_db::migrate::run_pending(&mut conn)?;
    if !applied.is_empty() {
        tracing::info!(?applied, "applied migrations");
    }
    Ok(conn)
}

/// `affnet rollup subs`: [`affnet_tracking::sub_rollup::catch_up`], timed.
pub fn rollup_subs(config: &Config, grace: Option<u64>) -> Result<String, CliError> {
    let mut conn = connect_one(config)?;
    let grace = grace.map_or(config.sub_rollups.grace, std::time::Duration::from_secs);
    let started = std::time::Instant::now();
    let done = affnet_tracking::sub_rollup::catch_up(&mut conn, Micros::now(), grace)?;
    Ok(serde_json::to_string_pretty(&serde_json::json!({
        "hours": done.hours,
        "days": done.days,
        "clicks": done.clicks,
        "conversion_days": done.conversion_days,
        "seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    }))
    .unwrap_or_default())
}

/// `affnet tenant create`
pub fn tenant_create(config: &Config, slug: &str, name: &str, email: &str, password: &str) -> Result<String, CliError> {
    let mut conn = connect_one(config)?;
    let p = Tenant::provision(&mut conn, slug, name, email, password, Micros::now())?;
    Ok(serde_json::to_string_pretty(&serde_json::json!({
        "tenant": { "id": p.tenant.id, "slug": p.tenant.slug, "name": p.tenant.name },
        "admin": { "id": p.admin.id, "email": p.admin.email, "role": p.admin.role },
        "api_key": p.api_key.token,
        "sign_in_url": format!("{}/t/{}/login", config.public_url, p.tenant.slug),
    }))
    .unwrap_or_default())
}

/// `affnet tenant domain`: sets or clears a network's tracking domain (never the public URL's
/// host, which serves every network).
pub fn tenant_domain(config: &Config, slug: &str, domain: Option<&str>) -> Result<String, CliError> {
    if domain.is_some_and(|d| d.trim().is_empty()) {
        return Err(CliError::Refused("--domain: enter a host name, or use --clear to remove the domain".into()));
    }
    let mut conn = connect_one(config)?;
    let tenant = Tenant::find_by_slug(&mut conn, slug)?
        .ok_or_else(|| CliError::Refused(format!("--slug: no network with slug '{slug}'")))?;
    let public_host = config.public_url.split_once("://").map_or(config.public_url.as_str(), |(_, rest)| rest);
    let public_host = affnet_accounts::tenant::host_name(public_host.split('/').next().unwrap_or_default());
    let saved = Tenant::set_tracking_domain(&mut conn, tenant.id, domain, public_host.as_deref())
        .map_err(|e| as_flags(e, &[("tracking_domain", "domain")]))?;
    Ok(serde_json::to_string_pretty(&serde_json::json!({
        "tenant": { "id": tenant.id, "slug": tenant.slug, "name": tenant.name },
        "tracking_domain": saved,
    }))
    .unwrap_or_default())
}

/// What `affnet user create` is asked to do.
pub struct UserCreate<'a> {
    pub tenant: &'a str,
    pub email: &'a str,
    pub role: Role,
    pub password: &'a str,
    pub name: &'a str,
    pub company_id: Option<i64>,
    pub company: Option<&'a str>,
}

/// `affnet user create`: for an affiliate or advertiser user, joins the given company or creates
/// one, in the same transaction as the user.
pub fn user_create(config: &Config, args: &UserCreate<'_>) -> Result<String, CliError> {
    use affnet_offers::{Advertiser, AdvertiserInput, Affiliate, AffiliateInput};
    let mut conn = connect_one(config)?;
    let tenant = Tenant::find_by_slug(&mut conn, args.tenant)?
        .ok_or_else(|| CliError::Refused(format!("--tenant: no network with slug '{}'", args.tenant)))?;
    if args.company.is_some() && !matches!(args.role, Role::Affiliate | Role::Advertiser) {
        return Err(CliError::Refused("--company: only affiliate and advertiser users belong to a company".into()));
    }
    let now = Micros::now();
    let company_name = args.company.unwrap_or(args.email).to_owned();
    // Hashed before the transaction: SQLite's writers (a running server's clicks) wait while it is open.
    let password = NewPassword::hash(args.password);
    let user = affnet_db::write_tx(&mut conn, |conn| {
        let (mut advertiser_id, mut affiliate_id) = (None, None);
        match (args.role, args.company_id) {
            (Role::Affiliate, Some(id)) => affiliate_id = Some(affnet_db::AffiliateId(id)),
            (Role::Advertiser, Some(id)) => advertiser_id = Some(affnet_db::AdvertiserId(id)),
            (Role::Affiliate, None) => {
                let input = AffiliateInput {
                    name: company_name,
                    contact_email: args.email.to_owned(),
                    status: Some("active".into()),
                    ..Default::default()
                };
                affiliate_id = Some(Affiliate::create(conn, tenant.id, &input, now).map_err(offers_error)?.id);
            }
            (Role::Advertiser, None) => {
                let input =
                    AdvertiserInput { name: company_name, contact_email: args.email.to_owned(), ..Default::default() };
                advertiser_id = Some(Advertiser::create(conn, tenant.id, &input, now).map_err(offers_error)?.id);
            }
            (_, Some(_)) => {
                return Err(CliError::Refused(
                    "--company-id: only affiliate and advertiser users belong to a company".into(),
                ))
            }
            _ => {}
        }
        let new = NewUser {
            email: args.email,
            name: args.name,
            role: args.role,
            password: &password,
            advertiser_id,
            affiliate_id,
        };
        let user = User::create(conn, tenant.id, &new, now)
            .map_err(|e| as_flags(e, &[("affiliate_id", "company_id"), ("advertiser_id", "company_id")]))?;
        // In the network's audit log like a user an admin creates, by the command line.
        let summary = affnet_admin_ui::audit::user_created(&user);
        let actor = affnet_accounts::audit::Actor::system("command line (affnet user create)");
        let entity = affnet_accounts::audit::Entity::User;
        affnet_accounts::audit::record(conn, tenant.id, &actor, entity, &user.id.to_string(), "create", &summary, now)?;
        Ok(user)
    })?;
    Ok(serde_json::to_string_pretty(&serde_json::json!({
        "id": user.id, "tenant": tenant.slug, "email": user.email, "name": user.name, "role": user.role,
        "affiliate_id": user.affiliate_id, "advertiser_id": user.advertiser_id,
    }))
    .unwrap_or_default())
}

/// The refusal of the company `user create` makes for the user: its name is `--company`, its
/// contact address the user's `--email`.
fn offers_error(e: affnet_offers::OffersError) -> CliError {
    match e {
        affnet_offers::OffersError::Invalid(fields) => CliError::Refused(
            fields
                .0
                .iter()
                .map(|(field, message)| match field.as_str() {
                    "contact_email" => format!("--email: {message}"),
                    "name" => format!("--company: {message}"),
                    other => format!("--company ({other}): {message}"),
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => CliError::Refused(other.to_string()),
    }
}

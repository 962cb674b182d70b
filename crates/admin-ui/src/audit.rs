//! Writing the audit log from the handlers: a change and the audit entries that say who made it
//! commit in one transaction ([`by_user`], [`by_api_key`]), so that no change stands without its
//! entry, even when the process is killed between the two (a kill -9 after the change's own
//! commit lost the entry, seen in 3 of 10 kills); the summaries in words are built here.

use affnet_accounts::audit::{self, change, changes, Actor, Entity};
use affnet_accounts::User;
use affnet_db::{DbConn, Micros, TenantId};
use affnet_offers::{Offer, PayoutOverride};
use affnet_tracking::postback::Postback;

use crate::pages::catalogue::rate_label;
use crate::{AppError, AppState};

/// The audit entries a change writes, kept in the change's transaction. Only [`by_user`] and
/// [`by_api_key`] make one, so an entry cannot be written outside its change.
pub struct Log {
    entries: Vec<(Entity, String, &'static str, String)>,
}

impl Log {
    /// Records that the change did `action` to `entity` `entity_id`; `summary` says what
    /// changed in words.
    pub fn add(&mut self, entity: Entity, entity_id: impl std::fmt::Display, action: &'static str, summary: String) {
        self.entries.push((entity, entity_id.to_string(), action, summary));
    }
}

/// Runs `change` as `user` (signed in to a page) in one write transaction, with the audit
/// entries it adds to its [`Log`]: the change and its entries are kept together or not at all
/// (an entry that cannot be written undoes the change, which answers an error).
pub async fn by_user<T, F>(state: &AppState, user: &User, change: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn, &mut Log) -> Result<T, AppError> + Send + 'static,
{
    run(state, user.tenant_id, Actor::user(user), change).await
}

/// As [`by_user`], for a change made with `user`'s API key.
pub async fn by_api_key<T, F>(state: &AppState, user: &User, change: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn, &mut Log) -> Result<T, AppError> + Send + 'static,
{
    let mut actor = Actor::user(user);
    actor.label.push_str(" (API key)");
    run(state, user.tenant_id, actor, change).await
}

async fn run<T, F>(state: &AppState, tenant: TenantId, actor: Actor, change: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConn, &mut Log) -> Result<T, AppError> + Send + 'static,
{
    let clock = state.clock.clone();
    let done = state
        .db(move |c| {
            affnet_db::write_tx(c, |c| {
                let mut log = Log { entries: Vec::new() };
                let out = change(c, &mut log)?;
                write(c, tenant, &actor, log, clock.now())?;
                Ok(out)
            })
        })
        .await;
    // The catalogue's write functions mark it changed when they return, which is before this
    // transaction commits: a cache load in between read the old rows as current. Marked again
    // once committed (or rolled back), the cache loads them anew.
    affnet_offers::changed();
    done
}

fn write(c: &mut DbConn, tenant: TenantId, actor: &Actor, log: Log, now: Micros) -> Result<(), AppError> {
    for (entity, entity_id, action, summary) in log.entries {
        audit::record(c, tenant, actor, entity, &entity_id, action, &summary, now)
            .map_err(|e| AppError::Internal(format!("audit entry not written: {e}")))?;
    }
    Ok(())
}

/// An offer's security token rotated.
pub const TOKEN_ROTATED: &str = "security token rotated: the old conversion URL no longer works";

/// What an offer looks like in an audit summary, field by field.
fn offer_fields(o: &Offer) -> Vec<(&'static str, String)> {
    vec![
        ("name", o.name.clone()),
        ("status", o.status.as_str().to_owned()),
        ("visibility", o.visibility.as_str().to_owned()),
        ("payout", rate_label(o.payout_rate(), o.currency)),
        ("revenue", rate_label(o.revenue_rate(), o.currency)),
        ("currency", o.currency.to_string()),
        ("default conversion status", o.conversion_status.as_str().to_owned()),
        ("offer URL", o.offer_url.clone()),
        ("preview URL", o.preview_url.clone()),
        ("fallback URL", o.fallback_url.clone()),
        ("daily cap", o.daily_cap.map(|c| c.to_string()).unwrap_or_default()),
        ("total cap", o.total_cap.map(|c| c.to_string()).unwrap_or_default()),
        ("click window", format!("{}–{} s", o.min_click_age_secs, o.max_click_age_secs)),
        ("token required", o.require_token.to_string()),
        ("IP allowlist", o.ip_allowlist.clone()),
    ]
}

/// The fields that differ between two field lists of the same thing, in words
/// (`payout 2.50 USD → 3.00 USD; status active → paused`).
fn field_changes(before: Vec<(&'static str, String)>, after: Vec<(&'static str, String)>) -> String {
    let parts = after.into_iter().zip(before).map(|((label, new), (_, old))| change(label, old, new));
    changes(parts, "saved without changes")
}

/// `payout 2.50 USD → 3.00 USD; status active → paused`.
pub fn offer_changes(before: &Offer, after: &Offer) -> String {
    field_changes(offer_fields(before), offer_fields(after))
}

/// `"Summer promo": payout 2.50 USD, revenue 4.00 USD, status active`.
pub fn offer_created(o: &Offer) -> String {
    format!(
        "\"{}\": payout {}, revenue {}, status {}, visibility {}",
        o.name,
        rate_label(o.payout_rate(), o.currency),
        rate_label(o.revenue_rate(), o.currency),
        o.status.as_str(),
        o.visibility.as_str()
    )
}

/// `goal #3 Sale created: payout 2.50 USD, revenue 4.00 USD`.
pub fn goal_created(g: &affnet_offers::Goal, currency: affnet_db::Currency) -> String {
    format!(
        "goal #{} {} created: payout {}, revenue {}",
        g.id,
        g.name,
        rate_label(g.payout_rate(), currency),
        rate_label(g.revenue_rate(), currency)
    )
}

/// `goal #3 Sale saved (active): payout 2.50 USD, revenue 4.00 USD`.
pub fn goal_saved(g: &affnet_offers::Goal, currency: affnet_db::Currency) -> String {
    format!(
        "goal #{} {} saved ({}): payout {}, revenue {}",
        g.id,
        g.name,
        g.status,
        rate_label(g.payout_rate(), currency),
        rate_label(g.revenue_rate(), currency)
    )
}

/// An override set: `offer #3, affiliate #7: payout 2.50 USD → 3.00 USD`.
pub fn override_set(before: Option<&PayoutOverride>, after: &PayoutOverride, currency: affnet_db::Currency) -> String {
    let old = before.map(|b| rate_label(b.rate(), currency)).unwrap_or_else(|| "offer default".to_owned());
    let new = rate_label(after.rate(), currency);
    format!(
        "offer #{}{}, affiliate #{}: {}",
        after.offer_id,
        goal(after),
        after.affiliate_id,
        change("payout", old, new).unwrap_or_else(|| "payout unchanged".to_owned())
    )
}

/// An override removed: the affiliate earns the offer's payout again.
pub fn override_deleted(o: &PayoutOverride, currency: affnet_db::Currency) -> String {
    format!(
        "offer #{}{}, affiliate #{}: payout {} → offer default",
        o.offer_id,
        goal(o),
        o.affiliate_id,
        rate_label(o.rate(), currency)
    )
}

fn goal(o: &PayoutOverride) -> String {
    o.goal_id.map(|g| format!(" goal #{g}")).unwrap_or_default()
}

/// `transaction abc: status pending → approved (note: chargeback)`.
pub fn conversion_status(
    transaction_id: &str,
    from: affnet_offers::ConversionStatus,
    to: affnet_offers::ConversionStatus,
    note: &str,
) -> String {
    let mut s = format!("transaction {transaction_id}: status {} → {}", from.as_str(), to.as_str());
    if !note.trim().is_empty() {
        s.push_str(&format!(" (note: {})", note.trim()));
    }
    s
}

/// `new@acme.test created as Manager, status active`.
pub fn user_created(u: &User) -> String {
    format!("{} created as {}, status {}", u.email, u.role.label(), u.status.as_str())
}

fn postback_fields(p: &Postback) -> Vec<(&'static str, String)> {
    let events = [
        (p.on_approved, "approved"),
        (p.on_pending, "pending"),
        (p.on_rejected, "rejected"),
        (p.on_status_change, "status change"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| *name)
    .collect::<Vec<_>>()
    .join(", ");
    vec![
        ("offer", p.offer_id.map(|o| format!("#{o}")).unwrap_or_else(|| "all offers".to_owned())),
        ("goal", p.goal_id.map(|g| format!("#{g}")).unwrap_or_default()),
        ("URL", format!("{} {}", p.method, p.url)),
        ("body", p.body.clone()),
        ("content type", p.content_type.clone()),
        ("events", events),
        ("enabled", if p.enabled { "yes" } else { "no" }.to_owned()),
    ]
}

/// `affiliate #4: GET https://… for all offers, enabled`.
pub fn postback_created(p: &Postback) -> String {
    let f = postback_fields(p);
    format!(
        "affiliate #{}: {} for {}, on {}, enabled {}",
        p.affiliate_id,
        f[2].1,
        f[0].1,
        if f[5].1.is_empty() { "no events" } else { f[5].1.as_str() },
        f[6].1
    )
}

/// `affiliate #4: URL GET a → GET b; enabled yes → no`.
pub fn postback_changes(before: &Postback, after: &Postback) -> String {
    format!("affiliate #{}: {}", after.affiliate_id, field_changes(postback_fields(before), postback_fields(after)))
}

/// `affiliate #4: GET https://… deleted`.
pub fn postback_deleted(p: &Postback) -> String {
    format!("affiliate #{}: {} {} deleted", p.affiliate_id, p.method, p.url)
}

fn advertiser_fields(a: &affnet_offers::Advertiser) -> Vec<(&'static str, String)> {
    vec![
        ("name", a.name.clone()),
        ("contact", a.contact_name.clone()),
        ("contact email", a.contact_email.clone()),
        ("status", a.status.as_str().to_owned()),
        ("notes", a.notes.clone()),
    ]
}

/// `"Shop Inc": status active`.
pub fn advertiser_created(a: &affnet_offers::Advertiser) -> String {
    format!("\"{}\": status {}", a.name, a.status.as_str())
}

/// `name Shop → Shop Inc; status active → paused`.
pub fn advertiser_changes(before: &affnet_offers::Advertiser, after: &affnet_offers::Advertiser) -> String {
    field_changes(advertiser_fields(before), advertiser_fields(after))
}

fn affiliate_fields(a: &affnet_offers::Affiliate) -> Vec<(&'static str, String)> {
    vec![
        ("name", a.name.clone()),
        ("contact email", a.contact_email.clone()),
        ("status", a.status.as_str().to_owned()),
        ("manager", a.manager_user_id.map(|u| format!("user #{u}")).unwrap_or_default()),
        ("notes", a.notes.clone()),
    ]
}

/// `"Media Ltd": status pending`.
pub fn affiliate_created(a: &affnet_offers::Affiliate) -> String {
    format!("\"{}\": status {}", a.name, a.status.as_str())
}

/// `status pending → active; manager (none) → user #3`.
pub fn affiliate_changes(before: &affnet_offers::Affiliate, after: &affnet_offers::Affiliate) -> String {
    field_changes(affiliate_fields(before), affiliate_fields(after))
}

/// `auto-approve off → on; terms set (1204 characters)`.
pub fn signup_settings(
    before: &affnet_accounts::signup::SignupSettings,
    after: &affnet_accounts::signup::SignupSettings,
) -> String {
    let on = |b: bool| if b { "on" } else { "off" };
    let chars = |t: &str| t.chars().count();
    let terms_change = match (before.terms.is_empty(), after.terms.is_empty()) {
        _ if before.terms == after.terms => None,
        (true, _) => Some(format!("terms set ({} characters)", chars(&after.terms))),
        (_, true) => Some("terms removed".to_owned()),
        _ => Some(format!("terms edited ({} → {} characters)", chars(&before.terms), chars(&after.terms))),
    };
    changes(
        [
            change("auto-approve", on(before.auto_approve), on(after.auto_approve)),
            change("advertiser signup", on(before.advertiser_signup), on(after.advertiser_signup)),
            terms_change,
        ],
        "signup settings saved without changes",
    )
}

//! The network's audit log: who changed which offer, payout, postback, conversion status, user,
//! advertiser or affiliate company, API key or network setting, and when. Entries are written
//! by the web layer after a change succeeded and are never edited; the actor's label is copied
//! so that an entry still reads well after the user changes.

use diesel::prelude::*;

use affnet_db::schema::audit_log;
use affnet_db::{Micros, TenantId, UserId};

use crate::{AccountsError, User};

/// What kind of thing an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Offer,
    /// An offer's payout override for one affiliate (the offer's own payout is [`Entity::Offer`]).
    PayoutOverride,
    Postback,
    Conversion,
    User,
    Advertiser,
    /// An affiliate company (its people are [`Entity::User`]).
    Affiliate,
    ApiKey,
    /// The network's own settings (signup, time zone).
    Network,
}

impl Entity {
    pub const ALL: [Entity; 9] = [
        Entity::Offer,
        Entity::PayoutOverride,
        Entity::Postback,
        Entity::Conversion,
        Entity::User,
        Entity::Advertiser,
        Entity::Affiliate,
        Entity::ApiKey,
        Entity::Network,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Offer => "offer",
            Entity::PayoutOverride => "payout_override",
            Entity::Postback => "postback",
            Entity::Conversion => "conversion",
            Entity::User => "user",
            Entity::Advertiser => "advertiser",
            Entity::Affiliate => "affiliate",
            Entity::ApiKey => "api_key",
            Entity::Network => "network",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Entity::Offer => "Offer",
            Entity::PayoutOverride => "Payout override",
            Entity::Postback => "Postback",
            Entity::Conversion => "Conversion",
            Entity::User => "User",
            Entity::Advertiser => "Advertiser",
            Entity::Affiliate => "Affiliate",
            Entity::ApiKey => "API key",
            Entity::Network => "Network settings",
        }
    }
}

impl std::str::FromStr for Entity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Entity::ALL.into_iter().find(|e| e.as_str() == s).ok_or_else(|| format!("unknown entity {s:?}"))
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who made a change: a user (by page or API key), or the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<UserId>,
    pub label: String,
}

impl Actor {
    /// `user` acting through a page or an API key.
    pub fn user(user: &User) -> Actor {
        let label = if user.name.trim().is_empty() {
            user.email.clone()
        } else {
            format!("{} <{}>", user.name.trim(), user.email)
        };
        Actor { user_id: Some(user.id), label }
    }

    /// A change nobody signed in made (e.g. a visitor's own signup).
    pub fn system(label: &str) -> Actor {
        Actor { user_id: None, label: label.to_owned() }
    }
}

/// One entry, newest first in lists.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = audit_log)]
pub struct Entry {
    pub id: i64,
    pub tenant_id: TenantId,
    pub actor_user_id: Option<UserId>,
    pub actor_label: String,
    pub entity: String,
    pub entity_id: String,
    pub action: String,
    pub summary: String,
    pub created_at: Micros,
}

impl Entry {
    /// The entity's label, or its stored name when it is not one this version knows.
    pub fn entity_label(&self) -> &str {
        self.entity.parse::<Entity>().map(Entity::label).unwrap_or(&self.entity)
    }
}

/// Which entries a list shows; every field narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub entity: Option<Entity>,
    pub actor: Option<UserId>,
    /// Inclusive lower bound.
    pub from: Option<Micros>,
    /// Exclusive upper bound.
    pub until: Option<Micros>,
}

/// Longest summary kept (longer ones are cut, with an ellipsis).
const MAX_SUMMARY: usize = 2000;

fn clip(s: &str, max: usize) -> String {
    let clean: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if clean.chars().count() <= max {
        clean
    } else {
        let mut out: String = clean.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Records that `actor` did `action` to `entity` `entity_id` of `tenant` at `now`; `summary`
/// says what changed in words.
#[allow(clippy::too_many_arguments)]
pub fn record(
    conn: &mut affnet_db::DbConn,
    tenant: TenantId,
    actor: &Actor,
    entity: Entity,
    entity_id: &str,
    action: &str,
    summary: &str,
    now: Micros,
) -> Result<(), AccountsError> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::tenant_id.eq(tenant),
            audit_log::actor_user_id.eq(actor.user_id),
            audit_log::actor_label.eq(clip(&actor.label, 300)),
            audit_log::entity.eq(entity.as_str()),
            audit_log::entity_id.eq(clip(entity_id, 100)),
            audit_log::action.eq(clip(action, 100)),
            audit_log::summary.eq(clip(summary, MAX_SUMMARY)),
            audit_log::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

type Db = <affnet_db::DbConn as diesel::Connection>::Backend;

/// `tenant`'s entries that match `filter` (for [`list`] and [`count`]).
fn filtered(tenant: TenantId, filter: &Filter) -> audit_log::BoxedQuery<'static, Db> {
    let mut q = audit_log::table.filter(audit_log::tenant_id.eq(tenant)).into_boxed::<Db>();
    if let Some(e) = filter.entity {
        q = q.filter(audit_log::entity.eq(e.as_str()));
    }
    if let Some(a) = filter.actor {
        q = q.filter(audit_log::actor_user_id.eq(a));
    }
    if let Some(from) = filter.from {
        q = q.filter(audit_log::created_at.ge(from));
    }
    if let Some(until) = filter.until {
        q = q.filter(audit_log::created_at.lt(until));
    }
    q
}

/// How many entries of `tenant` match `filter`.
pub fn count(conn: &mut affnet_db::DbConn, tenant: TenantId, filter: &Filter) -> Result<i64, AccountsError> {
    Ok(filtered(tenant, filter).count().get_result(conn)?)
}

/// The entries of `tenant` that match `filter`, newest first.
pub fn list(
    conn: &mut affnet_db::DbConn,
    tenant: TenantId,
    filter: &Filter,
    limit: i64,
    offset: i64,
) -> Result<Vec<Entry>, AccountsError> {
    Ok(filtered(tenant, filter)
        .order((audit_log::created_at.desc(), audit_log::id.desc()))
        .limit(limit.clamp(0, 1000))
        .offset(offset.max(0))
        .select(Entry::as_select())
        .load(conn)?)
}

/// `"label old → new"` when a value changed, for summaries.
pub fn change(label: &str, old: impl std::fmt::Display, new: impl std::fmt::Display) -> Option<String> {
    let (old, new) = (old.to_string(), new.to_string());
    (old != new).then(|| format!("{label} {} → {}", shown(&old), shown(&new)))
}

fn shown(v: &str) -> &str {
    if v.is_empty() {
        "(none)"
    } else {
        v
    }
}

/// Joins the changes that happened (`"a → b; c → d"`), or `none` when nothing changed.
pub fn changes(parts: impl IntoIterator<Item = Option<String>>, none: &str) -> String {
    let parts: Vec<String> = parts.into_iter().flatten().collect();
    if parts.is_empty() {
        none.to_owned()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_in_words() {
        let s = changes(
            [change("payout", "2.50", "3.00 USD"), change("name", "A", "A"), change("status", "active", "paused")],
            "no change",
        );
        assert_eq!(s, "payout 2.50 → 3.00 USD; status active → paused");
        assert_eq!(changes([change("x", 1, 1)], "no change"), "no change");
        assert_eq!(change("url", "", "http://x"), Some("url (none) → http://x".into()));
    }

    #[test]
    fn entity_round_trip_and_clip() {
        for e in Entity::ALL {
            assert_eq!(e.as_str().parse::<Entity>(), Ok(e));
        }
        assert!("nope".parse::<Entity>().is_err());
        assert_eq!(clip("a\nb", 10), "a b");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}

//! Affiliate postbacks: the URLs an affiliate (or their manager) saves so that we call them on
//! every conversion. *Standard* postbacks belong to one offer, *global* ones to all offers;
//! for one conversion the offer's standard postbacks replace the global ones
//! ([`crate::outbox::applicable`]).

use diesel::prelude::*;

use affnet_db::schema::postbacks;
use affnet_db::{AffiliateId, DbConn, FieldErrors, GoalId, Micros, OfferId, TenantId};
use affnet_offers::macros::{check_body_template, POSTBACK_MACROS};
use affnet_offers::offer::ConversionStatus;
use affnet_offers::url::check_postback_url;
use affnet_offers::{Affiliate, Goal, Offer, OffersError};

use crate::outbox::Event;

/// A saved affiliate postback.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = postbacks)]
pub struct Postback {
    pub id: i64,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub affiliate_id: AffiliateId,
    pub offer_id: Option<OfferId>,
    pub goal_id: Option<GoalId>,
    pub url: String,
    pub method: String,
    pub body: String,
    pub content_type: String,
    pub on_approved: bool,
    pub on_pending: bool,
    pub on_rejected: bool,
    pub on_status_change: bool,
    pub enabled: bool,
    pub created_at: Micros,
    pub updated_at: Micros,
}

impl Postback {
    /// Whether this postback fires for a conversion now in `status` after `event`: on creation
    /// for the statuses it asks for; on a later change, every time if it asks for status
    /// changes (whatever the new status: README, the form, the OpenAPI document), and otherwise
    /// only on the conversion's first approval if it fires for approved conversions (a pending
    /// conversion approved after review: "postbacks fire for approved", DESIGN.md).
    pub fn fires_for(&self, status: ConversionStatus, event: Event) -> bool {
        let status_ok = match status {
            ConversionStatus::Approved => self.on_approved,
            ConversionStatus::Pending => self.on_pending,
            ConversionStatus::Rejected => self.on_rejected,
        };
        match event {
            Event::Created => status_ok,
            Event::StatusChanged { first_approval } => {
                self.on_status_change || (first_approval && status == ConversionStatus::Approved && status_ok)
            }
        }
    }
}

/// HTTP methods a postback may use.
pub const METHODS: &[&str] = &["GET", "POST"];
/// Body encodings of a POST postback.
pub const CONTENT_TYPES: &[&str] = &["application/x-www-form-urlencoded", "application/json"];

fn yes() -> bool {
    true
}

/// The editable fields, as a form or the API submits them.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostbackInput {
    /// The affiliate the postback belongs to (ignored for affiliate users: always their own).
    #[serde(default)]
    pub affiliate_id: Option<AffiliateId>,
    /// Empty for a global postback (all offers).
    #[serde(default)]
    pub offer_id: Option<OfferId>,
    /// Empty for every goal (and the base conversion).
    #[serde(default)]
    pub goal_id: Option<GoalId>,
    pub url: String,
    /// `GET` (default) or `POST`.
    #[serde(default)]
    pub method: Option<String>,
    /// For POST: a body template with the same macros.
    #[serde(default)]
    pub body: String,
    /// For POST: `application/x-www-form-urlencoded` (default) or `application/json`.
    #[serde(default)]
    pub content_type: Option<String>,
    #[serde(default = "yes")]
    pub on_approved: bool,
    #[serde(default)]
    pub on_pending: bool,
    #[serde(default)]
    pub on_rejected: bool,
    /// Fire on every later status change (a conversion's first approval fires `on_approved`
    /// postbacks without it).
    #[serde(default)]
    pub on_status_change: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl PostbackInput {
    /// A global `GET` postback to `url`, enabled, fired for approved conversions: what the API
    /// makes of a body holding only the URL (the serde defaults above).
    pub fn new(url: impl Into<String>) -> Self {
        PostbackInput {
            affiliate_id: None,
            offer_id: None,
            goal_id: None,
            url: url.into(),
            method: None,
            body: String::new(),
            content_type: None,
            on_approved: yes(),
            on_pending: false,
            on_rejected: false,
            on_status_change: false,
            enabled: yes(),
        }
    }
}

struct Valid {
    url: String,
    method: &'static str,
    body: String,
    content_type: &'static str,
}

impl PostbackInput {
    /// Checks the input. `kept_offer`: the offer the postback already has (an update); keeping
    /// it is always allowed, while a new one must be an offer the affiliate can run now.
    fn validate(
        &self,
        conn: &mut DbConn,
        tenant: TenantId,
        affiliate: AffiliateId,
        kept_offer: Option<OfferId>,
    ) -> Result<Valid, OffersError> {
        let mut e = FieldErrors::new();
        let url = check_postback_url(&self.url, "url", POSTBACK_MACROS, &mut e);
        let method = match self.method.as_deref().map(|m| m.trim().to_ascii_uppercase()) {
            None => "GET",
            Some(m) if m.is_empty() || m == "GET" => "GET",
            Some(m) if m == "POST" => "POST",
            Some(_) => {
                e.add("method", "use GET or POST");
                "GET"
            }
        };
        let content_type = match self.content_type.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => CONTENT_TYPES[0],
            Some(c) => match CONTENT_TYPES.iter().find(|t| **t == c) {
                Some(t) => t,
                None => {
                    e.add("content_type", "use application/x-www-form-urlencoded or application/json");
                    CONTENT_TYPES[0]
                }
            },
        };
        let body = self.body.trim().to_owned();
        if body.len() > 16_384 {
            e.add("body", "a body template may be at most 16 kB");
        } else if method == "GET" && !body.is_empty() {
            e.add("body", "a GET postback has no body; choose POST or clear the body");
        } else if let Err(err) = check_body_template(&body, POSTBACK_MACROS) {
            e.add("body", err.to_string());
        }
        if !(self.on_approved || self.on_pending || self.on_rejected) {
            e.add("on_approved", "choose at least one conversion status to fire for");
        }
        if Affiliate::find(conn, tenant, affiliate).is_err() {
            e.add("affiliate_id", "choose an affiliate of this network");
        }
        if let Some(o) = self.offer_id.filter(|o| Some(*o) != kept_offer) {
            // Only an offer the affiliate can run (as the pages offer): a private offer they
            // were not given must not be named, nor told apart from an unknown id.
            let runnable = match Offer::find(conn, tenant, o) {
                Ok(offer) => affnet_offers::access::OfferAccess::can_run(conn, tenant, &offer, affiliate)?,
                Err(_) => false,
            };
            if !runnable {
                e.add("offer_id", "choose all offers or an offer this affiliate can run");
            }
        }
        if let Some(g) = self.goal_id {
            match Goal::find(conn, tenant, g) {
                Ok(goal) if Some(goal.offer_id) == self.offer_id => {}
                Ok(_) if self.offer_id.is_none() => {
                    e.add("goal_id", "a goal belongs to an offer: choose the offer too")
                }
                _ => e.add("goal_id", "choose a goal of this offer"),
            }
        }
        e.into_result()?;
        Ok(Valid { url, method, body, content_type })
    }
}

impl Postback {
    /// The postback [`Postback::create`] would save from `input`, not saved (id 0): what a
    /// form previews before saving. Refused as `create` refuses it.
    pub fn draft(
        conn: &mut DbConn,
        tenant: TenantId,
        affiliate: AffiliateId,
        input: &PostbackInput,
        now: Micros,
    ) -> Result<Postback, OffersError> {
        let v = input.validate(conn, tenant, affiliate, None)?;
        Ok(Postback {
            id: 0,
            tenant_id: tenant,
            affiliate_id: affiliate,
            offer_id: input.offer_id,
            goal_id: input.goal_id,
            url: v.url,
            method: v.method.to_owned(),
            body: v.body,
            content_type: v.content_type.to_owned(),
            on_approved: input.on_approved,
            on_pending: input.on_pending,
            on_rejected: input.on_rejected,
            on_status_change: input.on_status_change,
            enabled: input.enabled,
            created_at: now,
            updated_at: now,
        })
    }

    /// Creates a postback of `affiliate`: its [`Postback::draft`], saved.
    pub fn create(
        conn: &mut DbConn,
        tenant: TenantId,
        affiliate: AffiliateId,
        input: &PostbackInput,
        now: Micros,
    ) -> Result<Postback, OffersError> {
        let d = Postback::draft(conn, tenant, affiliate, input, now)?;
        let id: i64 = diesel::insert_into(postbacks::table)
            .values((
                postbacks::tenant_id.eq(d.tenant_id),
                postbacks::affiliate_id.eq(d.affiliate_id),
                postbacks::offer_id.eq(d.offer_id),
                postbacks::goal_id.eq(d.goal_id),
                postbacks::url.eq(&d.url),
                postbacks::method.eq(&d.method),
                postbacks::body.eq(&d.body),
                postbacks::content_type.eq(&d.content_type),
                postbacks::on_approved.eq(d.on_approved),
                postbacks::on_pending.eq(d.on_pending),
                postbacks::on_rejected.eq(d.on_rejected),
                postbacks::on_status_change.eq(d.on_status_change),
                postbacks::enabled.eq(d.enabled),
                postbacks::created_at.eq(d.created_at),
                postbacks::updated_at.eq(d.updated_at),
            ))
            .returning(postbacks::id)
            .get_result(conn)?;
        Postback::find(conn, tenant, None, id)
    }

    /// Replaces the fields of postback `id` (of `affiliate` when given).
    pub fn update(
        conn: &mut DbConn,
        tenant: TenantId,
        affiliate: Option<AffiliateId>,
        id: i64,
        input: &PostbackInput,
        now: Micros,
    ) -> Result<Postback, OffersError> {
        let d = Postback::edited(conn, tenant, affiliate, id, input, now)?;
        diesel::update(postbacks::table.filter(postbacks::tenant_id.eq(tenant)).filter(postbacks::id.eq(id)))
            .set((
                postbacks::offer_id.eq(d.offer_id),
                postbacks::goal_id.eq(d.goal_id),
                postbacks::url.eq(&d.url),
                postbacks::method.eq(&d.method),
                postbacks::body.eq(&d.body),
                postbacks::content_type.eq(&d.content_type),
                postbacks::on_approved.eq(d.on_approved),
                postbacks::on_pending.eq(d.on_pending),
                postbacks::on_rejected.eq(d.on_rejected),
                postbacks::on_status_change.eq(d.on_status_change),
                postbacks::enabled.eq(d.enabled),
                postbacks::updated_at.eq(d.updated_at),
            ))
            .execute(conn)?;
        Postback::find(conn, tenant, affiliate, id)
    }

    /// Postback `id` with `input` applied, checked as [`Postback::update`] checks it, not saved
    /// (the edit form's preview; the update saves it).
    pub fn edited(
        conn: &mut DbConn,
        tenant: TenantId,
        affiliate: Option<AffiliateId>,
        id: i64,
        input: &PostbackInput,
        now: Micros,
    ) -> Result<Postback, OffersError> {
        let existing = Postback::find(conn, tenant, affiliate, id)?;
        let v = input.validate(conn, tenant, existing.affiliate_id, existing.offer_id)?;
        Ok(Postback {
            offer_id: input.offer_id,
            goal_id: input.goal_id,
            url: v.url,
            method: v.method.to_owned(),
            body: v.body,
            content_type: v.content_type.to_owned(),
            on_approved: input.on_approved,
            on_pending: input.on_pending,
            on_rejected: input.on_rejected,
            on_status_change: input.on_status_change,
            enabled: input.enabled,
            updated_at: now,
            ..existing
        })
    }

    /// Postback `id` of the tenant, and of `affiliate` when given (an affiliate user never sees
    /// another affiliate's postback: not found).
    pub fn find(
        conn: &mut DbConn,
        tenant: TenantId,
        affiliate: Option<AffiliateId>,
        id: i64,
    ) -> Result<Postback, OffersError> {
        let mut q = postbacks::table.filter(postbacks::tenant_id.eq(tenant)).filter(postbacks::id.eq(id)).into_boxed();
        if let Some(a) = affiliate {
            q = q.filter(postbacks::affiliate_id.eq(a));
        }
        Ok(q.select(Postback::as_select()).first(conn)?)
    }

    pub fn delete(
        conn: &mut DbConn,
        tenant: TenantId,
        affiliate: Option<AffiliateId>,
        id: i64,
    ) -> Result<(), OffersError> {
        Postback::find(conn, tenant, affiliate, id)?;
        affnet_db::write_tx(conn, |c| {
            // Jobs and attempts keep their history; they just stop pointing at the postback.
            diesel::update(
                affnet_db::schema::postback_jobs::table
                    .filter(affnet_db::schema::postback_jobs::tenant_id.eq(tenant))
                    .filter(affnet_db::schema::postback_jobs::postback_id.eq(id)),
            )
            .set(affnet_db::schema::postback_jobs::postback_id.eq(None::<i64>))
            .execute(c)?;
            diesel::update(
                affnet_db::schema::postback_attempts::table
                    .filter(affnet_db::schema::postback_attempts::tenant_id.eq(tenant))
                    .filter(affnet_db::schema::postback_attempts::postback_id.eq(id)),
            )
            .set(affnet_db::schema::postback_attempts::postback_id.eq(None::<i64>))
            .execute(c)?;
            diesel::delete(postbacks::table.filter(postbacks::tenant_id.eq(tenant)).filter(postbacks::id.eq(id)))
                .execute(c)
        })?;
        Ok(())
    }

    /// The tenant's postbacks (of one affiliate when given), newest first.
    pub fn list(
        conn: &mut DbConn,
        tenant: TenantId,
        affiliate: Option<AffiliateId>,
    ) -> Result<Vec<Postback>, OffersError> {
        let mut q = postbacks::table.filter(postbacks::tenant_id.eq(tenant)).into_boxed();
        if let Some(a) = affiliate {
            q = q.filter(postbacks::affiliate_id.eq(a));
        }
        Ok(q.order(postbacks::id.desc()).limit(1000).select(Postback::as_select()).load(conn)?)
    }
}

/// The affiliate's postback signing secret (empty: requests are not signed).
pub fn signing_secret(conn: &mut DbConn, tenant: TenantId, affiliate: AffiliateId) -> Result<String, OffersError> {
    use affnet_db::schema::affiliates;
    Ok(affiliates::table
        .filter(affiliates::tenant_id.eq(tenant))
        .filter(affiliates::id.eq(affiliate))
        .select(affiliates::postback_secret)
        .first(conn)?)
}

/// Generates a new signing secret for the affiliate (`enable`), or removes it. Returns the
/// secret now in force (empty when removed). Requests are signed from the next delivery on.
pub fn set_signing_secret(
    conn: &mut DbConn,
    tenant: TenantId,
    affiliate: AffiliateId,
    enable: bool,
) -> Result<String, OffersError> {
    use affnet_db::schema::affiliates;
    let secret = if enable {
        let mut buf = [0u8; 24];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut buf);
        format!("whsec_{}", hex::encode(buf))
    } else {
        String::new()
    };
    let n =
        diesel::update(affiliates::table.filter(affiliates::tenant_id.eq(tenant)).filter(affiliates::id.eq(affiliate)))
            .set(affiliates::postback_secret.eq(&secret))
            .execute(conn)?;
    if n == 0 {
        return Err(OffersError::NotFound);
    }
    Ok(secret)
}

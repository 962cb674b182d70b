//! Offers: what affiliates promote. Landing URL template, payout and revenue, attribution window,
//! caps, duplicate policy, and the advertiser's security token and IP allow-list.

use diesel::prelude::*;
use rand::RngCore;

use affnet_db::schema::offers;
use affnet_db::{AdvertiserId, Currency, DbConn, FieldErrors, Micros, OfferId, TenantId};

use crate::advertiser::parse_status;
use crate::error::{line, text};
use crate::ip_allowlist::IpAllowList;
use crate::macros::LANDING_MACROS;
use crate::payout::{PayoutType, Rate};
use crate::url::check_url;
use crate::{Advertiser, OffersError};

crate::text_enum!(
    /// Only `active` offers take clicks and conversions.
    OfferStatus {
        Active = "active",
        Paused = "paused",
        Archived = "archived",
    }
);

crate::text_enum!(
    /// Who may run the offer: everyone, affiliates the network approved, or those it assigned.
    Visibility {
        Public = "public",
        ApprovalRequired = "approval_required",
        Private = "private",
    }
);

impl Visibility {
    /// In words, for the pages.
    pub fn label(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::ApprovalRequired => "approval required",
            Visibility::Private => "private",
        }
    }
}

crate::text_enum!(
    /// The status a new conversion of the offer gets (the advertiser may send another).
    ConversionStatus {
        Approved = "approved",
        Pending = "pending",
        Rejected = "rejected",
    }
);

crate::text_enum!(
    /// What a cap counts.
    CapUnit {
        Conversions = "conversions",
        Payout = "payout",
    }
);

crate::text_enum!(
    /// What happens to a conversion over cap: refused (stored as an attempt with reason
    /// `cap_reached`), or recorded as `pending` for the network to decide.
    OverCap {
        Reject = "reject",
        Pending = "pending",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = offers)]
pub struct Offer {
    pub id: OfferId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub advertiser_id: AdvertiserId,
    pub name: String,
    pub description: String,
    pub offer_url: String,
    pub preview_url: String,
    pub fallback_url: String,
    pub status: OfferStatus,
    pub visibility: Visibility,
    pub currency: Currency,
    pub payout_type: PayoutType,
    pub payout_flat: i64,
    pub payout_bps: i64,
    pub revenue_type: PayoutType,
    pub revenue_flat: i64,
    pub revenue_bps: i64,
    pub conversion_status: ConversionStatus,
    pub min_click_age_secs: i64,
    pub max_click_age_secs: i64,
    pub daily_cap: Option<i64>,
    pub total_cap: Option<i64>,
    pub cap_unit: CapUnit,
    pub over_cap: OverCap,
    pub dedupe_adv_sub: bool,
    pub one_per_click: bool,
    pub require_token: bool,
    #[serde(skip)]
    pub security_token: String,
    pub ip_allowlist: String,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// Longest attribution window: one year.
pub const MAX_WINDOW_SECS: i64 = 366 * 86_400;
/// Default attribution window: 30 days.
pub const DEFAULT_WINDOW_SECS: i64 = 30 * 86_400;

fn default_true() -> bool {
    true
}
fn default_window() -> i64 {
    DEFAULT_WINDOW_SECS
}

/// The editable fields of an offer, as the API takes them (forms convert decimals into these).
/// Money is in minor units of `currency`, percentages in basis points.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferInput {
    pub advertiser_id: AdvertiserId,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Landing page URL; may carry the landing macros (`{transaction_id}`, `{aff_sub}`, ...).
    pub offer_url: String,
    #[serde(default)]
    pub preview_url: String,
    /// Where refused clicks go instead of an error page (a paused offer, an affiliate who may not
    /// run it); caps refuse conversions, not clicks.
    #[serde(default)]
    pub fallback_url: String,
    /// `active` (default), `paused` or `archived`.
    #[serde(default)]
    pub status: Option<String>,
    /// `public` (default), `approval_required` or `private`.
    #[serde(default)]
    pub visibility: Option<String>,
    /// ISO 4217 code, default `USD`.
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default = "zero_rate")]
    pub payout: Rate,
    #[serde(default = "zero_rate")]
    pub revenue: Rate,
    /// `approved` (default) or `pending`.
    #[serde(default)]
    pub conversion_status: Option<String>,
    #[serde(default)]
    pub min_click_age_secs: i64,
    #[serde(default = "default_window")]
    pub max_click_age_secs: i64,
    #[serde(default)]
    pub daily_cap: Option<i64>,
    #[serde(default)]
    pub total_cap: Option<i64>,
    /// `conversions` (default) or `payout` (caps in minor units).
    #[serde(default)]
    pub cap_unit: Option<String>,
    /// `reject` (default) or `pending`.
    #[serde(default)]
    pub over_cap: Option<String>,
    #[serde(default = "default_true")]
    pub dedupe_adv_sub: bool,
    #[serde(default = "default_true")]
    pub one_per_click: bool,
    #[serde(default = "default_true")]
    pub require_token: bool,
    /// Addresses and CIDR ranges the advertiser's server calls from; empty allows any.
    #[serde(default)]
    pub ip_allowlist: String,
}

fn zero_rate() -> Rate {
    Rate::ZERO
}

impl OfferInput {
    /// A minimal input (used by the CLI and tests): active, public, USD, flat payout.
    pub fn simple(advertiser_id: AdvertiserId, name: &str, offer_url: &str, payout_cents: i64) -> OfferInput {
        OfferInput {
            advertiser_id,
            name: name.to_owned(),
            description: String::new(),
            offer_url: offer_url.to_owned(),
            preview_url: String::new(),
            fallback_url: String::new(),
            status: None,
            visibility: None,
            currency: None,
            payout: Rate::flat(payout_cents),
            revenue: Rate::ZERO,
            conversion_status: None,
            min_click_age_secs: 0,
            max_click_age_secs: DEFAULT_WINDOW_SECS,
            daily_cap: None,
            total_cap: None,
            cap_unit: None,
            over_cap: None,
            dedupe_adv_sub: true,
            one_per_click: true,
            require_token: true,
            ip_allowlist: String::new(),
        }
    }
}

/// The validated values, ready to store.
struct Valid {
    name: String,
    description: String,
    offer_url: String,
    preview_url: String,
    fallback_url: String,
    status: OfferStatus,
    visibility: Visibility,
    currency: Currency,
    conversion_status: ConversionStatus,
    cap_unit: CapUnit,
    over_cap: OverCap,
    ip_allowlist: String,
}

fn check_cap(value: Option<i64>, field: &str, errors: &mut FieldErrors) {
    if let Some(v) = value {
        if !(1..=1_000_000_000_000).contains(&v) {
            errors.add(field, "a cap must be a positive number (leave empty for no cap)");
        }
    }
}

impl OfferInput {
    fn validate(&self, conn: &mut DbConn, tenant: TenantId) -> Result<Valid, OffersError> {
        let mut e = FieldErrors::new();
        let currency = match self.currency.as_deref().map(str::trim) {
            None => Currency::USD,
            // Sent empty: said, not taken for USD (a PATCH of `""` turned an EUR offer into USD).
            Some("") => {
                e.add("currency", "choose a currency: an ISO 4217 code such as USD or EUR");
                Currency::USD
            }
            Some(c) => Currency::parse(c).unwrap_or_else(|err| {
                e.add("currency", err.to_string());
                Currency::USD
            }),
        };
        let v = Valid {
            name: line(&self.name, "name", 1, 200, &mut e),
            description: text(&self.description, "description", 0, 20_000, &mut e),
            offer_url: check_url(&self.offer_url, "offer_url", true, LANDING_MACROS, &mut e),
            preview_url: check_url(&self.preview_url, "preview_url", false, &[], &mut e),
            fallback_url: check_url(&self.fallback_url, "fallback_url", false, LANDING_MACROS, &mut e),
            status: parse_status(self.status.as_deref(), OfferStatus::Active, &mut e),
            visibility: parse_field(self.visibility.as_deref(), "visibility", Visibility::Public, &mut e),
            currency,
            conversion_status: parse_field(
                self.conversion_status.as_deref(),
                "conversion_status",
                ConversionStatus::Approved,
                &mut e,
            ),
            cap_unit: parse_field(self.cap_unit.as_deref(), "cap_unit", CapUnit::Conversions, &mut e),
            over_cap: parse_field(self.over_cap.as_deref(), "over_cap", OverCap::Reject, &mut e),
            ip_allowlist: match IpAllowList::parse(&self.ip_allowlist) {
                Ok(l) => l.to_text(),
                Err(err) => {
                    e.add("ip_allowlist", err);
                    String::new()
                }
            },
        };
        if v.conversion_status == ConversionStatus::Rejected {
            e.add("conversion_status", "new conversions can be approved or pending");
        }
        self.payout.validate("payout", &mut e);
        self.revenue.validate("revenue", &mut e);
        if !(0..=MAX_WINDOW_SECS).contains(&self.min_click_age_secs) {
            e.add("min_click_age_secs", "must be between 0 and 366 days");
        }
        if !(1..=MAX_WINDOW_SECS).contains(&self.max_click_age_secs) {
            e.add("max_click_age_secs", "must be between 1 second and 366 days");
        } else if self.min_click_age_secs > self.max_click_age_secs {
            e.add("min_click_age_secs", "the minimum click age cannot be above the maximum");
        }
        check_cap(self.daily_cap, "daily_cap", &mut e);
        check_cap(self.total_cap, "total_cap", &mut e);
        if Advertiser::find(conn, tenant, self.advertiser_id).is_err() {
            e.add("advertiser_id", "choose an advertiser of this network");
        }
        e.into_result()?;
        Ok(v)
    }

    /// What [`Offer::create`] would refuse in this input, field by field (empty: nothing): for
    /// a form that could not even read some fields, so that it says everything else at once.
    pub fn field_errors(&self, conn: &mut DbConn, tenant: TenantId) -> Result<FieldErrors, OffersError> {
        match self.validate(conn, tenant) {
            Ok(_) => Ok(FieldErrors::new()),
            Err(OffersError::Invalid(errors)) => Ok(errors),
            Err(other) => Err(other),
        }
    }
}

pub(crate) fn parse_field<T: std::str::FromStr<Err = String>>(
    value: Option<&str>,
    field: &str,
    default: T,
    errors: &mut FieldErrors,
) -> T {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => default,
        Some(v) => v.parse().unwrap_or_else(|e: String| {
            errors.add(field, e);
            default
        }),
    }
}

/// A fresh advertiser security token: 32 random hex characters.
pub fn new_security_token() -> String {
    let mut buf = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

impl Offer {
    pub fn payout_rate(&self) -> Rate {
        Rate { kind: self.payout_type, flat: self.payout_flat, bps: self.payout_bps }
    }

    pub fn revenue_rate(&self) -> Rate {
        Rate { kind: self.revenue_type, flat: self.revenue_flat, bps: self.revenue_bps }
    }

    pub fn allowlist(&self) -> IpAllowList {
        IpAllowList::parse(&self.ip_allowlist).unwrap_or_default()
    }

    pub fn create(conn: &mut DbConn, tenant: TenantId, input: &OfferInput, now: Micros) -> Result<Offer, OffersError> {
        let _changed = crate::ChangeGuard;
        let v = input.validate(conn, tenant)?;
        let id: OfferId = diesel::insert_into(offers::table)
            .values((
                (
                    offers::tenant_id.eq(tenant),
                    offers::advertiser_id.eq(input.advertiser_id),
                    offers::name.eq(&v.name),
                    offers::description.eq(&v.description),
                    offers::offer_url.eq(&v.offer_url),
                    offers::preview_url.eq(&v.preview_url),
                    offers::fallback_url.eq(&v.fallback_url),
                    offers::status.eq(v.status),
                    offers::visibility.eq(v.visibility),
                    offers::currency.eq(v.currency),
                    offers::payout_type.eq(input.payout.kind),
                    offers::payout_flat.eq(input.payout.flat),
                    offers::payout_bps.eq(input.payout.bps),
                    offers::revenue_type.eq(input.revenue.kind),
                    offers::revenue_flat.eq(input.revenue.flat),
                    offers::revenue_bps.eq(input.revenue.bps),
                ),
                (
                    offers::conversion_status.eq(v.conversion_status),
                    offers::min_click_age_secs.eq(input.min_click_age_secs),
                    offers::max_click_age_secs.eq(input.max_click_age_secs),
                    offers::daily_cap.eq(input.daily_cap),
                    offers::total_cap.eq(input.total_cap),
                    offers::cap_unit.eq(v.cap_unit),
                    offers::over_cap.eq(v.over_cap),
                    offers::dedupe_adv_sub.eq(input.dedupe_adv_sub),
                    offers::one_per_click.eq(input.one_per_click),
                    offers::require_token.eq(input.require_token),
                    offers::security_token.eq(new_security_token()),
                    offers::ip_allowlist.eq(&v.ip_allowlist),
                    offers::created_at.eq(now),
                    offers::updated_at.eq(now),
                ),
            ))
            .returning(offers::id)
            .get_result(conn)?;
        Offer::find(conn, tenant, id)
    }

    pub fn update(
        conn: &mut DbConn,
        tenant: TenantId,
        id: OfferId,
        input: &OfferInput,
        now: Micros,
    ) -> Result<Offer, OffersError> {
        let _changed = crate::ChangeGuard;
        // One write transaction, the offer's row locked (PostgreSQL; SQLite's write lock holds
        // every writer): the history checks below see every committed click and conversion, and
        // no other change of the offer slips between them and the update.
        affnet_db::write_tx(conn, |conn| {
            if let DbConn::Pg(c) = conn {
                offers::table
                    .filter(offers::tenant_id.eq(tenant))
                    .filter(offers::id.eq(id))
                    .select(offers::id)
                    .for_update()
                    .execute(c)?;
            }
            Offer::update_locked(conn, tenant, id, input, now)
        })
    }

    fn update_locked(
        conn: &mut DbConn,
        tenant: TenantId,
        id: OfferId,
        input: &OfferInput,
        now: Micros,
    ) -> Result<Offer, OffersError> {
        let v = input.validate(conn, tenant)?;
        Offer::history_errors(conn, tenant, id, Some(input.advertiser_id), Some(v.currency))?
            .into_result()
            .map_err(OffersError::Invalid)?;
        diesel::update(offers::table.filter(offers::tenant_id.eq(tenant)).filter(offers::id.eq(id)))
            .set((
                (
                    offers::advertiser_id.eq(input.advertiser_id),
                    offers::name.eq(&v.name),
                    offers::description.eq(&v.description),
                    offers::offer_url.eq(&v.offer_url),
                    offers::preview_url.eq(&v.preview_url),
                    offers::fallback_url.eq(&v.fallback_url),
                    offers::status.eq(v.status),
                    offers::visibility.eq(v.visibility),
                    offers::currency.eq(v.currency),
                    offers::payout_type.eq(input.payout.kind),
                    offers::payout_flat.eq(input.payout.flat),
                    offers::payout_bps.eq(input.payout.bps),
                    offers::revenue_type.eq(input.revenue.kind),
                    offers::revenue_flat.eq(input.revenue.flat),
                    offers::revenue_bps.eq(input.revenue.bps),
                ),
                (
                    offers::conversion_status.eq(v.conversion_status),
                    offers::min_click_age_secs.eq(input.min_click_age_secs),
                    offers::max_click_age_secs.eq(input.max_click_age_secs),
                    offers::daily_cap.eq(input.daily_cap),
                    offers::total_cap.eq(input.total_cap),
                    offers::cap_unit.eq(v.cap_unit),
                    offers::over_cap.eq(v.over_cap),
                    offers::dedupe_adv_sub.eq(input.dedupe_adv_sub),
                    offers::one_per_click.eq(input.one_per_click),
                    offers::require_token.eq(input.require_token),
                    offers::ip_allowlist.eq(&v.ip_allowlist),
                    offers::updated_at.eq(now),
                ),
            ))
            .execute(conn)?;
        Offer::find(conn, tenant, id)
    }

    /// What a change to `advertiser` or `currency` (`None`: unchanged) would break: an offer's
    /// history stays as it was recorded. Its rollups hold its money in the currency's minor units
    /// and are read under the offer's advertiser, so once it has clicks it keeps its advertiser,
    /// and once it has conversions its currency (a change would relabel or move what was counted).
    pub fn history_errors(
        conn: &mut DbConn,
        tenant: TenantId,
        id: OfferId,
        advertiser: Option<AdvertiserId>,
        currency: Option<Currency>,
    ) -> Result<FieldErrors, OffersError> {
        let current = Offer::find(conn, tenant, id)?;
        let mut errors = FieldErrors::new();
        if advertiser.is_some_and(|a| a != current.advertiser_id) && Offer::has_traffic(conn, tenant, id, false)? {
            errors.add(
                "advertiser_id",
                "this offer has clicks: its history belongs to its advertiser; create a new offer for another advertiser",
            );
        }
        if currency.is_some_and(|c| c != current.currency) && Offer::has_traffic(conn, tenant, id, true)? {
            errors.add(
                "currency",
                format!(
                    "this offer has conversions recorded in {}: its currency cannot change; create a new offer for another currency",
                    current.currency
                ),
            );
        }
        Ok(errors)
    }

    /// Whether the offer has recorded clicks (or, with `conversions`, conversions of any status),
    /// from the daily rollups (index `stats_daily_tenant_offer`).
    pub fn has_traffic(conn: &mut DbConn, tenant: TenantId, id: OfferId, conversions: bool) -> QueryResult<bool> {
        use affnet_db::schema::stats_daily as d;
        let rows = d::table.filter(d::tenant_id.eq(tenant.0)).filter(d::offer_id.eq(id.0));
        let found = if conversions {
            rows.filter((d::approved + d::pending + d::rejected).gt(0)).select(d::day).first::<i64>(conn).optional()?
        } else {
            rows.select(d::day).first::<i64>(conn).optional()?
        };
        Ok(found.is_some())
    }

    /// Replaces the security token; the old one stops working at once.
    pub fn rotate_token(conn: &mut DbConn, tenant: TenantId, id: OfferId, now: Micros) -> Result<Offer, OffersError> {
        let _changed = crate::ChangeGuard;
        let n = diesel::update(offers::table.filter(offers::tenant_id.eq(tenant)).filter(offers::id.eq(id)))
            .set((offers::security_token.eq(new_security_token()), offers::updated_at.eq(now)))
            .execute(conn)?;
        if n == 0 {
            return Err(OffersError::NotFound);
        }
        Offer::find(conn, tenant, id)
    }

    pub fn find(conn: &mut DbConn, tenant: TenantId, id: OfferId) -> Result<Offer, OffersError> {
        Ok(offers::table
            .filter(offers::tenant_id.eq(tenant))
            .filter(offers::id.eq(id))
            .select(Offer::as_select())
            .first(conn)?)
    }

    /// The offer `id` whichever tenant owns it: offer ids are unique across the installation,
    /// so the public tracking endpoints learn the tenant from the offer.
    pub fn find_any_tenant(conn: &mut DbConn, id: OfferId) -> Result<Option<Offer>, OffersError> {
        Ok(offers::table.filter(offers::id.eq(id)).select(Offer::as_select()).first(conn).optional()?)
    }

    /// The tenant's offers, newest first.
    pub fn list(
        conn: &mut DbConn,
        tenant: TenantId,
        filter: &OfferFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Offer>, OffersError> {
        let mut q = offers::table.filter(offers::tenant_id.eq(tenant)).into_boxed();
        if let Some(s) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            match s.parse::<i64>() {
                Ok(id) => {
                    q = q.filter(
                        offers::id
                            .eq(OfferId(id))
                            .or(crate::lower(offers::name).like(crate::lower(crate::like_pattern(s))).escape('\\')),
                    )
                }
                Err(_) => {
                    q = q.filter(crate::lower(offers::name).like(crate::lower(crate::like_pattern(s))).escape('\\'))
                }
            }
        }
        if let Some(st) = filter.status {
            q = q.filter(offers::status.eq(st));
        }
        if let Some(a) = filter.advertiser_id {
            q = q.filter(offers::advertiser_id.eq(a));
        }
        if let Some(v) = filter.visibility {
            q = q.filter(offers::visibility.eq(v));
        }
        Ok(q.order(offers::id.desc()).limit(limit).offset(offset).select(Offer::as_select()).load(conn)?)
    }
}

/// Narrows an offer list.
#[derive(Debug, Clone, Default)]
pub struct OfferFilter {
    pub search: Option<String>,
    pub status: Option<OfferStatus>,
    pub advertiser_id: Option<AdvertiserId>,
    pub visibility: Option<Visibility>,
}

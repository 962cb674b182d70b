//! Offers (staff): list and filters, create, view and edit; on the offer page the advertiser's
//! integration instructions (conversion URLs, security token), goals, access (assign an
//! affiliate) and per-affiliate payout overrides.

use crate::audit;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use affnet_accounts::audit::Entity;
use affnet_db::{AdvertiserId, AffiliateId, Currency, FieldErrors, GoalId, Money, OfferId};
use affnet_offers::access::AccessStatus;
use affnet_offers::macros::LANDING_MACROS;
use affnet_offers::offer::DEFAULT_WINDOW_SECS;
use affnet_offers::{
    Advertiser, Affiliate, CapUnit, Decision, Goal, GoalInput, GoalStatus, Offer, OfferAccess, OfferFilter, OfferInput,
    OfferStatus, OffersError, OverCap, OverrideInput, PayoutOverride, Visibility,
};
use askama::Template;

use super::{
    form_field_names, offers_err, page_offset, payout_types, rate_label, Integration, Pager, RateFields, PER_PAGE,
    RATE_RENAMES,
};
use crate::auth::Staff;
use crate::csrf::{CsrfForm, NoFields};
use crate::layout::{render, see_other, Layout};
use crate::{AppError, AppState};

type Options = Vec<(String, String)>;

fn options<T: Copy>(all: &[T], value: impl Fn(T) -> &'static str, label: impl Fn(T) -> &'static str) -> Options {
    all.iter().map(|t| (value(*t).to_owned(), label(*t).to_owned())).collect()
}

/// The select options of the offer form.
pub struct Choices {
    advertisers: Options,
    statuses: Options,
    visibilities: Options,
    payout_types: Options,
    conversion_statuses: Options,
    cap_units: Options,
    over_caps: Options,
    window_units: Options,
    macros: Vec<String>,
}

impl Choices {
    fn new(advertisers: &[Advertiser]) -> Self {
        let mut adv = vec![(String::new(), "Choose an advertiser".to_owned())];
        adv.extend(advertisers.iter().map(|a| (a.id.to_string(), format!("#{} {}", a.id, a.name))));
        Choices {
            advertisers: adv,
            statuses: options(OfferStatus::ALL, OfferStatus::as_str, OfferStatus::as_str),
            visibilities: options(Visibility::ALL, Visibility::as_str, |v| match v {
                Visibility::Public => "Public: every active affiliate",
                Visibility::ApprovalRequired => "Approval required: affiliates apply",
                Visibility::Private => "Private: only assigned affiliates",
            }),
            payout_types: payout_types().into_iter().map(|(v, l)| (v.to_owned(), l.to_owned())).collect(),
            conversion_statuses: vec![
                ("approved".into(), "approved".into()),
                ("pending".into(), "pending (reviewed by the network)".into()),
            ],
            cap_units: options(CapUnit::ALL, CapUnit::as_str, |u| match u {
                CapUnit::Conversions => "conversions",
                CapUnit::Payout => "payout amount",
            }),
            over_caps: options(OverCap::ALL, OverCap::as_str, |o| match o {
                OverCap::Reject => "reject the conversion",
                OverCap::Pending => "record it as pending",
            }),
            window_units: WINDOW_UNITS.iter().map(|(u, _)| ((*u).to_owned(), (*u).to_owned())).collect(),
            macros: LANDING_MACROS.iter().map(|m| format!("{{{m}}}")).collect(),
        }
    }
}

const WINDOW_UNITS: &[(&str, i64)] = &[("days", 86_400), ("hours", 3_600), ("minutes", 60), ("seconds", 1)];

/// Seconds as a number and the largest unit that divides them: 172800 → (2, days).
fn window_parts(secs: i64) -> (String, String) {
    for (unit, size) in WINDOW_UNITS {
        if secs % size == 0 && (secs != 0 || *unit == "hours") {
            return ((secs / size).to_string(), (*unit).to_owned());
        }
    }
    (secs.to_string(), "seconds".to_owned())
}

/// A window typed as a whole number of a unit, in seconds.
fn parse_window(value: &str, unit: &str, field: &str, errors: &mut FieldErrors) -> i64 {
    let Some((_, size)) = WINDOW_UNITS.iter().find(|(u, _)| *u == unit) else {
        errors.add(field, "choose days, hours, minutes or seconds");
        return 0;
    };
    match value.trim().parse::<i64>() {
        Ok(n) if n >= 0 => n.checked_mul(*size).unwrap_or_else(|| {
            errors.add(field, "must be between 0 and 366 days");
            0
        }),
        _ => {
            errors.add(field, "enter a whole number, e.g. 30");
            0
        }
    }
}

/// The offer form as typed: money and percentages as decimals, windows in days/hours.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct OfferForm {
    advertiser_id: String,
    name: String,
    description: String,
    offer_url: String,
    preview_url: String,
    fallback_url: String,
    status: String,
    visibility: String,
    currency: String,
    payout_type: String,
    payout_flat: String,
    payout_percent: String,
    revenue_type: String,
    revenue_flat: String,
    revenue_percent: String,
    conversion_status: String,
    min_window: String,
    min_window_unit: String,
    max_window: String,
    max_window_unit: String,
    daily_cap: String,
    total_cap: String,
    cap_unit: String,
    over_cap: String,
    dedupe_adv_sub: Option<String>,
    one_per_click: Option<String>,
    require_token: Option<String>,
    ip_allowlist: String,
}

/// The domain's field names and the form's.
const OFFER_RENAMES: &[(&str, &str)] = &[
    ("payout_bps", "payout_percent"),
    ("revenue_bps", "revenue_percent"),
    ("min_click_age_secs", "min_window"),
    ("max_click_age_secs", "max_window"),
];

fn on(b: bool) -> Option<String> {
    b.then(|| "on".to_owned())
}

fn cap_text(cap: Option<i64>, unit: CapUnit, currency: Currency) -> String {
    match (cap, unit) {
        (None, _) => String::new(),
        (Some(c), CapUnit::Payout) => Money::new(c, currency).decimal(),
        (Some(c), CapUnit::Conversions) => c.to_string(),
    }
}

impl OfferForm {
    fn new(advertiser_id: Option<i64>) -> Self {
        let (max, max_unit) = window_parts(DEFAULT_WINDOW_SECS);
        OfferForm {
            advertiser_id: advertiser_id.map(|a| a.to_string()).unwrap_or_default(),
            status: "active".into(),
            visibility: "public".into(),
            currency: "USD".into(),
            payout_type: "cpa_flat".into(),
            revenue_type: "cpa_flat".into(),
            conversion_status: "approved".into(),
            min_window: "0".into(),
            min_window_unit: "hours".into(),
            max_window: max,
            max_window_unit: max_unit,
            cap_unit: "conversions".into(),
            over_cap: "reject".into(),
            dedupe_adv_sub: on(true),
            one_per_click: on(true),
            require_token: on(true),
            ..OfferForm::default()
        }
    }

    fn from(o: &Offer) -> Self {
        let payout = RateFields::from_rate(o.payout_rate(), o.currency);
        let revenue = RateFields::from_rate(o.revenue_rate(), o.currency);
        let (min_window, min_window_unit) = window_parts(o.min_click_age_secs);
        let (max_window, max_window_unit) = window_parts(o.max_click_age_secs);
        OfferForm {
            advertiser_id: o.advertiser_id.to_string(),
            name: o.name.clone(),
            description: o.description.clone(),
            offer_url: o.offer_url.clone(),
            preview_url: o.preview_url.clone(),
            fallback_url: o.fallback_url.clone(),
            status: o.status.as_str().into(),
            visibility: o.visibility.as_str().into(),
            currency: o.currency.to_string(),
            payout_type: payout.kind,
            payout_flat: payout.flat,
            payout_percent: payout.percent,
            revenue_type: revenue.kind,
            revenue_flat: revenue.flat,
            revenue_percent: revenue.percent,
            conversion_status: o.conversion_status.as_str().into(),
            min_window,
            min_window_unit,
            max_window,
            max_window_unit,
            daily_cap: cap_text(o.daily_cap, o.cap_unit, o.currency),
            total_cap: cap_text(o.total_cap, o.cap_unit, o.currency),
            cap_unit: o.cap_unit.as_str().into(),
            over_cap: o.over_cap.as_str().into(),
            dedupe_adv_sub: on(o.dedupe_adv_sub),
            one_per_click: on(o.one_per_click),
            require_token: on(o.require_token),
            ip_allowlist: o.ip_allowlist.clone(),
        }
    }

    fn cap(&self, value: &str, field: &str, currency: Currency, errors: &mut FieldErrors) -> Option<i64> {
        let v = value.trim();
        if v.is_empty() {
            return None;
        }
        if self.cap_unit == "payout" {
            match Money::parse_decimal(v, currency) {
                Ok(m) => Some(m.minor),
                Err(e) => {
                    errors.add(field, e.to_string());
                    None
                }
            }
        } else {
            match v.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.add(field, "enter a whole number of conversions (leave empty for no cap)");
                    None
                }
            }
        }
    }

    /// The domain input, or the messages of the fields that do not even parse.
    fn input(&self) -> Result<OfferInput, FieldErrors> {
        let (input, errors) = self.read();
        errors.into_result().map(|()| input)
    }

    /// Every field's message at once: those that do not parse, then what the domain refuses in
    /// the others (read with the unreadable ones as their defaults). A form said the first kind
    /// alone, then the rest once they were fixed.
    async fn all_errors(&self, state: &AppState, tenant: affnet_db::TenantId) -> Result<FieldErrors, AppError> {
        let (input, mut errors) = self.read();
        let rest = state.db(move |c| input.field_errors(c, tenant).map_err(offers_err)).await?;
        // Fields checked against each other: when one did not parse (and was read as its
        // default), the domain's messages on the others would speak of that default (a valid
        // minimum "above the maximum" of an unreadable one).
        const GROUPS: &[&[&str]] = &[&["min_window", "max_window"]];
        let unread: Vec<&str> = errors.0.keys().map(String::as_str).collect();
        let skipped: Vec<&str> = GROUPS
            .iter()
            .filter(|group| group.iter().any(|f| unread.contains(f)))
            .flat_map(|group| group.iter().copied())
            .collect();
        for (field, message) in form_field_names(rest, OFFER_RENAMES).0 {
            if !skipped.contains(&field.as_str()) {
                errors.add(&field, message);
            }
        }
        Ok(errors)
    }

    /// The domain input as far as the form reads, and the messages of the fields that do not
    /// (read as their defaults).
    fn read(&self) -> (OfferInput, FieldErrors) {
        let mut e = FieldErrors::new();
        let currency = match self.currency.trim() {
            "" => Currency::USD,
            c => Currency::parse(c).unwrap_or_else(|err| {
                e.add("currency", err.to_string());
                Currency::USD
            }),
        };
        let advertiser_id = self.advertiser_id.trim().parse::<i64>().map(AdvertiserId).unwrap_or_else(|_| {
            e.add("advertiser_id", "choose an advertiser of this network");
            AdvertiserId(0)
        });
        let payout = RateFields {
            kind: self.payout_type.clone(),
            flat: self.payout_flat.clone(),
            percent: self.payout_percent.clone(),
        }
        .parse("payout", currency, &mut e);
        let revenue = RateFields {
            kind: self.revenue_type.clone(),
            flat: self.revenue_flat.clone(),
            percent: self.revenue_percent.clone(),
        }
        .parse("revenue", currency, &mut e);
        let min = parse_window(&self.min_window, &self.min_window_unit, "min_window", &mut e);
        let max = parse_window(&self.max_window, &self.max_window_unit, "max_window", &mut e);
        let daily_cap = self.cap(&self.daily_cap, "daily_cap", currency, &mut e);
        let total_cap = self.cap(&self.total_cap, "total_cap", currency, &mut e);
        let opt = |s: &str| Some(s.to_owned());
        let input = OfferInput {
            advertiser_id,
            name: self.name.clone(),
            description: self.description.clone(),
            offer_url: self.offer_url.clone(),
            preview_url: self.preview_url.clone(),
            fallback_url: self.fallback_url.clone(),
            status: opt(&self.status),
            visibility: opt(&self.visibility),
            currency: Some(currency.to_string()),
            payout,
            revenue,
            conversion_status: opt(&self.conversion_status),
            min_click_age_secs: min,
            max_click_age_secs: max,
            daily_cap,
            total_cap,
            cap_unit: opt(&self.cap_unit),
            over_cap: opt(&self.over_cap),
            dedupe_adv_sub: self.dedupe_adv_sub.is_some(),
            one_per_click: self.one_per_click.is_some(),
            require_token: self.require_token.is_some(),
            ip_allowlist: self.ip_allowlist.clone(),
        };
        (input, e)
    }
}

// ---- list ----

#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    advertiser_id: String,
    page: Option<u32>,
}

pub struct OfferRow {
    offer: Offer,
    advertiser: String,
    payout: String,
}

#[derive(Template)]
#[template(path = "admin/offers.html")]
struct ListPage {
    l: Layout,
    offers: Vec<OfferRow>,
    query: ListQuery,
    pager: Pager,
    statuses: Options,
    advertisers: Options,
}

/// `GET /admin/offers`: search by name or id, filter by status and advertiser.
pub async fn list(state: web::Data<AppState>, me: Staff, q: web::Query<ListQuery>) -> Result<HttpResponse, AppError> {
    let query = q.into_inner();
    let filter = OfferFilter {
        search: Some(query.q.clone()),
        status: match query.status.as_str() {
            "" => None,
            s => Some(s.parse::<OfferStatus>().map_err(AppError::BadRequest)?),
        },
        advertiser_id: match query.advertiser_id.as_str() {
            "" => None,
            a => Some(a.parse::<AdvertiserId>().map_err(|_| AppError::BadRequest("bad advertiser id".into()))?),
        },
        visibility: None,
    };
    let (page, offset) = page_offset(query.page);
    let tenant = me.tenant.id;
    let (mut offers, advertisers) = state
        .db(move |c| {
            let offers = Offer::list(c, tenant, &filter, PER_PAGE + 1, offset).map_err(offers_err)?;
            let advertisers = Advertiser::list(c, tenant, None, None, 1000, 0).map_err(offers_err)?;
            Ok((offers, advertisers))
        })
        .await?;
    let pager = Pager::new(
        "/admin/offers",
        &[("q", &query.q), ("status", &query.status), ("advertiser_id", &query.advertiser_id)],
        page,
        &mut offers,
    );
    let rows = offers
        .into_iter()
        .map(|o| OfferRow {
            advertiser: advertisers
                .iter()
                .find(|a| a.id == o.advertiser_id)
                .map(|a| a.name.clone())
                .unwrap_or_default(),
            payout: rate_label(o.payout_rate(), o.currency),
            offer: o,
        })
        .collect();
    let mut adv = vec![(String::new(), "All advertisers".to_owned())];
    adv.extend(advertisers.iter().map(|a| (a.id.to_string(), a.name.clone())));
    let page = ListPage {
        l: Layout::for_user(&me, "Offers", "/admin/offers"),
        offers: rows,
        query,
        pager,
        statuses: options(OfferStatus::ALL, OfferStatus::as_str, OfferStatus::as_str),
        advertisers: adv,
    };
    render(StatusCode::OK, &page)
}

// ---- new / create ----

#[derive(Template)]
#[template(path = "admin/offer_new.html")]
struct NewPage {
    l: Layout,
    form: OfferForm,
    errors: FieldErrors,
    choices: Choices,
}

async fn advertisers_of(state: &AppState, me: &Staff) -> Result<Vec<Advertiser>, AppError> {
    let tenant = me.tenant.id;
    state.db(move |c| Advertiser::list(c, tenant, None, None, 1000, 0).map_err(offers_err)).await
}

async fn new_page(
    state: &AppState,
    me: &Staff,
    form: OfferForm,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let advertisers = advertisers_of(state, me).await?;
    let page = NewPage {
        l: Layout::for_user(me, "New offer", "/admin/offers"),
        form,
        errors,
        choices: Choices::new(&advertisers),
    };
    render(status, &page)
}

#[derive(serde::Deserialize)]
pub struct NewQuery {
    advertiser_id: Option<i64>,
}

/// `GET /admin/offers/new`
pub async fn new(state: web::Data<AppState>, me: Staff, q: web::Query<NewQuery>) -> Result<HttpResponse, AppError> {
    new_page(&state, &me, OfferForm::new(q.advertiser_id), FieldErrors::new()).await
}

/// `POST /admin/offers`
pub async fn create(
    state: web::Data<AppState>,
    me: Staff,
    CsrfForm(form): CsrfForm<OfferForm>,
) -> Result<HttpResponse, AppError> {
    let input = match form.input() {
        Ok(i) => i,
        Err(_) => {
            let errors = form.all_errors(&state, me.tenant.id).await?;
            return new_page(&state, &me, form, errors).await;
        }
    };
    let (tenant, now) = (me.tenant.id, state.clock.now());
    let created = audit::by_user(&state, &me.user, move |c, log| {
        let created = Offer::create(c, tenant, &input, now);
        if let Ok(o) = &created {
            log.add(Entity::Offer, o.id, "create", audit::offer_created(o));
        }
        Ok(created)
    })
    .await?;
    match created {
        Ok(o) => {
            tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, offer = %o.id, "offer created");
            me.session.flash("success", format!("Offer #{} {} created.", o.id, o.name));
            Ok(see_other(&format!("/admin/offers/{}", o.id)))
        }
        Err(OffersError::Invalid(errors)) => new_page(&state, &me, form, form_field_names(errors, OFFER_RENAMES)).await,
        Err(e) => Err(offers_err(e)),
    }
}

// ---- the offer page ----

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct GoalForm {
    name: String,
    status: String,
    payout_type: String,
    payout_flat: String,
    payout_percent: String,
    revenue_type: String,
    revenue_flat: String,
    revenue_percent: String,
    allow_multiple: Option<String>,
}

impl GoalForm {
    /// An empty goal form with the usual choices.
    fn blank() -> Self {
        GoalForm {
            status: "active".into(),
            payout_type: "cpa_flat".into(),
            revenue_type: "cpa_flat".into(),
            ..Self::default()
        }
    }

    fn from(g: &Goal, currency: Currency) -> Self {
        let p = RateFields::from_rate(g.payout_rate(), currency);
        let r = RateFields::from_rate(g.revenue_rate(), currency);
        GoalForm {
            name: g.name.clone(),
            status: g.status.as_str().into(),
            payout_type: p.kind,
            payout_flat: p.flat,
            payout_percent: p.percent,
            revenue_type: r.kind,
            revenue_flat: r.flat,
            revenue_percent: r.percent,
            allow_multiple: on(g.allow_multiple),
        }
    }

    fn input(&self, currency: Currency) -> Result<GoalInput, FieldErrors> {
        let mut e = FieldErrors::new();
        let payout = RateFields {
            kind: self.payout_type.clone(),
            flat: self.payout_flat.clone(),
            percent: self.payout_percent.clone(),
        }
        .parse("payout", currency, &mut e);
        let revenue = RateFields {
            kind: self.revenue_type.clone(),
            flat: self.revenue_flat.clone(),
            percent: self.revenue_percent.clone(),
        }
        .parse("revenue", currency, &mut e);
        let input = GoalInput {
            name: self.name.clone(),
            status: Some(self.status.clone()),
            payout,
            revenue,
            allow_multiple: self.allow_multiple.is_some(),
        };
        if e.is_empty() {
            return Ok(input);
        }
        // With the fields that do not parse, what the domain refuses in the others: every
        // message at once.
        for (field, message) in form_field_names(input.field_errors(), RATE_RENAMES).0 {
            e.add(&field, message);
        }
        Err(e)
    }
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct OverrideForm {
    affiliate_id: String,
    goal_id: String,
    payout_type: String,
    payout_flat: String,
    payout_percent: String,
}

impl OverrideForm {
    fn input(&self, offer: OfferId, currency: Currency) -> Result<OverrideInput, FieldErrors> {
        let mut e = FieldErrors::new();
        let affiliate_id = self.affiliate_id.trim().parse::<AffiliateId>().unwrap_or_else(|_| {
            e.add("affiliate_id", "choose an affiliate of this network");
            AffiliateId(0)
        });
        let goal_id = match self.goal_id.trim() {
            "" => None,
            g => Some(g.parse::<GoalId>().unwrap_or_else(|_| {
                e.add("goal_id", "choose a goal of this offer");
                GoalId(0)
            })),
        };
        let payout = RateFields {
            kind: self.payout_type.clone(),
            flat: self.payout_flat.clone(),
            percent: self.payout_percent.clone(),
        }
        .parse("payout", currency, &mut e);
        e.into_result()?;
        Ok(OverrideInput { offer_id: offer, affiliate_id, goal_id, payout })
    }
}

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct AssignForm {
    affiliate_id: String,
    note: String,
}

/// The forms of the offer page and their messages (one of them may carry a refused input).
#[derive(Default)]
struct PageForms {
    edit: Option<OfferForm>,
    edit_errors: FieldErrors,
    goal: Option<GoalForm>,
    goal_errors: FieldErrors,
    ovr: OverrideForm,
    ovr_errors: FieldErrors,
    assign: AssignForm,
    assign_errors: FieldErrors,
}

pub struct AccessRow {
    access: OfferAccess,
    affiliate: String,
}

pub struct OverrideRow {
    id: i64,
    affiliate_id: AffiliateId,
    affiliate: String,
    goal: String,
    payout: String,
}

#[derive(Template)]
#[template(path = "admin/offer.html")]
struct ShowPage {
    l: Layout,
    offer: Offer,
    advertiser: Advertiser,
    payout: String,
    revenue: String,
    window: String,
    public_url: String,
    integration: Integration,
    access: Vec<AccessRow>,
    overrides: Vec<OverrideRow>,
    affiliates: Options,
    goal_options: Options,
    payout_types: Options,
    goal_statuses: Options,
    choices: Choices,
    form: OfferForm,
    errors: FieldErrors,
    goal_form: GoalForm,
    goal_errors: FieldErrors,
    ovr: OverrideForm,
    ovr_errors: FieldErrors,
    assign: AssignForm,
    assign_errors: FieldErrors,
}

fn window_text(min: i64, max: i64) -> String {
    let part = |s: i64| {
        let (n, unit) = window_parts(s);
        format!("{n} {unit}")
    };
    if min == 0 {
        format!("up to {} after the click", part(max))
    } else {
        format!("from {} to {} after the click", part(min), part(max))
    }
}

async fn show_page(
    state: &AppState,
    me: &Staff,
    id: OfferId,
    forms: PageForms,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let tenant = me.tenant.id;
    let (offer, advertiser, advertisers, goals, access, overrides, affiliates) = state
        .db(move |c| {
            let offer = Offer::find(c, tenant, id).map_err(offers_err)?;
            let advertiser = Advertiser::find(c, tenant, offer.advertiser_id).map_err(offers_err)?;
            let advertisers = Advertiser::list(c, tenant, None, None, 1000, 0).map_err(offers_err)?;
            let goals = Goal::list_for_offer(c, tenant, id).map_err(offers_err)?;
            let access = OfferAccess::list(c, tenant, None, Some(id), None, 500, 0).map_err(offers_err)?;
            let overrides = PayoutOverride::list(c, tenant, Some(id), None, 500, 0).map_err(offers_err)?;
            let affiliates = Affiliate::list(c, tenant, None, None, 5000, 0).map_err(offers_err)?;
            Ok((offer, advertiser, advertisers, goals, access, overrides, affiliates))
        })
        .await?;
    let aff_name = |a: AffiliateId| {
        affiliates
            .iter()
            .find(|x| x.id == a)
            .map(|x| format!("#{} {}", x.id, x.name))
            .unwrap_or_else(|| format!("#{a}"))
    };
    let goal_name = |g: Option<GoalId>| match g {
        None => "whole offer".to_owned(),
        Some(g) => goals.iter().find(|x| x.id == g).map(|x| format!("goal #{} {}", x.id, x.name)).unwrap_or_default(),
    };
    let access_rows =
        access.into_iter().map(|a| AccessRow { affiliate: aff_name(a.affiliate_id), access: a }).collect();
    let override_rows = overrides
        .iter()
        .map(|o| OverrideRow {
            id: o.id,
            affiliate_id: o.affiliate_id,
            affiliate: aff_name(o.affiliate_id),
            goal: goal_name(o.goal_id),
            payout: rate_label(o.rate(), offer.currency),
        })
        .collect();
    let mut affiliate_options = vec![(String::new(), "Choose an affiliate".to_owned())];
    affiliate_options
        .extend(affiliates.iter().map(|a| (a.id.to_string(), format!("#{} {} ({})", a.id, a.name, a.status))));
    let mut goal_options = vec![(String::new(), "Whole offer (every goal without its own price)".to_owned())];
    goal_options.extend(goals.iter().map(|g| (g.id.to_string(), format!("#{} {}", g.id, g.name))));
    let public_url = state.tracking_base(&me.tenant);
    let page = ShowPage {
        l: Layout::for_user(me, format!("Offer #{} {}", offer.id, offer.name), "/admin/offers"),
        payout: rate_label(offer.payout_rate(), offer.currency),
        revenue: rate_label(offer.revenue_rate(), offer.currency),
        window: window_text(offer.min_click_age_secs, offer.max_click_age_secs),
        integration: Integration::new(&public_url, &offer, goals),
        public_url,
        access: access_rows,
        overrides: override_rows,
        affiliates: affiliate_options,
        goal_options,
        payout_types: payout_types().into_iter().map(|(v, l)| (v.to_owned(), l.to_owned())).collect(),
        goal_statuses: goal_statuses(),
        choices: Choices::new(&advertisers),
        form: forms.edit.unwrap_or_else(|| OfferForm::from(&offer)),
        errors: forms.edit_errors,
        goal_form: forms.goal.unwrap_or_else(GoalForm::blank),
        goal_errors: forms.goal_errors,
        ovr: forms.ovr,
        ovr_errors: forms.ovr_errors,
        assign: forms.assign,
        assign_errors: forms.assign_errors,
        advertiser,
        offer,
    };
    render(status, &page)
}

const INVALID: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;

/// `GET /admin/offers/{id}`: an offer of another network is not found.
pub async fn show(state: web::Data<AppState>, me: Staff, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    show_page(&state, &me, OfferId(id.into_inner()), PageForms::default(), StatusCode::OK).await
}

/// `POST /admin/offers/{id}`: saves the edit form.
pub async fn update(
    state: web::Data<AppState>,
    me: Staff,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<OfferForm>,
) -> Result<HttpResponse, AppError> {
    let id = OfferId(id.into_inner());
    let (tenant, now) = (me.tenant.id, state.clock.now());
    let input = match form.input() {
        Ok(i) => i,
        Err(_) => {
            let mut edit_errors = form.all_errors(&state, tenant).await?;
            // The amounts were read in the currency asked for: say too when the offer cannot
            // take it (or the advertiser), which is why they may not read.
            let advertiser = form.advertiser_id.trim().parse::<i64>().ok().map(AdvertiserId);
            let currency = Currency::parse(form.currency.trim()).ok();
            let history = state
                .db(move |c| Offer::history_errors(c, tenant, id, advertiser, currency).map_err(offers_err))
                .await?;
            for (field, message) in history.0 {
                edit_errors.add(&field, message);
            }
            let forms = PageForms { edit: Some(form), edit_errors, ..PageForms::default() };
            return show_page(&state, &me, id, forms, INVALID).await;
        }
    };
    let updated = audit::by_user(&state, &me.user, move |c, log| {
        crate::api::locked_change(c, "offers", tenant, id.0, |c| {
            let before = Offer::find(c, tenant, id).map_err(offers_err)?;
            let updated = Offer::update(c, tenant, id, &input, now);
            if let Ok(o) = &updated {
                log.add(Entity::Offer, o.id, "update", audit::offer_changes(&before, o));
            }
            Ok(updated)
        })
    })
    .await?;
    match updated {
        Ok(o) => {
            tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, offer = %o.id, "offer updated");
            me.session.flash("success", "Offer saved.");
            Ok(see_other(&format!("/admin/offers/{}", o.id)))
        }
        Err(OffersError::Invalid(errors)) => {
            let forms = PageForms {
                edit: Some(form),
                edit_errors: form_field_names(errors, OFFER_RENAMES),
                ..PageForms::default()
            };
            show_page(&state, &me, id, forms, INVALID).await
        }
        Err(e) => Err(offers_err(e)),
    }
}

/// `POST /admin/offers/{id}/rotate-token`
pub async fn rotate_token(
    state: web::Data<AppState>,
    me: Staff,
    id: web::Path<i64>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (tenant, now, id) = (me.tenant.id, state.clock.now(), OfferId(id.into_inner()));
    let o = audit::by_user(&state, &me.user, move |c, log| {
        let o = Offer::rotate_token(c, tenant, id, now).map_err(offers_err)?;
        log.add(Entity::Offer, o.id, "rotate token", audit::TOKEN_ROTATED.to_owned());
        Ok(o)
    })
    .await?;
    tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, offer = %o.id, "offer security token rotated");
    me.session.flash(
        "success",
        "New security token issued: the old one no longer works. Send the advertiser the new conversion URL.",
    );
    Ok(see_other(&format!("/admin/offers/{}#integration", o.id)))
}

async fn offer_currency(state: &AppState, me: &Staff, id: OfferId) -> Result<Currency, AppError> {
    let tenant = me.tenant.id;
    state.db(move |c| Ok(Offer::find(c, tenant, id).map_err(offers_err)?.currency)).await
}

/// `POST /admin/offers/{id}/goals`: adds a goal.
pub async fn create_goal(
    state: web::Data<AppState>,
    me: Staff,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<GoalForm>,
) -> Result<HttpResponse, AppError> {
    let id = OfferId(id.into_inner());
    let currency = offer_currency(&state, &me, id).await?;
    let refused = |form: GoalForm, goal_errors: FieldErrors| PageForms {
        goal: Some(form),
        goal_errors: form_field_names(goal_errors, RATE_RENAMES),
        ..PageForms::default()
    };
    let input = match form.input(currency) {
        Ok(i) => i,
        Err(errors) => return show_page(&state, &me, id, refused(form, errors), INVALID).await,
    };
    let (tenant, now) = (me.tenant.id, state.clock.now());
    let created = audit::by_user(&state, &me.user, move |c, log| {
        let created = Goal::create(c, tenant, id, &input, now);
        if let Ok(g) = &created {
            log.add(Entity::Offer, id, "goal_create", audit::goal_created(g, currency));
        }
        Ok(created)
    })
    .await?;
    match created {
        Ok(g) => {
            tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, offer = %id, goal = %g.id, "goal created");
            me.session.flash("success", format!("Goal #{} {} added.", g.id, g.name));
            Ok(see_other(&format!("/admin/offers/{id}#goals")))
        }
        Err(OffersError::Invalid(errors)) => show_page(&state, &me, id, refused(form, errors), INVALID).await,
        Err(e) => Err(offers_err(e)),
    }
}

#[derive(Template)]
#[template(path = "admin/goal.html")]
struct GoalPage {
    l: Layout,
    goal: Goal,
    offer: Offer,
    goal_form: GoalForm,
    goal_errors: FieldErrors,
    payout_types: Options,
    goal_statuses: Options,
}

async fn goal_page(
    state: &AppState,
    me: &Staff,
    id: GoalId,
    form: Option<GoalForm>,
    errors: FieldErrors,
) -> Result<HttpResponse, AppError> {
    let tenant = me.tenant.id;
    let (goal, offer) = state
        .db(move |c| {
            let g = Goal::find(c, tenant, id).map_err(offers_err)?;
            let o = Offer::find(c, tenant, g.offer_id).map_err(offers_err)?;
            Ok((g, o))
        })
        .await?;
    let status = if errors.is_empty() { StatusCode::OK } else { INVALID };
    let page = GoalPage {
        l: Layout::for_user(me, format!("Goal #{} {}", goal.id, goal.name), "/admin/offers"),
        goal_form: form.unwrap_or_else(|| GoalForm::from(&goal, offer.currency)),
        goal_errors: errors,
        payout_types: payout_types().into_iter().map(|(v, l)| (v.to_owned(), l.to_owned())).collect(),
        goal_statuses: goal_statuses(),
        goal,
        offer,
    };
    render(status, &page)
}

fn goal_statuses() -> Options {
    options(GoalStatus::ALL, GoalStatus::as_str, GoalStatus::as_str)
}

/// `GET /admin/goals/{id}`
pub async fn show_goal(state: web::Data<AppState>, me: Staff, id: web::Path<i64>) -> Result<HttpResponse, AppError> {
    goal_page(&state, &me, GoalId(id.into_inner()), None, FieldErrors::new()).await
}

/// `POST /admin/goals/{id}`
pub async fn update_goal(
    state: web::Data<AppState>,
    me: Staff,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<GoalForm>,
) -> Result<HttpResponse, AppError> {
    let (tenant, now, id) = (me.tenant.id, state.clock.now(), GoalId(id.into_inner()));
    let currency = state
        .db(move |c| {
            let g = Goal::find(c, tenant, id).map_err(offers_err)?;
            Ok(Offer::find(c, tenant, g.offer_id).map_err(offers_err)?.currency)
        })
        .await?;
    let input = match form.input(currency) {
        Ok(i) => i,
        Err(errors) => return goal_page(&state, &me, id, Some(form), form_field_names(errors, RATE_RENAMES)).await,
    };
    let updated = audit::by_user(&state, &me.user, move |c, log| {
        let updated = Goal::update(c, tenant, id, &input, now);
        if let Ok(g) = &updated {
            log.add(Entity::Offer, g.offer_id, "goal_update", audit::goal_saved(g, currency));
        }
        Ok(updated)
    })
    .await?;
    match updated {
        Ok(g) => {
            tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, goal = %g.id, "goal updated");
            me.session.flash("success", format!("Goal #{} saved.", g.id));
            Ok(see_other(&format!("/admin/offers/{}#goals", g.offer_id)))
        }
        Err(OffersError::Invalid(errors)) => {
            goal_page(&state, &me, id, Some(form), form_field_names(errors, RATE_RENAMES)).await
        }
        Err(e) => Err(offers_err(e)),
    }
}

/// `POST /admin/offers/{id}/access`: assigns the offer to an affiliate (approved at once; the
/// way to give a private offer to someone).
pub async fn assign(
    state: web::Data<AppState>,
    me: Staff,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<AssignForm>,
) -> Result<HttpResponse, AppError> {
    let id = OfferId(id.into_inner());
    let Ok(affiliate) = form.affiliate_id.trim().parse::<AffiliateId>() else {
        let forms = PageForms {
            assign: form,
            assign_errors: FieldErrors::single("affiliate_id", "choose an affiliate of this network"),
            ..PageForms::default()
        };
        return show_page(&state, &me, id, forms, INVALID).await;
    };
    let (tenant, now, by, note) = (me.tenant.id, state.clock.now(), me.user.id, form.note.clone());
    let result = audit::by_user(&state, &me.user, move |c, log| {
        Offer::find(c, tenant, id).map_err(offers_err)?;
        if Affiliate::find(c, tenant, affiliate).is_err() {
            return Ok(Err(OffersError::Invalid(FieldErrors::single(
                "affiliate_id",
                "choose an affiliate of this network",
            ))));
        }
        let decision = Decision { status: AccessStatus::Approved, note: &note, by };
        let decided = OfferAccess::decide(c, tenant, id, affiliate, &decision, now);
        if let Ok(a) = &decided {
            let summary = format!("assigned to affiliate #{} (access approved)", a.affiliate_id);
            log.add(Entity::Offer, id, "access", summary);
        }
        Ok(decided)
    })
    .await?;
    match result {
        Ok(a) => {
            tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, offer = %id, affiliate = %a.affiliate_id, "offer assigned");
            crate::pages::signup::notify_access_decision(
                &state,
                me.tenant.id,
                id,
                a.affiliate_id,
                AccessStatus::Approved,
            )
            .await;
            me.session.flash("success", format!("Affiliate #{} may now run this offer.", a.affiliate_id));
            Ok(see_other(&format!("/admin/offers/{id}#access")))
        }
        Err(OffersError::Invalid(assign_errors)) => {
            let forms = PageForms { assign: form, assign_errors, ..PageForms::default() };
            show_page(&state, &me, id, forms, INVALID).await
        }
        Err(e) => Err(offers_err(e)),
    }
}

/// `POST /admin/offers/{id}/overrides`: sets (creates or replaces) an affiliate's payout.
pub async fn set_override(
    state: web::Data<AppState>,
    me: Staff,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<OverrideForm>,
) -> Result<HttpResponse, AppError> {
    let id = OfferId(id.into_inner());
    let currency = offer_currency(&state, &me, id).await?;
    let refused = |ovr: OverrideForm, errors: FieldErrors| PageForms {
        ovr,
        ovr_errors: form_field_names(errors, RATE_RENAMES),
        ..PageForms::default()
    };
    let input = match form.input(id, currency) {
        Ok(i) => i,
        Err(errors) => return show_page(&state, &me, id, refused(form, errors), INVALID).await,
    };
    let (tenant, now) = (me.tenant.id, state.clock.now());
    let (ovr_offer, ovr_goal, ovr_affiliate) = (input.offer_id, input.goal_id, input.affiliate_id);
    let set = audit::by_user(&state, &me.user, move |c, log| {
        let before = PayoutOverride::find_for(c, tenant, ovr_offer, ovr_goal, ovr_affiliate).map_err(offers_err)?;
        let set = PayoutOverride::set(c, tenant, &input, now);
        if let Ok(o) = &set {
            log.add(Entity::PayoutOverride, o.id, "set", audit::override_set(before.as_ref(), o, currency));
        }
        Ok(set)
    })
    .await?;
    match set {
        Ok(o) => {
            tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, offer = %id, affiliate = %o.affiliate_id, "payout override set");
            me.session.flash(
                "success",
                format!("Affiliate #{} now earns {}.", o.affiliate_id, rate_label(o.rate(), currency)),
            );
            Ok(see_other(&format!("/admin/offers/{id}#overrides")))
        }
        Err(OffersError::Invalid(errors)) => show_page(&state, &me, id, refused(form, errors), INVALID).await,
        Err(e) => Err(offers_err(e)),
    }
}

/// `POST /admin/overrides/{id}/delete`
pub async fn delete_override(
    state: web::Data<AppState>,
    me: Staff,
    id: web::Path<i64>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (tenant, id) = (me.tenant.id, id.into_inner());
    let o = audit::by_user(&state, &me.user, move |c, log| {
        let o = PayoutOverride::find(c, tenant, id).map_err(offers_err)?;
        let currency = Offer::find(c, tenant, o.offer_id).map_err(offers_err)?.currency;
        PayoutOverride::delete(c, tenant, id).map_err(offers_err)?;
        log.add(Entity::PayoutOverride, o.id, "delete", audit::override_deleted(&o, currency));
        Ok(o)
    })
    .await?;
    tracing::info!(tenant = %me.tenant.slug, by = %me.user.id, offer = %o.offer_id, affiliate = %o.affiliate_id, "payout override deleted");
    me.session
        .flash("success", format!("Override removed: affiliate #{} earns the default payout again.", o.affiliate_id));
    Ok(see_other(&format!("/admin/offers/{}#overrides", o.offer_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_round_trip() {
        assert_eq!(window_parts(30 * 86_400), ("30".into(), "days".into()));
        assert_eq!(window_parts(7_200), ("2".into(), "hours".into()));
        assert_eq!(window_parts(0), ("0".into(), "hours".into()));
        assert_eq!(window_parts(61), ("61".into(), "seconds".into()));
        let mut e = FieldErrors::new();
        assert_eq!(parse_window("2", "days", "w", &mut e), 172_800);
        assert!(e.is_empty());
        parse_window("-1", "days", "w", &mut e);
        assert_eq!(e.get("w"), Some("enter a whole number, e.g. 30"));
    }
}

//! Affiliate postbacks: the affiliate manages their own at `/affiliate/postbacks`, staff manage
//! any affiliate's of the network at `/admin/affiliates/{id}/postbacks`. One set of handlers
//! serves both, given the [`Owner`] of the page; a postback of another affiliate is not found.
//! Each saved postback shows its URL expanded for a sample conversion, and can be test-fired.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use affnet_accounts::audit::Entity;
use affnet_db::{AffiliateId, DbConn, FieldErrors, GoalId, OfferId, TenantId};
use affnet_offers::access::visible_offers;
use affnet_offers::macros::POSTBACK_MACROS;
use affnet_offers::{Affiliate, Goal, Offer, OffersError};
use affnet_tracking::delivery::{self, TestFire};
use affnet_tracking::postback::{Postback, PostbackInput, CONTENT_TYPES, METHODS};
use affnet_tracking::Tracking;
use askama::Template;

use crate::auth::{AffiliateUser, CurrentUser, Staff};
use crate::csrf::{CsrfForm, NoFields};
use crate::layout::{render, see_other, Layout};
use crate::pages::catalogue::offers_err;
use crate::{AppError, AppState};

/// Whose postbacks a page manages, and where its forms post.
#[derive(Clone)]
struct Owner {
    tenant: TenantId,
    affiliate: AffiliateId,
    affiliate_name: String,
    /// `/affiliate/postbacks` or `/admin/affiliates/{id}/postbacks`.
    base: String,
    /// The delivery log of these postbacks.
    log: String,
    staff: bool,
}

async fn affiliate_owner(state: &AppState, me: &AffiliateUser) -> Result<Owner, AppError> {
    let affiliate = me.user.affiliate_id.ok_or(AppError::Forbidden)?;
    let tenant = me.tenant.id;
    let a = state.db(move |c| Affiliate::find(c, tenant, affiliate).map_err(offers_err)).await?;
    Ok(Owner {
        tenant,
        affiliate,
        affiliate_name: a.name,
        base: "/affiliate/postbacks".into(),
        log: "/affiliate/postbacks/log".into(),
        staff: false,
    })
}

async fn staff_owner(state: &AppState, me: &Staff, affiliate: i64) -> Result<Owner, AppError> {
    let (tenant, affiliate) = (me.tenant.id, AffiliateId(affiliate));
    let a = state.db(move |c| Affiliate::find(c, tenant, affiliate).map_err(offers_err)).await?;
    Ok(Owner {
        tenant,
        affiliate,
        affiliate_name: a.name,
        base: format!("/admin/affiliates/{affiliate}/postbacks"),
        log: format!("/admin/postbacks/log?affiliate={affiliate}"),
        staff: true,
    })
}

/// The form as typed. Unchecked boxes are simply absent.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct PostbackForm {
    offer_id: String,
    goal_id: String,
    url: String,
    method: String,
    body: String,
    content_type: String,
    on_approved: Option<String>,
    on_pending: Option<String>,
    on_rejected: Option<String>,
    on_status_change: Option<String>,
    enabled: Option<String>,
    /// Set by the form's *Preview* button: expand the typed postback, save nothing.
    preview: Option<String>,
}

/// A test-fire's form: `back=edit` from the postback's own page (answered there).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct TestForm {
    back: String,
}

/// What the form fields show.
pub struct Fields {
    pub offer_id: String,
    pub goal_id: String,
    pub url: String,
    pub method: String,
    pub body: String,
    pub content_type: String,
    pub on_approved: bool,
    pub on_pending: bool,
    pub on_rejected: bool,
    pub on_status_change: bool,
    pub enabled: bool,
    /// The typed postback expanded for a sample conversion (method, URL, body, content type),
    /// after *Preview*.
    pub preview: Option<(String, String, String, String)>,
}

impl Fields {
    fn blank() -> Fields {
        Fields {
            offer_id: String::new(),
            goal_id: String::new(),
            url: String::new(),
            method: "GET".into(),
            body: String::new(),
            content_type: CONTENT_TYPES[0].into(),
            on_approved: true,
            on_pending: false,
            on_rejected: false,
            on_status_change: false,
            enabled: true,
            preview: None,
        }
    }

    fn of(p: &Postback) -> Fields {
        Fields {
            offer_id: p.offer_id.map(|o| o.to_string()).unwrap_or_default(),
            goal_id: p.goal_id.map(|g| g.to_string()).unwrap_or_default(),
            url: p.url.clone(),
            method: p.method.clone(),
            body: p.body.clone(),
            content_type: p.content_type.clone(),
            on_approved: p.on_approved,
            on_pending: p.on_pending,
            on_rejected: p.on_rejected,
            on_status_change: p.on_status_change,
            enabled: p.enabled,
            preview: None,
        }
    }

    fn from_form(f: &PostbackForm) -> Fields {
        Fields {
            offer_id: f.offer_id.clone(),
            goal_id: f.goal_id.clone(),
            url: f.url.clone(),
            method: f.method.clone(),
            body: f.body.clone(),
            content_type: f.content_type.clone(),
            on_approved: f.on_approved.is_some(),
            on_pending: f.on_pending.is_some(),
            on_rejected: f.on_rejected.is_some(),
            on_status_change: f.on_status_change.is_some(),
            enabled: f.enabled.is_some(),
            preview: None,
        }
    }
}

fn input_of(p: &Postback) -> PostbackInput {
    PostbackInput {
        affiliate_id: None,
        offer_id: p.offer_id,
        goal_id: p.goal_id,
        url: p.url.clone(),
        method: Some(p.method.clone()),
        body: p.body.clone(),
        content_type: Some(p.content_type.clone()),
        on_approved: p.on_approved,
        on_pending: p.on_pending,
        on_rejected: p.on_rejected,
        on_status_change: p.on_status_change,
        enabled: p.enabled,
    }
}

/// The offers the affiliate can run: the only ones a postback may be scoped to.
fn runnable_offers(conn: &mut DbConn, tenant: TenantId, affiliate: AffiliateId) -> Result<Vec<Offer>, AppError> {
    Ok(visible_offers(conn, tenant, affiliate, None, 1000, 0)
        .map_err(offers_err)?
        .into_iter()
        .filter(|v| v.can_run())
        .map(|v| v.offer)
        .collect())
}

impl PostbackForm {
    /// The domain input, or messages next to the fields the domain does not check (ids typed
    /// as text, offers the affiliate cannot run).
    fn input(&self, runnable: &[Offer]) -> Result<PostbackInput, FieldErrors> {
        let mut e = FieldErrors::new();
        let offer_id = match self.offer_id.trim() {
            "" => None,
            v => match v.parse::<i64>().ok().map(OfferId).filter(|o| runnable.iter().any(|r| r.id == *o)) {
                Some(o) => Some(o),
                None => {
                    e.add("offer_id", "choose all offers or an offer this affiliate can run");
                    None
                }
            },
        };
        let goal_id = match self.goal_id.trim() {
            "" => None,
            v => match v.parse::<i64>() {
                Ok(g) => Some(GoalId(g)),
                Err(_) => {
                    e.add("goal_id", "choose a goal of this offer");
                    None
                }
            },
        };
        e.into_result()?;
        Ok(PostbackInput {
            affiliate_id: None,
            offer_id,
            goal_id,
            url: self.url.clone(),
            method: Some(self.method.clone()),
            body: self.body.clone(),
            content_type: Some(self.content_type.clone()),
            on_approved: self.on_approved.is_some(),
            on_pending: self.on_pending.is_some(),
            on_rejected: self.on_rejected.is_some(),
            on_status_change: self.on_status_change.is_some(),
            enabled: self.enabled.is_some(),
        })
    }
}

/// One macro of the helper: `{payout}`, what it means, its value in the sample conversion.
pub struct MacroHelp {
    pub name: String,
    pub meaning: &'static str,
    pub sample: String,
}

/// What each postback macro stands for, in one line.
pub fn macro_meaning(name: &str) -> &'static str {
    match name {
        "transaction_id" => "our id of the click (32 hex characters), also passed to the offer",
        "aff_click_id" => "your own click id, as you sent it in aff_click_id on the tracking link",
        "offer_id" => "the offer's id",
        "offer_name" => "the offer's name",
        "affiliate_id" | "aff_id" => "your affiliate id",
        "aff_sub" | "aff_sub1" => "aff_sub (sub1) of the tracking link",
        "aff_sub2" => "aff_sub2 (sub2) of the tracking link",
        "aff_sub3" => "aff_sub3 (sub3) of the tracking link",
        "aff_sub4" => "aff_sub4 (sub4) of the tracking link",
        "aff_sub5" => "aff_sub5 (sub5) of the tracking link",
        "source" => "source of the tracking link",
        "payout" => "what you earn for this conversion, as a decimal (250 cents: 2.50)",
        "amount" | "sale_amount" => "the sale amount the advertiser reported, as a decimal (empty when none)",
        "currency" => "the currency code of payout and amount, e.g. USD",
        "goal_id" => "the goal's id (empty for the base conversion)",
        "conversion_id" => "our id of the conversion",
        "status" => "approved, pending or rejected",
        "adv_sub" => "the advertiser's order id",
        "ip" => "the visitor's IP address at the click",
        "datetime" => "the conversion time as YYYY-MM-DD HH:MM:SS in UTC",
        "unix_timestamp" => "the conversion time in Unix seconds",
        _ => "",
    }
}

/// A sample conversion on an offer, as the affiliate would be paid for it.
type Sample = (affnet_tracking::conversion::Conversion, affnet_tracking::click::Click, Offer);

/// The sample conversion of `affiliate` on `offer` (of `goal`, for a goal's postback; their
/// payout override applied).
fn sample_on(
    c: &mut affnet_db::DbConn,
    offer: Option<&Offer>,
    goal: Option<GoalId>,
    affiliate: AffiliateId,
    now: affnet_db::Micros,
) -> Result<Option<Sample>, AppError> {
    match offer {
        Some(o) => {
            let (conv, click) = delivery::sample_for(c, o, goal, affiliate, now).map_err(offers_err)?;
            Ok(Some((conv, click, o.clone())))
        }
        None => Ok(None),
    }
}

/// The macro helper, with the values of a sample conversion when there is one.
fn macro_help(sample: Option<&Sample>) -> Vec<MacroHelp> {
    POSTBACK_MACROS
        .iter()
        .map(|m| MacroHelp {
            name: format!("{{{m}}}"),
            meaning: macro_meaning(m),
            sample: sample
                .and_then(|(conv, click, offer)| affnet_tracking::outbox::macro_value(m, conv, click, offer))
                .unwrap_or_default(),
        })
        .collect()
}

/// A postback's URL and body expanded for a sample conversion, or why there is none.
fn preview_of(pb: &Postback, sample: Option<&Sample>) -> (String, String) {
    match sample {
        Some((conv, click, offer)) => affnet_tracking::outbox::request_of(pb, conv, click, offer),
        None => ("(no offer to preview with yet)".to_owned(), String::new()),
    }
}

/// A saved postback as the list shows it.
pub struct Row {
    pub pb: Postback,
    pub scope: String,
    pub statuses: String,
    /// The URL (and body) expanded for a sample conversion, or why there is none.
    pub preview_url: String,
    pub preview_body: String,
}

fn statuses_label(p: &Postback) -> String {
    let mut s: Vec<&str> = Vec::new();
    for (on, word) in [(p.on_approved, "approved"), (p.on_pending, "pending"), (p.on_rejected, "rejected")] {
        if on {
            s.push(word);
        }
    }
    let mut out = s.join(", ");
    if p.on_status_change {
        out.push_str("; again on status changes");
    }
    out
}

/// The select options: all offers, or one the affiliate can run; goals of those offers.
type Options = Vec<(String, String)>;

fn offer_options(runnable: &[Offer]) -> Options {
    let mut out = vec![(String::new(), "All offers (global postback)".to_owned())];
    out.extend(runnable.iter().map(|o| (o.id.to_string(), format!("#{} {} (standard postback)", o.id, o.name))));
    out
}

fn goal_options(conn: &mut DbConn, tenant: TenantId, runnable: &[Offer]) -> Result<Options, AppError> {
    let mut out = vec![(String::new(), "Every goal and the base conversion".to_owned())];
    for o in runnable {
        for g in Goal::list_for_offer(conn, tenant, o.id).map_err(offers_err)? {
            out.push((g.id.to_string(), format!("#{} {} — goal #{} {}", o.id, o.name, g.id, g.name)));
        }
    }
    Ok(out)
}

fn pairs(values: &[&str]) -> Options {
    values.iter().map(|v| ((*v).to_owned(), (*v).to_owned())).collect()
}

/// The offer a sample conversion of `p` is made on: its own while the affiliate can run it (it
/// may have been made private or paused since: then none, never an offer the affiliate may not
/// see), else the first the affiliate runs.
fn sample_offer<'a>(p: Option<&Postback>, runnable: &'a [Offer], own: Option<&'a Offer>) -> Option<&'a Offer> {
    match p.and_then(|p| p.offer_id) {
        Some(id) => own.filter(|o| o.id == id && runnable.iter().any(|r| r.id == id)),
        None => runnable.first(),
    }
}

/// What a test-fire did, shown under its postback.
pub struct Fired {
    pub id: i64,
    pub method: String,
    pub url: String,
    pub body: String,
    pub status: String,
    pub delivered: bool,
    pub latency_ms: i64,
    pub excerpt: String,
    pub error: String,
}

impl Fired {
    fn of(id: i64, t: TestFire) -> Fired {
        Fired {
            id,
            delivered: t.result.delivered(),
            status: t.result.status_code.map(|s| s.to_string()).unwrap_or_else(|| "no response".into()),
            latency_ms: t.result.latency_ms,
            excerpt: t.result.response_excerpt,
            error: t.result.error,
            method: t.method,
            url: t.url,
            body: t.body,
        }
    }
}

/// How this network's worker tries a postback, in words, from its settings.
fn delivery_rules(c: &affnet_tracking::delivery::DeliveryConfig) -> String {
    fn span(d: std::time::Duration) -> String {
        let s = d.as_secs();
        let (n, unit) = match s {
            _ if s >= 86_400 && s.is_multiple_of(86_400) => (s / 86_400, "day"),
            _ if s >= 3_600 && s.is_multiple_of(3_600) => (s / 3_600, "hour"),
            _ if s >= 60 && s.is_multiple_of(60) => (s / 60, "minute"),
            _ => (s, "second"),
        };
        format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
    }
    format!(
        "We wait up to {} for your server's answer and follow up to {} redirects; any 2xx status is a delivery (the answer's body is kept as an excerpt, never interpreted). Anything else (no answer, a timeout, another status) is tried again after {}, then after twice as long each time, up to {} between tries, {} attempts in all; then the job is failed, and you and your affiliate manager get an email (at most one a day per postback). A URL we may not call (another scheme than http or https, or an address on a private network) fails at once, untried.",
        span(c.timeout),
        affnet_tracking::delivery::MAX_REDIRECTS,
        span(c.first_backoff),
        span(c.max_backoff),
        c.max_attempts
    )
}

#[derive(Template)]
#[template(path = "postbacks/list.html")]
struct ListPage {
    l: Layout,
    o: Owner,
    /// How deliveries are tried, in words ([`delivery_rules`]).
    rules: String,
    rows: Vec<Row>,
    f: Fields,
    errors: FieldErrors,
    offers: Options,
    goals: Options,
    methods: Options,
    content_types: Options,
    macros: Vec<MacroHelp>,
    fired: Option<Fired>,
    has_offers: bool,
    /// The affiliate's signing secret (empty: unsigned).
    secret: String,
}

fn layout(me: &CurrentUser, o: &Owner, title: &str) -> Layout {
    if o.staff {
        Layout::for_user(me, format!("{title} · {}", o.affiliate_name), "/admin/affiliates")
    } else {
        Layout::for_user(me, title, "/affiliate/postbacks")
    }
}

async fn list_page(
    state: &AppState,
    me: &CurrentUser,
    o: Owner,
    f: Fields,
    errors: FieldErrors,
    fired: Option<Fired>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let (tenant, affiliate, now) = (o.tenant, o.affiliate, state.clock.now());
    let (rows, runnable, goals, secret, help) = state
        .db(move |c| {
            let secret = affnet_tracking::postback::signing_secret(c, tenant, affiliate).map_err(offers_err)?;
            let runnable = runnable_offers(c, tenant, affiliate)?;
            let goals = goal_options(c, tenant, &runnable)?;
            let mut rows = Vec::new();
            for pb in Postback::list(c, tenant, Some(affiliate)).map_err(offers_err)? {
                let own = match pb.offer_id {
                    Some(id) => match Offer::find(c, tenant, id) {
                        Ok(offer) => Some(offer),
                        Err(OffersError::NotFound) => None,
                        Err(e) => return Err(offers_err(e)),
                    },
                    None => None,
                };
                // An offer the affiliate can no longer run is not named (it may have been made
                // private, and renamed, since).
                let runs = |o: &Offer| runnable.iter().any(|r| r.id == o.id);
                let scope = match (&own, pb.offer_id) {
                    (Some(offer), _) if runs(offer) => format!("Standard: #{} {}", offer.id, offer.name),
                    (_, Some(id)) => format!("Standard: offer #{id}, no longer available to this affiliate"),
                    (_, None) => "Global: all offers".to_owned(),
                };
                let scope = match pb.goal_id {
                    Some(g) => format!("{scope}, goal #{g}"),
                    None => scope,
                };
                let sample =
                    sample_on(c, sample_offer(Some(&pb), &runnable, own.as_ref()), pb.goal_id, affiliate, now)?;
                let (preview_url, preview_body) = preview_of(&pb, sample.as_ref());
                rows.push(Row { statuses: statuses_label(&pb), scope, preview_url, preview_body, pb });
            }
            let help = sample_on(c, runnable.first(), None, affiliate, now)?;
            Ok((rows, runnable, goals, secret, help))
        })
        .await?;
    let page = ListPage {
        l: layout(me, &o, "Postbacks"),
        rules: delivery_rules(&state.web.postbacks),
        macros: macro_help(help.as_ref()),
        has_offers: !runnable.is_empty(),
        offers: offer_options(&runnable),
        goals,
        methods: pairs(METHODS),
        content_types: pairs(CONTENT_TYPES),
        o,
        rows,
        f,
        errors,
        fired,
        secret,
    };
    render(status, &page)
}

#[derive(Template)]
#[template(path = "postbacks/edit.html")]
struct EditPage {
    l: Layout,
    o: Owner,
    rules: String,
    pb: Postback,
    f: Fields,
    errors: FieldErrors,
    offers: Options,
    goals: Options,
    methods: Options,
    content_types: Options,
    macros: Vec<MacroHelp>,
    preview_url: String,
    preview_body: String,
    /// A test-fire made from this page, answered here.
    fired: Option<Fired>,
}

#[allow(clippy::too_many_arguments)]
async fn edit_page(
    state: &AppState,
    me: &CurrentUser,
    o: Owner,
    id: i64,
    f: Option<Fields>,
    errors: FieldErrors,
    fired: Option<Fired>,
    status: StatusCode,
) -> Result<HttpResponse, AppError> {
    let (tenant, affiliate, now) = (o.tenant, o.affiliate, state.clock.now());
    let (pb, runnable, goals, sample) = state
        .db(move |c| {
            let pb = Postback::find(c, tenant, Some(affiliate), id).map_err(offers_err)?;
            let runnable = runnable_offers(c, tenant, affiliate)?;
            let goals = goal_options(c, tenant, &runnable)?;
            let own = match pb.offer_id {
                Some(oid) => Offer::find(c, tenant, oid).ok(),
                None => None,
            };
            let sample = sample_on(c, sample_offer(Some(&pb), &runnable, own.as_ref()), pb.goal_id, affiliate, now)?;
            Ok((pb, runnable, goals, sample))
        })
        .await?;
    let (preview_url, preview_body) = preview_of(&pb, sample.as_ref());
    let page = EditPage {
        l: layout(me, &o, &format!("Postback #{id}")),
        rules: delivery_rules(&state.web.postbacks),
        f: f.unwrap_or_else(|| Fields::of(&pb)),
        macros: macro_help(sample.as_ref()),
        offers: offer_options(&runnable),
        goals,
        methods: pairs(METHODS),
        content_types: pairs(CONTENT_TYPES),
        o,
        pb,
        errors,
        preview_url,
        preview_body,
        fired,
    };
    render(status, &page)
}

async fn create(state: &AppState, me: &CurrentUser, o: Owner, form: PostbackForm) -> Result<HttpResponse, AppError> {
    let (tenant, affiliate, now) = (o.tenant, o.affiliate, state.clock.now());
    if form.preview.is_some() {
        return preview(state, me, o, form).await;
    }
    let f = form.clone();
    let result = crate::audit::by_user(state, &me.user, move |c, log| {
        let runnable = runnable_offers(c, tenant, affiliate)?;
        let input = match f.input(&runnable) {
            Ok(i) => i,
            Err(e) => return Ok(Err(OffersError::Invalid(e))),
        };
        let created = Postback::create(c, tenant, affiliate, &input, now);
        if let Ok(pb) = &created {
            log.add(Entity::Postback, pb.id, "create", crate::audit::postback_created(pb));
        }
        Ok(created)
    })
    .await?;
    match result {
        Ok(pb) => {
            tracing::info!(tenant = %tenant, by = %me.user.id, affiliate = %affiliate, postback = pb.id, "postback created");
            me.session.flash(
                "success",
                format!("Postback #{} saved. Its preview is below; test-fire it to check your end.", pb.id),
            );
            Ok(see_other(&o.base))
        }
        Err(OffersError::Invalid(errors)) => {
            list_page(state, me, o, Fields::from_form(&form), errors, None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(offers_err(e)),
    }
}

/// The create form's *Preview*: the typed postback expanded for a sample conversion, as it would
/// be saved (refused as saving would refuse it); nothing is saved.
async fn preview(state: &AppState, me: &CurrentUser, o: Owner, form: PostbackForm) -> Result<HttpResponse, AppError> {
    let (tenant, affiliate) = (o.tenant, o.affiliate);
    let drafted =
        draft(state, &o, &form, move |c, input, now| Postback::draft(c, tenant, affiliate, input, now)).await?;
    match drafted {
        Ok(fields) => list_page(state, me, o, fields, FieldErrors::new(), None, StatusCode::OK).await,
        Err((fields, errors)) => list_page(state, me, o, fields, errors, None, StatusCode::UNPROCESSABLE_ENTITY).await,
    }
}

/// The typed form's fields with their preview (the postback `make` builds from them, unsaved,
/// expanded for a sample conversion), or with what it refuses.
async fn draft(
    state: &AppState,
    o: &Owner,
    form: &PostbackForm,
    make: impl FnOnce(&mut affnet_db::DbConn, &PostbackInput, affnet_db::Micros) -> Result<Postback, OffersError>
        + Send
        + 'static,
) -> Result<Result<Fields, (Fields, FieldErrors)>, AppError> {
    let (tenant, affiliate, now) = (o.tenant, o.affiliate, state.clock.now());
    let f = form.clone();
    let drafted = state
        .db(move |c| {
            let runnable = runnable_offers(c, tenant, affiliate)?;
            let input = match f.input(&runnable) {
                Ok(i) => i,
                Err(e) => return Ok(Err(e)),
            };
            let pb = match make(c, &input, now) {
                Ok(pb) => pb,
                Err(OffersError::Invalid(e)) => return Ok(Err(e)),
                Err(e) => return Err(offers_err(e)),
            };
            let own = pb.offer_id.and_then(|id| runnable.iter().find(|r| r.id == id).cloned());
            let sample = sample_on(c, sample_offer(Some(&pb), &runnable, own.as_ref()), pb.goal_id, affiliate, now)?;
            Ok(Ok((pb, sample)))
        })
        .await?;
    let mut fields = Fields::from_form(form);
    Ok(match drafted {
        Ok((pb, sample)) => {
            let (url, body) = preview_of(&pb, sample.as_ref());
            fields.preview = Some((pb.method.clone(), url, body, pb.content_type));
            Ok(fields)
        }
        Err(errors) => Err((fields, errors)),
    })
}

/// The edit form's *Preview*: the postback as edited, expanded for a sample conversion, checked
/// as saving would check it; nothing is saved.
async fn edit_preview(
    state: &AppState,
    me: &CurrentUser,
    o: Owner,
    id: i64,
    form: PostbackForm,
) -> Result<HttpResponse, AppError> {
    let (tenant, affiliate) = (o.tenant, o.affiliate);
    let drafted =
        draft(state, &o, &form, move |c, input, now| Postback::edited(c, tenant, Some(affiliate), id, input, now))
            .await?;
    match drafted {
        Ok(fields) => edit_page(state, me, o, id, Some(fields), FieldErrors::new(), None, StatusCode::OK).await,
        Err((fields, errors)) => {
            edit_page(state, me, o, id, Some(fields), errors, None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

async fn update(
    state: &AppState,
    me: &CurrentUser,
    o: Owner,
    id: i64,
    form: PostbackForm,
) -> Result<HttpResponse, AppError> {
    if form.preview.is_some() {
        return edit_preview(state, me, o, id, form).await;
    }
    let (tenant, affiliate, now) = (o.tenant, o.affiliate, state.clock.now());
    let f = form.clone();
    let result = crate::audit::by_user(state, &me.user, move |c, log| {
        crate::api::locked_change(c, "postbacks", tenant, id, |c| {
            // Not found first: another affiliate's id changes nothing and says nothing.
            let before = Postback::find(c, tenant, Some(affiliate), id).map_err(offers_err)?;
            let runnable = runnable_offers(c, tenant, affiliate)?;
            let input = match f.input(&runnable) {
                Ok(i) => i,
                Err(e) => return Ok(Err(OffersError::Invalid(e))),
            };
            let updated = Postback::update(c, tenant, Some(affiliate), id, &input, now);
            if let Ok(pb) = &updated {
                log.add(Entity::Postback, pb.id, "update", crate::audit::postback_changes(&before, pb));
            }
            Ok(updated)
        })
    })
    .await?;
    match result {
        Ok(pb) => {
            tracing::info!(tenant = %tenant, by = %me.user.id, postback = pb.id, "postback updated");
            me.session.flash("success", format!("Postback #{} saved.", pb.id));
            Ok(see_other(&o.base))
        }
        Err(OffersError::Invalid(errors)) => {
            let f = Fields::from_form(&form);
            edit_page(state, me, o, id, Some(f), errors, None, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(offers_err(e)),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct EnableForm {
    enabled: String,
}

async fn set_enabled(
    state: &AppState,
    me: &CurrentUser,
    o: Owner,
    id: i64,
    enabled: &str,
) -> Result<HttpResponse, AppError> {
    let enabled = match enabled {
        "true" => true,
        "false" => false,
        _ => return Err(AppError::BadRequest("enabled must be true or false".into())),
    };
    let (tenant, affiliate, now) = (o.tenant, o.affiliate, state.clock.now());
    let pb = crate::audit::by_user(state, &me.user, move |c, log| {
        crate::api::locked_change(c, "postbacks", tenant, id, |c| {
            let before = Postback::find(c, tenant, Some(affiliate), id).map_err(offers_err)?;
            let input = PostbackInput { enabled, ..input_of(&before) };
            let pb = Postback::update(c, tenant, Some(affiliate), id, &input, now).map_err(offers_err)?;
            let action = if enabled { "enable" } else { "disable" };
            log.add(Entity::Postback, pb.id, action, crate::audit::postback_changes(&before, &pb));
            Ok(pb)
        })
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, postback = pb.id, enabled, "postback switched");
    let word = if enabled { "enabled" } else { "disabled" };
    me.session.flash("success", format!("Postback #{} {word}.", pb.id));
    Ok(see_other(&o.base))
}

async fn delete(state: &AppState, me: &CurrentUser, o: Owner, id: i64) -> Result<HttpResponse, AppError> {
    let (tenant, affiliate) = (o.tenant, o.affiliate);
    crate::audit::by_user(state, &me.user, move |c, log| {
        let pb = Postback::find(c, tenant, Some(affiliate), id).map_err(offers_err)?;
        Postback::delete(c, tenant, Some(affiliate), id).map_err(offers_err)?;
        log.add(Entity::Postback, id, "delete", crate::audit::postback_deleted(&pb));
        Ok(())
    })
    .await?;
    tracing::info!(tenant = %tenant, by = %me.user.id, postback = id, "postback deleted");
    me.session.flash("success", format!("Postback #{id} deleted. Its delivery history is kept."));
    Ok(see_other(&o.base))
}

async fn test(
    state: &AppState,
    tracking: &Tracking,
    me: &CurrentUser,
    o: Owner,
    id: i64,
    form: TestForm,
) -> Result<HttpResponse, AppError> {
    let on_edit = form.back == "edit";
    let (tenant, affiliate, now) = (o.tenant, o.affiliate, state.clock.now());
    let prepared = state
        .db(move |c| {
            let pb = Postback::find(c, tenant, Some(affiliate), id).map_err(offers_err)?;
            let runnable = runnable_offers(c, tenant, affiliate)?;
            let own = match pb.offer_id {
                Some(oid) => Offer::find(c, tenant, oid).ok(),
                None => None,
            };
            match sample_offer(Some(&pb), &runnable, own.as_ref()) {
                Some(offer) => {
                    Ok(Some(delivery::sample_request(c, tenant, Some(affiliate), id, offer, now).map_err(offers_err)?))
                }
                None => Ok(None),
            }
        })
        .await?;
    let Some((pb, out)) = prepared else {
        let errors = FieldErrors::single("test", "there is no offer to make a sample conversion on yet");
        if on_edit {
            return edit_page(state, me, o, id, None, errors, None, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        return list_page(state, me, o, Fields::blank(), errors, None, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let fired = delivery::test_fire(
        &state.pool,
        &tracking.postback_client,
        tracking.postback_config.allow_private,
        tenant,
        &pb,
        out,
        now,
    )
    .await
    .map_err(offers_err)?;
    tracing::info!(tenant = %tenant, by = %me.user.id, postback = pb.id, status = ?fired.result.status_code, "postback test-fired");
    let fired = Some(Fired::of(pb.id, fired));
    if on_edit {
        return edit_page(state, me, o, id, None, FieldErrors::new(), fired, StatusCode::OK).await;
    }
    list_page(state, me, o, Fields::blank(), FieldErrors::new(), fired, StatusCode::OK).await
}

// The affiliate's own postbacks.

/// `GET /affiliate/postbacks`
pub async fn affiliate_list(state: web::Data<AppState>, me: AffiliateUser) -> Result<HttpResponse, AppError> {
    let o = affiliate_owner(&state, &me).await?;
    list_page(&state, &me, o, Fields::blank(), FieldErrors::new(), None, StatusCode::OK).await
}

/// `POST /affiliate/postbacks`
pub async fn affiliate_create(
    state: web::Data<AppState>,
    me: AffiliateUser,
    CsrfForm(form): CsrfForm<PostbackForm>,
) -> Result<HttpResponse, AppError> {
    let o = affiliate_owner(&state, &me).await?;
    create(&state, &me, o, form).await
}

/// `GET /affiliate/postbacks/{id}`
pub async fn affiliate_edit(
    state: web::Data<AppState>,
    me: AffiliateUser,
    id: web::Path<i64>,
) -> Result<HttpResponse, AppError> {
    let o = affiliate_owner(&state, &me).await?;
    edit_page(&state, &me, o, id.into_inner(), None, FieldErrors::new(), None, StatusCode::OK).await
}

/// `POST /affiliate/postbacks/{id}`
pub async fn affiliate_update(
    state: web::Data<AppState>,
    me: AffiliateUser,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<PostbackForm>,
) -> Result<HttpResponse, AppError> {
    let o = affiliate_owner(&state, &me).await?;
    update(&state, &me, o, id.into_inner(), form).await
}

/// `POST /affiliate/postbacks/{id}/enabled`
pub async fn affiliate_enable(
    state: web::Data<AppState>,
    me: AffiliateUser,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<EnableForm>,
) -> Result<HttpResponse, AppError> {
    let o = affiliate_owner(&state, &me).await?;
    set_enabled(&state, &me, o, id.into_inner(), &form.enabled).await
}

/// `POST /affiliate/postbacks/{id}/delete`
pub async fn affiliate_delete(
    state: web::Data<AppState>,
    me: AffiliateUser,
    id: web::Path<i64>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let o = affiliate_owner(&state, &me).await?;
    delete(&state, &me, o, id.into_inner()).await
}

/// `POST /affiliate/postbacks/{id}/test`: fires now; the result is shown under the postback.
pub async fn affiliate_test(
    state: web::Data<AppState>,
    tracking: web::Data<Tracking>,
    me: AffiliateUser,
    id: web::Path<i64>,
    CsrfForm(form): CsrfForm<TestForm>,
) -> Result<HttpResponse, AppError> {
    let o = affiliate_owner(&state, &me).await?;
    test(&state, &tracking, &me, o, id.into_inner(), form).await
}

// Staff, for any affiliate of the network.

/// `GET /admin/affiliates/{aff}/postbacks`
pub async fn staff_list(state: web::Data<AppState>, me: Staff, aff: web::Path<i64>) -> Result<HttpResponse, AppError> {
    let o = staff_owner(&state, &me, aff.into_inner()).await?;
    list_page(&state, &me, o, Fields::blank(), FieldErrors::new(), None, StatusCode::OK).await
}

/// `POST /admin/affiliates/{aff}/postbacks`
pub async fn staff_create(
    state: web::Data<AppState>,
    me: Staff,
    aff: web::Path<i64>,
    CsrfForm(form): CsrfForm<PostbackForm>,
) -> Result<HttpResponse, AppError> {
    let o = staff_owner(&state, &me, aff.into_inner()).await?;
    create(&state, &me, o, form).await
}

/// `GET /admin/affiliates/{aff}/postbacks/{id}`
pub async fn staff_edit(
    state: web::Data<AppState>,
    me: Staff,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, AppError> {
    let (aff, id) = path.into_inner();
    let o = staff_owner(&state, &me, aff).await?;
    edit_page(&state, &me, o, id, None, FieldErrors::new(), None, StatusCode::OK).await
}

/// `POST /admin/affiliates/{aff}/postbacks/{id}`
pub async fn staff_update(
    state: web::Data<AppState>,
    me: Staff,
    path: web::Path<(i64, i64)>,
    CsrfForm(form): CsrfForm<PostbackForm>,
) -> Result<HttpResponse, AppError> {
    let (aff, id) = path.into_inner();
    let o = staff_owner(&state, &me, aff).await?;
    update(&state, &me, o, id, form).await
}

/// `POST /admin/affiliates/{aff}/postbacks/{id}/enabled`
pub async fn staff_enable(
    state: web::Data<AppState>,
    me: Staff,
    path: web::Path<(i64, i64)>,
    CsrfForm(form): CsrfForm<EnableForm>,
) -> Result<HttpResponse, AppError> {
    let (aff, id) = path.into_inner();
    let o = staff_owner(&state, &me, aff).await?;
    set_enabled(&state, &me, o, id, &form.enabled).await
}

/// `POST /admin/affiliates/{aff}/postbacks/{id}/delete`
pub async fn staff_delete(
    state: web::Data<AppState>,
    me: Staff,
    path: web::Path<(i64, i64)>,
    _form: CsrfForm<NoFields>,
) -> Result<HttpResponse, AppError> {
    let (aff, id) = path.into_inner();
    let o = staff_owner(&state, &me, aff).await?;
    delete(&state, &me, o, id).await
}

/// `POST /admin/affiliates/{aff}/postbacks/{id}/test`
pub async fn staff_test(
    state: web::Data<AppState>,
    tracking: web::Data<Tracking>,
    me: Staff,
    path: web::Path<(i64, i64)>,
    CsrfForm(form): CsrfForm<TestForm>,
) -> Result<HttpResponse, AppError> {
    let (aff, id) = path.into_inner();
    let o = staff_owner(&state, &me, aff).await?;
    test(&state, &tracking, &me, o, id, form).await
}

#[derive(Debug, serde::Deserialize)]
pub struct SecretForm {
    /// `generate` or `remove`.
    action: String,
}

async fn set_secret(state: &AppState, me: &CurrentUser, o: Owner, action: &str) -> Result<HttpResponse, AppError> {
    let enable = match action {
        "generate" => true,
        "remove" => false,
        _ => return Err(AppError::BadRequest("action must be generate or remove".into())),
    };
    let (tenant, affiliate) = (o.tenant, o.affiliate);
    crate::audit::by_user(state, &me.user, move |c, log| {
        affnet_tracking::postback::set_signing_secret(c, tenant, affiliate, enable).map_err(offers_err)?;
        let summary = format!(
            "signing secret of affiliate #{affiliate} {}",
            if enable { "generated (postbacks signed)" } else { "removed (postbacks unsigned)" }
        );
        log.add(affnet_accounts::audit::Entity::Postback, format!("affiliate {affiliate}"), "signing_secret", summary);
        Ok(())
    })
    .await?;
    tracing::info!(tenant = %tenant, affiliate = %affiliate, by = %me.user.id, enabled = enable, "postback signing secret changed");
    me.session.flash(
        "success",
        if enable {
            "A new signing secret is in force: postbacks carry X-Affnet-Signature from now on."
        } else {
            "Signing secret removed: postbacks are no longer signed."
        },
    );
    Ok(see_other(&o.base))
}

/// `POST /affiliate/postbacks/secret`: generate or remove the signing secret.
pub async fn affiliate_secret(
    state: web::Data<AppState>,
    me: AffiliateUser,
    CsrfForm(form): CsrfForm<SecretForm>,
) -> Result<HttpResponse, AppError> {
    let o = affiliate_owner(&state, &me).await?;
    set_secret(&state, &me, o, &form.action).await
}

/// `POST /admin/affiliates/{aff}/postbacks/secret`
pub async fn staff_secret(
    state: web::Data<AppState>,
    me: Staff,
    aff: web::Path<i64>,
    CsrfForm(form): CsrfForm<SecretForm>,
) -> Result<HttpResponse, AppError> {
    let o = staff_owner(&state, &me, aff.into_inner()).await?;
    set_secret(&state, &me, o, &form.action).await
}

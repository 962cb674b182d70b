//! Conversion intake (the advertiser postback): every call is checked in one place, accepted or
//! refused with a machine-readable reason, and stored as an *attempt*; accepted ones become
//! *conversions* with a status, their rollup increments and their postback jobs, all in one
//! transaction.

use std::collections::HashMap;
use std::net::IpAddr;

use diesel::prelude::*;

use affnet_db::schema::{conversion_attempts, conversion_status_changes, conversions};
use affnet_db::{
    AdvertiserId, AffiliateId, ConversionId, Currency, DbConn, GoalId, Micros, Money, OfferId, TenantId, UserId,
};
use affnet_offers::offer::{ConversionStatus, OfferStatus, OverCap};
use affnet_offers::payout::{resolve, resolve_revenue, PayoutSources};
use affnet_offers::{CapUnit, Goal, GoalStatus, Offer, PayoutOverride};

use crate::click::Click;
use crate::recorder::BatchWriter;
use crate::rollup::{self, hour_of, Delta, Increments, Key};
use crate::sub_conversions::SubIncrements;
use crate::{outbox, TransactionId};

/// Longest `adv_sub` (and any sub id) accepted.
pub const MAX_SUB_LEN: usize = 500;
/// Raw queries are stored up to this many bytes.
const MAX_RAW_QUERY: usize = 4096;

affnet_offers::text_enum!(
    /// Why a call did not record a conversion. `code()` is the machine-readable reason.
    Reason {
        MethodNotAllowed = "method_not_allowed",
        InvalidParameter = "invalid_parameter",
        InvalidBody = "invalid_body",
        BodyTooLarge = "body_too_large",
        MissingTransactionId = "missing_transaction_id",
        InvalidTransactionId = "invalid_transaction_id",
        InvalidOfferId = "invalid_offer_id",
        InvalidGoalId = "invalid_goal_id",
        MissingGoalId = "missing_goal_id",
        InvalidAction = "invalid_action",
        InvalidAmount = "invalid_amount",
        InvalidStatus = "invalid_status",
        InvalidAdvSub = "invalid_adv_sub",
        UnknownTransaction = "unknown_transaction",
        OfferMismatch = "offer_mismatch",
        OfferInactive = "offer_inactive",
        InvalidToken = "invalid_security_token",
        IpNotAllowed = "ip_not_allowed",
        UnknownGoal = "unknown_goal",
        GoalInactive = "goal_inactive",
        TooEarly = "too_early",
        WindowExpired = "outside_attribution_window",
        DuplicateClick = "duplicate_conversion",
        DuplicateAdvSub = "duplicate_adv_sub",
        CapReached = "cap_reached",
        ServerError = "server_error",
    }
);

impl Reason {
    /// The machine-readable reason (`err_msg=` of the answer, stored with the attempt).
    pub fn code(self) -> &'static str {
        self.as_str()
    }

    /// The HTTP status of the answer: 400 malformed call, 403 not authorized (token, IP),
    /// 404 unknown transaction or goal, 409 conflicts with what is recorded (duplicate, cap),
    /// 422 refused by the offer's rules (inactive, attribution window), 503 our failure.
    pub fn http_status(self) -> u16 {
        use Reason::*;
        match self {
            InvalidParameter | InvalidBody | MissingTransactionId | InvalidTransactionId | InvalidOfferId
            | InvalidGoalId | MissingGoalId | InvalidAction | InvalidAmount | InvalidStatus | InvalidAdvSub
            | OfferMismatch => 400,
            MethodNotAllowed => 405,
            BodyTooLarge => 413,
            InvalidToken | IpNotAllowed => 403,
            UnknownTransaction | UnknownGoal => 404,
            DuplicateClick | DuplicateAdvSub | CapReached => 409,
            OfferInactive | GoalInactive | TooEarly | WindowExpired => 422,
            ServerError => 503,
        }
    }
}

/// A refusal: the reason and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: Reason,
    pub message: String,
}

fn refuse<T>(reason: Reason, message: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal { reason, message: message.into() })
}

/// The message of a call that lost a deadlock: not answered, its whole batch is written again.
const LOST_DEADLOCK: &str = "the conversion waited for another one; retry later";

impl From<diesel::result::Error> for Refusal {
    fn from(e: diesel::result::Error) -> Self {
        if is_deadlock(&e) {
            tracing::warn!(error = %e, "conversion call lost a deadlock; its batch is written again");
            return Refusal { reason: Reason::ServerError, message: LOST_DEADLOCK.into() };
        }
        tracing::error!(error = %e, "conversion not recorded: database error");
        Refusal { reason: Reason::ServerError, message: "the conversion could not be stored; retry later".into() }
    }
}

impl From<affnet_offers::OffersError> for Refusal {
    fn from(e: affnet_offers::OffersError) -> Self {
        tracing::error!(error = %e, "conversion not recorded: catalogue error");
        Refusal { reason: Reason::ServerError, message: "the conversion could not be stored; retry later".into() }
    }
}

/// One call of `/aff_lsr` or `/aff_goal`.
#[derive(Debug, Clone)]
pub struct ConversionRequest {
    /// Query string and form body parameters (the first non-empty value of a name wins).
    pub params: Vec<(String, String)>,
    /// `/aff_goal` (the goal id is required) rather than `/aff_lsr`.
    pub goal_endpoint: bool,
    pub method: String,
    /// The query (and form body) as received, with the security token masked.
    pub raw_query: String,
    /// The calling server's address.
    pub ip: String,
    pub received_at: Micros,
    /// Why the body could not be read (`invalid_body`: not UTF-8, or it did not arrive;
    /// `body_too_large`): the call is refused and stored, its parameters read as best they
    /// could be (so the attempt names its click).
    pub body_refusal: Option<Refusal>,
    /// A parameter we read whose value, percent-decoded, is not UTF-8 (`adv_sub=caf%E9`):
    /// refused (`invalid_parameter`) and stored, rather than read with the bad bytes replaced
    /// (two different order ids would then be one).
    pub not_utf8: Option<String>,
    /// The network whose tracking domain the call came in on (its `Host`): a click of another
    /// network is then unknown here.
    pub host_tenant: Option<TenantId>,
}

impl ConversionRequest {
    /// The parameter's first non-empty value (as on `/aff_c`: `amount=&amount=2` is 2), or
    /// an empty one if it has only those.
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        let mut values = self.params.iter().filter(|(k, _)| k == name).map(|(_, v)| v.trim());
        let first = values.next()?;
        Some(if first.is_empty() { values.find(|v| !v.is_empty()).unwrap_or(first) } else { first })
    }
}

/// The outcome of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted { conversion_id: ConversionId, status: ConversionStatus, transaction_id: String },
    Refused(Refusal),
}

/// A recorded conversion.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = conversions)]
pub struct Conversion {
    pub id: ConversionId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub click_id: String,
    /// The click's sequence key (with `click_id`, how the click is found).
    #[serde(skip)]
    pub click_seq: i64,
    pub offer_id: OfferId,
    pub affiliate_id: AffiliateId,
    pub advertiser_id: AdvertiserId,
    pub goal_id: Option<GoalId>,
    pub status: ConversionStatus,
    pub currency: Currency,
    pub sale_amount: Option<i64>,
    pub payout: i64,
    pub revenue: i64,
    pub adv_sub: String,
    pub ip: String,
    #[serde(skip)]
    pub click_key: Option<String>,
    #[serde(skip)]
    pub adv_sub_key: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// A stored call.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = conversion_attempts)]
pub struct Attempt {
    pub id: i64,
    #[serde(skip)]
    pub tenant_id: Option<TenantId>,
    pub transaction_id: String,
    pub offer_id: Option<OfferId>,
    pub goal_id: Option<GoalId>,
    pub conversion_id: Option<ConversionId>,
    pub outcome: String,
    pub reason: String,
    pub message: String,
    pub method: String,
    pub raw_query: String,
    pub ip: String,
    pub created_at: Micros,
}

/// What the attempt row records besides the outcome.
#[derive(Default)]
struct Seen {
    tenant: Option<TenantId>,
    transaction_id: String,
    offer: Option<OfferId>,
    goal: Option<GoalId>,
    /// The one-conversion-per-click key the call's conversion took, when the offer has one.
    click_key: Option<String>,
    /// The order id key (offer, goal, `adv_sub`) the call's conversion took, when the offer
    /// de-duplicates by order id.
    adv_sub_key: Option<String>,
}

/// The transaction id of a call as the calls log stores it (and finds it): a valid one in lower
/// case, anything else as sent, cut to 100 bytes, control characters replaced.
pub fn stored_transaction_id(sent: &str) -> String {
    stored_as(sent, TransactionId::parse(&sent.to_ascii_lowercase()).ok())
}

/// [`stored_transaction_id`] of `sent`, read already as `tid`.
fn stored_as(sent: &str, tid: Option<TransactionId>) -> String {
    tid.map_or_else(|| truncate(sent, STORED_TRANSACTION_ID_BYTES), TransactionId::to_hex)
}

/// How much of a malformed transaction id the calls log keeps.
const STORED_TRANSACTION_ID_BYTES: usize = 100;

/// At most `max` bytes of `s`, control characters replaced (a NUL cannot be stored in a
/// PostgreSQL text column; stored text must never fail the batch it is written in).
fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].chars().map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect()
}

/// What one batch (one transaction) reads once: catalogue rows and postbacks (consistent within
/// the transaction), the rollup increments of uncapped offers and the sub id rollup increments of
/// all, written once at the end.
#[derive(Default)]
pub struct Memo {
    offers: HashMap<OfferId, Offer>,
    goals: HashMap<(TenantId, GoalId), Option<Goal>>,
    sources: HashMap<(OfferId, Option<GoalId>, AffiliateId), PayoutSources>,
    postbacks: HashMap<(TenantId, AffiliateId), Vec<crate::postback::Postback>>,
    /// Clicks looked up before the batch's calls (PostgreSQL: to lock capped offers in order).
    clicks: HashMap<TransactionId, Option<Click>>,
    /// Networks' time zones (their days bound daily caps).
    zones: HashMap<TenantId, crate::reports::Tz>,
    increments: Increments,
    sub_increments: SubIncrements,
}

impl Memo {
    /// The time zone of `tenant`'s days (UTC for a setting not understood, as in its reports).
    fn zone(&mut self, conn: &mut DbConn, tenant: TenantId) -> QueryResult<crate::reports::Tz> {
        if let Some(tz) = self.zones.get(&tenant) {
            return Ok(*tz);
        }
        let setting: String =
            affnet_db::schema::tenants::table.find(tenant).select(affnet_db::schema::tenants::timezone).first(conn)?;
        let tz = crate::reports::Tz::setting(&setting).0;
        self.zones.insert(tenant, tz);
        Ok(tz)
    }

    /// The click `tid` names: the one looked up before the batch, else from the database.
    fn click(&mut self, conn: &mut DbConn, tid: TransactionId) -> QueryResult<Option<Click>> {
        match self.clicks.remove(&tid) {
            Some(found) => Ok(found),
            None => Click::find(conn, tid),
        }
    }

    fn offer(&mut self, conn: &mut DbConn, tenant: TenantId, id: OfferId) -> Result<Offer, Refusal> {
        if let Some(o) = self.offers.get(&id) {
            return Ok(o.clone());
        }
        let o = Offer::find(conn, tenant, id)?;
        self.offers.insert(id, o.clone());
        Ok(o)
    }

    fn goal(&mut self, conn: &mut DbConn, tenant: TenantId, id: GoalId) -> Result<Option<Goal>, Refusal> {
        if let Some(g) = self.goals.get(&(tenant, id)) {
            return Ok(g.clone());
        }
        let g = match Goal::find(conn, tenant, id) {
            Ok(g) => Some(g),
            Err(affnet_offers::OffersError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        self.goals.insert((tenant, id), g.clone());
        Ok(g)
    }

    fn sources(
        &mut self,
        conn: &mut DbConn,
        tenant: TenantId,
        offer: &Offer,
        goal: Option<&Goal>,
        affiliate: AffiliateId,
    ) -> Result<PayoutSources, Refusal> {
        let key = (offer.id, goal.map(|g| g.id), affiliate);
        if let Some(s) = self.sources.get(&key) {
            return Ok(*s);
        }
        let s = PayoutOverride::sources(conn, tenant, offer, goal, affiliate)?;
        self.sources.insert(key, s);
        Ok(s)
    }

    fn postbacks(
        &mut self,
        conn: &mut DbConn,
        tenant: TenantId,
        affiliate: AffiliateId,
    ) -> QueryResult<Vec<crate::postback::Postback>> {
        if let Some(p) = self.postbacks.get(&(tenant, affiliate)) {
            return Ok(p.clone());
        }
        let p = outbox::enabled_postbacks(conn, tenant, affiliate)?;
        self.postbacks.insert((tenant, affiliate), p.clone());
        Ok(p)
    }
}

/// Checks and records one call (inside the caller's transaction, in a savepoint of its own),
/// then stores the attempt. Returns the outcome.
pub fn process(conn: &mut DbConn, req: &ConversionRequest, memo: &mut Memo) -> QueryResult<Outcome> {
    let mut seen = Seen::default();
    let outcome = match conn.transaction(|c| record(c, req, &mut seen, memo)) {
        Ok(accepted) => accepted,
        // A deadlock inside the call's savepoint (two batches inserting the same keys in
        // opposite orders): the batch fails, and `write_calls` writes it again.
        Err(refusal) if refusal.reason == Reason::ServerError && refusal.message == LOST_DEADLOCK => {
            return Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::SerializationFailure,
                Box::new(LOST_DEADLOCK.to_owned()),
            ));
        }
        // Both keys taken (the same call again): the database names whichever it checked
        // first, which differs between SQLite and PostgreSQL. The click's duplicate comes first
        // on both (read after the savepoint rolled back).
        Err(refusal) if refusal.reason == Reason::DuplicateAdvSub && click_converted(conn, &seen)? => {
            Outcome::Refused(Refusal { reason: Reason::DuplicateClick, message: DUPLICATE_CLICK.to_owned() })
        }
        Err(refusal) => Outcome::Refused(refusal),
    };
    let (outcome_word, reason, message, conversion_id) = match &outcome {
        Outcome::Accepted { conversion_id, status, .. } => {
            ("accepted", "", format!("recorded as {status}"), Some(*conversion_id))
        }
        // The log names the conversion that holds the order id, so that the refusal leads to
        // it (the caller's answer does not: the network's people read the log).
        Outcome::Refused(r) if r.reason == Reason::DuplicateAdvSub => {
            let message = match adv_sub_holder(conn, &seen)? {
                Some((id, tid)) => format!("{} (conversion #{id}, transaction {tid})", r.message),
                None => r.message.clone(),
            };
            ("refused", r.reason.code(), message, None)
        }
        Outcome::Refused(r) => ("refused", r.reason.code(), r.message.clone(), None),
    };
    diesel::insert_into(conversion_attempts::table)
        .values((
            conversion_attempts::tenant_id.eq(seen.tenant),
            conversion_attempts::transaction_id.eq(&seen.transaction_id),
            conversion_attempts::offer_id.eq(seen.offer),
            conversion_attempts::goal_id.eq(seen.goal),
            conversion_attempts::conversion_id.eq(conversion_id),
            conversion_attempts::outcome.eq(outcome_word),
            conversion_attempts::reason.eq(reason),
            conversion_attempts::message.eq(message),
            conversion_attempts::method.eq(truncate(&req.method, 10)),
            conversion_attempts::raw_query.eq(truncate(&req.raw_query, MAX_RAW_QUERY)),
            conversion_attempts::ip.eq(truncate(&req.ip, 64)),
            conversion_attempts::created_at.eq(req.received_at),
        ))
        .execute(conn)?;
    Ok(outcome)
}

/// The message of a call whose order id is taken (the holder is named after it).
const DUPLICATE_ADV_SUB: &str = "a conversion with this adv_sub is already recorded for this offer";

/// The conversion (id, transaction id) that holds the order id key of the call.
fn adv_sub_holder(conn: &mut DbConn, seen: &Seen) -> QueryResult<Option<(ConversionId, String)>> {
    let (Some(tenant), Some(key)) = (seen.tenant, &seen.adv_sub_key) else { return Ok(None) };
    conversions::table
        .filter(conversions::tenant_id.eq(tenant))
        .filter(conversions::adv_sub_key.eq(key))
        .select((conversions::id, conversions::click_id))
        .first(conn)
        .optional()
}

/// The message of a call whose click already converted.
const DUPLICATE_CLICK: &str = "this transaction already converted (one conversion per click)";

/// Whether a conversion of the offer already holds the order id key `key`.
fn adv_sub_taken(conn: &mut DbConn, tenant: TenantId, key: Option<&str>) -> QueryResult<bool> {
    let Some(key) = key else { return Ok(false) };
    diesel::select(diesel::dsl::exists(
        conversions::table.filter(conversions::tenant_id.eq(tenant)).filter(conversions::adv_sub_key.eq(key)),
    ))
    .get_result(conn)
}

/// Whether the conversion key of the call's click (`seen.click_key`) is already taken.
fn click_converted(conn: &mut DbConn, seen: &Seen) -> QueryResult<bool> {
    let (Some(tenant), Some(key)) = (seen.tenant, &seen.click_key) else { return Ok(false) };
    diesel::select(diesel::dsl::exists(
        conversions::table.filter(conversions::tenant_id.eq(tenant)).filter(conversions::click_key.eq(key)),
    ))
    .get_result(conn)
}

/// The network of `offer` if `token` is its security token (offer ids are unique across the
/// installation; without the token a caller could write into any network's log).
fn tenant_of_offer(conn: &mut DbConn, offer: OfferId, token: &str) -> QueryResult<Option<TenantId>> {
    use affnet_db::schema::offers;
    let found: Option<(TenantId, String)> = offers::table
        .filter(offers::id.eq(offer))
        .select((offers::tenant_id, offers::security_token))
        .first(conn)
        .optional()?;
    Ok(found.filter(|(_, t)| !token.is_empty() && constant_time_eq(token.as_bytes(), t.as_bytes())).map(|(t, _)| t))
}

/// The parameters of `/aff_lsr` and `/aff_goal` (DESIGN.md, "Advertiser postback").
pub(crate) const PARAMETERS: [&str; 8] =
    ["transaction_id", "offer_id", "amount", "adv_sub", "goal_id", "status", "security_token", "a"];

fn parse_id(raw: Option<&str>, reason: Reason, name: &str) -> Result<Option<i64>, Refusal> {
    match raw.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => refuse(reason, format!("{name} must be a positive whole number")),
        },
    }
}

/// The call's own parameters, checked (everything that needs no database).
struct CallParams<'a> {
    offer: Option<OfferId>,
    goal: Option<GoalId>,
    status: Option<ConversionStatus>,
    adv_sub: &'a str,
}

/// The malformed-call checks, in the order an integrator would fix them (`raw_tid` as sent,
/// `tid` the transaction id it parsed to, if it did).
fn check_call<'a>(
    req: &'a ConversionRequest,
    raw_tid: &str,
    tid: Option<TransactionId>,
) -> Result<CallParams<'a>, Refusal> {
    if req.method != "GET" && req.method != "POST" {
        return refuse(
            Reason::MethodNotAllowed,
            format!("{} is not supported; use GET or POST", truncate(&req.method, 20)),
        );
    }
    if let Some(refusal) = &req.body_refusal {
        return Err(refusal.clone());
    }
    // Only the parameters we read are checked: others (an integrator's own) are ignored.
    if let Some((k, _)) =
        req.params.iter().find(|(k, v)| PARAMETERS.contains(&k.as_str()) && crate::query::has_control(v))
    {
        return refuse(Reason::InvalidParameter, format!("{k} contains a control character"));
    }
    if let Some(k) = &req.not_utf8 {
        return refuse(Reason::InvalidParameter, format!("{k} is not UTF-8 text"));
    }
    if raw_tid.is_empty() {
        return refuse(Reason::MissingTransactionId, "transaction_id is required");
    }
    if tid.is_none() {
        return refuse(
            Reason::InvalidTransactionId,
            "transaction_id must be the 32 hex characters we added to the landing URL",
        );
    }
    if req.goal_endpoint {
        if let Some(a) = req.param("a").filter(|a| !a.is_empty() && !a.eq_ignore_ascii_case("lsr")) {
            return refuse(Reason::InvalidAction, format!("a={} is not supported; use a=lsr", truncate(a, 20)));
        }
    }
    let offer = parse_id(req.param("offer_id"), Reason::InvalidOfferId, "offer_id")?.map(OfferId);
    let goal = parse_id(req.param("goal_id"), Reason::InvalidGoalId, "goal_id")?.map(GoalId);
    if req.goal_endpoint && goal.is_none() {
        return refuse(Reason::MissingGoalId, "goal_id is required on /aff_goal");
    }
    let status = match req.param("status").filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => match s.to_ascii_lowercase().parse::<ConversionStatus>() {
            Ok(st) => Some(st),
            Err(_) => return refuse(Reason::InvalidStatus, "status must be approved, pending or rejected"),
        },
    };
    let adv_sub = req.param("adv_sub").unwrap_or("");
    if adv_sub.chars().count() > MAX_SUB_LEN {
        return refuse(Reason::InvalidAdvSub, format!("adv_sub may be at most {MAX_SUB_LEN} characters"));
    }
    if is_placeholder(adv_sub) {
        return refuse(
            Reason::InvalidAdvSub,
            format!(
                "adv_sub is still the placeholder {}: send your order id, or leave adv_sub out",
                truncate(adv_sub.trim(), 40)
            ),
        );
    }
    Ok(CallParams { offer, goal, status, adv_sub })
}

/// A value that is only a macro left unfilled (`{order_id}`): the advertiser's system did not
/// replace it. Recorded as an order id, it would make every later conversion a duplicate.
fn is_placeholder(value: &str) -> bool {
    let value = value.trim();
    value
        .strip_prefix('{')
        .and_then(|v| v.strip_suffix('}'))
        .is_some_and(|name| !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

/// The checks, in the order an integrator would fix them: malformed call, unknown click,
/// authorization (the token, before anything about the offer is told), the offer's rules,
/// duplicates, caps. Writes the conversion, its rollup and its
/// postback jobs.
fn record(conn: &mut DbConn, req: &ConversionRequest, seen: &mut Seen, memo: &mut Memo) -> Result<Outcome, Refusal> {
    let raw_tid = req.param("transaction_id").unwrap_or("");
    let tid = TransactionId::parse(&raw_tid.to_ascii_lowercase()).ok();
    seen.transaction_id = stored_as(raw_tid, tid);
    // The click the call names, looked up first so that a malformed call for a real click is
    // stored under its network too (its tracer shows why the call was refused).
    let click = match tid {
        Some(tid) => memo.click(conn, tid)?.filter(|c| req.host_tenant.is_none_or(|t| t == c.tenant_id)),
        None => None,
    };
    let parsed = check_call(req, raw_tid, tid);
    seen.offer = parsed.as_ref().ok().and_then(|p| p.offer);
    seen.goal = parsed.as_ref().ok().and_then(|p| p.goal);
    match &click {
        Some(c) => {
            seen.tenant = Some(c.tenant_id);
            seen.offer = Some(c.offer_id);
        }
        None => {
            // No click (or no readable transaction id: the advertiser's macro left unfilled is
            // the commonest mistake), but the offer named with its security token names the
            // network: the call is stored where that network sees it (its calls log and
            // tracer), so an integrator can find out why. On a network's tracking domain, only
            // if that is the offer's network (a `Host` header proves nothing: anyone could fill
            // a network's log otherwise).
            let named_offer = req.param("offer_id").and_then(|v| v.parse::<i64>().ok()).filter(|id| *id > 0);
            if let Some(offer) = named_offer.map(OfferId) {
                let named = tenant_of_offer(conn, offer, req.param("security_token").unwrap_or(""))?;
                seen.tenant = named.filter(|t| req.host_tenant.is_none_or(|host| host == *t));
                if seen.tenant.is_some() {
                    seen.offer = Some(offer);
                }
            }
        }
    }
    let CallParams { offer: offer_param, goal: goal_param, status: status_param, adv_sub } = parsed?;
    let Some(click) = click else {
        return refuse(Reason::UnknownTransaction, "no click has this transaction_id");
    };
    let tid_text = click.id.clone();
    let tenant = click.tenant_id;
    let offer = memo.offer(conn, tenant, click.offer_id)?;
    let capped = offer.daily_cap.is_some() || offer.total_cap.is_some();
    if let (true, DbConn::Pg(c)) = (capped, &mut *conn) {
        // Serialises conversions of a capped offer across nodes, so that cap checks see each
        // other. (Duplicates need no lock: the unique keys below decide.)
        affnet_db::schema::offers::table
            .filter(affnet_db::schema::offers::id.eq(click.offer_id))
            .select(affnet_db::schema::offers::id)
            .for_update()
            .execute(c)?;
    }
    // Checked only where the offer requires it: otherwise a token sent anyway, right or wrong,
    // is ignored (as HasOffers does).
    let token = req.param("security_token").unwrap_or("");
    if offer.require_token {
        if token.is_empty() {
            return refuse(Reason::InvalidToken, "security_token is required for this offer");
        }
        if !constant_time_eq(token.as_bytes(), offer.security_token.as_bytes()) {
            return refuse(Reason::InvalidToken, "security_token is wrong for this offer");
        }
    }
    // Only a caller holding the token learns more about the offer (its state, which offer the
    // transaction is of).
    if offer_param.is_some_and(|o| o != click.offer_id) {
        return refuse(Reason::OfferMismatch, "offer_id is not the offer of this transaction");
    }
    if offer.status != OfferStatus::Active {
        return refuse(Reason::OfferInactive, format!("the offer is {}", offer.status));
    }
    let allowlist = offer.allowlist();
    if !allowlist.0.is_empty() {
        let allowed = req.ip.parse::<IpAddr>().is_ok_and(|ip| allowlist.allows(ip));
        if !allowed {
            return refuse(
                Reason::IpNotAllowed,
                format!("calls from {} are not in the offer's IP allow-list", truncate(&req.ip, 64)),
            );
        }
    }
    let goal = match goal_param {
        None => None,
        Some(g) => match memo.goal(conn, tenant, g)? {
            Some(goal) if goal.offer_id == offer.id => {
                if goal.status != GoalStatus::Active {
                    return refuse(Reason::GoalInactive, "the goal is paused");
                }
                Some(goal)
            }
            _ => return refuse(Reason::UnknownGoal, "the offer has no goal with this goal_id"),
        },
    };
    let sale_amount = match req.param("amount").filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => match Money::parse_decimal_rounded(a, offer.currency) {
            Ok(m) => Some(m.minor),
            Err(e) => return refuse(Reason::InvalidAmount, format!("amount: {e}")),
        },
    };
    let now = req.received_at;
    let age = now.0 - click.created_at.0;
    // Without a minimum there is nothing to be early for: a node whose clock is behind the
    // click's node sees a negative age, which must not refuse the conversion.
    if offer.min_click_age_secs > 0 && age < offer.min_click_age_secs.saturating_mul(1_000_000) {
        return refuse(
            Reason::TooEarly,
            format!("a conversion counts {} s after the click at the earliest", offer.min_click_age_secs),
        );
    }
    if age > offer.max_click_age_secs.saturating_mul(1_000_000) {
        return refuse(
            Reason::WindowExpired,
            format!("the click is older than the offer's attribution window ({} s)", offer.max_click_age_secs),
        );
    }
    let goal_key = goal.as_ref().map_or(0, |g| g.id.0);
    let click_key = (offer.one_per_click && !goal.as_ref().is_some_and(|g| g.allow_multiple))
        .then(|| format!("{tid_text}:{goal_key}"));
    let adv_sub_key =
        (offer.dedupe_adv_sub && !adv_sub.is_empty()).then(|| format!("{}:{goal_key}:{adv_sub}", offer.id));
    seen.click_key.clone_from(&click_key);
    seen.adv_sub_key.clone_from(&adv_sub_key);
    let sources = memo.sources(conn, tenant, &offer, goal.as_ref(), click.affiliate_id)?;
    let payout = resolve(&sources, sale_amount);
    let revenue = resolve_revenue(goal.as_ref().map(Goal::revenue_rate), offer.revenue_rate(), sale_amount);
    let mut status = status_param.unwrap_or(offer.conversion_status);
    if status != ConversionStatus::Rejected && over_cap(conn, tenant, &offer, now, payout, memo)? {
        match offer.over_cap {
            // A retry of a conversion already recorded is refused as the duplicate it is,
            // whatever the cap says now: the advertiser must not read it as not counted.
            OverCap::Reject if click_converted(conn, seen)? => return refuse(Reason::DuplicateClick, DUPLICATE_CLICK),
            OverCap::Reject if adv_sub_taken(conn, tenant, adv_sub_key.as_deref())? => {
                return refuse(Reason::DuplicateAdvSub, DUPLICATE_ADV_SUB)
            }
            OverCap::Reject => return refuse(Reason::CapReached, "the offer's conversion cap is reached"),
            OverCap::Pending => status = ConversionStatus::Pending,
        }
    }

    let inserted = diesel::insert_into(conversions::table)
        .values((
            (
                conversions::tenant_id.eq(tenant),
                conversions::click_id.eq(&tid_text),
                conversions::click_seq.eq(click.seq),
                conversions::offer_id.eq(offer.id),
                conversions::affiliate_id.eq(click.affiliate_id),
                conversions::advertiser_id.eq(click.advertiser_id),
                conversions::goal_id.eq(goal.as_ref().map(|g| g.id)),
                conversions::status.eq(status),
                conversions::currency.eq(offer.currency),
                conversions::sale_amount.eq(sale_amount),
            ),
            (
                conversions::payout.eq(payout),
                conversions::revenue.eq(revenue),
                conversions::adv_sub.eq(adv_sub),
                conversions::ip.eq(truncate(&req.ip, 64)),
                conversions::click_key.eq(click_key.as_deref()),
                conversions::adv_sub_key.eq(adv_sub_key.as_deref()),
                conversions::created_at.eq(now),
                conversions::updated_at.eq(now),
            ),
        ))
        .returning(conversions::id)
        .get_result::<ConversionId>(conn);
    let id = match inserted {
        Ok(id) => id,
        // The unique keys decide duplicates, also between nodes writing at the same moment.
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, info)) => {
            let which = format!("{} {}", info.constraint_name().unwrap_or(""), info.message());
            return if which.contains("adv_sub_key") {
                refuse(Reason::DuplicateAdvSub, DUPLICATE_ADV_SUB)
            } else {
                refuse(Reason::DuplicateClick, DUPLICATE_CLICK)
            };
        }
        Err(e) => return Err(e.into()),
    };
    let increment = (
        Key { tenant, hour: hour_of(now), offer: offer.id, affiliate: click.affiliate_id },
        Delta::conversion(status.as_str(), payout, revenue),
    );
    if capped {
        // Cap checks read the rollups: a capped offer's count must be current at once.
        let mut inc = Increments::default();
        inc.add(increment.0, increment.1);
        inc.apply(conn)?;
    }
    let conversion = Conversion {
        id,
        tenant_id: tenant,
        click_id: tid_text.clone(),
        click_seq: click.seq,
        offer_id: offer.id,
        affiliate_id: click.affiliate_id,
        advertiser_id: click.advertiser_id,
        goal_id: goal.as_ref().map(|g| g.id),
        status,
        currency: offer.currency,
        sale_amount,
        payout,
        revenue,
        adv_sub: adv_sub.to_owned(),
        ip: truncate(&req.ip, 64),
        click_key,
        adv_sub_key,
        created_at: now,
        updated_at: now,
    };
    let postbacks = memo.postbacks(conn, tenant, click.affiliate_id)?;
    outbox::enqueue_for(conn, &postbacks, &conversion, &click, &offer, outbox::Event::Created, now)?;
    // Last, after every step that can fail: a refused call must not count.
    if !capped {
        memo.increments.add(increment.0, increment.1);
    }
    memo.sub_increments.add(&click, increment.0.hour, offer.id, click.affiliate_id, increment.1);
    Ok(Outcome::Accepted { conversion_id: id, status, transaction_id: tid_text })
}

/// Would one more conversion (paying `payout`) go over the offer's daily or total cap? Counts
/// approved and pending conversions from the rollups; a day is the network's day (its time zone,
/// as its reports), so a daily cap starts again at the network's midnight.
fn over_cap(
    conn: &mut DbConn,
    tenant: TenantId,
    offer: &Offer,
    now: Micros,
    payout: i64,
    memo: &mut Memo,
) -> QueryResult<bool> {
    if offer.daily_cap.is_none() && offer.total_cap.is_none() {
        return Ok(false);
    }
    let used = |t: rollup::Totals| match offer.cap_unit {
        CapUnit::Conversions => (t.approved + t.pending, 1),
        CapUnit::Payout => (t.payout + t.pending_payout, payout),
    };
    if let Some(cap) = offer.daily_cap {
        let tz = memo.zone(conn, tenant)?;
        let day = tz.day_of(now);
        let (start, end) = (tz.day_start(day), tz.day_start(day + 1));
        let (u, add) = used(rollup::totals(conn, tenant, start, end, Some(offer.id), None)?);
        if u + add > cap {
            return Ok(true);
        }
    }
    if let Some(cap) = offer.total_cap {
        let (u, add) = used(rollup::totals(conn, tenant, Micros(0), Micros(i64::MAX), Some(offer.id), None)?);
        if u + add > cap {
            return Ok(true);
        }
    }
    Ok(false)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Conversion {
    pub fn find(conn: &mut DbConn, tenant: TenantId, id: ConversionId) -> QueryResult<Conversion> {
        conversions::table
            .filter(conversions::tenant_id.eq(tenant))
            .filter(conversions::id.eq(id))
            .select(Conversion::as_select())
            .first(conn)
    }

    /// The tenant's conversions of one click.
    pub fn for_click(conn: &mut DbConn, tenant: TenantId, click_id: &str) -> QueryResult<Vec<Conversion>> {
        conversions::table
            .filter(conversions::tenant_id.eq(tenant))
            .filter(conversions::click_id.eq(click_id))
            .order(conversions::id.asc())
            .select(Conversion::as_select())
            .load(conn)
    }

    /// Changes the status (admins and managers), with a note; audited, the rollups moved, and
    /// postbacks enqueued: where a postback asks for status changes, and on the conversion's
    /// first approval where it fires for approved conversions ([`outbox::Event`]).
    pub fn set_status(
        conn: &mut DbConn,
        tenant: TenantId,
        id: ConversionId,
        to: ConversionStatus,
        note: &str,
        by: Option<UserId>,
        now: Micros,
    ) -> QueryResult<Conversion> {
        Self::change_status(conn, tenant, id, to, note, by, now).map(|(_, c)| c)
    }

    /// [`Conversion::set_status`], also giving the status the change started from, read under
    /// the row's lock: equal to the new one when nothing changed (the conversion was already
    /// there), so that callers audit exactly the changes made.
    pub fn change_status(
        conn: &mut DbConn,
        tenant: TenantId,
        id: ConversionId,
        to: ConversionStatus,
        note: &str,
        by: Option<UserId>,
        now: Micros,
    ) -> QueryResult<(ConversionStatus, Conversion)> {
        crate::write_tx(conn, |conn| {
            // Lock the row before reading anything (SQLite's write transaction holds the whole
            // database already; PostgreSQL needs the row lock): two concurrent changes then take
            // turns, each reading the status and history the other left. Read before the lock,
            // an approved → pending change committed in between let a stale "never approved"
            // fire the first-approval postback a second time.
            let found = diesel::update(
                conversions::table.filter(conversions::tenant_id.eq(tenant)).filter(conversions::id.eq(id)),
            )
            .set(conversions::updated_at.eq(conversions::updated_at))
            .execute(conn)?;
            if found == 0 {
                return Err(diesel::result::Error::NotFound);
            }
            let old = Conversion::find(conn, tenant, id)?;
            if old.status == to {
                return Ok((to, old));
            }
            let approved = ConversionStatus::Approved.as_str();
            let first_approval = to == ConversionStatus::Approved
                && !StatusChange::of_conversions(conn, tenant, &[id])?
                    .iter()
                    .any(|c| c.from_status == approved || c.to_status == approved);
            diesel::update(conversions::table.filter(conversions::tenant_id.eq(tenant)).filter(conversions::id.eq(id)))
                .set((conversions::status.eq(to), conversions::updated_at.eq(now)))
                .execute(conn)?;
            diesel::insert_into(conversion_status_changes::table)
                .values((
                    conversion_status_changes::tenant_id.eq(tenant),
                    conversion_status_changes::conversion_id.eq(id),
                    conversion_status_changes::from_status.eq(old.status.as_str()),
                    conversion_status_changes::to_status.eq(to.as_str()),
                    conversion_status_changes::note.eq(truncate(note.trim(), 2000)),
                    conversion_status_changes::changed_by.eq(by),
                    conversion_status_changes::created_at.eq(now),
                ))
                .execute(conn)?;
            let key = Key { tenant, hour: hour_of(old.created_at), offer: old.offer_id, affiliate: old.affiliate_id };
            let (from, into) = (
                Delta::conversion(old.status.as_str(), old.payout, old.revenue).negated(),
                Delta::conversion(to.as_str(), old.payout, old.revenue),
            );
            let mut inc = Increments::default();
            inc.add(key, from);
            inc.add(key, into);
            inc.apply(conn)?;
            let click = Click::by_key(conn, tenant, old.click_seq, &old.click_id)?;
            let mut subs = SubIncrements::default();
            subs.add(&click, key.hour, old.offer_id, old.affiliate_id, from);
            subs.add(&click, key.hour, old.offer_id, old.affiliate_id, into);
            subs.apply(conn)?;
            let conversion = Conversion::find(conn, tenant, id)?;
            let offer = Offer::find(conn, tenant, conversion.offer_id).map_err(|_| diesel::result::Error::NotFound)?;
            outbox::enqueue(conn, &conversion, &click, &offer, outbox::Event::StatusChanged { first_approval }, now)?;
            Ok((old.status, conversion))
        })
    }
}

/// One audited status change of a conversion.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = conversion_status_changes)]
pub struct StatusChange {
    pub id: i64,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub conversion_id: ConversionId,
    pub from_status: String,
    pub to_status: String,
    pub note: String,
    pub changed_by: Option<UserId>,
    pub created_at: Micros,
}

impl StatusChange {
    /// The audit trail of some conversions of the tenant, oldest first.
    pub fn of_conversions(conn: &mut DbConn, tenant: TenantId, ids: &[ConversionId]) -> QueryResult<Vec<StatusChange>> {
        conversion_status_changes::table
            .filter(conversion_status_changes::tenant_id.eq(tenant))
            .filter(conversion_status_changes::conversion_id.eq_any(ids.to_vec()))
            .order(conversion_status_changes::id.asc())
            .select(StatusChange::as_select())
            .load(conn)
    }
}

impl Attempt {
    /// Every call naming `transaction_id` that reached this tenant's click, oldest first.
    pub fn for_transaction(conn: &mut DbConn, tenant: TenantId, transaction_id: &str) -> QueryResult<Vec<Attempt>> {
        conversion_attempts::table
            .filter(conversion_attempts::tenant_id.eq(tenant))
            .filter(conversion_attempts::transaction_id.eq(transaction_id))
            .order(conversion_attempts::id.asc())
            .select(Attempt::as_select())
            .load(conn)
    }
}

/// Processes `calls` in one transaction (one savepoint each), with one memo and one rollup
/// write for the batch.
fn write_calls(conn: &mut DbConn, calls: &[ConversionRequest]) -> QueryResult<Vec<Outcome>> {
    // PostgreSQL aborts one of two transactions that wait for each other (two batches naming the
    // same clicks in another order): the batch is written again, as a whole, before its calls
    // are tried one by one.
    let mut tries = 0;
    loop {
        match write_batch(conn, calls) {
            Err(e) if tries < 3 && is_deadlock(&e) => {
                tries += 1;
                tracing::warn!(
                    batch = calls.len(),
                    tries,
                    "conversion batch was a deadlock's victim; writing it again"
                );
            }
            other => return other,
        }
    }
}

fn is_deadlock(e: &diesel::result::Error) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(kind, info)
        if matches!(kind, diesel::result::DatabaseErrorKind::SerializationFailure)
            || info.message().contains("deadlock detected"))
}

/// PostgreSQL: locks the capped offers a batch's calls convert on, in id order, before the first
/// call is processed. Each call takes its offer's lock again (a no-op then); taken call by call
/// in arrival order, two batches naming two capped offers in opposite orders waited for each
/// other until PostgreSQL aborted one (measured: 503s after 14 s under 100 concurrent calls).
/// The clicks looked up here are kept in `memo`: each call's own lookup then costs nothing.
fn lock_capped_offers(conn: &mut DbConn, calls: &[ConversionRequest], memo: &mut Memo) -> QueryResult<()> {
    use affnet_db::schema::offers;
    let DbConn::Pg(_) = conn else { return Ok(()) };
    let mut ids = Vec::new();
    for req in calls {
        let raw = req.param("transaction_id").unwrap_or("").to_ascii_lowercase();
        if let Ok(tid) = TransactionId::parse(&raw) {
            if memo.clicks.contains_key(&tid) {
                continue;
            }
            let click = Click::find(conn, tid)?;
            ids.extend(click.as_ref().map(|c| c.offer_id));
            memo.clicks.insert(tid, click);
        }
    }
    ids.sort_unstable();
    ids.dedup();
    if ids.len() < 2 {
        return Ok(());
    }
    let DbConn::Pg(c) = conn else { return Ok(()) };
    offers::table
        .filter(offers::id.eq_any(ids))
        .filter(offers::daily_cap.is_not_null().or(offers::total_cap.is_not_null()))
        .order(offers::id.asc())
        .select(offers::id)
        .for_update()
        .execute(c)
        .map(|_| ())
}

fn write_batch(conn: &mut DbConn, calls: &[ConversionRequest]) -> QueryResult<Vec<Outcome>> {
    crate::write_tx(conn, |c| {
        let mut memo = Memo::default();
        lock_capped_offers(c, calls, &mut memo)?;
        let outcomes = calls.iter().map(|req| process(c, req, &mut memo)).collect::<QueryResult<Vec<_>>>()?;
        memo.increments.apply(c)?;
        memo.sub_increments.apply(c)?;
        Ok(outcomes)
    })
}

/// How many of the calls that named no network (no click of ours, no offer with its token:
/// stored with no tenant, shown on no page) the calls log keeps: anyone can make them, and
/// each was kept for ever.
pub const UNOWNED_CALLS_KEPT: i64 = 100_000;

/// How many calls a writer takes between two prunings of the calls that named no network.
const PRUNE_EVERY: usize = 10_000;

/// Deletes the calls that named no network older than the newest `keep` (at least one is kept;
/// calls of the same microsecond as the oldest kept stay too). Returns how many.
pub fn prune_unowned_calls(conn: &mut DbConn, keep: i64) -> QueryResult<usize> {
    // The oldest call kept is the `keep`-th newest.
    let keep = keep.max(1) - 1;
    let sql = "DELETE FROM conversion_attempts WHERE tenant_id IS NULL AND created_at < (\
               SELECT created_at FROM conversion_attempts WHERE tenant_id IS NULL \
               ORDER BY created_at DESC LIMIT 1 OFFSET $1)";
    match conn {
        DbConn::Pg(c) => diesel::sql_query(sql).bind::<diesel::sql_types::BigInt, _>(keep).execute(c),
        DbConn::Sqlite(c) => {
            diesel::sql_query(sql.replace("$1", "?")).bind::<diesel::sql_types::BigInt, _>(keep).execute(c)
        }
    }
}

/// Owns one connection; processes each batch of calls in one transaction (each call in its own
/// savepoint), commits, then answers.
pub struct ConversionWriter {
    db: crate::WriterConn,
    /// Calls taken since the calls that named no network were last pruned.
    since_pruned: usize,
}

impl ConversionWriter {
    pub fn new(db: crate::WriterConn) -> Self {
        Self { db, since_pruned: 0 }
    }

    fn prune_now_and_then(&mut self, calls: usize) {
        self.since_pruned += calls;
        if self.since_pruned < PRUNE_EVERY {
            return;
        }
        self.since_pruned = 0;
        match prune_unowned_calls(&mut self.db.conn, UNOWNED_CALLS_KEPT) {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(deleted = n, kept = UNOWNED_CALLS_KEPT, "pruned conversion calls that named no network")
            }
            Err(e) => tracing::warn!(error = %e, "cannot prune the conversion calls that named no network"),
        }
    }
}

impl BatchWriter for ConversionWriter {
    type Job = ConversionRequest;
    type Answer = Outcome;

    fn write(&mut self, jobs: Vec<ConversionRequest>) -> Vec<Outcome> {
        let n = jobs.len();
        self.prune_now_and_then(n);
        let result = write_calls(&mut self.db.conn, &jobs);
        if let Ok(outcomes) = &result {
            crate::metrics::conversion_batch(outcomes.len());
            for o in outcomes {
                crate::metrics::conversion(match o {
                    Outcome::Accepted { .. } => None,
                    Outcome::Refused(r) => Some(r.reason.code()),
                });
            }
        }
        match result {
            Ok(outcomes) => outcomes,
            Err(e) => {
                // One bad call must not sink its neighbours: each on its own, answering 503 only
                // to those that still fail (the advertiser retries them).
                tracing::error!(error = %e, batch = n, "conversion batch failed; retrying its calls one by one");
                self.db.heal();
                jobs.iter()
                    .map(|req| match write_calls(&mut self.db.conn, std::slice::from_ref(req)) {
                        Ok(mut one) => {
                            one.pop().unwrap_or_else(|| Outcome::Refused(diesel::result::Error::NotFound.into()))
                        }
                        Err(e) => Outcome::Refused(e.into()),
                    })
                    .collect()
            }
        }
    }
}

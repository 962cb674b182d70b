//! The JSON API under `/api/v1`: API-key authentication, tenant-scoped, role-checked, errors as
//! `{"error": code, "message": …, "fields": {…}}`.

pub mod access;
pub mod advertisers;
pub mod affiliates;
pub mod audit;
pub mod conversions;
pub mod goals;
pub mod offers;
pub mod openapi;
pub mod payout_overrides;
pub mod postbacks;
pub mod reports;
pub mod users;

use actix_web::{web, HttpResponse};
use affnet_accounts::Role;
use affnet_db::{AdvertiserId, AffiliateId, FieldErrors, Micros};
use affnet_tracking::query::decode_utf8;

use crate::auth::ApiUser;
use crate::{ApiError, AppError};

/// The largest body the API (and a page's form) reads: 256 KiB.
pub const BODY_LIMIT: usize = 256 * 1024;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().limit(BODY_LIMIT).error_handler(|err, _| {
        use actix_web::error::JsonPayloadError;
        match err {
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                ApiError(AppError::TooLarge(format!("the body is larger than {} KiB", BODY_LIMIT / 1024))).into()
            }
            // actix says "Content type error".
            JsonPayloadError::ContentType => ApiError(AppError::BadRequest(
                "the JSON body could not be read: send it with Content-Type: application/json".into(),
            ))
            .into(),
            err => ApiError(AppError::BadRequest(format!("the JSON body could not be read: {err}"))).into(),
        }
    }))
    .app_data(web::QueryConfig::default().error_handler(|err, _| {
        ApiError(AppError::BadRequest(format!("the query string could not be read: {err}"))).into()
    }))
    .app_data(web::PathConfig::default().error_handler(|_, _| ApiError(AppError::NotFound).into()))
    .route("/me", web::get().to(users::me))
    .route("/users", web::get().to(users::list))
    .route("/users", web::post().to(users::create))
    .route("/users/{id}", web::get().to(users::get))
    .route("/openapi.json", web::get().to(openapi::document))
    .route("/audit", web::get().to(audit::list))
    .route("/reports", web::get().to(reports::get))
    .route("/advertisers", web::get().to(advertisers::list))
    .route("/advertisers", web::post().to(advertisers::create))
    .route("/advertisers/{id}", web::get().to(advertisers::get))
    .route("/advertisers/{id}", web::put().to(advertisers::update))
    .route("/advertisers/{id}", web::patch().to(advertisers::patch))
    .route("/affiliates", web::get().to(affiliates::list))
    .route("/affiliates", web::post().to(affiliates::create))
    .route("/affiliates/{id}", web::get().to(affiliates::get))
    .route("/affiliates/{id}", web::put().to(affiliates::update))
    .route("/affiliates/{id}", web::patch().to(affiliates::patch))
    .route("/affiliates/{id}/status", web::post().to(affiliates::set_status))
    .route("/offers", web::get().to(offers::list))
    .route("/offers", web::post().to(offers::create))
    .route("/offers/{id}", web::get().to(offers::get))
    .route("/offers/{id}", web::put().to(offers::update))
    .route("/offers/{id}", web::patch().to(offers::patch))
    .route("/offers/{id}/rotate-token", web::post().to(offers::rotate_token))
    .route("/offers/{id}/goals", web::get().to(goals::list))
    .route("/offers/{id}/goals", web::post().to(goals::create))
    .route("/offers/{id}/apply", web::post().to(access::apply))
    .route("/goals/{id}", web::get().to(goals::get))
    .route("/goals/{id}", web::put().to(goals::update))
    .route("/goals/{id}", web::patch().to(goals::patch))
    .route("/offer-access", web::get().to(access::list))
    .route("/offer-access/decide", web::post().to(access::decide))
    .route("/payout-overrides", web::get().to(payout_overrides::list))
    .route("/payout-overrides", web::post().to(payout_overrides::set))
    .route("/payout-overrides/{id}", web::delete().to(payout_overrides::delete))
    .route("/postbacks", web::get().to(postbacks::list))
    .route("/postbacks", web::post().to(postbacks::create))
    .route("/postbacks/{id}", web::get().to(postbacks::get))
    .route("/postbacks/{id}", web::put().to(postbacks::update))
    .route("/postbacks/{id}", web::patch().to(postbacks::patch))
    .route("/postbacks/{id}", web::delete().to(postbacks::delete))
    .route("/postbacks/{id}/test", web::post().to(postbacks::test_fire))
    .route("/postback-jobs", web::get().to(postbacks::jobs))
    .route("/postback-jobs/{id}/refire", web::post().to(postbacks::refire))
    .route("/conversions", web::get().to(conversions::list))
    .route("/conversions/{id}", web::get().to(conversions::get))
    .route("/conversions/{id}/status", web::post().to(conversions::set_status))
    .route("/clicks", web::get().to(conversions::clicks))
    .route("/trace/{transaction_id}", web::get().to(conversions::trace))
    .route("/conversion-calls", web::get().to(conversions::calls))
    .default_service(web::to(not_found));
}

/// A JSON body whose error waits for the handler: the handler checks the caller's role first
/// (`403`), then reads the body ([`ApiBody::read`]: `400` when it cannot be read, `413` when it
/// is too large), so the answer never depends on which of the two an extractor finished first.
pub struct ApiBody<T>(Result<T, ApiError>);

impl<T> ApiBody<T> {
    /// The body, or the error that reading it gave.
    pub fn read(self) -> Result<T, ApiError> {
        self.0
    }
}

/// What a `PUT` or a `PATCH` saves: the whole input, or the fields a `PATCH` names, merged
/// ([`merge_patch`]) over the row as it is inside the change's transaction ([`locked_change`]).
pub enum Edit<I> {
    Whole(I),
    Patch(PatchBody),
}

impl<I: serde::de::DeserializeOwned> Edit<I> {
    /// The input to save over `current` (the resource as staff read it; `input` names the
    /// OpenAPI input schema).
    pub fn input(self, current: impl serde::Serialize, input: &str) -> Result<I, AppError> {
        match self {
            Edit::Whole(i) => Ok(i),
            Edit::Patch(patch) => merge_patch(current, input, patch).map_err(|e| e.0),
        }
    }
}

/// Runs a change of the tenant's row `id` of `table` in one write transaction, with the row
/// locked (PostgreSQL; SQLite's write lock holds every writer), so that what the change reads
/// (a `PATCH`'s base, the audit's "before") is what it changes: two `PATCH`es of one offer at
/// once each keep the other's fields (the base was read before the transaction, and one undid
/// the other).
pub fn locked_change<T>(
    c: &mut affnet_db::DbConn,
    table: &'static str,
    tenant: affnet_db::TenantId,
    id: i64,
    change: impl FnOnce(&mut affnet_db::DbConn) -> Result<T, AppError>,
) -> Result<T, AppError> {
    use diesel::RunQueryDsl;
    affnet_db::write_tx(c, |c| {
        if let affnet_db::DbConn::Pg(pg) = c {
            diesel::sql_query(format!("SELECT id FROM {table} WHERE tenant_id = $1 AND id = $2 FOR UPDATE"))
                .bind::<diesel::sql_types::BigInt, _>(tenant.0)
                .bind::<diesel::sql_types::BigInt, _>(id)
                .execute(pg)?;
        }
        change(c)
    })
}

/// A `PATCH` body merged over the resource: `current` is the resource as staff read it, of which
/// the fields of the OpenAPI input schema `input` are kept; the patch's fields replace them, and
/// the result is read as the `PUT` body would be. So a `PATCH` changes only what it names
/// (HasOffers' updates work this way), where a `PUT` replaces the whole resource. A field the
/// input does not have is refused like in a `PUT` (400); invalid values are a 422.
pub fn merge_patch<T: serde::de::DeserializeOwned>(
    current: impl serde::Serialize,
    input: &str,
    patch: PatchBody,
) -> Result<T, ApiError> {
    let serde_json::Value::Object(patch) = patch.0 else {
        return Err(AppError::BadRequest("a PATCH body is a JSON object of the fields to change".into()).into());
    };
    let fields = openapi::input_fields(input);
    let current = serde_json::to_value(current).map_err(|e| AppError::Internal(e.to_string()))?;
    let mut merged = serde_json::Map::new();
    if let serde_json::Value::Object(current) = current {
        merged.extend(current.into_iter().filter(|(k, _)| fields.contains(k)));
    }
    merged.extend(patch);
    from_json(serde_json::Value::Object(merged))
}

/// A `PATCH` body: the JSON as sent, except that an object naming a field twice is refused
/// (`duplicate field`, at any depth), as in a `PUT` body; a `serde_json::Value` would keep the
/// last one.
pub struct PatchBody(serde_json::Value);

impl<'de> serde::Deserialize<'de> for PatchBody {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FieldsOnce).map(PatchBody)
    }
}

/// Reads any JSON value, refusing an object that names a field twice.
struct FieldsOnce;

impl<'de> serde::de::Visitor<'de> for FieldsOnce {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(PatchBody(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(serde_json::Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if fields.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            let PatchBody(value) = map.next_value()?;
            fields.insert(key, value);
        }
        Ok(serde_json::Value::Object(fields))
    }
}

/// Reads a JSON body as `T`. A known field of the wrong type or missing is a `422` naming it
/// (a nested field as the validation names it: `payout.flat` is `payout_flat`), like any other
/// invalid field; a body of another shape than `T` or with an unknown field is a `400`.
pub fn from_json<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> Result<T, ApiError> {
    let object = body.is_object();
    serde_path_to_error::deserialize(body).map_err(|e| unreadable("the JSON body", object, e))
}

/// The error of reading a body or query string whose fields serde named on the way down
/// (`object`: the input is a map of fields at all).
fn unreadable<E: std::fmt::Display>(what: &str, object: bool, e: serde_path_to_error::Error<E>) -> ApiError {
    // The names of the fields down to the error; `None` when the path passes through anything
    // else (an array's element, an unnamed part).
    let named: Option<Vec<String>> = e
        .path()
        .iter()
        .map(|segment| match segment {
            serde_path_to_error::Segment::Map { key } => Some(key.clone()),
            _ => None,
        })
        .collect();
    let message = e.into_inner().to_string();
    let field = |names: &[String], last: &str| {
        names.iter().map(String::as_str).chain([last]).filter(|s| !s.is_empty()).collect::<Vec<_>>().join("_")
    };
    let invalid = match named {
        Some(names) if object && !message.starts_with("unknown field") => {
            let bare = in_words(without_position(&message));
            match bare.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
                Some(missing) => Some(FieldErrors::single(&field(&names, missing), "this field is required")),
                None if !names.is_empty() => Some(FieldErrors::single(&field(&names, ""), bare)),
                None => None,
            }
        }
        _ => None,
    };
    match invalid {
        Some(fields) => ApiError(AppError::Invalid(fields)),
        None => ApiError(AppError::BadRequest(format!("{what} could not be read: {message}"))),
    }
}

/// serde_json's message, where it speaks of the parser's workings, in words of the input: a
/// `\u` escape of half a UTF-16 pair (`"\ud800"`) is "unexpected end of hex escape" or "lone
/// leading surrogate in hex escape" to serde_json.
fn in_words(message: String) -> String {
    const HALF_A_PAIR: [&str; 2] = ["lone leading surrogate in hex escape", "unexpected end of hex escape"];
    if HALF_A_PAIR.contains(&message.as_str()) {
        "not text: a \\u escape that is half of a UTF-16 surrogate pair".to_owned()
    } else {
        message
    }
}

/// A field's message without serde_json's ` at line 1 column 460` (the field names where).
fn without_position(message: &str) -> String {
    match message.rsplit_once(" at line ") {
        Some((text, at)) if at.split(" column ").all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) => {
            text.to_owned()
        }
        _ => message.to_owned(),
    }
}

/// A query string whose error waits for the handler, like [`ApiBody`]: the handler checks the
/// caller's role, then reads it ([`ApiQuery::read`]). A parameter of the wrong form
/// (`offer_id=abc`, `page=x`) is a `422` naming it, as a value out of range is.
pub struct ApiQuery<T>(Result<T, ApiError>);

impl<T> ApiQuery<T> {
    /// The parameters, or the error that reading them gave.
    pub fn read(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T: serde::de::DeserializeOwned> actix_web::FromRequest for ApiQuery<T> {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let raw = req.query_string();
        // The parser replaces bytes that are not UTF-8 (`%FF`, a Latin-1 `%E9`) with U+FFFD:
        // refused instead, as the tracking endpoints refuse them.
        let query = if raw.split('&').flat_map(|pair| pair.splitn(2, '=')).any(|part| decode_utf8(part).is_none()) {
            Err(ApiError(AppError::BadRequest(
                "the query string could not be read: a parameter is not UTF-8 text (percent-encode the UTF-8 bytes of text)"
                    .to_owned(),
            )))
        } else {
            let pairs = serde_urlencoded::Deserializer::new(form_urlencoded::parse(raw.as_bytes()));
            serde_path_to_error::deserialize(pairs).map_err(|e| unreadable("the query string", true, e))
        };
        std::future::ready(Ok(ApiQuery(query)))
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for ApiBody<T> {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        // Read as text first (syntax, size and content type checked), then as `T` straight from
        // it: a field named twice is refused (`duplicate field`), where a `Value` would keep
        // the last one.
        // A body the NUL guard refused (too large, a NUL character) is refused here, after the
        // key and the role.
        if let Some(refused) = actix_web::HttpMessage::extensions(req).get::<crate::nul_guard::RefusedBody>() {
            let refused = ApiError(refused.error());
            return Box::pin(std::future::ready(Ok(ApiBody(Err(refused)))));
        }
        let json = web::Json::<Box<serde_json::value::RawValue>>::from_request(req, payload);
        Box::pin(async move {
            let body = json.await.map(web::Json::into_inner).map_err(|e| {
                let message = e.to_string();
                if e.as_response_error().status_code() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError(AppError::TooLarge(message))
                } else {
                    ApiError(AppError::BadRequest(message))
                }
            });
            Ok(ApiBody(body.and_then(|raw| {
                let text = raw.get();
                // serde reads a struct from an array of its fields in order too (`[1]` was a
                // test-fire's `conversion_id`): a body is an object of named fields.
                if !text.trim_start().starts_with('{') {
                    return Err(ApiError(AppError::BadRequest("the JSON body is an object of named fields".into())));
                }
                serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(text))
                    .map_err(|e| unreadable("the JSON body", true, e))
            })))
        })
    }
}

/// A JSON body that may be left out (no body at all: `None`); a body that is there is read as
/// [`ApiBody`] reads one, with the same errors (an object of known fields, `422` for a wrong
/// value, `400` for anything else, `413`, NUL).
pub struct OptionalApiBody<T>(Result<Option<T>, ApiError>);

impl<T> OptionalApiBody<T> {
    /// The body, `None` when there was none, or the error that reading it gave.
    pub fn read(self) -> Result<Option<T>, ApiError> {
        self.0
    }
}

impl<T: serde::de::DeserializeOwned + 'static> actix_web::FromRequest for OptionalApiBody<T> {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        use actix_web::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
        let headers = req.headers();
        let length = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).map(str::trim);
        let absent = match length {
            Some(n) => n == "0",
            None => !headers.contains_key(TRANSFER_ENCODING),
        };
        let refused = actix_web::HttpMessage::extensions(req).contains::<crate::nul_guard::RefusedBody>();
        if absent && !refused {
            return Box::pin(std::future::ready(Ok(OptionalApiBody(Ok(None)))));
        }
        let body = ApiBody::<T>::from_request(req, payload);
        Box::pin(async move { Ok(OptionalApiBody(body.await?.read().map(Some))) })
    }
}

/// No route matched: `405` with `Allow` when the path is the API's with another method (the
/// OpenAPI document's paths decide), `404` otherwise.
async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    let path = req.path().strip_prefix("/api/v1").unwrap_or(req.path());
    let allowed = openapi::allowed_methods(path);
    if allowed.is_empty() || allowed.iter().any(|m| m == req.method().as_str()) {
        return Err(AppError::NotFound.into());
    }
    let allow = allowed.join(", ");
    let body = serde_json::json!({
        "error": "method_not_allowed",
        "message": format!("{} is not answered here: use {allow}", req.method()),
    });
    Ok(HttpResponse::MethodNotAllowed().insert_header((actix_web::http::header::ALLOW, allow)).json(body))
}

/// `?page=1&per_page=50` (1-based; at most 200 per page).
#[derive(Debug, serde::Deserialize)]
pub struct Pagination {
    pub page: Option<i64>,
    pub per_page: Option<i64>,
}

impl Pagination {
    /// (limit, offset, page); a page below 1 or a page size outside 1..=200 is a 422 on that
    /// parameter.
    pub fn limit_offset(&self) -> Result<(i64, i64, i64), ApiError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(50);
        let mut e = FieldErrors::default();
        if page < 1 {
            e.add("page", "pages start at 1");
        }
        if !(1..=200).contains(&per_page) {
            e.add("per_page", "a page holds 1 to 200 rows");
        }
        e.into_result().map_err(|e| ApiError(AppError::Invalid(e)))?;
        Ok((per_page, (page - 1).saturating_mul(per_page), page))
    }
}

/// For a whole-number query parameter: absent or blank (`?page=`, as a form sends an empty
/// field) is `None`; anything else must be a whole number (else the query is unreadable: 400).
pub fn blank_is_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::Deserialize;
    match Option::<String>::deserialize(d)?.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| serde::de::Error::custom(format!("{v:?} is not a whole number"))),
    }
}

/// One page of a list.
#[derive(serde::Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

/// Who is reading the catalogue, which decides what they may see of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// Network admins and managers: everything of their network.
    Staff,
    /// A user of an affiliate company: what that company may run or apply to.
    Affiliate(AffiliateId),
    /// A user of an advertiser company: that company's offers, read-only.
    Advertiser(AdvertiserId),
}

impl Viewer {
    /// The viewer behind an API key; a company user not linked to a company sees nothing (403).
    pub fn of(me: &ApiUser) -> Result<Viewer, ApiError> {
        match me.user.role {
            Role::Admin | Role::Manager => Ok(Viewer::Staff),
            Role::Affiliate => me.user.affiliate_id.map(Viewer::Affiliate).ok_or(ApiError(AppError::Forbidden)),
            Role::Advertiser => me.user.advertiser_id.map(Viewer::Advertiser).ok_or(ApiError(AppError::Forbidden)),
        }
    }
}

/// Refuses (403) anyone but network admins and managers.
pub fn require_staff(me: &ApiUser) -> Result<(), ApiError> {
    me.require(&[Role::Admin, Role::Manager])
}

/// Parses an optional query parameter naming one of an enum's words; a wrong word is a 422 on
/// that parameter.
pub fn parse_param<T: std::str::FromStr<Err = String>>(
    value: Option<&str>,
    field: &str,
) -> Result<Option<T>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|m| ApiError(AppError::Invalid(FieldErrors::single(field, m)))),
    }
}

/// Parses an optional id query parameter; anything but a positive integer is a 422 on it.
pub fn parse_id(value: Option<&str>, field: &str) -> Result<Option<i64>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => match v.parse::<i64>() {
            Ok(id) if id > 0 => Ok(Some(id)),
            _ => Err(ApiError(AppError::Invalid(FieldErrors::single(field, format!("'{v}' is not an id"))))),
        },
    }
}

/// Parses an optional transaction id (a click's: 32 hexadecimal characters, any case), as
/// stored (lower case).
pub fn parse_transaction_id(value: Option<&str>, field: &str) -> Result<Option<String>, ApiError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => match affnet_tracking::transaction_id::TransactionId::parse(v) {
            Ok(t) => Ok(Some(t.to_hex())),
            Err(_) => {
                let message = format!("'{v}' is not a transaction id (32 hexadecimal characters)");
                Err(ApiError(AppError::Invalid(FieldErrors::single(field, message))))
            }
        },
    }
}

/// Parses an optional time bound: RFC 3339 (`2024-05-01T12:00:00Z`), or a date `YYYY-MM-DD`
/// meaning that day's start in UTC, or, when `day_end`, the next day's start (so that `to` by
/// date includes the whole day). Anything else is a 422 on the parameter.
pub fn parse_time(value: Option<&str>, field: &str, day_end: bool) -> Result<Option<Micros>, ApiError> {
    use time::format_description::well_known::Rfc3339;
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let invalid =
        || ApiError(AppError::Invalid(FieldErrors::single(field, "use an RFC 3339 time or a date (YYYY-MM-DD)")));
    let nanos = if let Ok(t) = time::OffsetDateTime::parse(v, &Rfc3339) {
        t.unix_timestamp_nanos()
    } else {
        let date =
            time::Date::parse(v, time::macros::format_description!("[year]-[month]-[day]")).map_err(|_| invalid())?;
        let date = if day_end { date.next_day().ok_or_else(invalid)? } else { date };
        date.midnight().assume_utc().unix_timestamp_nanos()
    };
    i64::try_from(nanos / 1000).map(|m| Some(Micros(m))).map_err(|_| invalid())
}

/// The time, offer, affiliate, advertiser, sub and paging parameters shared by the tracking
/// lists (clicks, conversions, the delivery log). A parameter no list takes is a `400`, and one
/// the list at hand does not take too ([`ListingQuery::refuse`]): `transaction=` for
/// `transaction_id=` listed everything, as if filtered.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListingQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub offer_id: Option<String>,
    pub affiliate_id: Option<String>,
    pub advertiser_id: Option<String>,
    pub status: Option<String>,
    pub state: Option<String>,
    pub sub: Option<String>,
    pub transaction_id: Option<String>,
    pub conversion_id: Option<String>,
    pub adv_sub: Option<String>,
    #[serde(default, deserialize_with = "blank_is_none")]
    pub page: Option<i64>,
    #[serde(default, deserialize_with = "blank_is_none")]
    pub per_page: Option<i64>,
}

impl ListingQuery {
    /// The domain filter (without status), every parameter checked.
    pub fn filter(&self) -> Result<affnet_tracking::listing::Filter, ApiError> {
        let from = parse_time(self.from.as_deref(), "from", false)?;
        let to = parse_time(self.to.as_deref(), "to", true)?;
        if let (Some(from), Some(to)) = (from, to) {
            if to < from {
                // Swapped dates would list nothing, as if nothing had happened.
                let message = "the end comes before the start";
                return Err(ApiError(AppError::Invalid(FieldErrors::single("to", message))));
            }
        }
        Ok(affnet_tracking::listing::Filter {
            from,
            to,
            offer: parse_id(self.offer_id.as_deref(), "offer_id")?.map(affnet_db::OfferId),
            affiliate: parse_id(self.affiliate_id.as_deref(), "affiliate_id")?.map(AffiliateId),
            advertiser: parse_id(self.advertiser_id.as_deref(), "advertiser_id")?.map(AdvertiserId),
            status: None,
            sub: self.sub.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned),
            transaction: parse_transaction_id(self.transaction_id.as_deref(), "transaction_id")?,
            conversion: parse_id(self.conversion_id.as_deref(), "conversion_id")?.map(affnet_db::ConversionId),
            adv_sub: self.adv_sub.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned),
        })
    }

    /// A `400` when any of `names` is given: parameters of the other lists, which this one
    /// would ignore.
    pub fn refuse(&self, list: &str, names: &[&str]) -> Result<(), ApiError> {
        let given = |name: &str| match name {
            "status" => self.status.is_some(),
            "state" => self.state.is_some(),
            "sub" => self.sub.is_some(),
            "advertiser_id" => self.advertiser_id.is_some(),
            "conversion_id" => self.conversion_id.is_some(),
            "adv_sub" => self.adv_sub.is_some(),
            _ => false,
        };
        match names.iter().find(|n| given(n)) {
            Some(name) => Err(ApiError(AppError::BadRequest(format!(
                "the query string could not be read: {list} take no `{name}` parameter"
            )))),
            None => Ok(()),
        }
    }

    pub fn limit_offset(&self) -> Result<(i64, i64, i64), ApiError> {
        Pagination { page: self.page, per_page: self.per_page }.limit_offset()
    }
}

/// Staff (`None`: every affiliate) or an affiliate user (`Some`: only its own); advertiser users
/// are refused (403).
pub fn staff_or_affiliate(me: &ApiUser) -> Result<Option<AffiliateId>, ApiError> {
    match Viewer::of(me)? {
        Viewer::Staff => Ok(None),
        Viewer::Affiliate(a) => Ok(Some(a)),
        Viewer::Advertiser(_) => Err(AppError::Forbidden.into()),
    }
}

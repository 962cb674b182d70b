//! `GET /api/v1/openapi.json`: the OpenAPI 3.0 description of `/api/v1`, written by hand (the
//! integration tests check that every documented route is served and that the documented
//! required fields are the ones the server insists on). Enum values come from the domain types,
//! so they cannot drift.

use actix_web::HttpResponse;
use affnet_accounts::audit::Entity;
use affnet_accounts::Role;
use affnet_offers::{
    AccessStatus, AdvertiserStatus, AffiliateStatus, CapUnit, ConversionStatus, GoalStatus, OfferStatus, OverCap,
    PayoutType, Visibility,
};
use affnet_tracking::listing::JOB_STATES;
use affnet_tracking::postback::{CONTENT_TYPES, METHODS as POSTBACK_METHODS};
use affnet_tracking::reports::{self, GroupBy};
use serde_json::{json, Map, Value};

/// `GET /api/v1/openapi.json` (no key needed).
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().json(spec())
}

/// The property names of the input schema `name` (`OfferInput`…): what a `PATCH` may name.
pub fn input_fields(name: &str) -> Vec<String> {
    schemas()[name]["properties"].as_object().map(|p| p.keys().cloned().collect()).unwrap_or_default()
}

/// The methods the API answers on `path` (relative to `/api/v1`, e.g. `/offers/7/goals`), read
/// from this document's paths (`{id}` matches one segment); empty when no documented path
/// matches. Gives a `405` its `Allow` header.
pub fn allowed_methods(path: &str) -> Vec<String> {
    static PATHS: std::sync::OnceLock<Vec<(Vec<String>, Vec<String>)>> = std::sync::OnceLock::new();
    let paths = PATHS.get_or_init(|| {
        spec()["paths"]
            .as_object()
            .map(|ps| {
                ps.iter()
                    .map(|(template, ops)| {
                        let segments = template.trim_matches('/').split('/').map(str::to_owned).collect();
                        let methods = ops
                            .as_object()
                            .map(|o| {
                                o.keys()
                                    .filter(|m| ["get", "put", "post", "delete", "patch"].contains(&m.as_str()))
                                    .map(|m| m.to_ascii_uppercase())
                                    .collect()
                            })
                            .unwrap_or_default();
                        (segments, methods)
                    })
                    .collect()
            })
            .unwrap_or_default()
    });
    let Some(asked) = path.strip_prefix('/') else { return Vec::new() };
    let asked: Vec<&str> = asked.split('/').collect();
    let mut allowed: Vec<String> = paths
        .iter()
        .filter(|(segments, _)| {
            segments.len() == asked.len()
                && segments.iter().zip(&asked).all(|(t, a)| t.starts_with('{') && !a.is_empty() || t == a)
        })
        .flat_map(|(_, methods)| methods.iter().cloned())
        .collect();
    allowed.sort();
    allowed.dedup();
    allowed
}

fn words<T: Copy>(all: &[T], f: impl Fn(T) -> &'static str) -> Value {
    Value::from(all.iter().map(|v| f(*v)).collect::<Vec<_>>())
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn enum_of(values: Value) -> Value {
    json!({ "type": "string", "enum": values })
}

fn id() -> Value {
    json!({ "type": "integer", "format": "int64" })
}

fn nullable_id() -> Value {
    json!({ "type": "integer", "format": "int64", "nullable": true })
}

fn integer() -> Value {
    json!({ "type": "integer", "format": "int64" })
}

fn boolean() -> Value {
    json!({ "type": "boolean" })
}

fn timestamp() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

fn nullable_timestamp() -> Value {
    json!({ "type": "string", "format": "date-time", "nullable": true })
}

/// An object schema; `required` lists the properties that must be present.
fn object(properties: Value, required: &[&str]) -> Value {
    let mut o = json!({ "type": "object", "properties": properties });
    if !required.is_empty() {
        o["required"] = Value::from(required.to_vec());
    }
    o
}

/// A request body schema: like [`object`], refusing unknown properties.
fn input(properties: Value, required: &[&str]) -> Value {
    let mut o = object(properties, required);
    o["additionalProperties"] = Value::Bool(false);
    o
}

/// A paginated list of `item`.
fn page_of(item: Value) -> Value {
    object(
        json!({
            "data": { "type": "array", "items": item },
            "page": integer(),
            "per_page": integer(),
            "total": { "type": "integer", "format": "int64", "description": "Rows matching the filters, all pages." },
        }),
        &["data", "page", "per_page", "total"],
    )
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": json_content(schema) })
}

fn body(schema_name: &str) -> Value {
    json!({ "required": true, "content": json_content(schema(schema_name)) })
}

fn path_id(what: &str) -> Value {
    json!({ "name": "id", "in": "path", "required": true, "description": format!("The {what} id."), "schema": id() })
}

fn query(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

fn paging() -> Vec<Value> {
    vec![
        query("page", "1-based page number (default 1).", json!({ "type": "integer", "minimum": 1 })),
        query(
            "per_page",
            "Rows per page, 1 to 200 (default 50).",
            json!({ "type": "integer", "minimum": 1, "maximum": 200 }),
        ),
    ]
}

/// One operation. `errors` are the error statuses it may answer, described once under
/// `components/responses`.
fn op(
    tag: &str,
    summary: &str,
    params: Vec<Value>,
    request: Option<Value>,
    responses: &[(&str, Value)],
    errors: &[&str],
) -> Value {
    let mut r = Map::new();
    for (status, response) in responses {
        r.insert((*status).to_owned(), response.clone());
    }
    r.insert("401".to_owned(), json!({ "$ref": "#/components/responses/Unauthorized" }));
    // Any request may hold unreadable text (a NUL character, `%00`), a body may be too large,
    // and a page number out of range is an invalid value.
    let mut errors = errors.to_vec();
    errors.push("400");
    if request.is_some() {
        // A field of the wrong type or left out is an invalid field.
        errors.extend(["413", "422"]);
    }
    if params.iter().any(|p| p["name"] == "page") {
        errors.push("422");
    }
    for e in errors {
        let name = match e {
            "400" => "BadRequest",
            "413" => "PayloadTooLarge",
            "403" => "Forbidden",
            "404" => "NotFound",
            _ => "ValidationFailed",
        };
        r.insert(e.to_owned(), json!({ "$ref": format!("#/components/responses/{name}") }));
    }
    let mut o = json!({ "tags": [tag], "summary": summary, "responses": r });
    if !params.is_empty() {
        o["parameters"] = Value::from(params);
    }
    if let Some(b) = request {
        o["requestBody"] = b;
    }
    o
}

fn schemas() -> Value {
    let rate = object(
        json!({
            "type": enum_of(words(PayoutType::ALL, PayoutType::as_str)),
            "flat": { "type": "integer", "format": "int64", "minimum": 0, "maximum": 100_000_000,
                      "description": "Flat part in minor units of the offer's currency (250 = 2.50); used by cpa_flat and cpa_both." },
            "bps": { "type": "integer", "format": "int64", "minimum": 0, "maximum": 10_000,
                     "description": "Percentage of the sale amount in basis points (1250 = 12.5 %); used by cpa_percent and cpa_both." },
        }),
        &["type", "flat", "bps"],
    );
    let roles = Value::from(Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>());
    let mut all = json!({
        "Error": object(json!({
            "error": { "type": "string", "description": "Stable machine-readable code.",
                       "enum": ["unauthorized", "forbidden", "not_found", "method_not_allowed", "bad_request", "payload_too_large", "validation_failed", "too_many_requests", "internal_error"] },
            "message": string(),
            "fields": { "type": "object", "additionalProperties": { "type": "string" },
                        "description": "validation_failed only: field name → what is wrong with it." },
        }), &["error", "message"]),
        "Rate": rate,
        "User": object(json!({
            "id": id(), "email": string(), "name": string(), "role": enum_of(roles.clone()),
            "status": enum_of(json!(["active", "pending", "disabled"])),
            "created_at": timestamp(), "last_login_at": nullable_timestamp(),
            "advertiser_id": nullable_id(), "affiliate_id": nullable_id(),
        }), &["id", "email", "name", "role", "status", "created_at", "last_login_at", "advertiser_id", "affiliate_id"]),
        "UserInput": input(json!({
            "email": string(), "name": string(), "role": enum_of(roles),
            "password": { "type": "string", "minLength": 10 },
            "advertiser_id": { "type": "integer", "format": "int64", "nullable": true, "description": "Required for role advertiser; refused (422) for any other role." },
            "affiliate_id": { "type": "integer", "format": "int64", "nullable": true, "description": "Required for role affiliate; refused (422) for any other role." },
        }), &["email", "role", "password"]),
        "AuditEntry": object(json!({
            "id": id(), "actor_user_id": nullable_id(),
            "actor": { "type": "string", "description": "Who, as shown when it happened (\"(API key)\" when through the API; no user for the system)." },
            "entity": enum_of(Value::from(Entity::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>())),
            "entity_id": string(), "action": string(),
            "summary": { "type": "string", "description": "What changed, in words (\"payout 2.50 USD → 3.00 USD\")." },
            "created_at": timestamp(),
        }), &["id", "actor_user_id", "actor", "entity", "entity_id", "action", "summary", "created_at"]),
        "Me": object(json!({
            "user": schema("User"),
            "network": object(json!({ "id": id(), "slug": string(), "name": string() }), &["id", "slug", "name"]),
        }), &["user", "network"]),
        "Advertiser": object(json!({
            "id": id(), "name": string(), "contact_name": string(), "contact_email": string(),
            "status": enum_of(words(AdvertiserStatus::ALL, AdvertiserStatus::as_str)),
            "notes": { "type": "string", "description": "Staff only." },
            "created_at": timestamp(), "updated_at": timestamp(),
        }), &["id", "name", "contact_name", "contact_email", "status", "created_at", "updated_at"]),
        "AdvertiserInput": input(json!({
            "name": { "type": "string", "minLength": 1, "maxLength": 200 },
            "contact_name": { "type": "string", "maxLength": 200, "default": "" },
            "contact_email": { "type": "string", "default": "", "description": "Empty, or an email address." },
            "status": { "type": "string", "enum": words(AdvertiserStatus::ALL, AdvertiserStatus::as_str), "default": "active" },
            "notes": { "type": "string", "maxLength": 5000, "default": "" },
        }), &["name"]),
        "Affiliate": object(json!({
            "id": id(), "name": string(), "contact_email": string(),
            "status": enum_of(words(AffiliateStatus::ALL, AffiliateStatus::as_str)),
            "manager_user_id": nullable_id(),
            "notes": { "type": "string", "description": "Staff only." },
            "created_at": timestamp(), "updated_at": timestamp(),
        }), &["id", "name", "contact_email", "status", "manager_user_id", "created_at", "updated_at"]),
        "AffiliateInput": input(json!({
            "name": { "type": "string", "minLength": 1, "maxLength": 200 },
            "contact_email": { "type": "string", "default": "", "description": "Empty, or an email address." },
            "status": { "type": "string", "enum": words(AffiliateStatus::ALL, AffiliateStatus::as_str), "default": "pending" },
            "manager_user_id": { "type": "integer", "format": "int64", "nullable": true, "description": "A user of role manager in this network." },
            "notes": { "type": "string", "maxLength": 5000, "default": "" },
        }), &["name"]),
        "AffiliateStatusInput": input(json!({
            "status": enum_of(words(AffiliateStatus::ALL, AffiliateStatus::as_str)),
        }), &["status"]),
        "Offer": object(json!({
            "id": id(), "advertiser_id": id(), "name": string(), "description": string(),
            "offer_url": string(), "preview_url": string(), "fallback_url": string(),
            "status": enum_of(words(OfferStatus::ALL, OfferStatus::as_str)),
            "visibility": enum_of(words(Visibility::ALL, Visibility::as_str)),
            "currency": { "type": "string", "description": "ISO 4217 code." },
            "payout": { "allOf": [schema("Rate")], "description": "What affiliates earn. Staff only (absent for advertiser users)." },
            "revenue": schema("Rate"),
            "conversion_status": enum_of(words(ConversionStatus::ALL, ConversionStatus::as_str)),
            "min_click_age_secs": integer(), "max_click_age_secs": integer(),
            "daily_cap": nullable_id(), "total_cap": nullable_id(),
            "cap_unit": enum_of(words(CapUnit::ALL, CapUnit::as_str)),
            "over_cap": enum_of(words(OverCap::ALL, OverCap::as_str)),
            "dedupe_adv_sub": boolean(), "one_per_click": boolean(), "require_token": boolean(),
            "security_token": { "type": "string", "description": "The advertiser's postback token (staff and the offer's advertiser)." },
            "ip_allowlist": { "type": "string", "description": "Addresses and CIDR ranges, one per line; empty allows any." },
            "created_at": timestamp(), "updated_at": timestamp(),
        }), &["id", "advertiser_id", "name", "description", "offer_url", "preview_url", "fallback_url", "status",
              "visibility", "currency", "revenue", "conversion_status", "min_click_age_secs", "max_click_age_secs",
              "daily_cap", "total_cap", "cap_unit", "over_cap", "dedupe_adv_sub", "one_per_click", "require_token",
              "security_token", "ip_allowlist", "created_at", "updated_at"]),
        "AffiliateOffer": object(json!({
            "id": id(), "name": string(), "description": string(), "preview_url": string(),
            "status": enum_of(words(OfferStatus::ALL, OfferStatus::as_str)),
            "visibility": enum_of(words(Visibility::ALL, Visibility::as_str)),
            "currency": string(), "payout": schema("Rate"),
            "min_click_age_secs": integer(), "max_click_age_secs": integer(),
            "daily_cap": nullable_id(), "total_cap": nullable_id(),
            "cap_unit": enum_of(words(CapUnit::ALL, CapUnit::as_str)),
            "access": { "type": "string", "nullable": true, "enum": words(AccessStatus::ALL, AccessStatus::as_str),
                        "description": "The network's decision on this affiliate's access, if any." },
            "can_run": boolean(),
            "tracking_url": { "type": "string", "nullable": true, "description": "Present when can_run." },
            "created_at": timestamp(), "updated_at": timestamp(),
        }), &["id", "name", "description", "preview_url", "status", "visibility", "currency", "payout",
              "min_click_age_secs", "max_click_age_secs", "daily_cap", "total_cap", "cap_unit", "access", "can_run",
              "tracking_url", "created_at", "updated_at"]),
        "OfferInput": input(json!({
            "advertiser_id": { "type": "integer", "format": "int64", "description": "Cannot change once the offer has clicks (422)." },
            "name": { "type": "string", "minLength": 1, "maxLength": 200 },
            "description": { "type": "string", "maxLength": 20000, "default": "" },
            "offer_url": { "type": "string", "description": "http(s) landing URL; may carry {transaction_id}, {offer_id}, {affiliate_id}, {aff_id}, {advertiser_id}, {aff_sub}..{aff_sub5}, {source}, {aff_click_id}, {ip}." },
            "preview_url": { "type": "string", "default": "" },
            "fallback_url": { "type": "string", "default": "", "description": "Where refused clicks go instead of an error page: a paused offer, an affiliate who may not run it. (Caps refuse conversions, not clicks.)" },
            "status": { "type": "string", "enum": words(OfferStatus::ALL, OfferStatus::as_str), "default": "active" },
            "visibility": { "type": "string", "enum": words(Visibility::ALL, Visibility::as_str), "default": "public" },
            "currency": { "type": "string", "default": "USD", "description": "ISO 4217 code; cannot change once the offer has conversions (422)." },
            "payout": { "allOf": [schema("Rate")], "description": "Default: cpa_flat 0." },
            "revenue": { "allOf": [schema("Rate")], "description": "Default: cpa_flat 0." },
            "conversion_status": { "type": "string", "enum": ["approved", "pending"], "default": "approved" },
            "min_click_age_secs": { "type": "integer", "format": "int64", "minimum": 0, "maximum": 31_622_400, "default": 0,
                                    "description": "Not above max_click_age_secs." },
            "max_click_age_secs": { "type": "integer", "format": "int64", "minimum": 1, "maximum": 31_622_400, "default": 2_592_000 },
            "daily_cap": { "type": "integer", "format": "int64", "minimum": 1, "nullable": true },
            "total_cap": { "type": "integer", "format": "int64", "minimum": 1, "nullable": true },
            "cap_unit": { "type": "string", "enum": words(CapUnit::ALL, CapUnit::as_str), "default": "conversions" },
            "over_cap": { "type": "string", "enum": words(OverCap::ALL, OverCap::as_str), "default": "reject" },
            "dedupe_adv_sub": { "type": "boolean", "default": true },
            "one_per_click": { "type": "boolean", "default": true },
            "require_token": { "type": "boolean", "default": true },
            "ip_allowlist": { "type": "string", "default": "", "description": "Addresses and CIDR ranges (comma, space or newline separated)." },
        }), &["advertiser_id", "name", "offer_url"]),
        "Goal": object(json!({
            "id": id(), "offer_id": id(), "name": string(),
            "status": enum_of(words(GoalStatus::ALL, GoalStatus::as_str)),
            "payout": { "allOf": [schema("Rate")], "description": "Staff and affiliates." },
            "revenue": { "allOf": [schema("Rate")], "description": "Staff and advertisers." },
            "allow_multiple": boolean(),
            "created_at": timestamp(), "updated_at": timestamp(),
        }), &["id", "offer_id", "name", "status", "allow_multiple", "created_at", "updated_at"]),
        "GoalInput": input(json!({
            "name": { "type": "string", "minLength": 1, "maxLength": 200 },
            "status": { "type": "string", "enum": words(GoalStatus::ALL, GoalStatus::as_str), "default": "active" },
            "payout": schema("Rate"),
            "revenue": { "allOf": [schema("Rate")], "description": "Default: cpa_flat 0." },
            "allow_multiple": { "type": "boolean", "default": false },
        }), &["name", "payout"]),
        "OfferAccess": object(json!({
            "id": id(), "offer_id": id(), "affiliate_id": id(),
            "status": enum_of(words(AccessStatus::ALL, AccessStatus::as_str)),
            "message": string(), "note": string(),
            "requested_at": timestamp(), "decided_at": nullable_timestamp(), "decided_by": nullable_id(),
        }), &["id", "offer_id", "affiliate_id", "status", "message", "note", "requested_at", "decided_at", "decided_by"]),
        "ApplyInput": input(json!({
            "message": { "type": "string", "maxLength": 2000, "default": "" },
        }), &[]),
        "DecisionInput": input(json!({
            "offer_id": id(),
            "affiliate_id": id(),
            "status": enum_of(json!(["approved", "rejected"])),
            "note": { "type": "string", "maxLength": 2000, "default": "", "description": "Shown to the affiliate." },
        }), &["offer_id", "affiliate_id", "status"]),
        "PayoutOverride": object(json!({
            "id": id(), "offer_id": id(), "goal_id": nullable_id(), "affiliate_id": id(),
            "payout": schema("Rate"), "created_at": timestamp(), "updated_at": timestamp(),
        }), &["id", "offer_id", "goal_id", "affiliate_id", "payout", "created_at", "updated_at"]),
        "PayoutOverrideInput": input(json!({
            "offer_id": id(),
            "affiliate_id": id(),
            "goal_id": { "type": "integer", "format": "int64", "nullable": true, "description": "A goal of the offer; empty for the whole offer." },
            "payout": schema("Rate"),
        }), &["offer_id", "affiliate_id", "payout"]),
    });
    for more in [tracking_schemas(), report_schemas()] {
        if let (Some(all), Value::Object(more)) = (all.as_object_mut(), more) {
            all.extend(more);
        }
    }
    all
}

/// The schemas of `/reports`.
fn report_schemas() -> Value {
    json!({
        "ReportRow": object(json!({
            "key": { "type": "string", "description": "The group: a day (YYYY-MM-DD), an hour (YYYY-MM-DD HH:00), a sub id, an id as text, \"\" for the base conversion in a goal report or for clicks without the sub id, or \"total\" in totals." },
            "id": { "type": "integer", "format": "int64", "description": "Groupings by offer, affiliate, advertiser or goal: the id." },
            "name": { "type": "string", "description": "Groupings by id: its name." },
            "currency": string(),
            "clicks": { "type": "integer", "format": "int64", "description": "Absent in goal reports (goals have no clicks)." },
            "conversions": { "type": "integer", "format": "int64", "description": "Goal conversions count too, so a rate over 100 is possible." },
            "conversion_rate": { "type": "number", "description": "Conversions per 100 clicks, two decimals; absent without clicks." },
            "payout": { "type": "integer", "format": "int64", "description": "Minor units. Staff and affiliates (their own payout)." },
            "revenue": { "type": "integer", "format": "int64", "description": "Minor units. Staff only." },
            "cost": { "type": "integer", "format": "int64", "description": "Minor units: what the advertiser pays. Advertisers only." },
            "profit": { "type": "integer", "format": "int64", "description": "Minor units, revenue − payout (negative for a loss). Staff only." },
        }), &["key", "currency", "conversions"]),
        "Report": object(json!({
            "group_by": enum_of(Value::from(GroupBy::ALL.iter().map(|g| g.as_str()).collect::<Vec<_>>())),
            "from": { "type": "string", "format": "date", "description": "First day, in the network's time zone." },
            "to": { "type": "string", "format": "date", "description": "Last day, included." },
            "timezone": { "type": "string", "description": "As the pages label it: UTC, UTC+02:00, or an IANA name such as Europe/Berlin." },
            "truncated": { "type": "boolean", "description": "A report reading raw rows (goals, recent sub ids) stopped at 100,000 of them: its numbers are short." },
            "data": { "type": "array", "items": schema("ReportRow") },
            "totals": { "type": "array", "items": schema("ReportRow"), "description": "One per currency: amounts are never added across currencies." },
        }), &["group_by", "from", "to", "timezone", "truncated", "data", "totals"]),
    })
}

/// The schemas of postbacks, the delivery log, conversions, clicks and the tracer.
fn tracking_schemas() -> Value {
    json!({
        "Postback": object(json!({
            "id": id(), "affiliate_id": id(), "offer_id": nullable_id(), "goal_id": nullable_id(),
            "url": string(), "method": enum_of(Value::from(POSTBACK_METHODS.to_vec())), "body": string(),
            "content_type": enum_of(Value::from(CONTENT_TYPES.to_vec())),
            "on_approved": boolean(), "on_pending": boolean(), "on_rejected": boolean(), "on_status_change": boolean(),
            "enabled": boolean(), "created_at": timestamp(), "updated_at": timestamp(),
        }), &["id", "affiliate_id", "offer_id", "goal_id", "url", "method", "body", "content_type", "on_approved",
              "on_pending", "on_rejected", "on_status_change", "enabled", "created_at", "updated_at"]),
        "PostbackInput": input(json!({
            "affiliate_id": { "type": "integer", "format": "int64", "nullable": true,
                              "description": "Staff creating a postback: required (422 when missing). Affiliate users: their own, so leave it out (another affiliate's id is a 422). Ignored on update (a postback keeps its affiliate)." },
            "offer_id": { "type": "integer", "format": "int64", "nullable": true, "description": "Empty for a global postback (all offers)." },
            "goal_id": { "type": "integer", "format": "int64", "nullable": true, "description": "A goal of the offer; empty for every goal and the base conversion." },
            "url": { "type": "string", "maxLength": 4096, "description": "http(s) URL (no scheme: http, as in the networks' guides) with macros {transaction_id}, {aff_click_id}, {offer_id}, {offer_name}, {affiliate_id} (alias {aff_id}), {aff_sub} (alias {aff_sub1})..{aff_sub5}, {source}, {payout}, {amount}, {sale_amount}, {currency}, {goal_id}, {conversion_id}, {status}, {adv_sub}, {ip}, {datetime}, {unix_timestamp}; an unknown macro is a 422 naming it." },
            "method": { "type": "string", "enum": POSTBACK_METHODS, "default": "GET" },
            "body": { "type": "string", "maxLength": 16384, "default": "", "description": "POST only: a body template with the same macros." },
            "content_type": { "type": "string", "enum": CONTENT_TYPES, "default": CONTENT_TYPES[0] },
            "on_approved": { "type": "boolean", "default": true },
            "on_pending": { "type": "boolean", "default": false },
            "on_rejected": { "type": "boolean", "default": false },
            "on_status_change": { "type": "boolean", "default": false, "description": "Fire on every later status change of the conversion (a pending conversion's first approval fires the postbacks that fire for approved conversions in any case)." },
            "enabled": { "type": "boolean", "default": true },
        }), &["url"]),
        "TestFireInput": input(json!({
            "conversion_id": { "type": "integer", "format": "int64", "nullable": true,
                               "description": "A conversion of the postback's affiliate to fill the macros from; a made-up sample when absent." },
        }), &[]),
        "AttemptResult": object(json!({
            "status_code": { "type": "integer", "nullable": true, "description": "Absent when no answer came (refused, timed out)." },
            "latency_ms": integer(), "response_excerpt": { "type": "string", "description": "The first KiB of the answer." },
            "error": { "type": "string", "description": "Empty when delivered (2xx)." },
        }), &["status_code", "latency_ms", "response_excerpt", "error"]),
        "TestFire": object(json!({
            "method": string(), "url": string(), "body": string(), "result": schema("AttemptResult"),
        }), &["method", "url", "body", "result"]),
        "DeliveryAttempt": object(json!({
            "id": id(), "job_id": nullable_id(), "postback_id": nullable_id(), "affiliate_id": id(),
            "method": string(), "url": string(), "status_code": nullable_id(), "latency_ms": integer(),
            "response_excerpt": string(), "error": string(), "test": boolean(), "created_at": timestamp(),
        }), &["id", "job_id", "postback_id", "affiliate_id", "method", "url", "status_code", "latency_ms",
              "response_excerpt", "error", "test", "created_at"]),
        "PostbackJob": object(json!({
            "id": id(), "conversion_id": id(),
            "transaction_id": { "type": "string", "description": "The conversion's transaction id (its click's)." },
            "postback_id": nullable_id(), "affiliate_id": id(),
            "event": enum_of(json!(["conversion", "status_change"])), "method": string(), "url": string(), "body": string(),
            "content_type": string(), "state": enum_of(Value::from(JOB_STATES.to_vec())),
            "attempts": { "type": "integer", "format": "int64", "description": "Attempts since it was (re-)queued." },
            "next_attempt_at": timestamp(), "last_error": string(), "created_at": timestamp(), "updated_at": timestamp(),
            "deliveries": { "type": "array", "items": schema("DeliveryAttempt"), "description": "Every attempt, oldest first." },
        }), &["id", "conversion_id", "transaction_id", "postback_id", "affiliate_id", "event", "method", "url", "body",
              "content_type", "state", "attempts", "next_attempt_at", "last_error", "created_at", "updated_at", "deliveries"]),
        "Conversion": object(json!({
            "id": id(), "transaction_id": string(), "offer_id": id(), "affiliate_id": id(), "advertiser_id": id(),
            "goal_id": nullable_id(), "status": enum_of(words(ConversionStatus::ALL, ConversionStatus::as_str)),
            "currency": string(), "sale_amount": { "type": "integer", "format": "int64", "nullable": true, "description": "Minor units." },
            "payout": { "type": "integer", "format": "int64", "description": "Minor units. Staff and affiliates." },
            "revenue": { "type": "integer", "format": "int64", "description": "Minor units. Staff and advertisers." },
            "adv_sub": string(), "ip": { "type": "string", "description": "The conversion call's address (empty for advertisers)." },
            "aff_sub": { "type": "string", "description": "The click's sub id. Staff and affiliates." },
            "aff_sub2": { "type": "string", "description": "Staff and affiliates." },
            "aff_sub3": { "type": "string", "description": "Staff and affiliates." },
            "aff_sub4": { "type": "string", "description": "Staff and affiliates." },
            "aff_sub5": { "type": "string", "description": "Staff and affiliates." },
            "source": { "type": "string", "description": "Staff and affiliates." },
            "aff_click_id": { "type": "string", "description": "Staff and affiliates." },
            "click_at": { "type": "string", "format": "date-time", "description": "Staff and affiliates." },
            "created_at": timestamp(), "updated_at": timestamp(),
        }), &["id", "transaction_id", "offer_id", "affiliate_id", "advertiser_id", "goal_id", "status", "currency",
              "sale_amount", "adv_sub", "ip", "created_at", "updated_at"]),
        "ConversionStatusInput": input(json!({
            "status": enum_of(words(ConversionStatus::ALL, ConversionStatus::as_str)),
            "note": { "type": "string", "maxLength": 2000, "default": "", "description": "Kept in the audit trail." },
        }), &["status"]),
        "Click": object(json!({
            "transaction_id": string(), "offer_id": id(), "affiliate_id": id(), "advertiser_id": id(),
            "aff_sub": string(), "aff_sub2": string(), "aff_sub3": string(), "aff_sub4": string(), "aff_sub5": string(),
            "source": string(), "aff_click_id": string(), "ip": string(), "user_agent": string(), "referrer": string(),
            "created_at": timestamp(),
        }), &["transaction_id", "offer_id", "affiliate_id", "advertiser_id", "aff_sub", "aff_sub2", "aff_sub3",
              "aff_sub4", "aff_sub5", "source", "aff_click_id", "ip", "user_agent", "referrer", "created_at"]),
        "ConversionAttempt": object(json!({
            "id": id(), "transaction_id": string(), "offer_id": nullable_id(), "goal_id": nullable_id(),
            "conversion_id": nullable_id(), "outcome": enum_of(json!(["accepted", "refused"])),
            "reason": { "type": "string", "description": "Why it was refused (e.g. duplicate, unknown_transaction); empty when accepted." },
            "message": string(), "method": string(), "raw_query": string(), "ip": string(), "created_at": timestamp(),
        }), &["id", "transaction_id", "offer_id", "goal_id", "conversion_id", "outcome", "reason", "message", "method",
              "raw_query", "ip", "created_at"]),
        "Trace": object(json!({
            "transaction_id": string(),
            "click": { "allOf": [schema("Click")], "nullable": true },
            "attempts": { "type": "array", "items": schema("ConversionAttempt"), "description": "Every conversion call, oldest first." },
            "conversions": { "type": "array", "items": schema("Conversion") },
            "jobs": { "type": "array", "items": schema("PostbackJob") },
            "deliveries": { "type": "array", "items": schema("DeliveryAttempt") },
        }), &["transaction_id", "click", "attempts", "conversions", "jobs", "deliveries"]),
    })
}

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": json_content(schema("Error")) })
}

/// The filters of the click and conversion lists.
fn tracking_filters(conversions: bool) -> Vec<Value> {
    let mut v = vec![
        query("from", "Created at or after: RFC 3339, or a date (YYYY-MM-DD, UTC).", string()),
        query("to", "Created before: RFC 3339, or a date (that whole day included).", string()),
        query("offer_id", "Only this offer.", id()),
        query("affiliate_id", "Only this affiliate (staff).", id()),
        query(
            "advertiser_id",
            if conversions {
                "Only this advertiser (staff; an advertiser its own: another one gives an empty page; an affiliate is refused: 422)."
            } else {
                "Only this advertiser (staff; an affiliate is refused: 422)."
            },
            id(),
        ),
        query(
            "sub",
            "Matches any of the click's aff_sub..aff_sub5 and source exactly (not for advertisers).",
            string(),
        ),
    ];
    v.push(query("transaction_id", TRANSACTION_FILTER, string()));
    if conversions {
        v.push(query("conversion_id", "Only this conversion.", id()));
        v.push(query("adv_sub", ADV_SUB_FILTER, string()));
        v.push(query("status", "Only this status.", enum_of(words(ConversionStatus::ALL, ConversionStatus::as_str))));
    }
    v
}

const ADV_SUB_FILTER: &str = "Only conversions of this advertiser's order id (adv_sub), exactly.";

const TRANSACTION_FILTER: &str =
    "Only this transaction id (the click's: 32 hexadecimal characters, any case; anything else is a 422).";

fn paths() -> Value {
    let adv_status = enum_of(words(AdvertiserStatus::ALL, AdvertiserStatus::as_str));
    let aff_status = enum_of(words(AffiliateStatus::ALL, AffiliateStatus::as_str));
    let with_paging = |mut v: Vec<Value>| {
        v.extend(paging());
        v
    };
    let offer_or_affiliate_offer = json!({ "oneOf": [schema("Offer"), schema("AffiliateOffer")] });
    json!({
        "/me": { "get": op("users", "The key's user and network.", vec![], None,
            &[("200", ok("The user and network.", schema("Me")))], &[]) },
        "/users": {
            "get": op("users", "Users of the network (admins and managers).",
                with_paging(vec![query("role", "Only users of this role.", enum_of(Value::from(Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>())))]),
                None, &[("200", ok("A page of users.", page_of(schema("User"))))], &["400", "403", "422"]),
            "post": op("users", "Creates a user (admins).", vec![], Some(body("UserInput")),
                &[("201", ok("The new user.", schema("User")))], &["400", "403", "422"]),
        },
        "/audit": { "get": op("audit", "The network's audit log, newest first (admins): who changed which offer, payout, postback, conversion status, user, company, API key or network setting.",
            with_paging(vec![
                query("entity", "Only changes of this kind.", enum_of(Value::from(Entity::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>()))),
                query("actor", "Only changes by this user id.", id()),
                query("from", "From this day (YYYY-MM-DD, UTC, included).", string()),
                query("to", "Until this day (YYYY-MM-DD, UTC, included).", string()),
            ]),
            None, &[("200", ok("A page of audit entries.", page_of(schema("AuditEntry"))))], &["400", "403", "422"]) },
        "/reports": { "get": op("reports", "The reports of the pages (HasOffers' getStats): rows grouped by day, hour, offer, affiliate, advertiser, goal or sub id, with totals per currency, in the network's days. Staff see everything; an affiliate its own traffic and payout; an advertiser its offers and their cost.",
            vec![
                query("group_by", "The grouping (default date). Affiliates may not group by affiliate or advertiser; advertisers only by date, hour, offer or goal.", enum_of(Value::from(GroupBy::ALL.iter().map(|g| g.as_str()).collect::<Vec<_>>()))),
                query("from", "First day (YYYY-MM-DD, in the network's time zone; default 6 days before today).", string()),
                query("to", "Last day, included (default today); at most 366 days in all.", string()),
                query("offer_id", "Only this offer.", id()),
                query("affiliate_id", "Only this affiliate (staff only; 422 otherwise).", id()),
                query("status", "Only conversions of this status (default approved and pending).", enum_of(Value::from(reports::STATUSES.to_vec()))),
                query("sort", "key, clicks, conversions, cr, payout, revenue or profit (the ones shown to the caller; an advertiser's revenue is its cost: cost or revenue); a leading - sorts descending. Default: key for dates and hours, -conversions otherwise.", string()),
            ],
            None, &[("200", ok("The report.", schema("Report")))], &["400", "403", "422"]) },
        "/users/{id}": { "get": op("users", "One user (staff: any of the network; others: themselves).", vec![path_id("user")], None,
            &[("200", ok("The user.", schema("User")))], &["403", "404"]) },
        "/advertisers": {
            "get": op("advertisers", "Advertisers, newest first (staff).",
                with_paging(vec![query("search", "Matches the name or contact.", string()), query("status", "Only this status.", adv_status)]),
                None, &[("200", ok("A page of advertisers.", page_of(schema("Advertiser"))))], &["400", "403", "422"]),
            "post": op("advertisers", "Creates an advertiser (staff).", vec![], Some(body("AdvertiserInput")),
                &[("201", ok("The new advertiser.", schema("Advertiser")))], &["400", "403", "422"]),
        },
        "/advertisers/{id}": {
            "get": op("advertisers", "One advertiser (staff, or a user of that advertiser).", vec![path_id("advertiser")], None,
                &[("200", ok("The advertiser.", schema("Advertiser")))], &["404"]),
            "put": op("advertisers", "Replaces an advertiser's editable fields (staff; omitted optional fields take their defaults).",
                vec![path_id("advertiser")], Some(body("AdvertiserInput")),
                &[("200", ok("The advertiser.", schema("Advertiser")))], &["400", "403", "404", "422"]),
            "patch": op("advertisers", "Changes only the fields the body names (any of AdvertiserInput's; the others keep their values; staff).",
                vec![path_id("advertiser")], Some(json!({ "required": true, "content": json_content(json!({ "type": "object", "description": "Any of AdvertiserInput's properties." })) })),
                &[("200", ok("The advertiser.", schema("Advertiser")))], &["400", "403", "404", "422"]),
        },
        "/affiliates": {
            "get": op("affiliates", "Affiliates, newest first (staff).",
                with_paging(vec![query("search", "Matches the name or email.", string()), query("status", "Only this status.", aff_status)]),
                None, &[("200", ok("A page of affiliates.", page_of(schema("Affiliate"))))], &["400", "403", "422"]),
            "post": op("affiliates", "Creates an affiliate (staff).", vec![], Some(body("AffiliateInput")),
                &[("201", ok("The new affiliate.", schema("Affiliate")))], &["400", "403", "422"]),
        },
        "/affiliates/{id}": {
            "get": op("affiliates", "One affiliate (staff, or a user of that affiliate).", vec![path_id("affiliate")], None,
                &[("200", ok("The affiliate.", schema("Affiliate")))], &["404"]),
            "put": op("affiliates", "Replaces an affiliate's editable fields (staff; omitted optional fields take their defaults).",
                vec![path_id("affiliate")], Some(body("AffiliateInput")),
                &[("200", ok("The affiliate.", schema("Affiliate")))], &["400", "403", "404", "422"]),
            "patch": op("affiliates", "Changes only the fields the body names (any of AffiliateInput's; the others keep their values; staff).",
                vec![path_id("affiliate")], Some(json!({ "required": true, "content": json_content(json!({ "type": "object", "description": "Any of AffiliateInput's properties." })) })),
                &[("200", ok("The affiliate.", schema("Affiliate")))], &["400", "403", "404", "422"]),
        },
        "/affiliates/{id}/status": { "post": op("affiliates", "Approves, suspends or rejects an affiliate (staff).",
            vec![path_id("affiliate")], Some(body("AffiliateStatusInput")),
            &[("200", ok("The affiliate.", schema("Affiliate")))], &["400", "403", "404", "422"]) },
        "/offers": {
            "get": op("offers", "Offers the key's user may see, newest first: staff all (Offer), advertiser users their own (Offer without payout), affiliate users those they may run or apply to (AffiliateOffer).",
                with_paging(vec![
                    query("search", "Matches the name, or the id.", string()),
                    query("status", "Only this status.", enum_of(words(OfferStatus::ALL, OfferStatus::as_str))),
                    query("visibility", "Only this visibility.", enum_of(words(Visibility::ALL, Visibility::as_str))),
                    query("advertiser_id", "Only this advertiser's offers (staff).", id()),
                ]),
                None, &[("200", ok("A page of offers.", page_of(offer_or_affiliate_offer.clone())))], &["400", "403", "422"]),
            "post": op("offers", "Creates an offer with a new security token (staff).", vec![], Some(body("OfferInput")),
                &[("201", ok("The new offer.", schema("Offer")))], &["400", "403", "422"]),
        },
        "/offers/{id}": {
            "get": op("offers", "One offer the key's user may see (as in the list); 404 otherwise.", vec![path_id("offer")], None,
                &[("200", ok("The offer.", offer_or_affiliate_offer))], &["403", "404"]),
            "put": op("offers", "Replaces an offer's editable fields (staff; omitted optional fields take their defaults; the token is kept).",
                vec![path_id("offer")], Some(body("OfferInput")),
                &[("200", ok("The offer.", schema("Offer")))], &["400", "403", "404", "422"]),
            "patch": op("offers", "Changes only the fields the body names (any of OfferInput's; the others keep their values; staff).",
                vec![path_id("offer")], Some(json!({ "required": true, "content": json_content(json!({ "type": "object", "description": "Any of OfferInput's properties." })) })),
                &[("200", ok("The offer.", schema("Offer")))], &["400", "403", "404", "422"]),
        },
        "/offers/{id}/rotate-token": { "post": op("offers", "Replaces the offer's security token; the old one stops working at once (staff).",
            vec![path_id("offer")], None, &[("200", ok("The offer with its new security_token.", schema("Offer")))], &["403", "404"]) },
        "/offers/{id}/goals": {
            "get": op("goals", "The goals of an offer the key's user may see.", vec![path_id("offer")], None,
                &[("200", ok("The goals, oldest first.", object(json!({ "data": { "type": "array", "items": schema("Goal") } }), &["data"])))],
                &["403", "404"]),
            "post": op("goals", "Adds a goal to an offer (staff).", vec![path_id("offer")], Some(body("GoalInput")),
                &[("201", ok("The new goal.", schema("Goal")))], &["400", "403", "404", "422"]),
        },
        "/offers/{id}/apply": { "post": op("offer access", "An affiliate user asks to run an approval-required offer. Offers it may not see (private without access, not active) are not found; public or already applied-for offers are a 422 on offer_id.",
            vec![path_id("offer")], Some(body("ApplyInput")),
            &[("201", ok("The pending application.", schema("OfferAccess")))], &["400", "403", "404", "422"]) },
        "/goals/{id}": {
            "get": op("goals", "One goal of an offer the key's user may see.", vec![path_id("goal")], None,
                &[("200", ok("The goal.", schema("Goal")))], &["403", "404"]),
            "put": op("goals", "Replaces a goal's editable fields (staff).", vec![path_id("goal")], Some(body("GoalInput")),
                &[("200", ok("The goal.", schema("Goal")))], &["400", "403", "404", "422"]),
            "patch": op("goals", "Changes only the fields the body names (any of GoalInput's; the others keep their values; staff).",
                vec![path_id("goal")], Some(json!({ "required": true, "content": json_content(json!({ "type": "object", "description": "Any of GoalInput's properties." })) })),
                &[("200", ok("The goal.", schema("Goal")))], &["400", "403", "404", "422"]),
        },
        "/offer-access": { "get": op("offer access", "Access decisions and applications, newest first (staff: all; affiliate users: their own).",
            with_paging(vec![
                query("status", "Only this status.", enum_of(words(AccessStatus::ALL, AccessStatus::as_str))),
                query("offer_id", "Only this offer.", id()),
                query("affiliate_id", "Only this affiliate.", id()),
            ]),
            None, &[("200", ok("A page of access rows.", page_of(schema("OfferAccess"))))], &["400", "403", "422"]) },
        "/offer-access/decide": { "post": op("offer access", "Approves or rejects an application, or assigns any offer (private too) to an affiliate (staff).",
            vec![], Some(body("DecisionInput")),
            &[("200", ok("The access row.", schema("OfferAccess")))], &["400", "403", "404", "422"]) },
        "/payout-overrides": {
            "get": op("payout overrides", "Per-affiliate payouts, newest first (staff).",
                with_paging(vec![query("offer_id", "Only this offer.", id()), query("affiliate_id", "Only this affiliate.", id())]),
                None, &[("200", ok("A page of overrides.", page_of(schema("PayoutOverride"))))], &["400", "403"]),
            "post": op("payout overrides", "Sets the payout of one affiliate for an offer, or for one goal of it (staff).",
                vec![], Some(body("PayoutOverrideInput")),
                &[("201", ok("A new override.", schema("PayoutOverride"))), ("200", ok("The replaced override.", schema("PayoutOverride")))],
                &["400", "403", "422"]),
        },
        "/postbacks": {
            "get": op("postbacks", "Saved postbacks, newest first (staff: all, or one affiliate's; affiliate users: their own).",
                vec![query("affiliate_id", "Only this affiliate's (staff).", id())], None,
                &[("200", ok("The postbacks.", object(json!({ "data": { "type": "array", "items": schema("Postback") } }), &["data"])))],
                &["403", "422"]),
            "post": op("postbacks", "Saves a postback (affiliate users: their own; staff: for affiliate_id).", vec![], Some(body("PostbackInput")),
                &[("201", ok("The new postback.", schema("Postback")))], &["400", "403", "422"]),
        },
        "/postbacks/{id}": {
            "get": op("postbacks", "One postback (another affiliate's: not found).", vec![path_id("postback")], None,
                &[("200", ok("The postback.", schema("Postback")))], &["403", "404"]),
            "put": op("postbacks", "Replaces a postback's editable fields (omitted optional fields take their defaults; the affiliate is kept).",
                vec![path_id("postback")], Some(body("PostbackInput")),
                &[("200", ok("The postback.", schema("Postback")))], &["400", "403", "404", "422"]),
            "patch": op("postbacks", "Changes only the fields the body names (any of PostbackInput's; the others keep their values; staff, or the postback's affiliate).",
                vec![path_id("postback")], Some(json!({ "required": true, "content": json_content(json!({ "type": "object", "description": "Any of PostbackInput's properties." })) })),
                &[("200", ok("The postback.", schema("Postback")))], &["400", "403", "404", "422"]),
            "delete": op("postbacks", "Deletes a postback; its jobs and attempts stay in the delivery log.", vec![path_id("postback")], None,
                &[("204", json!({ "description": "Deleted." }))], &["403", "404"]),
        },
        "/postbacks/{id}/test": { "post": op("postbacks", "Fires the postback once now, for a conversion of its affiliate or a made-up sample, and answers with the request and what came back (stored as a test attempt). The body is optional.",
            vec![path_id("postback")], Some(json!({ "required": false, "content": json_content(schema("TestFireInput")) })),
            &[("200", ok("What was sent and received.", schema("TestFire")))], &["400", "403", "404", "422"]) },
        "/postback-jobs": { "get": op("postbacks", "The delivery log: postback jobs, newest first, each with its attempts (staff: all; affiliate users: their own). A parameter this list does not take is a 400, never ignored.",
            with_paging(vec![
                query("state", "Only jobs in this state.", enum_of(Value::from(JOB_STATES.to_vec()))),
                query("offer_id", "Only jobs of this offer's conversions.", id()),
                query("affiliate_id", "Only this affiliate's.", id()),
                query("from", "Created at or after: RFC 3339, or a date (YYYY-MM-DD, UTC).", string()),
                query("to", "Created before: RFC 3339, or a date (that whole day included).", string()),
                query("transaction_id", TRANSACTION_FILTER, string()),
                query("conversion_id", "Only this conversion's jobs.", id()),
                query("adv_sub", ADV_SUB_FILTER, string()),
            ]),
            None, &[("200", ok("A page of jobs.", page_of(schema("PostbackJob"))))], &["400", "403", "422"]) },
        "/postback-jobs/{id}/refire": { "post": op("postbacks", "Puts a job back in the queue, due now, as its postback is saved now (URL, method, body, expanded for the job's conversion; a job whose postback was deleted keeps its request). A job being sent is left alone.",
            vec![path_id("postback job")], None, &[("200", ok("The job.", schema("PostbackJob")))], &["403", "404"]) },
        "/conversions": { "get": op("conversions", "Conversions, newest first: staff all; affiliate users their own (payout, no revenue); advertiser users their own (revenue, no payout, no sub ids). A parameter this list does not take is a 400, never ignored.",
            with_paging(tracking_filters(true)),
            None, &[("200", ok("A page of conversions.", page_of(schema("Conversion"))))], &["400", "403", "422"]) },
        "/conversions/{id}": { "get": op("conversions", "One conversion the key's user may see (as in the list); 404 otherwise.",
            vec![path_id("conversion")], None, &[("200", ok("The conversion.", schema("Conversion")))], &["403", "404"]) },
        "/conversions/{id}/status": { "post": op("conversions", "Changes a conversion's status (staff): audited with the note, totals moved, postbacks that fire on status changes queued.",
            vec![path_id("conversion")], Some(body("ConversionStatusInput")),
            &[("200", ok("The conversion.", schema("Conversion")))], &["400", "403", "404", "422"]) },
        "/clicks": { "get": op("clicks", "Clicks, newest first (staff: all; affiliate users: their own). A parameter this list does not take is a 400, never ignored.",
            with_paging(tracking_filters(false)),
            None, &[("200", ok("A page of clicks.", page_of(schema("Click"))))], &["400", "403", "422"]) },
        "/conversion-calls": { "get": op("conversions", "Every call of the conversion endpoint stored for the network, newest first, accepted or refused with its reason (staff: all; an advertiser: the calls naming its offers; affiliates 403). Refused calls are found without knowing their transaction id.",
            with_paging(vec![
                query("from", "Received at or after: RFC 3339, or a date (YYYY-MM-DD, UTC).", string()),
                query("to", "Received before: RFC 3339, or a date (that whole day included).", string()),
                query("offer_id", "Only the calls naming this offer.", id()),
                query("advertiser_id", "Only the calls naming this advertiser's offers (staff).", id()),
                query("status", "accepted, or a refusal reason (the README's table).", enum_of(Value::from(affnet_tracking::listing::call_outcomes()))),
                query("transaction_id", "Only the calls that sent this transaction id: a valid one in any case, a malformed one as sent (the log keeps its first 100 bytes; at most 500 characters).", string()),
            ]),
            None, &[("200", ok("A page of calls.", page_of(schema("ConversionAttempt"))))], &["400", "403", "422"]) },
        "/trace/{transaction_id}": { "get": op("conversions", "Everything that happened to one transaction id (staff): the click, every conversion call with its outcome and reason, the conversions, their postback jobs and delivery attempts.",
            vec![json!({ "name": "transaction_id", "in": "path", "required": true, "description": "The click's transaction id (32 hex characters).", "schema": string() })],
            None, &[("200", ok("The trace.", schema("Trace")))], &["403", "404"]) },
        "/payout-overrides/{id}": { "delete": op("payout overrides", "Removes an override; the offer's or goal's own payout applies again (staff).",
            vec![path_id("payout override")], None, &[("204", json!({ "description": "Deleted." }))], &["403", "404"]) },
    })
}

/// The whole document.
pub fn spec() -> Value {
    let mut paths = paths();
    // Every operation but the document itself needs a key.
    if let Some(ps) = paths.as_object_mut() {
        for item in ps.values_mut() {
            if let Some(ops) = item.as_object_mut() {
                for o in ops.values_mut() {
                    o["security"] = json!([{ "bearerAuth": [] }]);
                }
            }
        }
    }
    paths["/openapi.json"] = json!({ "get": {
        "tags": ["meta"], "summary": "This document.", "security": [],
        "responses": { "200": { "description": "The OpenAPI document.", "content": { "application/json": { "schema": { "type": "object" } } } } },
    } });
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "affnet API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The network's JSON API. Authenticate with a personal API key: `Authorization: Bearer <key>`; the key's user decides the network and what is visible. Money is in integer minor units of the offer's currency, percentages in basis points; times are RFC 3339 UTC. Unknown fields in a body and malformed JSON are a 400; invalid values a 422 with a field → message map.",
        },
        "servers": [{ "url": "/api/v1" }],
        "security": [{ "bearerAuth": [] }],
        "paths": paths,
        "components": {
            "securitySchemes": { "bearerAuth": { "type": "http", "scheme": "bearer", "description": "A personal API key (afk_…); the scheme name is case-insensitive. Without a valid key every path but this document answers 401, whatever the request holds." } },
            "schemas": schemas(),
            "responses": {
                "BadRequest": error_response("Malformed JSON, a body that is not an object, an unknown or repeated body field, a query parameter the operation does not take where it checks them (/audit, /reports, /conversion-calls, /conversions, /clicks, /postback-jobs), a query parameter that is not UTF-8 text (e.g. %FF), or text holding a NUL character (error: bad_request)."),
                "PayloadTooLarge": error_response("A body larger than 256 KiB (error: payload_too_large)."),
                "Unauthorized": error_response("No valid API key (error: unauthorized)."),
                "Forbidden": error_response("The key's role may not do this (error: forbidden)."),
                "NotFound": error_response("No such thing in the key's network, or not visible to its user (error: not_found)."),
                "ValidationFailed": error_response("Invalid values, values of the wrong type, or required fields left out (error: validation_failed, with fields: field → message; a nested field as payout_flat)."),
            },
        },
    })
}

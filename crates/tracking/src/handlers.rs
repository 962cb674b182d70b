//! The public tracking endpoints (HasOffers-compatible, at the root path, outside the session
//! middleware): `GET /aff_c` (click → 302), `GET|POST /aff_lsr` and `/aff_goal` (conversion).

use std::borrow::Cow;
use std::sync::Arc;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use affnet_db::{AffiliateId, Clock, DbPool, Micros, OfferId};
use affnet_offers::offer::OfferStatus;
use affnet_offers::Offer;

use crate::cache::{Access, Cache};
use crate::click::{Click, ClickJob, ClickRefusal, ClickRejection, ClickWriter};
use crate::conversion::{ConversionRequest, ConversionWriter, Outcome, Reason, Refusal, MAX_SUB_LEN};
use crate::recorder::GroupCommit;
use crate::template::{expand, Encoding};

/// What the tracking handlers share.
pub struct Tracking {
    pub pool: DbPool,
    pub clicks: GroupCommit<ClickWriter>,
    /// The clicks' transaction ids (their sequence keys strictly increase).
    pub keys: Arc<crate::transaction_id::SequenceKeys>,
    /// One writer on SQLite (one writer at a time anyway); several on PostgreSQL, each call
    /// routed by its transaction id so that calls for one click meet in one writer.
    pub conversions: Vec<GroupCommit<ConversionWriter>>,
    pub cache: Cache,
    pub clock: Arc<dyn Clock>,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_proxy: bool,
    /// For test-fires from the pages and the API: the delivery worker's client and settings.
    pub postback_client: reqwest::Client,
    pub postback_config: crate::delivery::DeliveryConfig,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/aff_c")
            .route(web::get().to(click))
            .route(web::head().to(click_head))
            .default_service(web::to(|| method_not_allowed("GET, HEAD"))),
    )
    // Every method reaches the conversion handler: a call with another one is refused
    // (`method_not_allowed`) in the endpoint's answer format, and stored like every refusal
    // unless it is a `HEAD` or `OPTIONS`.
    .service(web::resource("/aff_lsr").route(web::route().to(conversion_lsr)))
    .service(web::resource("/aff_goal").route(web::route().to(conversion_goal)));
}

/// `405 Method Not Allowed` with the methods the endpoint answers (`PUT /aff_c`, `DELETE
/// /aff_lsr`): the path exists, so not a 404.
pub async fn method_not_allowed(allow: &'static str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow))
        .content_type("text/plain; charset=utf-8")
        .body(format!("method not allowed: use {allow}\n"))
}

/// The caller's address: the TCP peer, or, behind a trusted proxy, the right-most address of
/// `X-Forwarded-For` (the one our proxy appended; anything left of it came from the client and
/// can be forged). `Forwarded` is never read.
pub fn client_ip(req: &HttpRequest, trust_proxy: bool) -> String {
    if trust_proxy {
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip_text(ip);
        }
    }
    req.peer_addr().map(|a| ip_text(a.ip())).unwrap_or_default()
}

/// An address as text, as `Display` writes it; IPv4 (every click, most of the time) without
/// the formatting machinery, which cost ~1,300 instructions per click (callgrind).
fn ip_text(ip: std::net::IpAddr) -> String {
    let std::net::IpAddr::V4(v4) = ip else { return ip.to_string() };
    let mut out = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if octet >= 100 {
            out.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            out.push(char::from(b'0' + octet / 10 % 10));
        }
        out.push(char::from(b'0' + octet % 10));
    }
    out
}

fn header_text(req: &HttpRequest, name: header::HeaderName, max: usize) -> String {
    let v = req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    v.chars().take(max).collect()
}

fn plain(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

fn page(status: StatusCode, title: &str, text: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
             <meta name=\"viewport\" content=\"width=device-width\"></head><body style=\"font-family:sans-serif;\
             max-width:36rem;margin:4rem auto;padding:0 1rem;color:#1f2937\"><h1 style=\"font-size:1.4rem\">{title}</h1>\
             <p>{text}</p></body></html>"
        ))
}

fn redirect(location: &str) -> HttpResponse {
    match HeaderValue::from_str(location) {
        Ok(v) => found(v),
        Err(_) => page(StatusCode::BAD_GATEWAY, "Link unavailable", "The offer's landing page address is not valid."),
    }
}

fn found(location: HeaderValue) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer-when-downgrade"))
        .finish()
}

/// The parameters of a click, after aliases (`sub1`..`sub5`, `aff_sub1`, `affiliate_id`).
#[derive(Debug, Default)]
struct ClickParams {
    offer_id: String,
    aff_id: String,
    subs: [String; 5],
    source: String,
    aff_click_id: String,
}

/// Where a click parameter goes: its slot in [`ClickParams`] and its rank among the slot's
/// aliases (0 wins over 1 over 2).
fn click_slot(name: &str) -> Option<(usize, u8)> {
    Some(match name {
        "offer_id" => (0, 0),
        "aff_id" => (1, 0),
        "affiliate_id" => (1, 1),
        "aff_sub" => (2, 0),
        "aff_sub1" => (2, 1),
        "sub1" => (2, 2),
        "aff_sub2" => (3, 0),
        "sub2" => (3, 1),
        "aff_sub3" => (4, 0),
        "sub3" => (4, 1),
        "aff_sub4" => (5, 0),
        "sub4" => (5, 1),
        "aff_sub5" => (6, 0),
        "sub5" => (6, 1),
        "source" => (7, 0),
        "aff_click_id" => (8, 0),
        _ => return None,
    })
}

/// One pass over the query string (the click path's hot loop: no map, one allocation per value
/// kept): per slot, the first non-empty value of its best-ranked alias. Parameters we do not
/// know (`utm_*`, a publisher's own) are ignored, whatever they hold: they never cost a click.
fn parse_click_params(query: &str) -> Result<ClickParams, String> {
    const NAMES: [&str; 9] =
        ["offer_id", "aff_id", "aff_sub", "aff_sub2", "aff_sub3", "aff_sub4", "aff_sub5", "source", "aff_click_id"];
    let mut slots: [(u8, String); 9] = Default::default();
    for (raw_k, raw_v) in crate::query::raw_pairs(query) {
        let k = crate::query::decode(raw_k);
        let Some((slot, rank)) = click_slot(&k) else { continue };
        let Some(v) = crate::query::decode_utf8(raw_v) else {
            return Err(format!("{k} is not UTF-8 text"));
        };
        if crate::query::has_control(&v) {
            return Err(format!("{k} contains a control character"));
        }
        // Every sub id value as sent, even an alias that loses to another: a longer one is an
        // error, never silently cut or dropped. (Never more characters than bytes.)
        if slot >= 2 && v.len() > MAX_SUB_LEN && v.chars().count() > MAX_SUB_LEN {
            return Err(format!("{} may be at most {MAX_SUB_LEN} characters", NAMES[slot]));
        }
        let v = v.trim();
        let (best, value) = &mut slots[slot];
        if !v.is_empty() && (value.is_empty() || rank < *best) {
            *best = rank;
            *value = v.to_owned();
        }
    }
    let [offer_id, aff_id, s1, s2, s3, s4, s5, source, aff_click_id] = slots.map(|(_, v)| v);
    Ok(ClickParams { offer_id, aff_id, subs: [s1, s2, s3, s4, s5], source, aff_click_id })
}

fn parse_positive(v: &str, name: &str) -> Result<i64, String> {
    match v.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ if v.is_empty() => Err(format!("{name} is required")),
        _ => Err(format!("{name} must be a positive whole number")),
    }
}

/// The landing macros' values for one click (`transaction_id` empty when no click was recorded).
fn landing_value<'a>(
    name: &str,
    offer: &Offer,
    aff: AffiliateId,
    p: &'a ClickParams,
    tid: &'a str,
    ip: &'a str,
) -> Option<Cow<'a, str>> {
    Some(match name {
        "transaction_id" => Cow::Borrowed(tid),
        "offer_id" => Cow::Owned(offer.id.to_string()),
        "affiliate_id" | "aff_id" => Cow::Owned(aff.to_string()),
        "advertiser_id" => Cow::Owned(offer.advertiser_id.to_string()),
        "aff_sub" | "aff_sub1" => Cow::Borrowed(&p.subs[0]),
        "aff_sub2" => Cow::Borrowed(&p.subs[1]),
        "aff_sub3" => Cow::Borrowed(&p.subs[2]),
        "aff_sub4" => Cow::Borrowed(&p.subs[3]),
        "aff_sub5" => Cow::Borrowed(&p.subs[4]),
        "source" => Cow::Borrowed(&p.source),
        "aff_click_id" => Cow::Borrowed(&p.aff_click_id),
        "ip" => Cow::Borrowed(ip),
        _ => return None,
    })
}

/// `GET /aff_c?offer_id=N&aff_id=N[&aff_sub=..&source=..&aff_click_id=..]`: records the click
/// (answering only after it committed) and redirects to the offer URL.
pub async fn click(req: HttpRequest, t: web::Data<Tracking>) -> HttpResponse {
    follow_link(req, t, true).await
}

/// `HEAD /aff_c?…`: link checkers and previews (mail scanners, chat unfurlers) ask for the
/// headers only. They get the answer a click would (the redirect, the fallback or the same
/// error), with nothing recorded or counted, so the landing URL carries no transaction id.
pub async fn click_head(req: HttpRequest, t: web::Data<Tracking>) -> HttpResponse {
    follow_link(req, t, false).await
}

/// The host a request is for (what a network's tracking domain is matched against): the one
/// its request line names (absolute form, `GET http://track.acme.com/aff_c …`), which RFC 9112
/// (3.2.2) says wins over the `Host` header, else the `Host` header.
pub fn host(req: &HttpRequest) -> Option<&str> {
    match req.uri().authority() {
        Some(authority) => authority.as_str().rsplit('@').next(),
        None => req.headers().get(header::HOST).and_then(|v| v.to_str().ok()),
    }
}

/// A tracking link followed: checked, then (when `record`) the click or refusal stored.
async fn follow_link(req: HttpRequest, t: web::Data<Tracking>, record: bool) -> HttpResponse {
    let p = match parse_click_params(req.query_string()) {
        Ok(p) => p,
        Err(msg) => return plain(StatusCode::BAD_REQUEST, msg),
    };
    let (offer_id, aff_id) = match (parse_positive(&p.offer_id, "offer_id"), parse_positive(&p.aff_id, "aff_id")) {
        (Ok(o), Ok(a)) => (OfferId(o), AffiliateId(a)),
        (Err(m), _) | (_, Err(m)) => return plain(StatusCode::BAD_REQUEST, m),
    };
    let offer = match t.cache.offer(&t.pool, offer_id).await {
        Ok(Some(o)) => o,
        Ok(None) => return page(StatusCode::NOT_FOUND, "Offer not found", "This link does not lead to an offer."),
        Err(e) => {
            tracing::error!(error = %e, "click: offer lookup failed");
            return page(StatusCode::SERVICE_UNAVAILABLE, "Try again", "The link could not be followed; try again.");
        }
    };
    let tenant = offer.tenant_id;
    // On a network's tracking domain only that network's offers exist.
    match t.cache.host_tenant(&t.pool, host(&req)).await {
        Ok(Some(owner)) if owner != tenant => {
            return page(StatusCode::NOT_FOUND, "Offer not found", "This link does not lead to an offer.");
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "click: tracking domain lookup failed");
            return page(StatusCode::SERVICE_UNAVAILABLE, "Try again", "The link could not be followed; try again.");
        }
    }
    let ip = client_ip(&req, t.trust_proxy);
    let refusal = if offer.status != OfferStatus::Active {
        Some(ClickRefusal::OfferNotActive)
    } else {
        match t.cache.access(&t.pool, tenant, &offer, aff_id).await {
            Ok(Access::Allowed) => None,
            Ok(Access::UnknownAffiliate) => Some(ClickRefusal::UnknownAffiliate),
            Ok(Access::AffiliateNotActive) => Some(ClickRefusal::AffiliateNotActive),
            Ok(Access::NotApproved) => Some(ClickRefusal::AffiliateNotApproved),
            Err(e) => {
                tracing::error!(error = %e, "click: access lookup failed");
                return page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Try again",
                    "The link could not be followed; try again.",
                );
            }
        }
    };
    let now = t.clock.now();
    if let Some(refusal) = refusal {
        // An unknown affiliate id names no row to count against.
        if record && refusal != ClickRefusal::UnknownAffiliate {
            let job = ClickJob::Rejection(ClickRejection {
                tenant_id: tenant,
                offer_id,
                affiliate_id: aff_id,
                reason: refusal.code().to_owned(),
                ip: ip.clone(),
                created_at: now,
            });
            if let Ok(Err(e)) = t.clicks.submit(job).await {
                tracing::warn!(error = %e, "click refusal not recorded");
            }
        }
        if record {
            tracing::info!(offer = %offer_id, affiliate = %aff_id, reason = refusal.code(), "click refused");
            crate::metrics::click_refused(refusal.code());
        }
        if !offer.fallback_url.is_empty() {
            let url = expand(&offer.fallback_url, Encoding::Url, |n| landing_value(n, &offer, aff_id, &p, "", &ip));
            return redirect(&url);
        }
        return match refusal {
            ClickRefusal::OfferNotActive => {
                page(StatusCode::NOT_FOUND, "Offer unavailable", "This offer is not running at the moment.")
            }
            _ => page(StatusCode::FORBIDDEN, "Link not active", "This tracking link is not active for this offer."),
        };
    }
    if !record {
        return redirect(&expand(&offer.offer_url, Encoding::Url, |n| landing_value(n, &offer, aff_id, &p, "", &ip)));
    }
    let tid = t.keys.next(now.unix_millis(), &mut rand::thread_rng());
    let seq = tid.seq();
    let tid = tid.to_hex();
    let location = expand(&offer.offer_url, Encoding::Url, |n| landing_value(n, &offer, aff_id, &p, &tid, &ip));
    let Ok(location) = HeaderValue::from_str(&location) else {
        // Checked before recording: a click is stored only when its redirect can be sent.
        tracing::error!(offer = %offer_id, "the offer URL does not make a valid Location header");
        return page(StatusCode::BAD_GATEWAY, "Link unavailable", "The offer's landing page address is not valid.");
    };
    let ClickParams { subs: [aff_sub, aff_sub2, aff_sub3, aff_sub4, aff_sub5], source, aff_click_id, .. } = p;
    let row = Click {
        id: tid,
        seq,
        tenant_id: tenant,
        offer_id,
        affiliate_id: aff_id,
        advertiser_id: offer.advertiser_id,
        aff_sub,
        aff_sub2,
        aff_sub3,
        aff_sub4,
        aff_sub5,
        source,
        aff_click_id,
        ip,
        user_agent: header_text(&req, header::USER_AGENT, 1000),
        referrer: header_text(&req, header::REFERER, 2000),
        created_at: now,
    };
    match t.clicks.submit(ClickJob::Click(Box::new(row))).await {
        Ok(Ok(())) => found(location),
        Ok(Err(_)) | Err(_) => {
            page(StatusCode::SERVICE_UNAVAILABLE, "Try again", "The click could not be recorded; please try again.")
        }
    }
}

/// `GET|POST /aff_lsr?transaction_id=..`
pub async fn conversion_lsr(req: HttpRequest, body: web::Payload, t: web::Data<Tracking>) -> HttpResponse {
    conversion(req, body, t, false).await
}

/// `GET|POST /aff_goal?a=lsr&goal_id=..&transaction_id=..`
pub async fn conversion_goal(req: HttpRequest, body: web::Payload, t: web::Data<Tracking>) -> HttpResponse {
    conversion(req, body, t, true).await
}

/// The longest conversion call body read (a form of a few parameters); a longer one is
/// refused `body_too_large` and stored.
pub const MAX_CONVERSION_BODY: usize = 256 * 1024;

/// A conversion call's body, read to its end, or why it could not be.
async fn read_body(payload: web::Payload) -> Result<web::Bytes, Refusal> {
    match payload.to_bytes_limited(MAX_CONVERSION_BODY).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) => Err(Refusal {
            reason: Reason::InvalidBody,
            message: format!("the body could not be read to its end ({e})"),
        }),
        Err(_) => Err(Refusal {
            reason: Reason::BodyTooLarge,
            message: format!("the body is over {} KiB; send the parameters in the query", MAX_CONVERSION_BODY / 1024),
        }),
    }
}

/// The query with the security token's value masked (what is stored and shown).
fn masked_query(raw: &str) -> String {
    raw.split('&')
        .map(|pair| {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            let decoded: String = serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("{key}="))
                .ok()
                .and_then(|mut v| v.pop())
                .map(|(k, _)| k)
                .unwrap_or_default();
            if decoded.trim() == "security_token" && pair.contains('=') {
                format!("{key}=***")
            } else {
                pair.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Adds the pairs of `query` (or a form body) to `params`, decoded once, as
/// `form_urlencoded` reads them (bad bytes replaced); returns the first conversion parameter
/// whose value was not UTF-8 once percent-decoded.
fn read_params(query: &str, params: &mut Vec<(String, String)>) -> Option<String> {
    let mut not_utf8 = None;
    for (raw_k, raw_v) in crate::query::raw_pairs(query) {
        let k = crate::query::decode(raw_k).into_owned();
        let v = match crate::query::decode_utf8(raw_v) {
            Some(v) => v.into_owned(),
            None => {
                if not_utf8.is_none() && crate::conversion::PARAMETERS.contains(&k.as_str()) {
                    not_utf8 = Some(k.clone());
                }
                crate::query::decode(raw_v).into_owned()
            }
        };
        params.push((k, v));
    }
    not_utf8
}

/// Whether the caller's `Accept` asks for JSON: `application/json` (any case) with a weight
/// above 0 and at least that of any `text/plain` or `text/*` it also lists.
fn wants_json(req: &HttpRequest) -> bool {
    let Some(accept) = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()) else { return false };
    let (mut json, mut text) = (0.0_f32, 0.0_f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let weight = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, v)| v.trim().parse::<f32>().unwrap_or(0.0));
        match media.as_str() {
            "application/json" => json = json.max(weight),
            "text/plain" | "text/*" => text = text.max(weight),
            _ => {}
        }
    }
    json > 0.0 && json >= text
}

async fn conversion(
    req: HttpRequest,
    payload: web::Payload,
    t: web::Data<Tracking>,
    goal_endpoint: bool,
) -> HttpResponse {
    let json = wants_json(&req);
    let answer = |status: u16, reason: &str, message: &str, extra: Option<serde_json::Value>| {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut response = if json {
            let mut v = serde_json::json!({"success": false, "err_msg": reason, "message": message});
            if let Some(serde_json::Value::Object(extra)) = extra {
                v = serde_json::Value::Object(extra);
            }
            HttpResponse::build(code).insert_header((header::CACHE_CONTROL, "no-store")).json(v)
        } else if status == 200 {
            plain(code, "success=true;".to_owned())
        } else {
            plain(code, format!("success=false; err_msg={reason};"))
        };
        if code == StatusCode::METHOD_NOT_ALLOWED {
            response.headers_mut().insert(header::ALLOW, header::HeaderValue::from_static("GET, POST"));
        }
        response
    };
    // `HEAD` (link checkers, chat previews) and `OPTIONS` (a browser's preflight) are not
    // conversion calls: refused and not stored. Other methods are refused with the call, stored.
    if matches!(*req.method(), actix_web::http::Method::HEAD | actix_web::http::Method::OPTIONS) {
        let reason = Reason::MethodNotAllowed;
        return answer(reason.http_status(), reason.code(), "use GET or POST", None);
    }
    // Only a POST's body is read (another method's is refused with the call).
    let body = if req.method() == actix_web::http::Method::POST {
        read_body(payload).await
    } else {
        drop(payload);
        Ok(web::Bytes::new())
    };
    let (body, mut body_refusal) = match body {
        Ok(body) => (body, None),
        // Broken framing or a stalled body: answered at once (the connection then closes), not
        // stored; nothing of the call can be trusted.
        Err(refusal) if refusal.reason == Reason::InvalidBody => {
            return answer(refusal.reason.http_status(), refusal.reason.code(), &refusal.message, None);
        }
        Err(refusal) => (web::Bytes::new(), Some(refusal)),
    };
    let query = req.query_string();
    let mut params: Vec<(String, String)> = Vec::new();
    let mut not_utf8 = read_params(query, &mut params);
    let mut raw = masked_query(query);
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    if !body.is_empty() && is_form {
        // A body that is not UTF-8 is refused by the writer (stored like every refusal), its
        // parameters read with the bad bytes replaced, so the attempt names its click.
        let text = String::from_utf8_lossy(&body);
        if matches!(text, std::borrow::Cow::Owned(_)) {
            body_refusal = Some(Refusal { reason: Reason::InvalidBody, message: "the form body is not UTF-8".into() });
        }
        let text = text.as_ref();
        let body_not_utf8 = read_params(text, &mut params);
        not_utf8 = not_utf8.or(body_not_utf8);
        if !raw.is_empty() {
            raw.push('&');
        }
        raw.push_str(&masked_query(text));
    }
    let host_tenant = match t.cache.host_tenant(&t.pool, host(&req)).await {
        Ok(h) => h,
        Err(e) => {
            tracing::error!(error = %e, "conversion: tracking domain lookup failed");
            return answer(503, "server_error", "the conversion could not be stored; retry later", None);
        }
    };
    let request = ConversionRequest {
        params,
        goal_endpoint,
        method: req.method().to_string(),
        raw_query: raw,
        ip: client_ip(&req, t.trust_proxy),
        received_at: t.clock.now(),
        body_refusal,
        not_utf8,
        host_tenant,
    };
    let writer = {
        let tid = request.param("transaction_id").unwrap_or("");
        // FNV-1a: cheap and stable.
        let hash = tid
            .bytes()
            .map(|b| b.to_ascii_lowercase())
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let n = t.conversions.len().max(1) as u64;
        usize::try_from(hash % n).unwrap_or(0)
    };
    let Some(writer) = t.conversions.get(writer) else {
        return answer(503, "server_error", "the conversion could not be stored; retry later", None);
    };
    match writer.submit(request).await {
        Ok(Outcome::Accepted { conversion_id, status, transaction_id }) => answer(
            200,
            "",
            "",
            Some(serde_json::json!({
                "success": true,
                "conversion_id": conversion_id,
                "status": status,
                "transaction_id": transaction_id,
            })),
        ),
        Ok(Outcome::Refused(r)) => answer(r.reason.http_status(), r.reason.code(), &r.message, None),
        Err(_) => answer(503, "server_error", "the conversion could not be stored; retry later", None),
    }
}

/// Starts the click and conversion writers on connections of their own.
pub fn start(
    url: &affnet_db::DatabaseUrl,
    pool: DbPool,
    clock: Arc<dyn Clock>,
    trust_proxy: bool,
    cache_ttl: std::time::Duration,
    postback_config: crate::delivery::DeliveryConfig,
) -> Result<(Tracking, Vec<std::thread::JoinHandle<()>>), String> {
    // One click writer on both: SQLite has one writer at a time, and on PostgreSQL a click
    // batch is a single statement (one round trip), so a second writer only halved the batches:
    // measured with 64 connections, PostgreSQL's CPU per click fell from ~21 to ~13 us and the
    // server's from ~21 to ~18 us with one (BENCHMARKS.md). Conversions do more per call: four
    // writers on PostgreSQL.
    let (click_writers, writers) = match url.backend() {
        affnet_db::Backend::Sqlite => (1, 1),
        affnet_db::Backend::Postgres => (1, 4),
    };
    let keys = Arc::new(crate::transaction_id::SequenceKeys::default());
    let mut click_conns = Vec::with_capacity(click_writers);
    for _ in 0..click_writers {
        let conn = crate::WriterConn::open(url).map_err(|e| e.to_string())?;
        click_conns.push(ClickWriter::new(conn, &keys).map_err(|e| format!("click writer: {e}"))?);
    }
    let (clicks, mut handles) =
        GroupCommit::start_many("click-writer", click_conns, 4096, 512).map_err(|e| e.to_string())?;
    let mut conversions = Vec::with_capacity(writers);
    for i in 0..writers {
        let conn = crate::WriterConn::open(url).map_err(|e| e.to_string())?;
        let (writer, handle) =
            GroupCommit::start(&format!("conversion-writer-{i}"), ConversionWriter::new(conn), 4096, 256)
                .map_err(|e| e.to_string())?;
        conversions.push(writer);
        handles.push(handle);
    }
    let tracking = Tracking {
        pool,
        clicks,
        keys,
        conversions,
        cache: Cache::new(cache_ttl),
        clock,
        trust_proxy,
        postback_client: crate::delivery::client(&postback_config)?,
        postback_config,
    };
    Ok((tracking, handles))
}

/// Now, from the tracking clock (for callers outside the handlers).
pub fn now(t: &Tracking) -> Micros {
    t.clock.now()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behind_a_proxy_only_the_address_it_appended_counts() {
        let peer: std::net::SocketAddr = "10.0.0.2:5555".parse().unwrap();
        let req = actix_web::test::TestRequest::default()
            .peer_addr(peer)
            .insert_header(("x-forwarded-for", "203.0.113.9, 198.51.100.7"))
            .insert_header(("forwarded", "for=192.0.2.1"))
            .to_http_request();
        assert_eq!(client_ip(&req, true), "198.51.100.7");
        assert_eq!(client_ip(&req, false), "10.0.0.2");
        let forged = actix_web::test::TestRequest::default()
            .peer_addr(peer)
            .insert_header(("x-forwarded-for", "not-an-ip"))
            .to_http_request();
        assert_eq!(client_ip(&forged, true), "10.0.0.2");
    }

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in
            ["0.0.0.0", "127.0.0.1", "10.20.30.40", "255.255.255.255", "100.9.99.199", "::1", "2001:db8::8a2e:370:7334"]
        {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }

    #[test]
    fn the_token_is_masked_however_it_is_spelled() {
        assert_eq!(
            masked_query("transaction_id=a&security_token=s3cret&x=1"),
            "transaction_id=a&security_token=***&x=1"
        );
        assert_eq!(masked_query("security%5Ftoken=s3cret"), "security%5Ftoken=***");
        assert_eq!(masked_query("security_token"), "security_token");
    }

    #[test]
    fn click_parameters_take_the_first_non_empty_alias_and_refuse_control_characters() {
        let p = parse_click_params("offer_id=1&aff_id=2&aff_sub=&sub1=abc&sub2=x").unwrap();
        assert_eq!((p.subs[0].as_str(), p.subs[1].as_str()), ("abc", "x"));
        assert_eq!(
            parse_click_params("offer_id=1&aff_id=2&aff_sub=%00").unwrap_err(),
            "aff_sub contains a control character"
        );
        // C1 controls (U+0080..U+009F, two bytes in UTF-8) and DEL too; other non-ASCII is text.
        for bad in ["source=a%C2%85b", "aff_sub2=%7F", "sub3=x%1By"] {
            assert!(parse_click_params(&format!("offer_id=1&aff_id=2&{bad}")).is_err(), "{bad}");
        }
        assert_eq!(parse_click_params("offer_id=1&aff_id=2&source=caf%C3%A9+%E2%82%AC").unwrap().source, "café €");
    }
}

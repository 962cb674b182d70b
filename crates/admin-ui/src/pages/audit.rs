//! The audit log page (network admins only): who changed which offer, payout, postback,
//! conversion status, user, company, API key or network setting, and when; newest first,
//! filtered by entity, actor and dates (the same filters as `GET /api/v1/audit`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use affnet_accounts::audit::{self, Entity, Entry, Filter};
use affnet_db::{FieldErrors, Micros, UserId};
use askama::Template;

use crate::auth::NetworkAdmin;
use crate::layout::{render, Layout};
use crate::pages::catalogue::{page_offset, Pager, PER_PAGE};
use crate::pages::tracking::parse_day;
use crate::{AppError, AppState};

#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    pub(crate) entity: String,
    pub(crate) actor: String,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) page: Option<u32>,
}

impl AuditQuery {
    /// The filter these parameters ask for, and what is wrong with them (the page and the API
    /// read the same parameters).
    pub(crate) fn filter(&self) -> (Filter, FieldErrors) {
        let mut f = Filter::default();
        let mut e = FieldErrors::new();
        match self.entity.trim() {
            "" => {}
            s => match s.parse::<Entity>() {
                Ok(entity) => f.entity = Some(entity),
                Err(_) => e.add("entity", "choose a kind of change from the list"),
            },
        }
        match self.actor.trim() {
            "" => {}
            s => match s.parse::<i64>() {
                Ok(id) if id > 0 => f.actor = Some(UserId(id)),
                _ => e.add("actor", "enter a user id (a number)"),
            },
        }
        if !self.from.trim().is_empty() {
            f.from = parse_day(&self.from);
            if f.from.is_none() {
                e.add("from", crate::pages::tracking::bad_date(&self.from));
            }
        }
        if !self.to.trim().is_empty() {
            f.until = parse_day(&self.to).map(|t| t.plus(86_400 * Micros::SECOND));
            if f.until.is_none() {
                e.add("to", crate::pages::tracking::bad_date(&self.to));
            }
        }
        if matches!((f.from, f.until), (Some(from), Some(until)) if until <= from) {
            e.add("to", "the end date comes before the start date");
        }
        (f, e)
    }

    fn params(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("entity", self.entity.as_str()),
            ("actor", self.actor.as_str()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
        ]
    }
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    l: Layout,
    q: AuditQuery,
    errors: FieldErrors,
    entities: Vec<(&'static str, &'static str)>,
    rows: Vec<Entry>,
    pager: Pager,
}

/// `GET /admin/audit`
pub async fn list(
    state: web::Data<AppState>,
    me: NetworkAdmin,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, AppError> {
    let q = q.into_inner();
    let path = "/admin/audit";
    let (filter, errors) = q.filter();
    let (page, offset) = page_offset(q.page);
    let tenant = me.tenant.id;
    let mut rows = if errors.is_empty() {
        state.db(move |c| Ok(audit::list(c, tenant, &filter, PER_PAGE + 1, offset)?)).await?
    } else {
        Vec::new()
    };
    let pager = Pager::new(path, &q.params(), page, &mut rows);
    let status = if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY };
    let page = AuditPage {
        l: Layout::for_user(&me, "Audit log", path),
        q,
        errors,
        entities: Entity::ALL.into_iter().map(|e| (e.as_str(), e.label())).collect(),
        rows,
        pager,
    };
    render(status, &page)
}

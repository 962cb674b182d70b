//! Goals: the events of an offer beyond the base conversion (a deposit, a second purchase), each
//! with its own payout and revenue, and whether one click may convert it more than once.

use diesel::prelude::*;

use affnet_db::schema::goals;
use affnet_db::{DbConn, FieldErrors, GoalId, Micros, OfferId, TenantId};

use crate::error::line;
use crate::offer::parse_field;
use crate::payout::Rate;
use crate::{Offer, OffersError};

crate::text_enum!(
    /// Only `active` goals take conversions.
    GoalStatus {
        Active = "active",
        Paused = "paused",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = goals)]
pub struct Goal {
    pub id: GoalId,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub offer_id: OfferId,
    pub name: String,
    pub status: GoalStatus,
    pub payout_type: crate::PayoutType,
    pub payout_flat: i64,
    pub payout_bps: i64,
    pub revenue_type: crate::PayoutType,
    pub revenue_flat: i64,
    pub revenue_bps: i64,
    pub allow_multiple: bool,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalInput {
    pub name: String,
    /// `active` (default) or `paused`.
    #[serde(default)]
    pub status: Option<String>,
    pub payout: Rate,
    #[serde(default = "zero")]
    pub revenue: Rate,
    /// May one click convert this goal more than once (e.g. every deposit)?
    #[serde(default)]
    pub allow_multiple: bool,
}

fn zero() -> Rate {
    Rate::ZERO
}

impl GoalInput {
    fn validate(&self) -> Result<(String, GoalStatus), OffersError> {
        let mut e = FieldErrors::new();
        let name = line(&self.name, "name", 1, 200, &mut e);
        let status = parse_field(self.status.as_deref(), "status", GoalStatus::Active, &mut e);
        self.payout.validate("payout", &mut e);
        self.revenue.validate("revenue", &mut e);
        e.into_result()?;
        Ok((name, status))
    }

    /// What [`Goal::create`] would refuse in this input, field by field (empty: nothing).
    pub fn field_errors(&self) -> FieldErrors {
        match self.validate() {
            Err(OffersError::Invalid(errors)) => errors,
            _ => FieldErrors::new(),
        }
    }
}

impl Goal {
    pub fn payout_rate(&self) -> Rate {
        Rate { kind: self.payout_type, flat: self.payout_flat, bps: self.payout_bps }
    }

    pub fn revenue_rate(&self) -> Rate {
        Rate { kind: self.revenue_type, flat: self.revenue_flat, bps: self.revenue_bps }
    }

    pub fn create(
        conn: &mut DbConn,
        tenant: TenantId,
        offer: OfferId,
        input: &GoalInput,
        now: Micros,
    ) -> Result<Goal, OffersError> {
        let _changed = crate::ChangeGuard;
        Offer::find(conn, tenant, offer)?;
        let (name, status) = input.validate()?;
        let id: GoalId = diesel::insert_into(goals::table)
            .values((
                goals::tenant_id.eq(tenant),
                goals::offer_id.eq(offer),
                goals::name.eq(&name),
                goals::status.eq(status),
                goals::payout_type.eq(input.payout.kind),
                goals::payout_flat.eq(input.payout.flat),
                goals::payout_bps.eq(input.payout.bps),
                goals::revenue_type.eq(input.revenue.kind),
                goals::revenue_flat.eq(input.revenue.flat),
                goals::revenue_bps.eq(input.revenue.bps),
                goals::allow_multiple.eq(input.allow_multiple),
                goals::created_at.eq(now),
                goals::updated_at.eq(now),
            ))
            .returning(goals::id)
            .get_result(conn)?;
        Goal::find(conn, tenant, id)
    }

    pub fn update(
        conn: &mut DbConn,
        tenant: TenantId,
        id: GoalId,
        input: &GoalInput,
        now: Micros,
    ) -> Result<Goal, OffersError> {
        let _changed = crate::ChangeGuard;
        Goal::find(conn, tenant, id)?;
        let (name, status) = input.validate()?;
        diesel::update(goals::table.filter(goals::tenant_id.eq(tenant)).filter(goals::id.eq(id)))
            .set((
                goals::name.eq(&name),
                goals::status.eq(status),
                goals::payout_type.eq(input.payout.kind),
                goals::payout_flat.eq(input.payout.flat),
                goals::payout_bps.eq(input.payout.bps),
                goals::revenue_type.eq(input.revenue.kind),
                goals::revenue_flat.eq(input.revenue.flat),
                goals::revenue_bps.eq(input.revenue.bps),
                goals::allow_multiple.eq(input.allow_multiple),
                goals::updated_at.eq(now),
            ))
            .execute(conn)?;
        Goal::find(conn, tenant, id)
    }

    pub fn find(conn: &mut DbConn, tenant: TenantId, id: GoalId) -> Result<Goal, OffersError> {
        Ok(goals::table
            .filter(goals::tenant_id.eq(tenant))
            .filter(goals::id.eq(id))
            .select(Goal::as_select())
            .first(conn)?)
    }

    pub fn list_for_offer(conn: &mut DbConn, tenant: TenantId, offer: OfferId) -> Result<Vec<Goal>, OffersError> {
        Ok(goals::table
            .filter(goals::tenant_id.eq(tenant))
            .filter(goals::offer_id.eq(offer))
            .order(goals::id.asc())
            .select(Goal::as_select())
            .load(conn)?)
    }
}

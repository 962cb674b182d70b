//! Per-affiliate payouts: an affiliate may earn more (or less) than the offer's default, for the
//! whole offer or for one goal. [`crate::payout::resolve`] decides which rule applies.

use diesel::prelude::*;

use affnet_db::schema::payout_overrides;
use affnet_db::{AffiliateId, DbConn, FieldErrors, GoalId, Micros, OfferId, TenantId};

use crate::payout::{PayoutSources, Rate};
use crate::{Affiliate, Goal, Offer, OffersError};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = payout_overrides)]
pub struct PayoutOverride {
    pub id: i64,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub offer_id: OfferId,
    pub goal_id: Option<GoalId>,
    pub affiliate_id: AffiliateId,
    pub payout_type: crate::PayoutType,
    pub payout_flat: i64,
    pub payout_bps: i64,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideInput {
    pub offer_id: OfferId,
    pub affiliate_id: AffiliateId,
    /// Empty for the whole offer.
    #[serde(default)]
    pub goal_id: Option<GoalId>,
    pub payout: Rate,
}

impl PayoutOverride {
    pub fn rate(&self) -> Rate {
        Rate { kind: self.payout_type, flat: self.payout_flat, bps: self.payout_bps }
    }

    /// Creates or replaces the override for (offer, goal, affiliate).
    pub fn set(
        conn: &mut DbConn,
        tenant: TenantId,
        input: &OverrideInput,
        now: Micros,
    ) -> Result<PayoutOverride, OffersError> {
        let _changed = crate::ChangeGuard;
        let mut e = FieldErrors::new();
        if Offer::find(conn, tenant, input.offer_id).is_err() {
            e.add("offer_id", "choose an offer of this network");
        }
        if Affiliate::find(conn, tenant, input.affiliate_id).is_err() {
            e.add("affiliate_id", "choose an affiliate of this network");
        }
        if let Some(g) = input.goal_id {
            match Goal::find(conn, tenant, g) {
                Ok(goal) if goal.offer_id == input.offer_id => {}
                _ => e.add("goal_id", "choose a goal of this offer"),
            }
        }
        input.payout.validate("payout", &mut e);
        e.into_result()?;
        // An override of the same key sent at the same time may insert the row first.
        crate::error::once_more_on_conflict(conn, |conn| {
            affnet_db::write_tx(conn, |conn| {
                let existing =
                    PayoutOverride::find_for(conn, tenant, input.offer_id, input.goal_id, input.affiliate_id)?;
                match existing {
                    Some(o) => {
                        diesel::update(
                            payout_overrides::table
                                .filter(payout_overrides::tenant_id.eq(tenant))
                                .filter(payout_overrides::id.eq(o.id)),
                        )
                        .set((
                            payout_overrides::payout_type.eq(input.payout.kind),
                            payout_overrides::payout_flat.eq(input.payout.flat),
                            payout_overrides::payout_bps.eq(input.payout.bps),
                            payout_overrides::updated_at.eq(now),
                        ))
                        .execute(conn)?;
                    }
                    None => {
                        diesel::insert_into(payout_overrides::table)
                            .values((
                                payout_overrides::tenant_id.eq(tenant),
                                payout_overrides::offer_id.eq(input.offer_id),
                                payout_overrides::goal_id.eq(input.goal_id),
                                payout_overrides::affiliate_id.eq(input.affiliate_id),
                                payout_overrides::payout_type.eq(input.payout.kind),
                                payout_overrides::payout_flat.eq(input.payout.flat),
                                payout_overrides::payout_bps.eq(input.payout.bps),
                                payout_overrides::created_at.eq(now),
                                payout_overrides::updated_at.eq(now),
                            ))
                            .execute(conn)?;
                    }
                }
                PayoutOverride::find_for(conn, tenant, input.offer_id, input.goal_id, input.affiliate_id)?
                    .ok_or(OffersError::NotFound)
            })
        })
    }

    pub fn find_for(
        conn: &mut DbConn,
        tenant: TenantId,
        offer: OfferId,
        goal: Option<GoalId>,
        affiliate: AffiliateId,
    ) -> Result<Option<PayoutOverride>, OffersError> {
        let mut q = payout_overrides::table
            .filter(payout_overrides::tenant_id.eq(tenant))
            .filter(payout_overrides::offer_id.eq(offer))
            .filter(payout_overrides::affiliate_id.eq(affiliate))
            .into_boxed();
        q = match goal {
            Some(g) => q.filter(payout_overrides::goal_id.eq(g)),
            None => q.filter(payout_overrides::goal_id.is_null()),
        };
        Ok(q.select(PayoutOverride::as_select()).first(conn).optional()?)
    }

    pub fn find(conn: &mut DbConn, tenant: TenantId, id: i64) -> Result<PayoutOverride, OffersError> {
        Ok(payout_overrides::table
            .filter(payout_overrides::tenant_id.eq(tenant))
            .filter(payout_overrides::id.eq(id))
            .select(PayoutOverride::as_select())
            .first(conn)?)
    }

    pub fn delete(conn: &mut DbConn, tenant: TenantId, id: i64) -> Result<(), OffersError> {
        let _changed = crate::ChangeGuard;
        let n = diesel::delete(
            payout_overrides::table.filter(payout_overrides::tenant_id.eq(tenant)).filter(payout_overrides::id.eq(id)),
        )
        .execute(conn)?;
        if n == 0 {
            return Err(OffersError::NotFound);
        }
        Ok(())
    }

    pub fn list(
        conn: &mut DbConn,
        tenant: TenantId,
        offer: Option<OfferId>,
        affiliate: Option<AffiliateId>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<PayoutOverride>, OffersError> {
        let mut q = payout_overrides::table.filter(payout_overrides::tenant_id.eq(tenant)).into_boxed();
        if let Some(o) = offer {
            q = q.filter(payout_overrides::offer_id.eq(o));
        }
        if let Some(a) = affiliate {
            q = q.filter(payout_overrides::affiliate_id.eq(a));
        }
        Ok(q.order(payout_overrides::id.desc())
            .limit(limit)
            .offset(offset)
            .select(PayoutOverride::as_select())
            .load(conn)?)
    }

    /// The overrides `affiliate` has on `offers` (for the whole offer and for goals), to show it
    /// what it earns on each ([`AffiliateRates::payout`]) in one query.
    pub fn of_affiliate(
        conn: &mut DbConn,
        tenant: TenantId,
        affiliate: AffiliateId,
        offers: &[OfferId],
    ) -> Result<AffiliateRates, OffersError> {
        Ok(AffiliateRates(
            payout_overrides::table
                .filter(payout_overrides::tenant_id.eq(tenant))
                .filter(payout_overrides::affiliate_id.eq(affiliate))
                .filter(payout_overrides::offer_id.eq_any(offers))
                .select(PayoutOverride::as_select())
                .load(conn)?,
        ))
    }

    /// Everything [`crate::payout::resolve`] needs for a conversion of `offer` (and `goal`) by
    /// `affiliate`.
    pub fn sources(
        conn: &mut DbConn,
        tenant: TenantId,
        offer: &Offer,
        goal: Option<&Goal>,
        affiliate: AffiliateId,
    ) -> Result<PayoutSources, OffersError> {
        let offer_override = PayoutOverride::find_for(conn, tenant, offer.id, None, affiliate)?.map(|o| o.rate());
        let goal_override = match goal {
            Some(g) => PayoutOverride::find_for(conn, tenant, offer.id, Some(g.id), affiliate)?.map(|o| o.rate()),
            None => None,
        };
        Ok(PayoutSources {
            affiliate_goal_override: goal_override,
            affiliate_offer_override: offer_override,
            goal: goal.map(Goal::payout_rate),
            offer: offer.payout_rate(),
        })
    }
}

/// One affiliate's overrides on some offers ([`PayoutOverride::of_affiliate`]); the default has
/// none.
#[derive(Debug, Default)]
pub struct AffiliateRates(Vec<PayoutOverride>);

impl AffiliateRates {
    /// What the affiliate earns on a conversion of `offer` (for `goal`): the rule
    /// [`crate::payout::resolve`] prices it with.
    pub fn payout(&self, offer: &Offer, goal: Option<&Goal>) -> Rate {
        let set = |goal: Option<GoalId>| {
            self.0.iter().find(|o| o.offer_id == offer.id && o.goal_id == goal).map(PayoutOverride::rate)
        };
        PayoutSources {
            affiliate_goal_override: goal.and_then(|g| set(Some(g.id))),
            affiliate_offer_override: set(None),
            goal: goal.map(Goal::payout_rate),
            offer: offer.payout_rate(),
        }
        .rule()
    }
}

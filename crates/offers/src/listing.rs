//! Totals for paginated lists, and what an affiliate may see of the catalogue.
//!
//! Each `count` applies exactly the filters of the matching `list`. An affiliate sees the active
//! offers it can run or apply to: public ones (unless the network rejected it), approval-required
//! ones, and private ones only once assigned (approved) — see [`affiliate_may_see`].

use diesel::dsl::{exists, not};
use diesel::prelude::*;

use affnet_db::schema::{advertisers, affiliates, offer_access, offers, payout_overrides};
use affnet_db::{AffiliateId, DbConn, OfferId, TenantId};

use crate::access::AccessStatus;
use crate::offer::{OfferStatus, Visibility};
use crate::{
    Advertiser, AdvertiserStatus, Affiliate, AffiliateStatus, Offer, OfferAccess, OfferFilter, OffersError,
    PayoutOverride,
};

type Db = <DbConn as diesel::Connection>::Backend;

/// May an affiliate see (and so list, read, apply to) an offer with this status and visibility,
/// given the network's stored decision for it? The SQL of [`Offer::list_visible_to`] says the
/// same thing.
pub fn affiliate_may_see(status: OfferStatus, visibility: Visibility, decision: Option<AccessStatus>) -> bool {
    status == OfferStatus::Active
        && match visibility {
            Visibility::Public => decision != Some(AccessStatus::Rejected),
            Visibility::ApprovalRequired => true,
            Visibility::Private => decision == Some(AccessStatus::Approved),
        }
}

impl Advertiser {
    /// How many advertisers [`Advertiser::list`] has with the same filters.
    pub fn count(
        conn: &mut DbConn,
        tenant: TenantId,
        search: Option<&str>,
        status: Option<AdvertiserStatus>,
    ) -> Result<i64, OffersError> {
        let mut q = advertisers::table.filter(advertisers::tenant_id.eq(tenant)).into_boxed::<Db>();
        if let Some(s) = search.map(str::trim).filter(|s| !s.is_empty()) {
            let pattern = crate::like_pattern(s);
            q = q.filter(
                crate::lower(advertisers::name)
                    .like(crate::lower(pattern.clone()))
                    .escape('\\')
                    .or(crate::lower(advertisers::contact_email).like(crate::lower(pattern.clone())).escape('\\'))
                    .or(crate::lower(advertisers::contact_name).like(crate::lower(pattern)).escape('\\')),
            );
        }
        if let Some(st) = status {
            q = q.filter(advertisers::status.eq(st));
        }
        Ok(q.count().get_result(conn)?)
    }
}

impl Affiliate {
    /// How many affiliates [`Affiliate::list`] has with the same filters.
    pub fn count(
        conn: &mut DbConn,
        tenant: TenantId,
        search: Option<&str>,
        status: Option<AffiliateStatus>,
    ) -> Result<i64, OffersError> {
        let mut q = affiliates::table.filter(affiliates::tenant_id.eq(tenant)).into_boxed::<Db>();
        if let Some(s) = search.map(str::trim).filter(|s| !s.is_empty()) {
            let pattern = crate::like_pattern(s);
            q = q.filter(
                crate::lower(affiliates::name).like(crate::lower(pattern.clone())).escape('\\').or(crate::lower(
                    affiliates::contact_email,
                )
                .like(crate::lower(pattern))
                .escape('\\')),
            );
        }
        if let Some(st) = status {
            q = q.filter(affiliates::status.eq(st));
        }
        Ok(q.count().get_result(conn)?)
    }
}

/// The tenant's offers narrowed by `filter` (as [`Offer::list`] does), and, when `affiliate` is
/// given, to those that affiliate may see.
fn offer_query<'a>(
    tenant: TenantId,
    filter: &OfferFilter,
    affiliate: Option<AffiliateId>,
) -> offers::BoxedQuery<'a, Db> {
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
            Err(_) => q = q.filter(crate::lower(offers::name).like(crate::lower(crate::like_pattern(s))).escape('\\')),
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
    if let Some(aff) = affiliate {
        let rejected = exists(
            offer_access::table
                .filter(offer_access::tenant_id.eq(tenant))
                .filter(offer_access::offer_id.eq(offers::id))
                .filter(offer_access::affiliate_id.eq(aff))
                .filter(offer_access::status.eq(AccessStatus::Rejected)),
        );
        let approved = exists(
            offer_access::table
                .filter(offer_access::tenant_id.eq(tenant))
                .filter(offer_access::offer_id.eq(offers::id))
                .filter(offer_access::affiliate_id.eq(aff))
                .filter(offer_access::status.eq(AccessStatus::Approved)),
        );
        q = q.filter(offers::status.eq(OfferStatus::Active)).filter(
            offers::visibility
                .eq(Visibility::ApprovalRequired)
                .or(offers::visibility.eq(Visibility::Public).and(not(rejected)))
                .or(offers::visibility.eq(Visibility::Private).and(approved)),
        );
    }
    q
}

impl Offer {
    /// How many offers [`Offer::list`] has with the same filter.
    pub fn count(conn: &mut DbConn, tenant: TenantId, filter: &OfferFilter) -> Result<i64, OffersError> {
        Ok(offer_query(tenant, filter, None).count().get_result(conn)?)
    }

    /// The offers `affiliate` may see (see [`affiliate_may_see`]), narrowed by `filter`, newest
    /// first.
    pub fn list_visible_to(
        conn: &mut DbConn,
        tenant: TenantId,
        affiliate: AffiliateId,
        filter: &OfferFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Offer>, OffersError> {
        Ok(offer_query(tenant, filter, Some(affiliate))
            .order(offers::id.desc())
            .limit(limit)
            .offset(offset)
            .select(Offer::as_select())
            .load(conn)?)
    }

    /// How many offers [`Offer::list_visible_to`] has.
    pub fn count_visible_to(
        conn: &mut DbConn,
        tenant: TenantId,
        affiliate: AffiliateId,
        filter: &OfferFilter,
    ) -> Result<i64, OffersError> {
        Ok(offer_query(tenant, filter, Some(affiliate)).count().get_result(conn)?)
    }
}

impl OfferAccess {
    /// How many rows [`OfferAccess::list`] has with the same filters.
    pub fn count(
        conn: &mut DbConn,
        tenant: TenantId,
        status: Option<AccessStatus>,
        offer: Option<OfferId>,
        affiliate: Option<AffiliateId>,
    ) -> Result<i64, OffersError> {
        let mut q = offer_access::table.filter(offer_access::tenant_id.eq(tenant)).into_boxed::<Db>();
        if let Some(s) = status {
            q = q.filter(offer_access::status.eq(s));
        }
        if let Some(o) = offer {
            q = q.filter(offer_access::offer_id.eq(o));
        }
        if let Some(a) = affiliate {
            q = q.filter(offer_access::affiliate_id.eq(a));
        }
        Ok(q.count().get_result(conn)?)
    }

    /// The stored decisions of `affiliate` for `offers` (offers without a row are absent).
    pub fn decisions(
        conn: &mut DbConn,
        tenant: TenantId,
        affiliate: AffiliateId,
        offers: &[OfferId],
    ) -> Result<Vec<(OfferId, AccessStatus)>, OffersError> {
        if offers.is_empty() {
            return Ok(Vec::new());
        }
        Ok(offer_access::table
            .filter(offer_access::tenant_id.eq(tenant))
            .filter(offer_access::affiliate_id.eq(affiliate))
            .filter(offer_access::offer_id.eq_any(offers.to_vec()))
            .select((offer_access::offer_id, offer_access::status))
            .load(conn)?)
    }
}

impl PayoutOverride {
    /// How many overrides [`PayoutOverride::list`] has with the same filters.
    pub fn count(
        conn: &mut DbConn,
        tenant: TenantId,
        offer: Option<OfferId>,
        affiliate: Option<AffiliateId>,
    ) -> Result<i64, OffersError> {
        let mut q = payout_overrides::table.filter(payout_overrides::tenant_id.eq(tenant)).into_boxed::<Db>();
        if let Some(o) = offer {
            q = q.filter(payout_overrides::offer_id.eq(o));
        }
        if let Some(a) = affiliate {
            q = q.filter(payout_overrides::affiliate_id.eq(a));
        }
        Ok(q.count().get_result(conn)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_an_affiliate_sees() {
        use AccessStatus::*;
        use Visibility::*;
        for (status, visibility, decision, seen) in [
            (OfferStatus::Active, Public, None, true),
            (OfferStatus::Active, Public, Some(Pending), true),
            (OfferStatus::Active, Public, Some(Rejected), false),
            (OfferStatus::Active, ApprovalRequired, None, true),
            (OfferStatus::Active, ApprovalRequired, Some(Rejected), true),
            (OfferStatus::Active, Private, None, false),
            (OfferStatus::Active, Private, Some(Pending), false),
            (OfferStatus::Active, Private, Some(Approved), true),
            (OfferStatus::Paused, Public, None, false),
            (OfferStatus::Archived, Private, Some(Approved), false),
        ] {
            assert_eq!(affiliate_may_see(status, visibility, decision), seen, "{status} {visibility} {decision:?}");
        }
    }
}

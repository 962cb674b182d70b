//! Who may run which offer. Public offers: every active affiliate. Approval-required offers:
//! affiliates apply, a network admin or manager approves or rejects. Private offers: only the
//! affiliates the network assigns. One row per (offer, affiliate) holds the decision.

use diesel::prelude::*;

use affnet_db::schema::offer_access;
use affnet_db::{AffiliateId, DbConn, FieldErrors, Micros, OfferId, TenantId, UserId};

use crate::error::text;
use crate::offer::{OfferStatus, Visibility};
use crate::{Affiliate, Offer, OffersError};

crate::text_enum!(
    AccessStatus {
        Pending = "pending",
        Approved = "approved",
        Rejected = "rejected",
    }
);

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = offer_access)]
pub struct OfferAccess {
    pub id: i64,
    #[serde(skip)]
    pub tenant_id: TenantId,
    pub offer_id: OfferId,
    pub affiliate_id: AffiliateId,
    pub status: AccessStatus,
    /// What the affiliate wrote when applying.
    pub message: String,
    /// The network's note on its decision.
    pub note: String,
    pub requested_at: Micros,
    pub decided_at: Option<Micros>,
    pub decided_by: Option<UserId>,
}

/// May `affiliate` run `offer` given its visibility and the stored decision (if any)?
pub fn allowed(visibility: Visibility, decision: Option<AccessStatus>) -> bool {
    match visibility {
        // A public offer is open to all, unless the network explicitly rejected this affiliate.
        Visibility::Public => decision != Some(AccessStatus::Rejected),
        Visibility::ApprovalRequired | Visibility::Private => decision == Some(AccessStatus::Approved),
    }
}

/// A network person's decision on an affiliate's access to an offer.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'a> {
    /// `approved` or `rejected`.
    pub status: AccessStatus,
    /// Shown to the affiliate.
    pub note: &'a str,
    pub by: UserId,
}

impl OfferAccess {
    pub fn find(
        conn: &mut DbConn,
        tenant: TenantId,
        offer: OfferId,
        affiliate: AffiliateId,
    ) -> Result<Option<OfferAccess>, OffersError> {
        Ok(offer_access::table
            .filter(offer_access::tenant_id.eq(tenant))
            .filter(offer_access::offer_id.eq(offer))
            .filter(offer_access::affiliate_id.eq(affiliate))
            .select(OfferAccess::as_select())
            .first(conn)
            .optional()?)
    }

    pub fn find_by_id(conn: &mut DbConn, tenant: TenantId, id: i64) -> Result<OfferAccess, OffersError> {
        Ok(offer_access::table
            .filter(offer_access::tenant_id.eq(tenant))
            .filter(offer_access::id.eq(id))
            .select(OfferAccess::as_select())
            .first(conn)?)
    }

    /// Whether the affiliate may run (and see the link of) the offer right now.
    pub fn can_run(
        conn: &mut DbConn,
        tenant: TenantId,
        offer: &Offer,
        affiliate: AffiliateId,
    ) -> Result<bool, OffersError> {
        let decision = OfferAccess::find(conn, tenant, offer.id, affiliate)?.map(|a| a.status);
        Ok(allowed(offer.visibility, decision))
    }

    /// An affiliate asks to run an approval-required offer. Refused for private offers (they are
    /// assigned, never applied for), for offers not active, and twice.
    pub fn apply(
        conn: &mut DbConn,
        tenant: TenantId,
        offer: OfferId,
        affiliate: AffiliateId,
        message: &str,
        now: Micros,
    ) -> Result<OfferAccess, OffersError> {
        let _changed = crate::ChangeGuard;
        let o = Offer::find(conn, tenant, offer)?;
        Affiliate::find(conn, tenant, affiliate)?;
        if o.visibility == Visibility::Private {
            // The affiliate must not learn that the offer exists.
            return Err(OffersError::NotFound);
        }
        let mut e = FieldErrors::new();
        let message = text(message, "message", 0, 2000, &mut e);
        if o.status != OfferStatus::Active {
            e.add("offer_id", "this offer is not taking new affiliates");
        } else if o.visibility == Visibility::Public {
            e.add("offer_id", "this offer is public: no application is needed");
        }
        if let Some(existing) = OfferAccess::find(conn, tenant, offer, affiliate)? {
            e.add("offer_id", format!("you already applied (status: {})", existing.status));
        }
        e.into_result()?;
        let inserted = diesel::insert_into(offer_access::table)
            .values((
                offer_access::tenant_id.eq(tenant),
                offer_access::offer_id.eq(offer),
                offer_access::affiliate_id.eq(affiliate),
                offer_access::status.eq(AccessStatus::Pending),
                offer_access::message.eq(&message),
                offer_access::requested_at.eq(now),
            ))
            .execute(conn)
            .map_err(OffersError::from);
        match inserted {
            // An application sent at the same time (a double click) won: this one is the second.
            Err(e) if e.is_conflict() => {
                let status = OfferAccess::find(conn, tenant, offer, affiliate)?.map(|a| a.status);
                let status = status.map(|s| s.to_string()).unwrap_or_else(|| AccessStatus::Pending.to_string());
                return Err(OffersError::Invalid(FieldErrors::single(
                    "offer_id",
                    format!("you already applied (status: {status})"),
                )));
            }
            other => other?,
        };
        OfferAccess::find(conn, tenant, offer, affiliate)?.ok_or(OffersError::NotFound)
    }

    /// A network admin or manager decides: approve or reject an application, or assign
    /// (approve without application) any offer, including a private one.
    pub fn decide(
        conn: &mut DbConn,
        tenant: TenantId,
        offer: OfferId,
        affiliate: AffiliateId,
        decision: &Decision<'_>,
        now: Micros,
    ) -> Result<OfferAccess, OffersError> {
        let _changed = crate::ChangeGuard;
        let Decision { status, note, by } = *decision;
        Offer::find(conn, tenant, offer)?;
        Affiliate::find(conn, tenant, affiliate)?;
        let mut e = FieldErrors::new();
        let note = text(note, "note", 0, 2000, &mut e);
        if status == AccessStatus::Pending {
            e.add("status", "a decision is approved or rejected");
        }
        e.into_result()?;
        // A decision on the same pair sent at the same time may insert the row first.
        crate::error::once_more_on_conflict(conn, |conn| {
            affnet_db::write_tx(conn, |conn| {
                let updated = diesel::update(
                    offer_access::table
                        .filter(offer_access::tenant_id.eq(tenant))
                        .filter(offer_access::offer_id.eq(offer))
                        .filter(offer_access::affiliate_id.eq(affiliate)),
                )
                .set((
                    offer_access::status.eq(status),
                    offer_access::note.eq(&note),
                    offer_access::decided_at.eq(Some(now)),
                    offer_access::decided_by.eq(Some(by)),
                ))
                .execute(conn)?;
                if updated == 0 {
                    diesel::insert_into(offer_access::table)
                        .values((
                            offer_access::tenant_id.eq(tenant),
                            offer_access::offer_id.eq(offer),
                            offer_access::affiliate_id.eq(affiliate),
                            offer_access::status.eq(status),
                            offer_access::note.eq(&note),
                            offer_access::requested_at.eq(now),
                            offer_access::decided_at.eq(Some(now)),
                            offer_access::decided_by.eq(Some(by)),
                        ))
                        .execute(conn)?;
                }
                Ok::<_, OffersError>(())
            })
        })?;
        OfferAccess::find(conn, tenant, offer, affiliate)?.ok_or(OffersError::NotFound)
    }

    /// Access rows of the tenant, newest first, optionally narrowed.
    pub fn list(
        conn: &mut DbConn,
        tenant: TenantId,
        status: Option<AccessStatus>,
        offer: Option<OfferId>,
        affiliate: Option<AffiliateId>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<OfferAccess>, OffersError> {
        let mut q = offer_access::table.filter(offer_access::tenant_id.eq(tenant)).into_boxed();
        if let Some(s) = status {
            q = q.filter(offer_access::status.eq(s));
        }
        if let Some(o) = offer {
            q = q.filter(offer_access::offer_id.eq(o));
        }
        if let Some(a) = affiliate {
            q = q.filter(offer_access::affiliate_id.eq(a));
        }
        Ok(q.order(offer_access::id.desc()).limit(limit).offset(offset).select(OfferAccess::as_select()).load(conn)?)
    }
}

/// An offer as an affiliate sees it in their portal, with their access row (if any).
#[derive(Debug, Clone)]
pub struct VisibleOffer {
    pub offer: Offer,
    pub access: Option<OfferAccess>,
}

impl VisibleOffer {
    /// May the affiliate run it (and see its link)?
    pub fn can_run(&self) -> bool {
        allowed(self.offer.visibility, self.access.as_ref().map(|a| a.status))
    }
}

/// The offers an affiliate may see, newest first: active offers that are public or
/// approval-required, and private ones only where the network approved this affiliate (other
/// private offers are never revealed). `search` matches the name, or the id.
pub fn visible_offers(
    conn: &mut DbConn,
    tenant: TenantId,
    affiliate: AffiliateId,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<VisibleOffer>, OffersError> {
    use affnet_db::schema::offers;
    let rows: Vec<OfferAccess> = offer_access::table
        .filter(offer_access::tenant_id.eq(tenant))
        .filter(offer_access::affiliate_id.eq(affiliate))
        .select(OfferAccess::as_select())
        .load(conn)?;
    let approved_private: Vec<OfferId> =
        rows.iter().filter(|a| a.status == AccessStatus::Approved).map(|a| a.offer_id).collect();
    let mut q = offers::table
        .filter(offers::tenant_id.eq(tenant))
        .filter(offers::status.eq(OfferStatus::Active))
        .filter(offers::visibility.ne(Visibility::Private).or(offers::id.eq_any(approved_private)))
        .into_boxed();
    if let Some(s) = search.map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = crate::like_pattern(s);
        q = match s.parse::<i64>() {
            Ok(id) => q.filter(offers::id.eq(OfferId(id)).or(offers::name.like(pattern).escape('\\'))),
            Err(_) => q.filter(offers::name.like(pattern).escape('\\')),
        };
    }
    let list: Vec<Offer> =
        q.order(offers::id.desc()).limit(limit).offset(offset).select(Offer::as_select()).load(conn)?;
    Ok(list
        .into_iter()
        .map(|offer| {
            let access = rows.iter().find(|a| a.offer_id == offer.id).cloned();
            VisibleOffer { offer, access }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visibility_rules() {
        use AccessStatus::*;
        assert!(allowed(Visibility::Public, None));
        assert!(allowed(Visibility::Public, Some(Pending)));
        assert!(!allowed(Visibility::Public, Some(Rejected)));
        assert!(!allowed(Visibility::ApprovalRequired, None));
        assert!(!allowed(Visibility::ApprovalRequired, Some(Pending)));
        assert!(allowed(Visibility::ApprovalRequired, Some(Approved)));
        assert!(!allowed(Visibility::Private, None));
        assert!(allowed(Visibility::Private, Some(Approved)));
        assert!(!allowed(Visibility::Private, Some(Rejected)));
    }
}

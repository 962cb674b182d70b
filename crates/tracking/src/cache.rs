//! The click path's view of the catalogue: offers and (offer, affiliate) access decisions kept
//! in process for a short time, so a click costs no query. An entry is dropped when it is older
//! than the TTL or when this process changed the catalogue since it was loaded
//! ([`affnet_offers::generation`]); other nodes see a change within the TTL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use affnet_db::{AffiliateId, DbPool, OfferId, TenantId};
use affnet_offers::{Affiliate, AffiliateStatus, Offer, OfferAccess, OffersError};

/// Whether an affiliate may send clicks to an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Allowed,
    UnknownAffiliate,
    AffiliateNotActive,
    NotApproved,
}

struct Entry<T> {
    loaded: Instant,
    generation: u64,
    value: T,
}

/// Entries kept at most; past it the map is cleared (a burst of unknown ids cannot grow memory).
const MAX_ENTRIES: usize = 100_000;

/// Tracking domains (host names) and their networks.
type Domains = Arc<HashMap<String, TenantId>>;

pub struct Cache {
    ttl: Duration,
    offers: Mutex<HashMap<OfferId, Entry<Option<Arc<Offer>>>>>,
    access: Mutex<HashMap<(OfferId, AffiliateId), Entry<Access>>>,
    /// The networks' tracking domains (host name → network), loaded whole.
    domains: Mutex<Option<Entry<Domains>>>,
}

fn fresh<T: Clone>(e: Option<&Entry<T>>, ttl: Duration) -> Option<T> {
    e.filter(|e| e.generation == affnet_offers::generation() && e.loaded.elapsed() < ttl).map(|e| e.value.clone())
}

fn store<K: std::hash::Hash + Eq, T>(
    map: &Mutex<HashMap<K, Entry<T>>>,
    key: K,
    value: T,
    generation: u64,
    loaded: Instant,
) {
    if let Ok(mut m) = map.lock() {
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        m.insert(key, Entry { loaded, generation, value });
    }
}

impl Cache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, offers: Mutex::default(), access: Mutex::default(), domains: Mutex::default() }
    }

    /// The network whose tracking domain `host` (a `Host` header value) is, if any.
    pub async fn host_tenant(&self, pool: &DbPool, host: Option<&str>) -> Result<Option<TenantId>, OffersError> {
        let cached = fresh(self.domains.lock().ok().as_ref().and_then(|d| d.as_ref()), self.ttl);
        let domains = match cached {
            Some(d) => d,
            None => {
                let (generation, loaded) = (affnet_offers::generation(), Instant::now());
                let pool = pool.clone();
                let list = actix_web::web::block(move || -> Result<_, OffersError> {
                    let mut conn = pool.get()?;
                    affnet_accounts::Tenant::tracking_domains(&mut conn)
                        .map_err(|e| OffersError::Db(affnet_db::DbError::Pool(e.to_string())))
                })
                .await
                .map_err(|e| OffersError::Db(affnet_db::DbError::Pool(e.to_string())))??;
                let value: Domains = Arc::new(list.into_iter().collect());
                if let Ok(mut d) = self.domains.lock() {
                    *d = Some(Entry { loaded, generation, value: value.clone() });
                }
                value
            }
        };
        // Most installations have none: no header parsing then.
        if domains.is_empty() {
            return Ok(None);
        }
        Ok(host.and_then(affnet_accounts::tenant::host_name).and_then(|h| domains.get(&h).copied()))
    }

    /// The offer `id` of any tenant (offer ids are unique across the installation).
    pub async fn offer(&self, pool: &DbPool, id: OfferId) -> Result<Option<Arc<Offer>>, OffersError> {
        if let Some(v) = fresh(self.offers.lock().ok().as_ref().and_then(|m| m.get(&id)), self.ttl) {
            return Ok(v);
        }
        let (generation, loaded) = (affnet_offers::generation(), Instant::now());
        let pool = pool.clone();
        let value = actix_web::web::block(move || {
            let mut conn = pool.get()?;
            Offer::find_any_tenant(&mut conn, id)
        })
        .await
        .map_err(|e| OffersError::Db(affnet_db::DbError::Pool(e.to_string())))??
        .map(Arc::new);
        store(&self.offers, id, value.clone(), generation, loaded);
        Ok(value)
    }

    /// May `affiliate` send clicks to `offer` (of `tenant`)?
    pub async fn access(
        &self,
        pool: &DbPool,
        tenant: TenantId,
        offer: &Arc<Offer>,
        affiliate: AffiliateId,
    ) -> Result<Access, OffersError> {
        let key = (offer.id, affiliate);
        if let Some(v) = fresh(self.access.lock().ok().as_ref().and_then(|m| m.get(&key)), self.ttl) {
            return Ok(v);
        }
        let (generation, loaded) = (affnet_offers::generation(), Instant::now());
        let (pool, offer_row) = (pool.clone(), offer.clone());
        let value = actix_web::web::block(move || -> Result<Access, OffersError> {
            let mut conn = pool.get()?;
            let aff = match Affiliate::find(&mut conn, tenant, affiliate) {
                Ok(a) => a,
                Err(OffersError::NotFound) => return Ok(Access::UnknownAffiliate),
                Err(e) => return Err(e),
            };
            if aff.status != AffiliateStatus::Active {
                return Ok(Access::AffiliateNotActive);
            }
            Ok(if OfferAccess::can_run(&mut conn, tenant, &offer_row, affiliate)? {
                Access::Allowed
            } else {
                Access::NotApproved
            })
        })
        .await
        .map_err(|e| OffersError::Db(affnet_db::DbError::Pool(e.to_string())))??;
        store(&self.access, key, value, generation, loaded);
        Ok(value)
    }
}

//! The four kinds of user in a network.

use std::fmt;
use std::str::FromStr;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    diesel::expression::AsExpression,
    diesel::deserialize::FromSqlRow,
)]
#[diesel(sql_type = diesel::sql_types::Text)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs the network: everything, including users and settings.
    Admin,
    /// Affiliate manager: offers, affiliates, conversions, postbacks; not users or settings.
    Manager,
    /// Publisher who sends traffic.
    Affiliate,
    /// Offer owner who reports conversions.
    Advertiser,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Manager, Role::Affiliate, Role::Advertiser];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Affiliate => "affiliate",
            Role::Advertiser => "advertiser",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "Network admin",
            Role::Manager => "Affiliate manager",
            Role::Affiliate => "Affiliate",
            Role::Advertiser => "Advertiser",
        }
    }

    /// Admins and managers work the network's back office.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Manager)
    }
}

affnet_db::text_sql!(Role);

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role '{s}': use admin, manager, affiliate or advertiser"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_unknown() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
        assert!("Admin".parse::<Role>().is_err());
    }
}

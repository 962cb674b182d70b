//! Payouts (what the affiliate earns) and revenue (what the advertiser pays): CPA flat, CPA
//! percentage of the sale amount, or both; integer minor units and basis points only. The one
//! function that decides a conversion's payout is [`resolve`].

use affnet_db::FieldErrors;

crate::text_enum!(
    /// How a payout or revenue is computed.
    PayoutType {
        CpaFlat = "cpa_flat",
        CpaPercent = "cpa_percent",
        CpaBoth = "cpa_both",
    }
);

/// Largest flat amount accepted: 1,000,000.00 in a two-decimal currency.
pub const MAX_FLAT_MINOR: i64 = 100_000_000;
/// 100 %.
pub const MAX_BPS: i64 = 10_000;

/// A payout or revenue rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    #[serde(rename = "type")]
    pub kind: PayoutType,
    /// Flat part, in minor units (cents); used by `cpa_flat` and `cpa_both`.
    pub flat: i64,
    /// Percentage of the sale amount, in basis points (1250 = 12.5 %); used by `cpa_percent`
    /// and `cpa_both`.
    pub bps: i64,
}

impl Rate {
    pub const ZERO: Rate = Rate { kind: PayoutType::CpaFlat, flat: 0, bps: 0 };

    pub fn flat(minor: i64) -> Rate {
        Rate { kind: PayoutType::CpaFlat, flat: minor, bps: 0 }
    }

    /// Refuses negative or absurd amounts and percentages over 100 %; `field` names the form
    /// fields (`{field}_flat`, `{field}_bps`).
    pub fn validate(&self, field: &str, errors: &mut FieldErrors) {
        if !(0..=MAX_FLAT_MINOR).contains(&self.flat) {
            errors.add(&format!("{field}_flat"), "must be between 0 and 1,000,000.00");
        }
        if !(0..=MAX_BPS).contains(&self.bps) {
            errors.add(&format!("{field}_bps"), "a percentage must be between 0 and 100 %");
        }
    }

    /// The amount this rule gives for a conversion with `sale_amount` (minor units; `None` when
    /// the advertiser sent none, which makes the percentage part zero). Rounds half up.
    pub fn amount_for(&self, sale_amount: Option<i64>) -> i64 {
        let percent_part = |amount: i64| -> i64 {
            let wide = i128::from(amount) * i128::from(self.bps);
            i64::try_from((wide + 5_000) / 10_000).unwrap_or(i64::MAX)
        };
        let sale = sale_amount.unwrap_or(0).max(0);
        match self.kind {
            PayoutType::CpaFlat => self.flat,
            PayoutType::CpaPercent => percent_part(sale),
            PayoutType::CpaBoth => self.flat.saturating_add(percent_part(sale)),
        }
    }
}

/// The rules that may apply to one conversion, most specific first.
#[derive(Debug, Clone, Copy)]
pub struct PayoutSources {
    /// The affiliate's override for this offer and this goal.
    pub affiliate_goal_override: Option<Rate>,
    /// The affiliate's override for this offer (any goal without its own override).
    pub affiliate_offer_override: Option<Rate>,
    /// The goal's own payout (when the conversion is for a goal).
    pub goal: Option<Rate>,
    /// The offer's default payout.
    pub offer: Rate,
}

/// The payout of one conversion: the most specific rule wins, in the order of
/// [`PayoutSources`] (affiliate+goal override, affiliate+offer override, goal, offer).
/// An offer-level override does not apply to a goal conversion whose goal has its own payout,
/// unless no goal override exists and the goal has none either: goals priced apart keep their
/// price unless overridden for that goal.
pub fn resolve(sources: &PayoutSources, sale_amount: Option<i64>) -> i64 {
    sources.rule().amount_for(sale_amount)
}

impl PayoutSources {
    /// The rule that prices the conversion ([`resolve`]): what the affiliate's pages and the API
    /// show it earns.
    pub fn rule(&self) -> Rate {
        self.affiliate_goal_override
            .or(match self.goal {
                Some(goal) => Some(goal),
                None => self.affiliate_offer_override,
            })
            .unwrap_or(self.offer)
    }
}

/// The revenue of one conversion: the goal's, else the offer's.
pub fn resolve_revenue(goal: Option<Rate>, offer: Rate, sale_amount: Option<i64>) -> i64 {
    goal.unwrap_or(offer).amount_for(sale_amount)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAT_500: Rate = Rate { kind: PayoutType::CpaFlat, flat: 500, bps: 0 };
    const PCT_10: Rate = Rate { kind: PayoutType::CpaPercent, flat: 0, bps: 1000 };
    const BOTH: Rate = Rate { kind: PayoutType::CpaBoth, flat: 100, bps: 250 };

    #[test]
    fn amounts_by_type() {
        for (rate, sale, expected) in [
            (FLAT_500, None, 500),
            (FLAT_500, Some(99_999), 500),
            (PCT_10, Some(12_345), 1_235), // 1234.5 rounds half up
            (PCT_10, None, 0),
            (BOTH, Some(10_000), 100 + 250),
            (BOTH, None, 100),
            (Rate { kind: PayoutType::CpaPercent, flat: 999, bps: 10_000 }, Some(777), 777),
            (PCT_10, Some(-5), 0),
        ] {
            assert_eq!(rate.amount_for(sale), expected, "{rate:?} {sale:?}");
        }
    }

    #[test]
    fn the_most_specific_rule_wins() {
        let offer = FLAT_500;
        let goal = Rate::flat(200);
        let offer_ovr = Rate::flat(700);
        let goal_ovr = Rate::flat(300);
        let s = |g: Option<Rate>, oo: Option<Rate>, go: Option<Rate>| PayoutSources {
            affiliate_goal_override: go,
            affiliate_offer_override: oo,
            goal: g,
            offer,
        };
        for (sources, expected) in [
            (s(None, None, None), 500),                            // offer default
            (s(None, Some(offer_ovr), None), 700),                 // offer override, base conversion
            (s(Some(goal), None, None), 200),                      // goal price
            (s(Some(goal), Some(offer_ovr), None), 200),           // goal keeps its own price
            (s(Some(goal), Some(offer_ovr), Some(goal_ovr)), 300), // goal override wins
            (s(Some(goal), None, Some(goal_ovr)), 300),
        ] {
            assert_eq!(resolve(&sources, None), expected, "{sources:?}");
        }
        assert_eq!(resolve(&s(None, Some(PCT_10), None), Some(5_000)), 500);
        assert_eq!(resolve_revenue(None, BOTH, Some(10_000)), 350);
        assert_eq!(resolve_revenue(Some(FLAT_500), BOTH, Some(10_000)), 500);
    }

    #[test]
    fn validation() {
        let mut e = FieldErrors::new();
        Rate { kind: PayoutType::CpaBoth, flat: -1, bps: 10_001 }.validate("payout", &mut e);
        assert!(e.get("payout_flat").is_some() && e.get("payout_bps").is_some());
        let mut e = FieldErrors::new();
        Rate { kind: PayoutType::CpaFlat, flat: MAX_FLAT_MINOR + 1, bps: 0 }.validate("payout", &mut e);
        assert!(e.get("payout_flat").is_some());
        let mut e = FieldErrors::new();
        BOTH.validate("payout", &mut e);
        assert!(e.is_empty());
    }
}

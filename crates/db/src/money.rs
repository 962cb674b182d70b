//! Money in integer minor units with its ISO 4217 currency. No floats, ever.

use std::fmt;

/// An ISO 4217 currency code (three upper-case letters).
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
#[serde(try_from = "String", into = "String")]
#[diesel(sql_type = diesel::sql_types::Text)]
pub struct Currency([u8; 3]);

crate::text_sql!(Currency);

/// Reading a stored code back (the database column): any three letters, so that a row stored
/// before the ISO 4217 check still reads. What people give is read with [`Currency::parse`].
impl std::str::FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, MoneyError> {
        Currency::letters(s)
    }
}

/// ISO 4217's active currencies (list one, 2025), sorted: the codes an offer, a payout or a
/// sale may be in. Without the precious metals (`XAU`…), bond units, fund codes (`CLF`, `USN`…),
/// `XDR`, `XSU`, `XUA` and the testing codes (`XTS`, `XXX`).
pub const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
    "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLP", "CNY", "COP", "CRC",
    "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL",
    "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK",
    "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD",
    "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN",
    "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON",
    "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS", "SRD", "SSP", "STN",
    "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU",
    "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("currency must be an ISO 4217 currency code such as USD or EUR")]
    BadCurrency,
    #[error("amount must be a plain decimal number such as 12.50")]
    NotADecimal,
    #[error("amount must not be negative")]
    Negative,
    #[error("amount has more decimal places than the currency allows ({0})")]
    TooPrecise(u32),
    #[error("amount is too large")]
    TooLarge,
}

impl Currency {
    pub const USD: Currency = Currency(*b"USD");

    /// Reads a currency someone gave (a form, the API): one of ISO 4217's active currencies
    /// ([`ISO_4217`]), in any case. `ZZZ` or `ABC` are refused, as are the precious metals,
    /// funds and testing codes.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let c = Self::letters(code)?;
        if ISO_4217.binary_search(&c.code()).is_err() {
            return Err(MoneyError::BadCurrency);
        }
        Ok(c)
    }

    /// Three letters, upper-cased (a stored code, read back as it was stored).
    fn letters(code: &str) -> Result<Self, MoneyError> {
        let b = code.trim().as_bytes();
        if b.len() != 3 || !b.iter().all(u8::is_ascii_alphabetic) {
            return Err(MoneyError::BadCurrency);
        }
        Ok(Currency([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase(), b[2].to_ascii_uppercase()]))
    }

    pub fn as_str(&self) -> &str {
        self.code()
    }

    pub fn code(&self) -> &str {
        // Built only from ASCII letters.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point (ISO 4217 minor unit).
    pub fn minor_digits(&self) -> u32 {
        match self.code() {
            "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI" | "VND"
            | "VUV" | "XAF" | "XOF" | "XPF" => 0,
            "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
            _ => 2,
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(s: String) -> Result<Self, MoneyError> {
        Currency::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount in the currency's minor units (cents for USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

/// Largest amount accepted from outside: 10^13 minor units (100 billion dollars).
const MAX_MINOR: i64 = 10_000_000_000_000;

impl Money {
    pub fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Parses a non-negative decimal such as `12`, `12.5` or `12.50` into minor units. Refuses
    /// exponents, thousands separators, decimal commas, signs, and more decimals than the
    /// currency has, so that `1e400` or `12,50` can never be misread. (What people type:
    /// payouts, caps.)
    pub fn parse_decimal(s: &str, currency: Currency) -> Result<Self, MoneyError> {
        Self::parse(s, currency, false)
    }

    /// Like [`Money::parse_decimal`], but more decimals than the currency has are rounded
    /// half-up to its minor unit (`19.995` USD → 20.00): for amounts other systems compute and
    /// send (a sale amount after tax or conversion), where refusing would lose the sale.
    pub fn parse_decimal_rounded(s: &str, currency: Currency) -> Result<Self, MoneyError> {
        Self::parse(s, currency, true)
    }

    fn parse(s: &str, currency: Currency, round: bool) -> Result<Self, MoneyError> {
        let s = s.trim();
        if s.starts_with('-') {
            return Err(MoneyError::Negative);
        }
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        let digits_only = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if (int.is_empty() && frac.is_empty())
            || !digits_only(int)
            || !digits_only(frac)
            || (s.ends_with('.') && frac.is_empty() && int.is_empty())
        {
            return Err(MoneyError::NotADecimal);
        }
        let digits = currency.minor_digits();
        let frac = frac.trim_end_matches('0');
        // Half-up: only the first digit past the minor unit decides (0.0049… < 0.005).
        let mut round_up = false;
        let frac = if frac.len() > digits as usize {
            if !round {
                return Err(MoneyError::TooPrecise(digits));
            }
            round_up = frac.as_bytes()[digits as usize] >= b'5';
            &frac[..digits as usize]
        } else {
            frac
        };
        if int.trim_start_matches('0').len() > 14 {
            return Err(MoneyError::TooLarge);
        }
        let int_value: i64 = if int.is_empty() { 0 } else { int.parse().map_err(|_| MoneyError::TooLarge)? };
        let scale = 10_i64.pow(digits);
        let mut frac_value: i64 =
            if frac.is_empty() { 0 } else { frac.parse().map_err(|_| MoneyError::NotADecimal)? };
        frac_value *= 10_i64.pow(digits - frac.len() as u32);
        let minor = int_value
            .checked_mul(scale)
            .and_then(|v| v.checked_add(frac_value + i64::from(round_up)))
            .filter(|v| *v <= MAX_MINOR)
            .ok_or(MoneyError::TooLarge)?;
        Ok(Self { minor, currency })
    }

    /// The amount as a decimal with the currency's minor digits: 250 USD cents → `2.50`.
    pub fn decimal(&self) -> String {
        let digits = self.currency.minor_digits();
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        if digits == 0 {
            return format!("{sign}{abs}");
        }
        let scale = 10_u64.pow(digits);
        format!("{sign}{}.{:0width$}", abs / scale, abs % scale, width = digits as usize)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.decimal(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(s: &str) -> Result<i64, MoneyError> {
        Money::parse_decimal(s, Currency::USD).map(|m| m.minor)
    }

    #[test]
    fn parses_plain_decimals() {
        for (input, minor) in
            [("12", 1200), ("12.5", 1250), ("12.50", 1250), ("0.01", 1), (".5", 50), ("7.", 700), ("0012.000", 1200)]
        {
            assert_eq!(usd(input), Ok(minor), "{input}");
        }
        let jpy = Currency::parse("jpy").unwrap();
        assert_eq!(Money::parse_decimal("150", jpy).unwrap().minor, 150);
        assert_eq!(Money::parse_decimal("1.5", jpy), Err(MoneyError::TooPrecise(0)));
        let kwd = Currency::parse("KWD").unwrap();
        assert_eq!(Money::parse_decimal("1.234", kwd).unwrap().minor, 1234);
    }

    #[test]
    fn currencies_are_iso_4217_codes() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]), "sorted, for the binary search");
        for code in ISO_4217 {
            assert_eq!(Currency::parse(&code.to_lowercase()).unwrap().code(), *code);
        }
        for bad in ["ZZZ", "ABC", "XAU", "XXX", "XTS", "US", "USDT", "U$D", ""] {
            assert_eq!(Currency::parse(bad), Err(MoneyError::BadCurrency), "{bad}");
        }
        // A code stored before the check still reads back.
        assert_eq!("zzz".parse::<Currency>().unwrap().code(), "ZZZ");
    }

    #[test]
    fn refuses_everything_else() {
        for (input, err) in [
            ("-1", MoneyError::Negative),
            ("1e400", MoneyError::NotADecimal),
            ("12,50", MoneyError::NotADecimal),
            ("1,000.00", MoneyError::NotADecimal),
            ("", MoneyError::NotADecimal),
            (".", MoneyError::NotADecimal),
            ("+5", MoneyError::NotADecimal),
            ("NaN", MoneyError::NotADecimal),
            ("1.2.3", MoneyError::NotADecimal),
            ("0.001", MoneyError::TooPrecise(2)),
            ("99999999999999999999", MoneyError::TooLarge),
            ("100000000001", MoneyError::TooLarge),
        ] {
            assert_eq!(usd(input), Err(err), "{input}");
        }
    }

    #[test]
    fn amounts_from_outside_are_rounded_half_up_to_the_minor_unit() {
        let rounded = |s: &str, c: &str| Money::parse_decimal_rounded(s, Currency::parse(c).unwrap()).map(|m| m.minor);
        assert_eq!(rounded("19.995", "USD"), Ok(2000));
        assert_eq!(rounded("19.994999", "USD"), Ok(1999));
        assert_eq!(rounded("0.005", "USD"), Ok(1));
        assert_eq!(rounded("0.0049", "USD"), Ok(0));
        assert_eq!(rounded("99.999", "USD"), Ok(10000));
        assert_eq!(rounded("12.50", "USD"), Ok(1250));
        assert_eq!(rounded("1.5", "JPY"), Ok(2));
        assert_eq!(rounded("1.2345", "KWD"), Ok(1235));
        // A thousand digits after the point: only the first past the minor unit is read.
        assert_eq!(rounded(&format!("1.00{}", "9".repeat(1000)), "USD"), Ok(101));
        for bad in ["-1.005", "1e3", "12,505", "1.2.3", "", ".", "1.00x"] {
            assert!(rounded(bad, "USD").is_err(), "{bad}");
        }
        assert_eq!(rounded("100000000000.005", "USD"), Err(MoneyError::TooLarge));
        assert_eq!(Money::parse_decimal("19.995", Currency::USD), Err(MoneyError::TooPrecise(2)));
    }

    #[test]
    fn formats_with_minor_digits() {
        assert_eq!(Money::new(250, Currency::USD).decimal(), "2.50");
        assert_eq!(Money::new(5, Currency::USD).decimal(), "0.05");
        assert_eq!(Money::new(-5, Currency::USD).decimal(), "-0.05");
        assert_eq!(Money::new(150, Currency::parse("JPY").unwrap()).decimal(), "150");
        assert_eq!(Money::new(1234, Currency::parse("KWD").unwrap()).to_string(), "1.234 KWD");
        assert_eq!(Currency::parse("usd"), Ok(Currency::USD));
        assert_eq!(Currency::parse("US"), Err(MoneyError::BadCurrency));
    }
}

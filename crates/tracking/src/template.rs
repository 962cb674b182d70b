//! Macro expansion: `{name}` in a URL (or body) template replaced by a value, encoded for where
//! it lands. One function for landing URLs and affiliate postbacks alike.

/// How a value is written into the template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Percent-encoded: every byte outside `A-Z a-z 0-9 - . _ ~` becomes `%XX` (RFC 3986
    /// unreserved set), so a value can never break out of its query parameter.
    Url,
    /// Escaped for the inside of a JSON string.
    Json,
    /// Written as is (plain-text bodies).
    Raw,
}

/// Replaces every `{name}` of `template` with `lookup(name)` (encoded); a name `lookup` does
/// not know, or a missing value, expands to the empty string. Templates are checked at save time
/// ([`affnet_offers::macros::check_template`]), so unbalanced braces are copied through as text.
pub fn expand<V: AsRef<str>>(template: &str, encoding: Encoding, lookup: impl Fn(&str) -> Option<V>) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    // Byte searches (`{` and `}` are ASCII, so every position found is a char boundary).
    let find = |s: &str, c: u8| s.bytes().position(|b| b == c);
    while let Some(open) = find(rest, b'{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match find(after, b'}') {
            Some(close) if is_macro_name(&after[..close]) => {
                if let Some(value) = lookup(&after[..close]) {
                    encode_into(&mut out, value.as_ref(), encoding);
                }
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A macro name: lower-case letters, digits and `_`. Anything else between braces (a JSON
/// object, say) is text.
pub fn is_macro_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Every byte but RFC 3986's unreserved `A-Z a-z 0-9 - . _ ~` (non-ASCII bytes always).
const OUTSIDE_UNRESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn encode_into(out: &mut String, value: &str, encoding: Encoding) {
    match encoding {
        Encoding::Raw => out.push_str(value),
        // Runs of unreserved bytes are copied whole (most values: ids, plain sub ids).
        Encoding::Url => out.extend(percent_encoding::utf8_percent_encode(value, OUTSIDE_UNRESERVED)),
        Encoding::Json => {
            for c in value.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if u32::from(c) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                        out.push_str(&format!("\\u{:04x}", u32::from(c)));
                    }
                    c => out.push(c),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(name: &str) -> Option<String> {
        match name {
            "transaction_id" => Some("0190a1b2c3d4e5f60718293a4b5c6d7e".into()),
            "aff_sub" => Some("a b&c=d/é\"".into()),
            "empty" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_and_encodes() {
        for (template, encoding, expected) in [
            ("https://x.test/?t={transaction_id}", Encoding::Url, "https://x.test/?t=0190a1b2c3d4e5f60718293a4b5c6d7e"),
            ("https://x.test/?s={aff_sub}", Encoding::Url, "https://x.test/?s=a%20b%26c%3Dd%2F%C3%A9%22"),
            ("https://x.test/?m={missing}&e={empty}", Encoding::Url, "https://x.test/?m=&e="),
            ("{\"s\":\"{aff_sub}\"}", Encoding::Json, "{\"s\":\"a b&c=d/é\\\"\"}"),
            ("s={aff_sub}", Encoding::Raw, "s=a b&c=d/é\""),
            ("odd { brace {transaction_id", Encoding::Url, "odd { brace {transaction_id"),
            ("no macros", Encoding::Url, "no macros"),
            (
                "{\"a\":1,\"t\":\"{transaction_id}\"}",
                Encoding::Json,
                "{\"a\":1,\"t\":\"0190a1b2c3d4e5f60718293a4b5c6d7e\"}",
            ),
        ] {
            assert_eq!(expand(template, encoding, vals), expected, "{template}");
        }
    }
}

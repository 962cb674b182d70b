//! URL checks for what admins and affiliates type in: an `http(s)` URL with a host, no
//! whitespace, bounded length, and only the macros its context allows.

use affnet_db::FieldErrors;

use crate::macros::check_template;

/// Longest URL template accepted (browsers and servers commonly stop near 8 kB; 4 kB leaves
/// room for expanded macros).
pub const MAX_URL_LEN: usize = 4096;

/// Checks and normalises a landing-page URL template for `field` (offer, preview and fallback
/// URLs). A value without a scheme is read as `https://…` (a browser is sent there; advertisers
/// often paste `www.example.com/...`). `required == false` accepts an empty value. Returns the
/// value to store.
pub fn check_url(value: &str, field: &str, required: bool, macros: &[&str], errors: &mut FieldErrors) -> String {
    check_url_or(value, field, required, macros, "https://", errors)
}

/// Checks and normalises an affiliate's postback URL template. A value without a scheme is read
/// as `http://…`, as curl and the affiliate networks' guides do (`www.yourdomainname.com/track?…`
/// in DESIGN.md must work exactly as written: many affiliate trackers listen on plain HTTP).
pub fn check_postback_url(value: &str, field: &str, macros: &[&str], errors: &mut FieldErrors) -> String {
    let url = check_url_or(value, field, true, macros, "http://", errors);
    // A fragment never leaves the client: the affiliate's server would get the URL cut there,
    // without the values after it, while every page showed them sent.
    if errors.get(field).is_none() {
        if let Some((_, cut)) = url.split_once('#') {
            errors.add(
                field,
                format!(
                    "a postback URL cannot contain #: what follows it (#{}) is never sent to your server; remove it, or write a literal # as %23",
                    cut.chars().take(60).collect::<String>()
                ),
            );
        }
    }
    url
}

fn check_url_or(
    value: &str,
    field: &str,
    required: bool,
    macros: &[&str],
    default_scheme: &str,
    errors: &mut FieldErrors,
) -> String {
    let v = value.trim();
    if v.is_empty() {
        if required {
            errors.add(field, "this field is required");
        }
        return String::new();
    }
    if v.len() > MAX_URL_LEN {
        errors.add(field, format!("a URL may be at most {MAX_URL_LEN} characters"));
        return v.chars().take(MAX_URL_LEN).collect();
    }
    let lower = v.to_ascii_lowercase();
    let with_scheme = if lower.starts_with("http://") || lower.starts_with("https://") {
        v.to_owned()
    } else if lower.contains("://") || has_other_scheme(&lower) {
        errors.add(field, "only http:// and https:// URLs are allowed");
        return v.to_owned();
    } else {
        format!("{default_scheme}{v}")
    };
    if with_scheme.chars().any(|c| c.is_whitespace() || c.is_control()) {
        errors.add(field, "a URL cannot contain spaces or control characters (write a space as %20)");
        return with_scheme;
    }
    let after_scheme = with_scheme.split_once("://").map_or("", |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host_name = if host.starts_with('[') { host } else { host.split(':').next().unwrap_or("") };
    if host_name.is_empty() || host_name.starts_with('.') || host_name.ends_with('.') && host_name.len() == 1 {
        errors.add(field, "the URL needs a host name, e.g. https://www.example.com/landing");
        return with_scheme;
    }
    if authority.contains(['{', '}']) {
        // Sub ids come from whoever builds the link: `https://{aff_sub}/…` would send visitors
        // wherever a link says, under the network's domain (an open redirect), and a postback
        // wherever a click said.
        errors.add(field, "the host name must be written out: a macro cannot be in the host");
        return with_scheme;
    }
    if let Err(e) = check_template(&with_scheme, macros) {
        errors.add(field, e.to_string());
    }
    with_scheme
}

/// Whether `v` starts with a scheme (`mailto:`, `javascript:`, `vbscript:`, `data:`…): letters,
/// then letters, digits, `+`, `-` or `.`, then a colon not followed by a port number
/// (`www.example.com:8080/…` is a host and its port, read with the default scheme).
fn has_other_scheme(v: &str) -> bool {
    let Some((scheme, rest)) = v.split_once(':') else { return false };
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.starts_with(|c: char| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::macros::LANDING_MACROS;

    fn check(v: &str) -> Result<String, String> {
        let mut e = FieldErrors::new();
        let out = check_url(v, "u", true, LANDING_MACROS, &mut e);
        match e.get("u") {
            Some(m) => Err(m.to_owned()),
            None => Ok(out),
        }
    }

    #[test]
    fn accepts_and_normalises() {
        assert_eq!(
            check("https://shop.example/?t={transaction_id}").unwrap(),
            "https://shop.example/?t={transaction_id}"
        );
        assert_eq!(check("www.shop.example/x?a=1").unwrap(), "https://www.shop.example/x?a=1");
        assert_eq!(check("HTTP://Shop.example:8080/").unwrap(), "HTTP://Shop.example:8080/");
    }

    #[test]
    fn a_postback_url_without_a_scheme_is_plain_http() {
        let mut e = FieldErrors::new();
        let line = "www.yourdomainname.com/track?&source={aff_sub}&clickid={aff_sub3}&amount={payout}&transaction_id={transaction_id}";
        let out = check_postback_url(line, "u", crate::macros::POSTBACK_MACROS, &mut e);
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(out, format!("http://{line}"));
        let kept = check_postback_url("https://t.example/p?x={payout}", "u", crate::macros::POSTBACK_MACROS, &mut e);
        assert_eq!(kept, "https://t.example/p?x={payout}");
        assert!(check_postback_url("", "u", crate::macros::POSTBACK_MACROS, &mut e).is_empty());
        assert!(e.get("u").unwrap().contains("required"));
    }

    #[test]
    fn a_postback_url_with_a_fragment_is_refused() {
        let mut e = FieldErrors::new();
        check_postback_url("t.example/x?c=#s2s&p={payout}", "u", crate::macros::POSTBACK_MACROS, &mut e);
        assert!(e.get("u").unwrap().contains("cannot contain #: what follows it (#s2s&p={payout})"), "{e:?}");
        let mut e = FieldErrors::new();
        check_postback_url("t.example/x?c=%23s2s&p={payout}", "u", crate::macros::POSTBACK_MACROS, &mut e);
        assert!(e.is_empty(), "{e:?}");
    }

    #[test]
    fn refuses_bad_urls() {
        assert!(check("").unwrap_err().contains("required"));
        assert!(check("ftp://x.example/").unwrap_err().contains("http"));
        assert!(check("javascript:alert(1)").unwrap_err().contains("http"));
        // Other schemes are refused, not read as a host named after the scheme.
        for other in ["mailto:someone@example.com", "vbscript:msgbox(1)", "DATA:text/html,x", "tel:+15550100"] {
            assert!(check(other).unwrap_err().contains("http"), "{other}");
        }
        assert_eq!(check("shop.example:8080/x").unwrap(), "https://shop.example:8080/x");
        // No macro in the host (an open redirect through a sub id).
        for host in [
            "https://{aff_sub}/landing",
            "https://{aff_sub}.shop.example/",
            "https://shop.{source}/x",
            "https://u:{aff_sub}@shop.example/",
        ] {
            assert!(check(host).unwrap_err().contains("host"), "{host}");
        }
        assert!(check("https://shop.example/{aff_sub}?t={transaction_id}").is_ok());
        assert!(check("https://").unwrap_err().contains("host"));
        assert!(check("https://a b.example/").unwrap_err().contains("spaces"));
        assert!(check("https://x.example/?a={payout}").unwrap_err().contains("{payout}"));
        assert!(check(&format!("https://x.example/{}", "a".repeat(MAX_URL_LEN))).unwrap_err().contains("4096"));
    }
}

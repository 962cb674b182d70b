//! The macros an offer's landing URL may carry (DESIGN.md, "Tracking link"), and the check that
//! refuses any other at save time, naming it.

/// Macros replaced in an offer URL when a click is redirected.
pub const LANDING_MACROS: &[&str] = &[
    "transaction_id",
    "offer_id",
    "affiliate_id",
    "aff_id",
    "advertiser_id",
    "aff_sub",
    "aff_sub1",
    "aff_sub2",
    "aff_sub3",
    "aff_sub4",
    "aff_sub5",
    "source",
    "aff_click_id",
    "ip",
];

/// Macros replaced in an affiliate postback URL or body when a conversion is reported
/// (DESIGN.md, "Affiliate postback").
pub const POSTBACK_MACROS: &[&str] = &[
    "transaction_id",
    "aff_click_id",
    "offer_id",
    "offer_name",
    "affiliate_id",
    "aff_id",
    "aff_sub",
    "aff_sub1",
    "aff_sub2",
    "aff_sub3",
    "aff_sub4",
    "aff_sub5",
    "source",
    "payout",
    "amount",
    "sale_amount",
    "currency",
    "goal_id",
    "conversion_id",
    "status",
    "adv_sub",
    "ip",
    "datetime",
    "unix_timestamp",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown macro{}: {}", if .0.len() > 1 { "s" } else { "" }, .0.iter().map(|m| format!("{{{m}}}")).collect::<Vec<_>>().join(", "))]
    UnknownMacros(Vec<String>),
    #[error("unbalanced braces at character {0}: a macro is written {{name}}")]
    Unbalanced(usize),
}

/// The macro names in `template`, in order, or why the braces do not parse.
pub fn macro_names(template: &str) -> Result<Vec<&str>, TemplateError> {
    let mut names = Vec::new();
    let mut rest = template;
    let mut offset = 0;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err(TemplateError::Unbalanced(offset + open));
        }
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or(TemplateError::Unbalanced(offset + open))?;
        let name = &after[..close];
        if name.contains('{') {
            return Err(TemplateError::Unbalanced(offset + open));
        }
        names.push(name);
        offset += open + close + 2;
        rest = &after[close + 1..];
    }
    Ok(names)
}

/// For body templates (JSON has braces of its own): every `{name}` with a macro-shaped name
/// (lower-case letters, digits, `_`) must be in `allowed`; other braces are text.
pub fn check_body_template(template: &str, allowed: &[&str]) -> Result<(), TemplateError> {
    let mut unknown: Vec<String> = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        if let Some(close) = after.find('}') {
            let name = &after[..close];
            let macro_shaped =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if macro_shaped {
                if !allowed.contains(&name) && !unknown.iter().any(|u| u == name) {
                    unknown.push(name.to_owned());
                }
                rest = &after[close + 1..];
                continue;
            }
        }
        rest = after;
    }
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(TemplateError::UnknownMacros(unknown))
    }
}

/// Refuses a template whose braces do not parse or that uses a macro outside `allowed`.
pub fn check_template(template: &str, allowed: &[&str]) -> Result<(), TemplateError> {
    let mut unknown: Vec<String> = Vec::new();
    for name in macro_names(template)? {
        if !allowed.contains(&name) && !unknown.iter().any(|u| u == name) {
            unknown.push(name.to_owned());
        }
    }
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(TemplateError::UnknownMacros(unknown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_checks_macros() {
        let t = "https://shop.example/?tid={transaction_id}&s={aff_sub}&a={aff_id}";
        assert_eq!(macro_names(t).unwrap(), vec!["transaction_id", "aff_sub", "aff_id"]);
        assert_eq!(check_template(t, LANDING_MACROS), Ok(()));
        let e = check_template("https://x/?a={clickid}&b={payout}&c={clickid}", LANDING_MACROS).unwrap_err();
        assert_eq!(e, TemplateError::UnknownMacros(vec!["clickid".into(), "payout".into()]));
        assert_eq!(e.to_string(), "unknown macros: {clickid}, {payout}");
        assert_eq!(check_template("https://x/?a={aff_sub", LANDING_MACROS), Err(TemplateError::Unbalanced(13)));
        assert_eq!(check_template("https://x/?a=}", LANDING_MACROS), Err(TemplateError::Unbalanced(13)));
        assert_eq!(check_template("https://x/?a={{ip}}", LANDING_MACROS), Err(TemplateError::Unbalanced(13)));
        assert_eq!(check_body_template(r#"{"t":"{transaction_id}","n":{"x":1}}"#, POSTBACK_MACROS), Ok(()));
        assert_eq!(
            check_body_template(r#"{"t":"{clickid}"}"#, POSTBACK_MACROS),
            Err(TemplateError::UnknownMacros(vec!["clickid".into()]))
        );
    }
}

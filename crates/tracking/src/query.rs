//! Reading a query string on the click path: the pairs `form_urlencoded::parse` gives (`+` is
//! a space, `%XX` a byte, invalid UTF-8 replaced), but a name or value holding neither `+` nor
//! `%` (nearly all of them) is borrowed, not decoded into a new string, and a value is decoded
//! only when its name is wanted. Callgrind: the click handler's parsing went from ~5,150 to
//! ~1,500 instructions per click (BENCHMARKS.md).

use std::borrow::Cow;

/// The raw (still encoded) pieces `name=value` of a query string, empty pieces skipped; a
/// piece without `=` is a name with an empty value.
pub fn raw_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    // Byte searches (`&` and `=` are ASCII: every position found is a char boundary); a
    // `str::split` pattern decodes and tests every char of the short pieces it finds.
    let find = |s: &str, c: u8| s.bytes().position(|b| b == c);
    let mut rest = query;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let piece = match find(rest, b'&') {
            Some(i) => {
                let piece = &rest[..i];
                rest = &rest[i + 1..];
                piece
            }
            None => std::mem::take(&mut rest),
        };
        if !piece.is_empty() {
            return Some(match find(piece, b'=') {
                Some(i) => (&piece[..i], &piece[i + 1..]),
                None => (piece, ""),
            });
        }
    })
}

/// One name or value decoded as `application/x-www-form-urlencoded`.
pub fn decode(raw: &str) -> Cow<'_, str> {
    if !raw.bytes().any(|b| b == b'+' || b == b'%') {
        return Cow::Borrowed(raw);
    }
    let plus_as_space: Vec<u8> = raw.bytes().map(|b| if b == b'+' { b' ' } else { b }).collect();
    let bytes: Cow<'_, [u8]> = percent_encoding::percent_decode(&plus_as_space).into();
    Cow::Owned(String::from_utf8_lossy(&bytes).into_owned())
}

/// Like [`decode`], but `None` when the decoded bytes are not UTF-8 (`%FF`, a Latin-1 `%E9`):
/// a value we keep is never stored with replacement characters, which would make two different
/// values (two order ids, two sub ids) one.
pub fn decode_utf8(raw: &str) -> Option<Cow<'_, str>> {
    if !raw.bytes().any(|b| b == b'+' || b == b'%') {
        return Some(Cow::Borrowed(raw));
    }
    let plus_as_space: Vec<u8> = raw.bytes().map(|b| if b == b'+' { b' ' } else { b }).collect();
    let bytes: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
    String::from_utf8(bytes).ok().map(Cow::Owned)
}

/// True when a value holds a control character (NUL, CR, LF, DEL, C1 ...): such a value is
/// refused before anything is queued, so that one hostile value can never fail a batch of other
/// people's rows.
pub fn has_control(v: &str) -> bool {
    // Printable ASCII (nearly every value) has none; anything else is read char by char.
    !v.bytes().all(|b| (0x20..0x7f).contains(&b)) && v.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_exactly_what_form_urlencoded_reads() {
        for q in [
            "",
            "&&",
            "=",
            "a",
            "a=",
            "=b",
            "a=b=c",
            "offer_id=1&aff_id=2&aff_sub=x",
            "aff%5Fsub=fb+ads&source=%E2%82%AC&x=%zz&y=%4&z=%",
            "a=%FF%FE&b=%C3%28&c=%2B+%2b",
            "utm_term=a%0Ab&&aff_sub=%00",
            "k%3Dv=1&%26=2",
            "emoji=😀&plain=é",
            "a&",
            "&a=1&&b",
            "a=1&b=2&",
        ] {
            let ours: Vec<(String, String)> =
                raw_pairs(q).map(|(k, v)| (decode(k).into_owned(), decode(v).into_owned())).collect();
            let theirs: Vec<(String, String)> =
                form_urlencoded::parse(q.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
            assert_eq!(ours, theirs, "{q}");
        }
        assert!(matches!(decode("campaign_12"), Cow::Borrowed("campaign_12")));
    }

    #[test]
    fn strict_decoding_refuses_what_is_not_utf8() {
        assert_eq!(decode_utf8("caf%C3%A9+bar").as_deref(), Some("café bar"));
        assert!(matches!(decode_utf8("campaign_12"), Some(Cow::Borrowed("campaign_12"))));
        assert_eq!(decode_utf8("%zz%4").as_deref(), Some("%zz%4"), "broken escapes stay as sent");
        for bad in ["%FF", "caf%E9", "%C3%28", "a%fe%ffb"] {
            assert_eq!(decode_utf8(bad), None, "{bad}");
            assert!(decode(bad).contains('\u{fffd}'), "{bad}: the lenient decoding replaces");
        }
    }
}

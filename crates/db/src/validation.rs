//! Field-level validation errors, shown next to form fields and returned as a 422 JSON map.

use std::collections::BTreeMap;

/// Field name → what is wrong with it, in words a user can act on.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct FieldErrors(pub BTreeMap<String, String>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.entry(field.to_owned()).or_insert_with(|| message.into());
    }

    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut e = Self::new();
        e.add(field, message);
        e
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was added.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        f.write_str(&parts.join("; "))
    }
}

/// The message for a one-line text (a name) holding a control character: a line break, a tab,
/// an escape, a text-direction override; or nothing visible. Such text would break the lines it
/// is shown in (logs, mail subjects, CSV rows), reorder what is shown after it, or show blank.
pub const ONE_LINE: &str =
    "use one line of visible text, without line breaks, control characters or text-direction overrides";

/// Whether `value` holds a control character (C0, DEL, C1: `\r`, `\n`, `\t`, U+0085…), one of
/// Unicode's line and paragraph separators (U+2028, U+2029: line breaks to every reader that
/// follows Unicode's line breaking, and to JavaScript) or a text-direction embedding, override
/// or isolate (U+202A–U+202E, U+2066–U+2069: they reorder the text shown after them, on the
/// pages that show a name); or is not empty and shows nothing (zero-width spaces and joiners,
/// the byte order mark, and the like only: a name that renders blank).
pub fn has_control(value: &str) -> bool {
    value.chars().any(|c| {
        c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    }) || (!value.is_empty() && value.chars().all(shows_nothing))
}

/// A character that shows nothing: white space, and the invisible format characters (soft
/// hyphen, zero-width space, joiners and marks, word joiner, invisible operators, variation
/// selectors, the byte order mark, Hangul fillers, tags).
fn shows_nothing(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{AD}'
                | '\u{34F}'
                | '\u{61C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2060}'..='\u{2064}'
                | '\u{206A}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

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
/// an escape. Such text would break the lines it is shown in (logs, mail subjects, CSV rows).
pub const ONE_LINE: &str = "use one line of text, without line breaks or control characters";

/// Whether `value` holds a control character (C0, DEL, C1: `\r`, `\n`, `\t`, U+0085…) or one
/// of Unicode's line and paragraph separators (U+2028, U+2029: line breaks to every reader that
/// follows Unicode's line breaking, and to JavaScript).
pub fn has_control(value: &str) -> bool {
    value.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
}

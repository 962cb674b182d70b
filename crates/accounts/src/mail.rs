//! Outgoing email: the transport chosen by configuration (SMTP, or `.eml` files in a directory
//! for development) and the messages the accounts send, rendered from askama templates under
//! `templates/email/` (a plain-text body and an HTML alternative each).
//!
//! Sending is blocking: call [`Mailer::send`] off the async executor, after the domain
//! transaction has committed. A failure is the caller's to log; it never undoes the change.

use std::path::{Path, PathBuf};
use std::time::Duration;

use askama::Template;
use lettre::message::{header, Mailbox, MultiPart, SinglePart};
use lettre::{FileTransport, Message, SmtpTransport, Transport};

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail configuration: {0}")]
    Config(String),
    #[error("could not build the message: {0}")]
    Build(String),
    #[error("could not render the message: {0}")]
    Render(#[from] askama::Error),
    #[error("could not send the message: {0}")]
    Send(String),
}

enum Carrier {
    Smtp(Box<SmtpTransport>),
    Files(FileTransport),
}

/// Sends email through the configured transport, from one sender address.
pub struct Mailer {
    carrier: Carrier,
    from: Mailbox,
    description: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("transport", &self.description).field("from", &self.from.to_string()).finish()
    }
}

/// `scheme://host:port` of an SMTP URL: what may be logged (no user name, no password).
fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("smtp", url));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{host}")
}

/// Translates affnet's `tls=` option into what lettre understands: `tls=starttls` (STARTTLS
/// required), `tls=none` (plain text, for a local sink only), `smtps://` for implicit TLS.
fn lettre_url(url: &str) -> Result<(String, &'static str), MailError> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut tls = None;
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = match pair.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (pair, None),
        };
        match key {
            "tls" => tls = value.map(str::to_ascii_lowercase),
            "ehlo_domain" => kept.push(pair),
            other => {
                return Err(MailError::Config(format!(
                    "unknown parameter '{other}': the URL takes tls= and ehlo_domain="
                )))
            }
        }
    }
    let implicit = base.starts_with("smtps://");
    if !implicit && !base.starts_with("smtp://") {
        return Err(MailError::Config("must start with smtp:// or smtps://".into()));
    }
    let mode = match (implicit, tls.as_deref()) {
        (true, None | Some("tls") | Some("implicit")) => "implicit TLS",
        (true, Some(other)) => {
            return Err(MailError::Config(format!("smtps:// always uses TLS; tls={other} does not apply")))
        }
        (false, None | Some("starttls") | Some("required")) => {
            kept.push("tls=required");
            "STARTTLS"
        }
        (false, Some("opportunistic")) => {
            kept.push("tls=opportunistic");
            "STARTTLS when offered"
        }
        (false, Some("none")) => "no TLS",
        (false, Some(other)) => {
            return Err(MailError::Config(format!("tls={other} is not one of starttls, opportunistic, none")))
        }
    };
    let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
    Ok((url, mode))
}

/// Checks the mail settings as the server reads them (`AFFNET_SMTP_URL`, `AFFNET_MAIL_FROM`),
/// before anything else starts: the variable at fault and why.
pub fn check_settings(smtp_url: Option<&str>, from: &str) -> Result<(), (&'static str, String)> {
    from.parse::<Mailbox>().map_err(|e| ("AFFNET_MAIL_FROM", format!("'{from}' is not an address: {e}")))?;
    if let Some(url) = smtp_url {
        let bare = |e: MailError| match e {
            MailError::Config(m) => m,
            other => other.to_string(),
        };
        let (lettre_url, _) = lettre_url(url).map_err(|e| ("AFFNET_SMTP_URL", bare(e)))?;
        SmtpTransport::from_url(&lettre_url).map_err(|e| ("AFFNET_SMTP_URL", e.to_string()))?;
    }
    Ok(())
}

impl Mailer {
    /// SMTP when `smtp_url` is set, else `.eml` files written to `mail_dir` (created if missing).
    pub fn from_settings(smtp_url: Option<&str>, from: &str, mail_dir: &Path) -> Result<Mailer, MailError> {
        let from: Mailbox =
            from.parse().map_err(|e| MailError::Config(format!("AFFNET_MAIL_FROM '{from}' is not an address: {e}")))?;
        match smtp_url {
            Some(url) => {
                let (lettre_url, mode) = lettre_url(url)?;
                let transport = SmtpTransport::from_url(&lettre_url)
                    .map_err(|e| MailError::Config(format!("AFFNET_SMTP_URL: {e}")))?
                    .timeout(Some(Duration::from_secs(20)))
                    .build();
                Ok(Mailer {
                    carrier: Carrier::Smtp(Box::new(transport)),
                    from,
                    description: format!("SMTP {} ({mode})", redact(url)),
                })
            }
            None => Ok(Mailer::files(mail_dir, from)?),
        }
    }

    fn files(dir: &Path, from: Mailbox) -> Result<Mailer, MailError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| MailError::Config(format!("AFFNET_MAIL_DIR {}: {e}", dir.display())))?;
        let dir: PathBuf = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        Ok(Mailer {
            carrier: Carrier::Files(FileTransport::new(&dir)),
            from,
            description: format!(".eml files in {} (no mail leaves this machine)", dir.display()),
        })
    }

    /// What the transport is, fit for the log (never a password).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Sends one message (blocking).
    pub fn send(&self, email: &Email) -> Result<(), MailError> {
        let to: Mailbox = email.to.parse().map_err(|e| MailError::Build(format!("recipient: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::builder().header(header::ContentType::TEXT_PLAIN).body(email.text.clone()))
                    .singlepart(SinglePart::builder().header(header::ContentType::TEXT_HTML).body(email.html.clone())),
            )
            .map_err(|e| MailError::Build(e.to_string()))?;
        match &self.carrier {
            Carrier::Smtp(t) => t.send(&message).map(|_| ()).map_err(|e| MailError::Send(e.to_string())),
            Carrier::Files(t) => t.send(&message).map(|_| ()).map_err(|e| MailError::Send(e.to_string())),
        }
    }
}

/// One rendered message to one recipient.
#[derive(Debug, Clone)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What every message names: the network and the person written to.
#[derive(Debug, Clone)]
pub struct Greeting {
    pub network: String,
    pub name: String,
}

macro_rules! templates {
    ($text:ident, $html:ident, $txt_path:literal, $html_path:literal) => {
        #[derive(Template)]
        #[template(path = $txt_path, escape = "none")]
        #[allow(dead_code)]
        struct $text<'a> {
            g: &'a Greeting,
            link: &'a str,
            detail: &'a str,
        }
        #[derive(Template)]
        #[template(path = $html_path)]
        #[allow(dead_code)]
        struct $html<'a> {
            g: &'a Greeting,
            link: &'a str,
            detail: &'a str,
        }
    };
}

templates!(VerifyText, VerifyHtml, "email/verify.txt", "email/verify.html");
templates!(ApprovedText, ApprovedHtml, "email/approved.txt", "email/approved.html");
templates!(RejectedText, RejectedHtml, "email/rejected.txt", "email/rejected.html");
templates!(ResetText, ResetHtml, "email/reset.txt", "email/reset.html");
templates!(ExistingText, ExistingHtml, "email/existing.txt", "email/existing.html");
templates!(ChangedText, ChangedHtml, "email/password_changed.txt", "email/password_changed.html");
templates!(AccessText, AccessHtml, "email/offer_access.txt", "email/offer_access.html");

/// What a postback failure alert says (see the tracking crate's delivery worker).
#[derive(Debug, Clone)]
pub struct PostbackAlert<'a> {
    /// The affiliate company's name.
    pub affiliate: &'a str,
    /// Host and path of the postback URL.
    pub target: &'a str,
    pub last_error: &'a str,
    /// A job used all its attempts (else: consecutive failures, still retrying).
    pub gave_up: bool,
    /// Written to the affiliate's account manager rather than to the affiliate.
    pub manager: bool,
    /// The delivery log.
    pub link: &'a str,
}

#[derive(Template)]
#[template(path = "email/postback_alert.txt", escape = "none")]
struct AlertText<'a> {
    g: &'a Greeting,
    affiliate: &'a str,
    target: &'a str,
    last_error: &'a str,
    gave_up: bool,
    manager: bool,
    link: &'a str,
}

#[derive(Template)]
#[template(path = "email/postback_alert.html")]
struct AlertHtml<'a> {
    g: &'a Greeting,
    affiliate: &'a str,
    target: &'a str,
    last_error: &'a str,
    gave_up: bool,
    manager: bool,
    link: &'a str,
}

impl Email {
    /// The alert that a postback started failing, for `to`.
    pub fn postback_alert(to: &str, g: &Greeting, a: &PostbackAlert<'_>) -> Result<Email, MailError> {
        let text = AlertText {
            g,
            affiliate: a.affiliate,
            target: a.target,
            last_error: a.last_error,
            gave_up: a.gave_up,
            manager: a.manager,
            link: a.link,
        }
        .render()?;
        let html = AlertHtml {
            g,
            affiliate: a.affiliate,
            target: a.target,
            last_error: a.last_error,
            gave_up: a.gave_up,
            manager: a.manager,
            link: a.link,
        }
        .render()?;
        let subject = if a.manager {
            format!("Postback failing for {} at {}", a.affiliate, g.network)
        } else {
            format!("Your postback at {} is failing", g.network)
        };
        Ok(Email { to: to.to_owned(), subject, text, html })
    }
}

/// The messages of the accounts and the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `link`: the verification URL.
    VerifyEmail,
    /// `link`: the sign-in page.
    AccountApproved,
    AccountRejected,
    /// `link`: the reset URL.
    PasswordReset,
    /// The user changed their password while signed in. `link`: the password reset request page
    /// (for an owner who did not).
    PasswordChanged,
    /// Someone signed up with the address of an existing account. `link`: the sign-in page;
    /// `detail`: the password reset request page.
    AlreadyRegistered,
    /// `detail`: the offer's name; `link`: the affiliate's offer list.
    OfferAccessApproved,
    /// `detail`: the offer's name.
    OfferAccessRejected,
}

impl Email {
    /// Renders the message of `kind` for `to`.
    pub fn render(kind: Kind, to: &str, g: &Greeting, link: &str, detail: &str) -> Result<Email, MailError> {
        let (subject, text, html) = match kind {
            Kind::VerifyEmail => (
                format!("Confirm your email address for {}", g.network),
                VerifyText { g, link, detail }.render()?,
                VerifyHtml { g, link, detail }.render()?,
            ),
            Kind::AccountApproved => (
                format!("Your {} account is approved", g.network),
                ApprovedText { g, link, detail }.render()?,
                ApprovedHtml { g, link, detail }.render()?,
            ),
            Kind::AccountRejected => (
                format!("Your {} application", g.network),
                RejectedText { g, link, detail }.render()?,
                RejectedHtml { g, link, detail }.render()?,
            ),
            Kind::PasswordReset => (
                format!("Reset your {} password", g.network),
                ResetText { g, link, detail }.render()?,
                ResetHtml { g, link, detail }.render()?,
            ),
            Kind::PasswordChanged => (
                format!("Your {} password was changed", g.network),
                ChangedText { g, link, detail }.render()?,
                ChangedHtml { g, link, detail }.render()?,
            ),
            Kind::AlreadyRegistered => (
                format!("You already have a {} account", g.network),
                ExistingText { g, link, detail }.render()?,
                ExistingHtml { g, link, detail }.render()?,
            ),
            Kind::OfferAccessApproved | Kind::OfferAccessRejected => {
                let approved = kind == Kind::OfferAccessApproved;
                let word = if approved { "approved" } else { "declined" };
                (
                    format!("Access to {detail} {word}"),
                    AccessText { g, link, detail }.render()?,
                    AccessHtml { g, link, detail }.render()?,
                )
            }
        };
        Ok(Email { to: to.to_owned(), subject, text, html })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_translated_and_redacted() {
        assert_eq!(
            lettre_url("smtp://u:p@mail.example.com:587?tls=starttls").unwrap(),
            ("smtp://u:p@mail.example.com:587?tls=required".to_owned(), "STARTTLS")
        );
        assert_eq!(lettre_url("smtp://127.0.0.1:2525?tls=none").unwrap().0, "smtp://127.0.0.1:2525");
        assert_eq!(lettre_url("smtps://u:p@mail.example.com").unwrap().1, "implicit TLS");
        assert!(lettre_url("smtp://h?tls=maybe").is_err());
        assert!(lettre_url("http://h").is_err());
        assert_eq!(redact("smtp://user:secret@mail.example.com:587?tls=starttls"), "smtp://mail.example.com:587");
    }

    #[test]
    fn file_transport_writes_an_eml_file() {
        let dir = std::env::temp_dir().join(format!("affnet-mail-{}", crate::token::random_hex(8)));
        let mailer = Mailer::from_settings(None, "Affnet <noreply@example.com>", &dir).unwrap();
        assert!(mailer.description().contains(".eml"));
        let g = Greeting { network: "Acme".into(), name: "Jo".into() };
        let email =
            Email::render(Kind::VerifyEmail, "jo@example.com", &g, "https://x.example/t/acme/verify/abc", "").unwrap();
        mailer.send(&email).unwrap();
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].extension().and_then(|e| e.to_str()), Some("eml"));
        let raw = std::fs::read_to_string(&files[0]).unwrap();
        assert!(raw.contains("To: jo@example.com"), "{raw}");
        assert!(raw.contains("text/html"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

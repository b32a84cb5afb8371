//! Mail to customers (challenge codes, receipts): by SMTP with lettre when `GOVIFI_SMTP_URL` is set,
//! otherwise into the sandbox outbox (`GET /api/outbox`).

use anyhow::Context;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::store::Db;

/// How long one SMTP step (connect, each command) may take before the send fails.
const SEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Clone)]
pub enum Mailer {
    Smtp { transport: Box<AsyncSmtpTransport<Tokio1Executor>>, from: Mailbox },
    Outbox,
}

impl Mailer {
    /// `smtp://host:port` (plain; for a local relay), `smtp://…?tls=required`, or `smtps://…`;
    /// from `from` (`GOVIFI_SMTP_FROM`, a domain the relay may send for) or else
    /// `no-reply@` the public URL's host.
    pub fn from_config(smtp_url: Option<&str>, from: Option<&str>, public_url: &str) -> anyhow::Result<Self> {
        let Some(url) = smtp_url else { return Ok(Mailer::Outbox) };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .with_context(|| "GOVIFI_SMTP_URL is not a valid smtp:// or smtps:// URL")?
            // lettre's default is 60 s per step; a challenge code's request waits on it.
            .timeout(Some(SEND_TIMEOUT))
            .build();
        let transport = Box::new(transport);
        let from: Mailbox = match from {
            Some(from) => from.parse().with_context(|| {
                format!("GOVIFI_SMTP_FROM={from:?} is not an address like \"Payments <pay@city.example>\"")
            })?,
            None => {
                let host =
                    url::Url::parse(public_url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
                let domain = if host.contains('.') { host } else { "govifi.localhost".to_owned() };
                format!("Govifi Payments <no-reply@{domain}>").parse().context("sender address")?
            }
        };
        Ok(Mailer::Smtp { transport, from })
    }

    pub async fn send(&self, db: &Db, to: &str, subject: &str, body: &str) -> anyhow::Result<()> {
        match self {
            Mailer::Smtp { transport, from } => {
                let to: Mailbox = to.parse().map_err(|e| {
                    marked(Failed::RecipientRefused, anyhow::Error::new(e).context("recipient address"))
                })?;
                // UTF-8 said so: receipts hold "•" and Spanish accents, which a body of no
                // declared charset (US-ASCII by default) would garble.
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(subject)
                    .header(ContentType::TEXT_PLAIN)
                    .body(body.to_owned())
                    .context("building the message")?;
                transport.send(message).await.map_err(smtp_failure)?;
                Ok(())
            }
            Mailer::Outbox => {
                crate::store::outbox::insert(db, to, subject, body).await?;
                Ok(())
            }
        }
    }
}

/// What is known of a send that failed: the recipient's address is refused for good (sending
/// again is pointless), or at least no mail server took the message (nobody got it). A failure
/// with neither (a timeout, a connection lost mid-way) may have delivered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failed {
    RecipientRefused,
    NotSent,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Failed::RecipientRefused => "the recipient's address is refused for good",
            Failed::NotSent => "not sent",
        })
    }
}

impl std::error::Error for Failed {}

fn marked(failed: Failed, e: anyhow::Error) -> anyhow::Error {
    // The marker under the failure's own words (`{:#}` shows both).
    anyhow::Error::new(failed).context(format!("{e:#}"))
}

/// Whether the recipient's address is refused for good (an address that does not parse, or a
/// 5xx saying the mailbox or its domain does not exist): not worth another try.
pub fn is_undeliverable(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Failed>() == Some(&Failed::RecipientRefused)
}

/// Whether the message surely reached nobody (the mail server refused it, or could not be
/// reached at all).
pub fn surely_not_sent(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Failed>().is_some()
}

/// A 5xx whose enhanced status (RFC 3463) says the recipient's address is bad: X.1.1 (no such
/// mailbox), X.1.2 (no such system), X.1.3 (bad syntax), X.1.6 (moved), X.1.10 (null MX). Any
/// other 5xx (the relay refusing our login, our sender, or over a quota) is the operator's to
/// fix, and is tried again.
fn recipient_refused(e: &lettre::transport::smtp::Error) -> bool {
    if !e.is_permanent() {
        return false;
    }
    let Some(text) = std::error::Error::source(e).map(ToString::to_string) else { return false };
    matches!(text.split_whitespace().next(), Some("5.1.1" | "5.1.2" | "5.1.3" | "5.1.6" | "5.1.10"))
}

/// Whether the connection was never made (nothing was sent).
fn never_connected(e: &lettre::transport::smtp::Error) -> bool {
    use std::io::ErrorKind::{AddrNotAvailable, ConnectionRefused, HostUnreachable, NetworkUnreachable};
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return matches!(io.kind(), ConnectionRefused | AddrNotAvailable | HostUnreachable | NetworkUnreachable);
        }
        source = err.source();
    }
    false
}

/// What an SMTP failure was, without the server's own text: its replies quote the recipient's
/// address (`550 5.1.1 <jane@…>: Recipient address rejected`), which the logs must not keep.
fn smtp_failure(e: lettre::transport::smtp::Error) -> anyhow::Error {
    let code = e.status().map(|c| format!(" ({c})")).unwrap_or_default();
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_permanent() {
        "refused for good"
    } else if e.is_transient() {
        "refused for now"
    } else {
        "failed to connect or speak SMTP"
    };
    let failure = anyhow::anyhow!("sending by SMTP: the mail server {kind}{code}");
    if recipient_refused(&e) {
        marked(Failed::RecipientRefused, failure)
    } else if e.is_permanent() || e.is_transient() || never_connected(&e) {
        marked(Failed::NotSent, failure)
    } else {
        failure
    }
}

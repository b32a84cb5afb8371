//! Receipts (SPEC §10: "challenge codes and receipts go out by SMTP"): a checkout that completes
//! with an email to write to — the session's `customer_email`, or else its customer's — gets one,
//! by SMTP when `GOVIFI_SMTP_URL` is set, otherwise into the sandbox outbox.
//!
//! The completing UPDATE marks the session due (`receipt_due_at`), in the confirm's own
//! transaction, so no crash loses a receipt and the confirm waits for no mail server. Each pass
//! of the job takes a due receipt for a while (a conditional UPDATE: one process wins; it is due
//! again when the lease ends, so a process that dies mid-send leaves it to another) and then
//! sends it. One the mail server refused is due again later, for up to three days; one whose
//! address it refuses for good (no such mailbox or domain, RFC 3463's X.1.x) is given up at
//! once. A receipt is never lost to a crash; a crash between the mail server's acceptance and
//! the row's update sends it twice, which a customer can live with (SMTP has no way to ask
//! whether a message went).

use crate::domain::account::MethodType;
use crate::domain::payment::{MethodDetails, PaymentStatus};
use crate::domain::time::{Timestamp, recheck_after};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store::{accounts, customers, payments, sessions};

/// Receipts one pass sends at most.
pub const PER_PASS: i64 = 50;
/// A receipt the mail server keeps refusing is given up this long after the checkout.
pub const GIVE_UP_AFTER_MS: i64 = 3 * 24 * 3600 * 1000;
/// How long a pass holds a receipt it took: far past a send's SMTP steps (10 s each).
pub const LEASE_MS: i64 = 5 * 60 * 1000;

/// One pass: every receipt due at `now` (at most [`PER_PASS`]); how many went out.
pub async fn send_due(state: &AppState, now: i64) -> ApiResult<usize> {
    let mut sent = 0;
    let db = state.db();
    for (id, due_at, completed_at) in sessions::receipts_due(db, now, PER_PASS).await? {
        // From the claim, not from the pass's start: a pass of 50 slow sends takes minutes.
        let lease = now.max(crate::store::now_ms()) + LEASE_MS;
        if !sessions::claim_receipt(db, &id, due_at, lease).await? {
            continue; // another process took it
        }
        // When it is due again (none: sent, or given up). A failure to record that leaves the
        // lease to run out (the receipt is taken again then), so the pass goes on with the others.
        let again = match send_one(state, &id).await {
            Ok(went) => {
                sent += usize::from(went);
                None
            }
            Err(e) => {
                let waited = now - completed_at;
                if crate::mail::is_undeliverable(&e) || waited >= GIVE_UP_AFTER_MS {
                    tracing::error!(session = %id, error = format!("{e:#}"), "giving up a receipt the mail server will not take");
                    None
                } else {
                    let after = recheck_after(waited);
                    tracing::warn!(session = %id, error = format!("{e:#}"), retry_in_ms = after, "sending a receipt failed; will retry");
                    Some(now.max(crate::store::now_ms()) + after)
                }
            }
        };
        if let Err(e) = sessions::move_receipt(db, &id, lease, again).await {
            tracing::warn!(session = %id, error = %e, "recording a receipt's outcome failed; it is taken again when its lease ends");
        }
    }
    if sent > 0 {
        metrics::counter!("govifi_receipts_sent_total").increment(sent as u64);
    }
    Ok(sent)
}

/// Sends one session's receipt; false when there is nobody to send it to (a customer without
/// an email) or nothing to tell (no payment, or one that failed or was voided before its receipt
/// went: a bank debit returned while the mail server was down is not thanked for).
async fn send_one(state: &AppState, id: &str) -> anyhow::Result<bool> {
    let db = state.db();
    let Some(session) = sessions::get(db, id).await? else { return Ok(false) };
    let Some(payment_id) = session.payment_id.as_deref() else { return Ok(false) };
    let Some(payment) = payments::get(db, &session.account_uid, payment_id).await? else { return Ok(false) };
    if matches!(payment.status, PaymentStatus::Failed | PaymentStatus::Voided) {
        tracing::info!(session = %id, payment = %payment.id, status = %payment.status, "no receipt: the payment did not stand");
        return Ok(false);
    }
    let to = match (&session.customer_email, &session.customer_id) {
        (Some(email), _) => email.clone(),
        (None, Some(customer)) => {
            match customers::get(db, &session.account_uid, customer).await?.and_then(|c| c.email) {
                Some(email) => email,
                None => return Ok(false),
            }
        }
        (None, None) => return Ok(false),
    };
    let account = accounts::get(db, &session.account_uid).await?.ok_or_else(|| anyhow::anyhow!("no account"))?;
    let es = session.locale.is_spanish();
    let locale = session.locale.as_str();
    let money = |minor: i64| app::money::format_amount(minor, payment.currency.as_str(), locale);
    // The name the customer paid: the session's branding first, as the checkout showed it.
    let merchant = super::confirm::merchant_name(&account, &session);
    let when = Timestamp(session.completed_at.unwrap_or(payment.created_at)).to_rfc3339();
    // "2026-12-07 04:50 UTC"
    let when = format!("{} UTC", when.get(..16).unwrap_or(&when).replace('T', " "));
    let method = method_line(&payment.payment_method, es);
    let mut lines = Vec::new();
    let label = |en: &'static str, spanish: &'static str| if es { spanish } else { en };
    if let Some(description) = &session.description {
        lines.push(format!("{}: {description}", label("For", "Concepto")));
    }
    if let Some(reference) = &session.reference {
        lines.push(format!("{}: {reference}", label("Reference", "Referencia")));
    }
    lines.push(format!("{}: {}", label("Amount", "Importe"), money(payment.amount.minor())));
    if payment.fee_amount.minor() > 0 {
        lines.push(format!(
            "{}: {}",
            label("Convenience fee", "Cargo por servicio"),
            money(payment.fee_amount.minor())
        ));
    }
    lines.push(format!("{}: {}", label("Total", "Total"), money(payment.total_amount.minor())));
    lines.push(format!("{}: {method}", label("Paid with", "Pagado con")));
    lines.push(format!("{}: {when}", label("Date", "Fecha")));
    lines.push(format!("{}: {}", label("Payment", "Pago"), payment.id));
    let (subject, opening, closing) = if es {
        (
            format!("Su recibo de {merchant}"),
            if payment.status == PaymentStatus::Processing {
                format!("{merchant} recibió su pago. El débito bancario tarda unos días en completarse.")
            } else {
                format!("Gracias por su pago a {merchant}.")
            },
            "Conserve este mensaje como comprobante.",
        )
    } else {
        (
            format!("Your receipt from {merchant}"),
            if payment.status == PaymentStatus::Processing {
                format!("{merchant} received your payment. The bank debit takes a few days to complete.")
            } else {
                format!("Thank you for your payment to {merchant}.")
            },
            "Keep this message as your receipt.",
        )
    };
    let body = format!("{opening}\n\n{}\n\n{closing}\n", lines.join("\n"));
    state.mailer().send(db, &to, &subject, &body).await?;
    tracing::info!(session = %id, payment = %payment.id, "receipt sent");
    Ok(true)
}

/// "Visa •••• 4242", "Bank account •••• 6789 (First Bank)", "Apple Pay (Visa •••• 4242)".
fn method_line(m: &MethodDetails, es: bool) -> String {
    let last4 = m.last4.as_deref().map(|l| format!(" •••• {l}")).unwrap_or_default();
    let brand = m.brand.as_deref().map(capitalised).unwrap_or_else(|| (if es { "Tarjeta" } else { "Card" }).to_owned());
    match m.kind {
        MethodType::Card => format!("{brand}{last4}"),
        MethodType::ApplePay => format!("Apple Pay ({brand}{last4})"),
        MethodType::Ach => {
            let bank = m.bank_name.as_deref().map(|b| format!(" ({b})")).unwrap_or_default();
            format!("{}{last4}{bank}", if es { "Cuenta bancaria" } else { "Bank account" })
        }
    }
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_read_as_a_customer_knows_them() {
        let card = MethodDetails {
            brand: Some("visa".into()),
            last4: Some("4242".into()),
            ..MethodDetails::of_kind(MethodType::Card)
        };
        assert_eq!(method_line(&card, false), "Visa •••• 4242");
        let wallet = MethodDetails { kind: MethodType::ApplePay, ..card.clone() };
        assert_eq!(method_line(&wallet, false), "Apple Pay (Visa •••• 4242)");
        let bank = MethodDetails {
            last4: Some("6789".into()),
            bank_name: Some("First Bank".into()),
            ..MethodDetails::of_kind(MethodType::Ach)
        };
        assert_eq!(method_line(&bank, false), "Bank account •••• 6789 (First Bank)");
        assert_eq!(method_line(&bank, true), "Cuenta bancaria •••• 6789 (First Bank)");
    }
}

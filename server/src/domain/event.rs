//! The kinds of event every change writes to the outbox (SPEC §7), in the same transaction.

use crate::text_enum;

tokio::task_local! {
    /// Who is acting in this task (`user:<email>` for a dashboard user): every event recorded
    /// inside [`acting_as`] carries it, however deep in a service it is written.
    static ACTOR: String;
}

/// Runs `work` with `actor` recorded on the events it writes.
pub async fn acting_as<F: std::future::Future>(actor: String, work: F) -> F::Output {
    ACTOR.scope(actor, work).await
}

/// The actor of the running task, if one was set.
pub fn current_actor() -> Option<String> {
    ACTOR.try_with(Clone::clone).ok()
}

text_enum! {
    pub enum EventType {
        CheckoutSessionCompleted => "checkout.session.completed",
        CheckoutSessionExpired => "checkout.session.expired",
        PaymentAuthorized => "payment.authorized",
        PaymentCaptured => "payment.captured",
        PaymentProcessing => "payment.processing",
        PaymentSucceeded => "payment.succeeded",
        PaymentFailed => "payment.failed",
        PaymentVoided => "payment.voided",
        PaymentRefunded => "payment.refunded",
        RefundCreated => "refund.created",
        CustomerCreated => "customer.created",
        PaymentMethodSaved => "payment_method.saved",
        PaymentMethodRemoved => "payment_method.removed",
        TerminalPaymentCompleted => "terminal.payment.completed",
        TerminalPaymentFailed => "terminal.payment.failed",
        /// Sent to one subscription by `POST /api/webhooks/{id}/test`.
        WebhookTest => "webhook.test",
        /// A subscription was switched off after persistent failure (or a 410).
        WebhookDisabled => "webhook.disabled",
        // Changes to how the account is reached and run, so that who changed what is on
        // record (the dashboard's `actor`); secrets are never part of the data.
        ApiKeyCreated => "api_key.created",
        ApiKeyRevoked => "api_key.revoked",
        WebhookCreated => "webhook.created",
        WebhookUpdated => "webhook.updated",
        WebhookDeleted => "webhook.deleted",
        WebhookSecretRotated => "webhook.secret_rotated",
        AccountUpdated => "account.updated",
        AccountRedirectSecretRotated => "account.redirect_secret_rotated",
        // The client's dashboard team (each of its accounts records the change).
        TeamMemberAdded => "team.member_added",
        TeamMemberRoleChanged => "team.member_role_changed",
        TeamMemberRemoved => "team.member_removed",
    }
}

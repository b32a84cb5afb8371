//! The kinds of event every change writes to the outbox (SPEC §7), in the same transaction.

use crate::text_enum;

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
    }
}

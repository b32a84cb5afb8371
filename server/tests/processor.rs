//! The sandbox processor through the `Processor` trait: idempotent authorizations, capture,
//! void and refund rules, saved-token charges, and lookups for crash recovery.

mod support;

use server::domain::card::CardInput;
use server::domain::money::{Amount, Currency};
use server::processor::{AuthorizeRequest, Instrument, Outcome, Processor, ProcessorError};

fn card(number: &str) -> server::domain::card::Card {
    CardInput { number: number.into(), exp_month: 12, exp_year: 2031, cvc: Some("123".into()) }
        .check((2026, 11), true)
        .unwrap()
}

fn a(minor: i64) -> Amount {
    Amount::new(minor).unwrap()
}

static USD: std::sync::LazyLock<Currency> = std::sync::LazyLock::new(|| Currency::parse("USD").unwrap());

fn request<'a>(reference: &'a str, instrument: Instrument<'a>, capture: bool) -> AuthorizeRequest<'a> {
    AuthorizeRequest {
        reference,
        amount: a(10_000),
        currency: &USD,
        instrument,
        capture,
        billing: None,
        challenge_passed: false,
        reject_avs_mismatch: false,
        save: false,
    }
}

fn processor_ref(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Approved { processor_ref, .. } | Outcome::Declined { processor_ref, .. } => processor_ref.clone(),
        Outcome::ChallengeRequired => panic!("no charge"),
    }
}

db_tests! {
    async fn an_authorization_is_idempotent_by_reference_and_can_be_looked_up(app) {
        let sandbox = app.state.sandbox();
        let visa = card("4242424242424242");
        assert!(sandbox.lookup("ref-1").await.unwrap().is_none(), "never seen");
        let first = sandbox.authorize(request("ref-1", Instrument::Card(&visa), true)).await.unwrap();
        assert!(matches!(first.outcome, Outcome::Approved { captured: true, pending: false, .. }));
        assert_eq!(first.details.last4, "4242");
        // The same reference again, even with another card: the first answer, no second charge.
        let mc = card("5555555555554444");
        let again = sandbox.authorize(request("ref-1", Instrument::Card(&mc), true)).await.unwrap();
        assert_eq!(again, first);
        assert_eq!(sandbox.lookup("ref-1").await.unwrap(), Some(first));
        let count: i64 = sqlx::Row::get(&sqlx::query("SELECT COUNT(*) FROM sandbox_charges").fetch_one(app.db().pool()).await.unwrap(), 0);
        assert_eq!(count, 1);
    }

    async fn capture_void_and_refund_follow_the_rules(app) {
        let sandbox = app.state.sandbox();
        let visa = card("4242424242424242");
        // Authorize only, then capture part of it, once.
        let auth = sandbox.authorize(request("auth-only", Instrument::Card(&visa), false)).await.unwrap();
        assert!(matches!(auth.outcome, Outcome::Approved { captured: false, .. }));
        let r = processor_ref(&auth.outcome);
        assert!(matches!(sandbox.capture(&r, a(20_000), "cap-0").await, Err(ProcessorError::Refused(_))), "beyond the authorization");
        sandbox.capture(&r, a(6_000), "cap-1").await.unwrap();
        sandbox.capture(&r, a(6_000), "cap-1").await.unwrap(); // the same reference: answered again, not captured again
        assert!(matches!(sandbox.capture(&r, a(1_000), "cap-2").await, Err(ProcessorError::Refused(_))), "once");
        assert!(matches!(sandbox.void(&r, "void-1").await, Err(ProcessorError::Refused(_))), "captured: not voidable");
        // Partial refunds up to what was captured; a repeated reference refunds once.
        sandbox.refund(&r, a(2_500), "rf-1").await.unwrap();
        sandbox.refund(&r, a(2_500), "rf-1").await.unwrap();
        sandbox.refund(&r, a(3_500), "rf-2").await.unwrap();
        assert!(matches!(sandbox.refund(&r, a(1), "rf-3").await, Err(ProcessorError::Refused(_))), "nothing left");
        let movements: i64 = sqlx::Row::get(&sqlx::query("SELECT COUNT(*) FROM sandbox_operations WHERE processor_ref = $1").bind(&r).fetch_one(app.db().pool()).await.unwrap(), 0);
        assert_eq!(movements, 3, "the acquirer's own record: one capture, two refunds");
        let refunded: i64 = sqlx::Row::get(&sqlx::query("SELECT refunded FROM sandbox_charges WHERE processor_ref = $1").bind(&r).fetch_one(app.db().pool()).await.unwrap(), 0);
        assert_eq!(refunded, 6_000);
        // A voided authorization cannot be captured.
        let other = sandbox.authorize(request("to-void", Instrument::Card(&visa), false)).await.unwrap();
        let v = processor_ref(&other.outcome);
        sandbox.void(&v, "void-2").await.unwrap();
        assert!(matches!(sandbox.capture(&v, a(100), "cap-3").await, Err(ProcessorError::Refused(_))));
        assert!(matches!(sandbox.void(&v, "void-3").await, Err(ProcessorError::Refused(_))), "once");
        // A declined charge is neither capturable nor refundable.
        let declined = sandbox.authorize(request("declined", Instrument::Card(&card("4000000000000002")), false)).await.unwrap();
        let d = processor_ref(&declined.outcome);
        assert!(matches!(sandbox.capture(&d, a(100), "cap-d").await, Err(ProcessorError::Refused(_))));
        assert!(matches!(sandbox.refund(&d, a(100), "rf-d").await, Err(ProcessorError::Refused(_))));
    }

    async fn a_saved_token_charges_like_its_card(app) {
        let sandbox = app.state.sandbox();
        let declining = card("4000000000009995");
        let token = sandbox.tokenize(Instrument::Card(&declining)).await.unwrap();
        assert!(token.token.starts_with("tok_sbx_"));
        assert_eq!(token.last4, "9995");
        let charge = sandbox.authorize(request("saved-1", Instrument::Saved { token: &token.token }, true)).await.unwrap();
        assert!(matches!(charge.outcome, Outcome::Declined { ref decline_code, .. } if decline_code == "insufficient_funds"));
        let good = sandbox.tokenize(Instrument::Card(&card("4000056655665556"))).await.unwrap();
        let charge = sandbox.authorize(request("saved-2", Instrument::Saved { token: &good.token }, true)).await.unwrap();
        assert!(matches!(charge.outcome, Outcome::Approved { .. }));
        assert_eq!(charge.details.funding, Some(server::domain::account::Funding::Debit));
        assert!(matches!(
            sandbox.authorize(request("saved-3", Instrument::Saved { token: "tok_sbx_unknown" }, true)).await,
            Err(ProcessorError::Refused(_))
        ));
    }
}

//! The hosted-session checkout: what a paying customer sees and does.
//!
//! The parts are components sharing one [`CheckoutState`] through context. The session loads
//! as a local resource; the fee quote and the confirm are local actions, whose pending state is
//! the spinner and the guard against a second submit. What the customer sees follows from a
//! few signals through memos, so a clock tick or a keystroke re-renders only what reads it.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
#[cfg(feature = "split")]
use leptos::wasm_split::wasm_split;

use super::api::{self, Call, CallAction, Client, Failure};
use super::{Env, env, js, method_label};
use crate::card::{self, Brand};
use crate::i18n::{Lang, Msg, decline_message, msg, t, tf};
use crate::money::format_amount;
use crate::wire::{
    AccountType, AchBody, AvsField, BillingBody, CardBody, ChallengeSent, ChallengeVerified, ChallengeVerify,
    ConfirmBody, ConfirmResult, ConfirmStatus, FeeQuote, FutureUsage, Layout, MethodType, PaymentMethodBody,
    QuoteRequest, SavedBody, SavedMethodView, SessionConfig, SessionStatus, TokenBody,
};

#[derive(Debug, Clone, PartialEq)]
enum Stage {
    Loading,
    Failed(Msg),
    /// Open for paying this amount (a new amount draws the checkout again: the summary, the
    /// lines and the fee all follow the session).
    Open(i64),
    Done(ConfirmResult),
    Expired,
    Paid,
    InProgress,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Card,
    Ach,
    ApplePay,
}

impl Tab {
    fn method(self) -> MethodType {
        match self {
            Tab::Card => MethodType::Card,
            Tab::Ach => MethodType::Ach,
            Tab::ApplePay => MethodType::ApplePay,
        }
    }

    fn key(self) -> &'static str {
        self.method().as_str()
    }

    fn label(self) -> Msg {
        match self {
            Tab::Card => msg::tab_card,
            Tab::Ach => msg::tab_ach,
            Tab::ApplePay => msg::tab_apple_pay,
        }
    }
}

type FieldErrors = Vec<(&'static str, Msg)>;

/// Everything the customer types, and what is wrong with it.
#[derive(Clone, Copy)]
struct Form {
    number: RwSignal<String>,
    exp: RwSignal<String>,
    cvc: RwSignal<String>,
    name: RwSignal<String>,
    postal: RwSignal<String>,
    address: RwSignal<String>,
    routing: RwSignal<String>,
    account: RwSignal<String>,
    account_type: RwSignal<AccountType>,
    holder: RwSignal<String>,
    errors: RwSignal<FieldErrors>,
}

impl Form {
    fn new() -> Self {
        let s = || RwSignal::new(String::new());
        Form {
            number: s(),
            exp: s(),
            cvc: s(),
            name: s(),
            postal: s(),
            address: s(),
            routing: s(),
            account: s(),
            account_type: RwSignal::new(AccountType::Checking),
            holder: s(),
            errors: RwSignal::new(Vec::new()),
        }
    }

    fn error(&self, field: &'static str) -> Option<Msg> {
        self.errors.with(|e| e.iter().find(|(f, _)| *f == field).map(|(_, k)| *k))
    }

    fn clear(&self, field: &'static str) {
        if self.errors.with_untracked(|e| e.iter().any(|(f, _)| *f == field)) {
            self.errors.update(|e| e.retain(|(f, _)| *f != field));
        }
    }
}

/// A confirm to send: its Idempotency-Key and body.
type Attempt = (String, String);

/// The checkout's state, shared by its parts through context.
#[derive(Clone, Copy)]
struct CheckoutState {
    client: StoredValue<Client>,
    /// The element's environment (event handlers run outside any reactive owner, so it is kept
    /// here rather than looked up in context).
    env: StoredValue<Env>,
    session: LocalResource<Result<SessionConfig, Failure>>,
    /// The session as last loaded (a failed reload keeps what the customer sees).
    config: Memo<Option<SessionConfig>>,
    /// How the checkout ended, when an answer (rather than the session) says so.
    ended: RwSignal<Option<Stage>>,
    tab: RwSignal<Tab>,
    saved: RwSignal<Option<String>>,
    form: Form,
    save: RwSignal<bool>,
    message: RwSignal<Option<String>>,
    step_up: RwSignal<bool>,
    now: RwSignal<f64>,
    /// Fee quotes, tagged with what they are for (the method, and a new card's BIN).
    quote: CallAction,
    /// The quote for what the customer has chosen now.
    current_quote: Memo<Option<FeeQuote>>,
    quote_key: Memo<Option<String>>,
    confirm: CallAction,
    /// The attempt in flight or last failed on the network: a retry reuses its key.
    attempt: StoredValue<Option<Attempt>>,
    /// The handles of the quote and the confirm last dispatched (dropping one aborts it).
    quote_call: StoredValue<Option<ActionAbortHandle>>,
    confirm_call: StoredValue<Option<ActionAbortHandle>>,
    apple_pay: bool,
}

fn state() -> CheckoutState {
    expect_context::<CheckoutState>()
}

impl CheckoutState {
    /// The session's language (tracked).
    fn lang(&self) -> Lang {
        self.config.with(|c| c.as_ref().map(|c| Lang::parse(&c.locale)).unwrap_or_default())
    }

    fn lang_now(&self) -> Lang {
        untrack(|| self.lang())
    }

    fn say(&self, key: Msg) {
        self.message.set(Some(t(self.lang_now(), key).to_owned()));
    }

    fn cfg<R>(&self, f: impl FnOnce(&SessionConfig) -> R) -> Option<R> {
        self.config.with_untracked(|c| c.as_ref().map(f))
    }

    /// Whole seconds until the session expires (tracks the clock).
    fn seconds_left(&self) -> i64 {
        let expires = self.config.with(|c| c.as_ref().map(|c| c.expires_in as f64)).unwrap_or(f64::MAX);
        ((expires - self.now.get()) / 1000.0).floor() as i64
    }

    fn money(&self, minor: i64) -> String {
        self.config.with(|c| c.as_ref().map(|c| format_amount(minor, &c.currency, &c.locale)).unwrap_or_default())
    }

    fn emit(&self, name: &str, detail: &[(&str, &str)]) {
        self.env.with_value(|env| env.emit(name, detail));
    }

    fn focus(&self, id: &str) {
        self.env.with_value(|env| env.focus(id));
    }

    fn hosted(&self) -> bool {
        self.cfg(|c| c.layout == Layout::Hosted).unwrap_or(true)
    }

    /// Asks for the quote `key` needs (a quote still on its way for another is dropped).
    fn ask_quote(&self, key: String) {
        let request = match key.split_once(':') {
            Some(("saved", id)) => QuoteRequest {
                payment_method_type: self
                    .cfg(|c| c.saved_payment_methods.iter().find(|m| m.id == id).map(|m| m.kind))
                    .flatten()
                    .unwrap_or(MethodType::Card),
                card_bin: None,
                saved_payment_method_id: Some(id.to_owned()),
            },
            Some(("card", bin)) => QuoteRequest {
                payment_method_type: MethodType::Card,
                card_bin: Some(bin.to_owned()),
                saved_payment_method_id: None,
            },
            _ => QuoteRequest {
                payment_method_type: self.tab.get_untracked().method(),
                card_bin: None,
                saved_payment_method_id: None,
            },
        };
        let call = Call { tail: "quote-fee".into(), body: Some(api::to_json(&request)), key: None, tag: key };
        let handle = self.quote.dispatch_local(call);
        self.quote_call.set_value(Some(handle));
    }

    /// Loads the session again (after a challenge, a stale quote, or a confirm in progress).
    fn reload(&self) {
        self.session.refetch();
    }

    /// While a payment is on its way: reloads the session until it ends. Once it is paid while
    /// this page keeps an attempt whose answer was lost, asks again with that attempt: its key
    /// answers with the payment's own result, redirect included. (Never resent while the
    /// session is open again: a payment the processor never saw waits for the customer's Pay.)
    fn resume(&self, paid: bool) {
        if self.confirm.pending().get_untracked() {
            return;
        }
        match (paid, self.attempt.get_value()) {
            (false, _) => self.reload(),
            (true, Some((key, body))) => {
                let call = Call { tail: "confirm".into(), body: Some(body), key: Some(key), tag: String::new() };
                self.confirm_call.set_value(Some(self.confirm.dispatch_local(call)));
            }
            (true, None) => {}
        }
    }

    fn handle_failure(&self, failure: Failure) {
        let lang = self.lang_now();
        let Failure::Api { status, error } = failure else {
            self.say(msg::network_error);
            return;
        };
        let field = |f: &'static str, k: Msg| {
            self.form.errors.update(|e| e.push((f, k)));
            self.say(msg::err_fix_fields);
        };
        match (status, error.code.as_str()) {
            (410, _) => self.ended.set(Some(Stage::Expired)),
            (409, "already_confirmed") => self.ended.set(Some(Stage::Paid)),
            (409, "confirm_in_progress") => {
                self.say(msg::processing);
                self.reload();
            }
            (409, "quote_stale") => {
                self.say(msg::quote_stale);
                self.reload();
                // Ask again for the current method.
                if let Some(key) = self.quote_key.get_untracked() {
                    self.ask_quote(key);
                }
            }
            (402, "card_declined") => {
                self.message.set(Some(decline_message(lang, error.decline_code.as_deref()).to_owned()))
            }
            (402, "incorrect_number") => field("number", msg::err_card_number),
            (402, "invalid_expiry") => field("exp", msg::err_expiry),
            (402, "invalid_cvc") => field("cvc", msg::err_cvc_3),
            (400, "invalid_routing_number") => field("routing", msg::err_routing),
            (402, "authentication_required") => {
                self.step_up.set(true);
                self.say(msg::step_up_needed);
            }
            (429, _) => self.say(msg::rate_limited),
            (400, "parameter_missing") => {
                let param = error.param.as_deref().unwrap_or_default();
                let target = if param.ends_with("postal_code") {
                    "postal"
                } else if param.ends_with("cardholder_name") {
                    "name"
                } else if param.ends_with("address_line1") {
                    "address"
                } else {
                    ""
                };
                if target.is_empty() {
                    self.say(msg::generic_error);
                } else {
                    field(target, msg::err_required);
                }
            }
            _ => self.say(msg::generic_error),
        }
        self.emit("govifi-error", &[("code", &error.code), ("message", &error.message)]);
    }

    /// Checks the form, then confirms once (one Idempotency-Key per attempt; a retry after a
    /// network failure reuses it).
    fn submit(&self, apple_pay_token: Option<String>) {
        if self.confirm.pending().get_untracked() {
            return;
        }
        let Some(quote) = self.current_quote.get_untracked() else { return };
        let method = match self.build_method(apple_pay_token) {
            Ok(m) => m,
            Err(errors) => {
                let first = errors[0].0;
                self.form.errors.set(errors);
                self.say(msg::err_fix_fields);
                self.focus(&format!("gv-{first}"));
                return;
            }
        };
        let body = api::to_json(&ConfirmBody {
            fee_quote_id: quote.fee_quote_id,
            payment_method: method,
            save_payment_method: self.save.get_untracked(),
        });
        let key = match self.attempt.get_value() {
            Some((key, previous)) if previous == body => key,
            _ => js::random_key(),
        };
        self.attempt.set_value(Some((key.clone(), body.clone())));
        self.message.set(None);
        let call = Call { tail: "confirm".into(), body: Some(body), key: Some(key), tag: String::new() };
        let handle = self.confirm.dispatch_local(call);
        self.confirm_call.set_value(Some(handle));
    }

    /// What the confirm answered.
    fn confirmed(&self, result: Result<ConfirmResult, Failure>) {
        // An Apple Pay sheet shows success only for a payment the server made.
        js::apple_pay_done(result.is_ok());
        match result {
            Ok(done) => {
                self.attempt.set_value(None);
                self.emit(
                    "govifi-success",
                    &[
                        ("session_id", &done.session_id),
                        ("payment_id", &done.payment_id),
                        ("redirect_url", &done.redirect_url),
                    ],
                );
                let url = done.redirect_url.clone();
                self.ended.set(Some(Stage::Done(done)));
                if self.hosted() {
                    js::go_to(&url);
                }
            }
            // Keep the attempt: pressing Pay again sends the same key, so nothing is charged twice.
            Err(Failure::Network) => self.say(msg::network_error),
            // Its answer is on its way (the processor had not answered, or this key's first
            // request still runs): keep the key, which will answer with the payment's own
            // result; the page waits for it (see `resume`).
            Err(Failure::Api { status: 409 | 503, error })
                if matches!(error.code.as_str(), "idempotency_in_progress" | "processor_unavailable") =>
            {
                self.say(msg::processing);
                self.reload();
            }
            Err(failure) => {
                self.attempt.set_value(None);
                self.handle_failure(failure);
            }
        }
    }

    fn pay_with_apple(&self) {
        let Some(q) = self.current_quote.get_untracked() else { return };
        let (label, currency) =
            self.cfg(|c| (c.merchant.display_name.clone().unwrap_or_default(), c.currency.clone())).unwrap_or_default();
        let exponent = crate::money::currency_exponent(&currency).unwrap_or(2);
        // Apple Pay wants a decimal string ("146.47"), made from integers.
        let scale = 10i64.pow(exponent as u32);
        let amount = if exponent == 0 {
            q.total_amount.to_string()
        } else {
            format!("{}.{:0width$}", q.total_amount / scale, q.total_amount % scale, width = exponent as usize)
        };
        let state = *self;
        spawn_local(async move {
            let token = js::apple_pay_token(&label, &amount, &currency).await;
            // The element may have left the page while the sheet was open.
            if state.message.is_disposed() {
                return;
            }
            match token {
                Some(token) => state.submit(Some(token)),
                None => state.say(msg::apple_pay_cancelled),
            }
        });
    }

    fn build_method(&self, apple_pay_token: Option<String>) -> Result<PaymentMethodBody, FieldErrors> {
        if let Some(token) = apple_pay_token {
            return Ok(PaymentMethodBody::ApplePay { apple_pay: TokenBody { token } });
        }
        if let Some(id) = self.saved.get_untracked() {
            return Ok(PaymentMethodBody::Saved { saved: SavedBody { payment_method_id: id } });
        }
        let f = self.form;
        let mut errors: FieldErrors = Vec::new();
        let text = |s: RwSignal<String>| s.get_untracked().trim().to_owned();
        match self.tab.get_untracked() {
            Tab::Card | Tab::ApplePay => {
                let digits = card::digits_only(&f.number.get_untracked()).unwrap_or_default();
                if !card::card_number_valid(&digits) {
                    errors.push(("number", msg::err_card_number));
                }
                let (month, year) = card::parse_expiry(&f.exp.get_untracked());
                if !card::expiry_valid(month, year, js::year_month()) {
                    errors.push(("exp", msg::err_expiry));
                }
                let brand = card::brand_of(&digits);
                let cvc = text(f.cvc);
                if !card::cvc_valid(&cvc, brand) || cvc.is_empty() {
                    errors.push(("cvc", if brand == Brand::Amex { msg::err_cvc_4 } else { msg::err_cvc_3 }));
                }
                let avs = self.cfg(|c| c.required_avs_fields.clone()).unwrap_or_default();
                let needs = |f: AvsField| avs.contains(&f);
                let mut billing = BillingBody::default();
                for (field, signal, needed, slot) in [
                    ("name", f.name, needs(AvsField::Cardholder), &mut billing.cardholder_name),
                    ("address", f.address, needs(AvsField::Address), &mut billing.address_line1),
                    ("postal", f.postal, needs(AvsField::Zip) || needs(AvsField::Address), &mut billing.postal_code),
                ] {
                    let value = text(signal);
                    if needed && value.is_empty() {
                        errors.push((field, msg::err_required));
                    }
                    *slot = (!value.is_empty()).then_some(value);
                }
                if !errors.is_empty() {
                    return Err(errors);
                }
                Ok(PaymentMethodBody::Card {
                    card: CardBody { number: digits, exp_month: month, exp_year: 2000 + year, cvc: Some(cvc) },
                    billing,
                })
            }
            Tab::Ach => {
                let holder = text(f.holder);
                if holder.is_empty() {
                    errors.push(("holder", msg::err_required));
                }
                let routing = text(f.routing);
                if !card::routing_number_valid(&routing) {
                    errors.push(("routing", msg::err_routing));
                }
                let account = text(f.account);
                if !card::account_number_valid(&account) {
                    errors.push(("account", msg::err_account));
                }
                if !errors.is_empty() {
                    return Err(errors);
                }
                Ok(PaymentMethodBody::Ach {
                    ach: AchBody {
                        routing_number: routing,
                        account_number: account,
                        account_type: f.account_type.get_untracked(),
                        account_holder_name: holder,
                    },
                })
            }
        }
    }
}

/// Why the session could not be loaded, as the customer is told.
fn load_failure(failure: &Failure) -> Msg {
    match failure {
        Failure::Api { status: 401, .. } => msg::invalid_link,
        Failure::Api { error, .. } if error.code == "origin_not_allowed" => msg::origin_blocked,
        Failure::Network => msg::origin_blocked,
        _ => msg::generic_error,
    }
}

/// The checkout for a hosted session.
#[component]
pub fn Checkout(client: Client) -> impl IntoView {
    let client = StoredValue::new(client);
    let session = LocalResource::new(move || {
        let client = client.get_value();
        async move {
            let mut config = api::json::<SessionConfig>(client.get("config").await);
            // From here `expires_in` holds the session's end on this device's clock (in ms), so
            // expiry and the countdown follow the server's clock, not how the device's is set.
            if let Ok(c) = &mut config {
                c.expires_in = js::now_ms() as i64 + c.expires_in * 1000;
            }
            // A Spanish session first loads the Spanish messages (a chunk of their own); if they
            // cannot be fetched it speaks English.
            #[cfg(feature = "split")]
            if let Ok(c) = &config
                && Lang::parse(&c.locale) == Lang::Es
                && let Ok(table) = spanish_part().await
            {
                crate::i18n::use_spanish(table);
            }
            config
        }
    });
    // A new answer counts as a change without comparing it with the last, so the config needs
    // no `PartialEq` code: a reload (after a challenge or a stale quote) re-runs the few
    // closures that read the config, and what they choose between sits behind memos (`stage`,
    // `<Show>`, the keyed `<For>`), so nothing the customer sees is rebuilt.
    let config = Memo::new_owning(move |previous: Option<Option<SessionConfig>>| match session.get() {
        Some(Ok(config)) => (Some(config), true),
        _ => (previous.flatten(), false),
    });
    let quote = api::action(client);
    let confirm = api::action(client);
    let ended = RwSignal::new(None);
    let now = RwSignal::new(js::now_ms());
    let stage = Memo::new(move |_| {
        if let Some(stage) = ended.get() {
            return stage;
        }
        let status = config.with(|c| c.as_ref().map(|c| (c.status, c.expires_in as f64, c.amount)));
        match status {
            // The session ran out while the page was open (not while a payment is on its way).
            Some((SessionStatus::Active, expires, _)) if now.get() >= expires && !confirm.pending().get() => {
                Stage::Expired
            }
            Some((SessionStatus::Active, _, amount)) => Stage::Open(amount),
            Some((SessionStatus::Completed, ..)) => Stage::Paid,
            Some((SessionStatus::Processing, ..)) => Stage::InProgress,
            Some((SessionStatus::Expired, ..)) => Stage::Expired,
            None => session.with(|s| match s {
                Some(Err(failure)) => Stage::Failed(load_failure(failure)),
                _ => Stage::Loading,
            }),
        }
    });
    let tab = RwSignal::new(Tab::Card);
    let saved = RwSignal::new(None::<String>);
    let form = Form::new();
    let quote_key = Memo::new(move |_| {
        if let Some(id) = saved.get() {
            return Some(format!("saved:{id}"));
        }
        match tab.get() {
            Tab::Card => {
                let digits = card::digits_only(&form.number.get()).unwrap_or_default();
                (digits.len() >= 6).then(|| format!("card:{}", &digits[..6]))
            }
            other => Some(other.key().to_owned()),
        }
    });
    let current_quote = Memo::new(move |_| {
        let key = quote_key.get()?;
        quote.value().with(|v| match v {
            Some((k, Ok(text))) if *k == key => miniserde::json::from_str::<FeeQuote>(text).ok(),
            _ => None,
        })
    });
    let state = CheckoutState {
        client,
        env: env(),
        session,
        config,
        ended,
        tab,
        saved,
        form,
        save: RwSignal::new(false),
        message: RwSignal::new(None),
        step_up: RwSignal::new(false),
        now,
        quote,
        current_quote,
        quote_key,
        confirm,
        attempt: StoredValue::new(None),
        quote_call: StoredValue::new(None),
        confirm_call: StoredValue::new(None),
        apple_pay: js::apple_pay_available(),
    };
    provide_context(state);

    // Once loaded: the merchant's colour, the first method offered, and `govifi-ready` (or
    // `govifi-error` if the session cannot be loaded). On a reload, saved methods a challenge
    // unlocked: offer the first one.
    Effect::new(move |saved_before: Option<Option<usize>>| {
        session.with(|s| {
            let c = match s.as_ref()? {
                Ok(c) => c,
                Err(failure) => {
                    if saved_before.flatten().is_none() {
                        let message = t(Lang::En, load_failure(failure));
                        untrack(|| state.emit("govifi-error", &[("code", failure.code()), ("message", message)]));
                    }
                    return saved_before.flatten();
                }
            };
            untrack(|| match saved_before.flatten() {
                None => {
                    state.env.with_value(|env| env.brand(&c.merchant));
                    saved.set(c.saved_payment_methods.first().map(|m| m.id.clone()));
                    if !c.allowed_methods.contains(&MethodType::Card) {
                        tab.set(if c.allowed_methods.contains(&MethodType::Ach) { Tab::Ach } else { Tab::ApplePay });
                    }
                    state.emit("govifi-ready", &[("status", c.status.as_str())]);
                }
                Some(0) if saved.get().is_none() => saved.set(c.saved_payment_methods.first().map(|m| m.id.clone())),
                Some(_) => {}
            });
            Some(c.saved_payment_methods.len())
        })
    });
    // The fee quote follows the method (and the card's BIN) while the checkout is open.
    Effect::new(move |_| {
        let (key, open) = (quote_key.get(), stage.with(|s| matches!(s, Stage::Open(_))));
        state.quote_call.set_value(None);
        if let (Some(key), true) = (key, open) {
            untrack(|| state.ask_quote(key));
        }
    });
    Effect::new(move |_| {
        quote.value().with(|v| {
            if let Some((key, Err(failure))) = v
                && quote_key.with_untracked(|k| k.as_ref() == Some(key))
            {
                let failure = failure.clone();
                untrack(|| state.handle_failure(failure));
            }
        })
    });
    Effect::new(move |_| {
        if let Some((_, answer)) = confirm.value().get() {
            untrack(|| state.confirmed(api::json::<ConfirmResult>(answer)));
        }
    });

    // A payment on its way is asked about every three seconds until it ends.
    Effect::new(move |_| {
        let tick = (now.get() / 1000.0) as i64;
        let waiting = stage.with(|s| match s {
            Stage::InProgress => Some(false),
            Stage::Paid => Some(true),
            _ => None,
        });
        if let (0, Some(paid)) = (tick % 3, waiting) {
            untrack(|| state.resume(paid));
        }
    });

    // A clock for the countdown and for expiry while the page is open; it stops with the element.
    if let Ok(timer) = set_interval_with_handle(move || now.set(js::now_ms()), Duration::from_secs(1)) {
        on_cleanup(move || timer.clear());
    }

    view! {
        <section class="govifi" aria-labelledby="gv-title">
            {move || match stage.get() {
                Stage::Loading => {
                    view! { <p id="gv-title" class="notice" role="status">{t(Lang::En, msg::loading)}</p> }.into_any()
                }
                Stage::Failed(key) => {
                    view! {
                        <h2 id="gv-title" class="title">{t(Lang::En, msg::secure_checkout)}</h2>
                        <p class="notice error-box" role="alert">{t(Lang::En, key)}</p>
                    }
                        .into_any()
                }
                Stage::Open(_) => config.get_untracked().map(|cfg| view! { <Open cfg/> }).into_any(),
                Stage::Done(result) => view! { <Receipt result/> }.into_any(),
                Stage::Expired => show(|| ended_part(msg::expired_title, msg::expired_body, true)).into_any(),
                Stage::Paid => show(|| ended_part(msg::paid_title, msg::paid_body, false)).into_any(),
                Stage::InProgress => {
                    show(|| ended_part(msg::in_progress_title, msg::in_progress_body, false)).into_any()
                }
            }}
            <p class="brand-line">{move || t(state.lang(), msg::powered_by)}</p>
        </section>
    }
}

/// The merchant's name and logo.
#[component]
fn Header() -> impl IntoView {
    let (name, logo) = state()
        .cfg(|c| (c.merchant.display_name.clone().unwrap_or_default(), c.merchant.logo_url.clone()))
        .unwrap_or_default();
    let alt = name.clone();
    view! {
        <header class="header">
            {logo.map(|src| view! { <img class="logo" src=src alt=alt/> })}
            <h2 id="gv-title" class="title">{name}</h2>
        </header>
    }
}

/// The checkout is over (expired, already paid, or in progress elsewhere).
#[component]
fn Ended(title: Msg, body: Msg, link: bool) -> impl IntoView {
    let state = state();
    let lang = state.lang_now();
    let cancel = state.cfg(|c| c.cancel_url.clone()).filter(|_| link);
    view! {
        <Header/>
        <div class="ended" role="alert">
            <h3 class="subtitle">{t(lang, title)}</h3>
            <p>{t(lang, body)}</p>
        </div>
        {cancel.map(|href| view! { <a class="button secondary" href=href>{t(lang, msg::return_to_merchant)}</a> })}
    }
}

/// What is being paid for: the description, the lines, tax, shipping and the amount due.
#[component]
fn Summary(cfg: SessionConfig) -> impl IntoView {
    let lang = Lang::parse(&cfg.locale);
    let money = |m: i64| format_amount(m, &cfg.currency, &cfg.locale);
    let mut lines: Vec<(String, String)> = cfg
        .line_items
        .iter()
        .map(|i| {
            let label = if i.quantity > 1 { format!("{} × {}", i.name, i.quantity) } else { i.name.clone() };
            (label, money(i.quantity * i.unit_amount))
        })
        .collect();
    for (key, amount) in [(msg::tax, cfg.tax_amount), (msg::shipping, cfg.shipping_amount)] {
        if let Some(a) = amount.filter(|a| *a > 0) {
            lines.push((t(lang, key).to_owned(), money(a)));
        }
    }
    let due = money(cfg.amount);
    view! {
        <div class="summary" aria-label=t(lang, msg::order_summary)>
            {cfg.description.map(|d| view! { <p class="description">{d}</p> })}
            <ul class="lines">
                {lines
                    .into_iter()
                    .map(|(label, amount)| view! { <li><span>{label}</span><span>{amount}</span></li> })
                    .collect_view()}
            </ul>
            <p class="amount-due"><span>{t(lang, msg::amount_due)}</span><strong>{due}</strong></p>
        </div>
    }
}

/// The open checkout: the summary, the countdown, a challenge if one is needed, and the form.
#[component]
fn Open(cfg: SessionConfig) -> impl IntoView {
    let state = state();
    let lang = Lang::parse(&cfg.locale);
    // (`<Show>` memoizes its condition.)
    let challenge_needed = move || {
        state.config.with(|c| c.as_ref().is_some_and(|c| c.challenge.required && !c.challenge.satisfied))
            || state.step_up.get()
    };
    let has_saved = move || state.config.with(|c| c.as_ref().is_some_and(|c| !c.saved_payment_methods.is_empty()));
    let new_method = move || state.saved.with(Option::is_none);
    let tabs: Vec<Tab> = [Tab::Card, Tab::Ach, Tab::ApplePay]
        .into_iter()
        .filter(|t| cfg.allowed_methods.contains(&t.method()))
        .filter(|t| *t != Tab::ApplePay || state.apple_pay)
        .collect();
    let merchant = cfg.merchant.display_name.clone().unwrap_or_default();
    let consent = match cfg.setup_future_usage {
        FutureUsage::OffSession => {
            Some((msg::autopay_consent, Some(tf(lang, msg::autopay_mandate, &[("merchant", &merchant)]))))
        }
        FutureUsage::OnSession => Some((msg::save_method, None)),
        FutureUsage::Off => None,
    };
    let cancel = if cfg.layout == Layout::Embedded {
        view! {
            <button type="button" class="link" on:click=move |_| state.emit("govifi-cancel", &[])>
                {t(lang, msg::cancel)}
            </button>
        }
        .into_any()
    } else {
        view! { <a class="link" href=cfg.cancel_url.clone()>{t(lang, msg::cancel)}</a> }.into_any()
    };
    view! {
        <Header/>
        <Summary cfg/>
        <Countdown/>
        <Show when=challenge_needed>
            {show(challenge_part)}
        </Show>
        <form
            class="pay-form"
            novalidate=""
            on:submit=move |ev| {
                ev.prevent_default();
                state.submit(None);
            }
        >
            <Show when=has_saved>
                {show(saved_methods_part)}
            </Show>
            <Show when=new_method>
                <NewMethod tabs=tabs.clone() consent=consent.clone()/>
            </Show>
            <FeeLine/>
            <div class="form-message" role="alert" aria-live="assertive">
                {move || state.message.get().unwrap_or_default()}
            </div>
            <PayButton/>
        </form>
        <p class="cancel">{cancel}</p>
    }
}

/// The last five minutes, counted down.
#[component]
fn Countdown() -> impl IntoView {
    let state = state();
    view! {
        <Show when=move || (0..=300).contains(&state.seconds_left())>
            {show(countdown_part)}
        </Show>
    }
}

#[component]
fn CountdownTimer() -> impl IntoView {
    let state = state();
    view! {
        <p class="countdown" role="timer" aria-live="off">
            {move || {
                let r = state.seconds_left().max(0);
                format!("{} {}:{:02}", t(state.lang(), msg::expires_in), r / 60, r % 60)
            }}
        </p>
    }
}

/// A new method: the tabs, the chosen method's fields and the save (or autopay) consent.
#[component]
fn NewMethod(tabs: Vec<Tab>, consent: Option<(Msg, Option<String>)>) -> impl IntoView {
    let state = state();
    let lang = state.lang_now();
    view! {
        <TabList tabs/>
        {move || match state.tab.get() {
            Tab::Card => view! { <CardFields/> }.into_any(),
            Tab::Ach => show(ach_fields_part).into_any(),
            Tab::ApplePay => view! { <p class="hint">{t(lang, msg::apple_pay_button)}</p> }.into_any(),
        }}
        {consent
            .map(|(label, mandate)| {
                view! {
                    <div class="check">
                        <input
                            id="gv-save"
                            type="checkbox"
                            prop:checked=state.save
                            on:change=move |ev| state.save.set(event_target_checked(&ev))
                        />
                        <label for="gv-save">{t(lang, label)}</label>
                    </div>
                    {mandate.map(|m| view! { <p class="mandate">{m}</p> })}
                }
            })}
    }
}

/// The method tabs, with arrow keys between them.
#[component]
fn TabList(tabs: Vec<Tab>) -> impl IntoView {
    let state = state();
    let lang = state.lang_now();
    let many = tabs.len() > 1;
    let buttons = tabs
        .iter()
        .map(|&tab| {
            let selected = Memo::new(move |_| state.tab.get() == tab);
            view! {
                <button
                    type="button"
                    role="tab"
                    id=format!("gv-tab-{}", tab.key())
                    aria-selected=move || if selected.get() { "true" } else { "false" }
                    tabindex=move || if selected.get() { "0" } else { "-1" }
                    class=move || if selected.get() { "tab selected" } else { "tab" }
                    on:click=move |_| {
                        state.tab.set(tab);
                        state.message.set(None);
                    }
                >
                    {t(lang, tab.label())}
                </button>
            }
        })
        .collect_view();
    let keys = move |ev: leptos::ev::KeyboardEvent| {
        let current = tabs.iter().position(|t| *t == state.tab.get_untracked()).unwrap_or(0);
        let next = match ev.key().as_str() {
            "ArrowRight" => (current + 1) % tabs.len(),
            "ArrowLeft" => (current + tabs.len() - 1) % tabs.len(),
            _ => return,
        };
        ev.prevent_default();
        state.tab.set(tabs[next]);
        state.focus(&format!("gv-tab-{}", tabs[next].key()));
    };
    many.then(|| {
        view! {
            <div class="tabs" role="tablist" aria-label=t(lang, msg::pay_with) on:keydown=keys>
                {buttons}
            </div>
        }
    })
}

/// One input the customer types into: the form field it feeds (its id is `gv-` and the field),
/// its label and hints.
#[derive(Clone, Copy)]
struct Input {
    field: &'static str,
    label: Msg,
    autocomplete: &'static str,
    numeric: bool,
    placeholder: Option<&'static str>,
    format: Option<fn(&str) -> String>,
}

impl Input {
    const fn text(field: &'static str, label: Msg, autocomplete: &'static str) -> Self {
        Input { field, label, autocomplete, numeric: false, placeholder: None, format: None }
    }

    const fn numeric(self, placeholder: Option<&'static str>, format: fn(&str) -> String) -> Self {
        Input { numeric: true, placeholder, format: Some(format), ..self }
    }
}

/// One labelled input with its error message tied to it.
#[component]
fn Field(input: Input, value: RwSignal<String>) -> impl IntoView {
    let state = state();
    let lang = state.lang_now();
    let form = state.form;
    let Input { field, label, autocomplete, numeric, placeholder, format } = input;
    let id = format!("gv-{field}");
    let error_id = format!("{id}-error");
    let described = error_id.clone();
    let error = Memo::new(move |_| form.error(field));
    view! {
        <div class="field">
            <label for=id.clone()>{t(lang, label)}</label>
            <input
                id=id
                type="text"
                autocomplete=autocomplete
                inputmode=numeric.then_some("numeric")
                placeholder=placeholder
                prop:value=value
                aria-invalid=move || if error.get().is_some() { "true" } else { "false" }
                aria-describedby=move || error.get().map(|_| described.clone())
                on:input=move |ev| {
                    let raw = event_target_value(&ev);
                    value.set(match format {
                        Some(f) => f(&raw),
                        None => raw,
                    });
                    form.clear(field);
                }
            />
            {move || error.get().map(|key| view! { <p id=error_id.clone() class="field-error">{t(lang, key)}</p> })}
        </div>
    }
}

fn format_number(raw: &str) -> String {
    let digits: String = raw.chars().filter(char::is_ascii_digit).take(19).collect();
    card::group_digits(&digits)
}

fn format_expiry(raw: &str) -> String {
    let digits: String = raw.chars().filter(char::is_ascii_digit).take(4).collect();
    if digits.len() > 2 { format!("{} / {}", &digits[..2], &digits[2..]) } else { digits }
}

fn only_digits(raw: &str) -> String {
    raw.chars().filter(char::is_ascii_digit).take(17).collect()
}

#[component]
fn CardFields() -> impl IntoView {
    let state = state();
    let f = state.form;
    let avs = state.cfg(|c| c.required_avs_fields.clone()).unwrap_or_default();
    let needs = |field: AvsField| avs.contains(&field);
    let brand = move || {
        let digits = card::digits_only(&f.number.get()).unwrap_or_default();
        match card::brand_of(&digits) {
            _ if digits.is_empty() => "",
            Brand::Unknown => "",
            brand => brand.display_name(),
        }
    };
    let name = needs(AvsField::Cardholder).then(|| Input::text("name", msg::cardholder, "cc-name"));
    let address = needs(AvsField::Address).then(|| Input::text("address", msg::address_line1, "address-line1"));
    let postal = (needs(AvsField::Zip) || needs(AvsField::Address))
        .then(|| Input::text("postal", msg::postal_code, "postal-code"));
    view! {
        <div class="panel" role="tabpanel" aria-labelledby="gv-tab-card">
            <div class="number-row">
                <Field
                    input=Input::text("number", msg::card_number, "cc-number")
                        .numeric(Some("1234 1234 1234 1234"), format_number)
                    value=f.number
                />
                <span class="brand" aria-live="polite">{brand}</span>
            </div>
            <div class="row">
                <Field input=Input::text("exp", msg::expiry, "cc-exp").numeric(Some("MM / YY"), format_expiry) value=f.exp/>
                <Field input=Input::text("cvc", msg::cvc, "cc-csc").numeric(Some("123"), only_digits) value=f.cvc/>
            </div>
            {name.map(|input| view! { <Field input value=f.name/> })}
            {address.map(|input| view! { <Field input value=f.address/> })}
            {postal.map(|input| view! { <Field input value=f.postal/> })}
        </div>
    }
}

// The parts most sessions never show (a bank account's fields, saved methods, the one-time-code
// challenge, the ended views, the last minutes' countdown) are each split into a WASM chunk of
// their own with the `split` feature (built by `cargo xtask dist`), fetched the first time a
// session shows them. This is Leptos's code splitting: `#[lazy]` expands to `wasm_split`, used
// here directly for its `fallible` option, so a chunk that cannot be fetched (a dropped
// connection) is a message with a retry, not a trap that stops the element.

/// The split part did not load; `wasm_split` has already logged why.
#[derive(Debug)]
pub struct ChunkFailed;

#[cfg(feature = "split")]
impl From<leptos::wasm_split::SplitLoaderError> for ChunkFailed {
    fn from(_: leptos::wasm_split::SplitLoaderError) -> Self {
        ChunkFailed
    }
}

/// A split part once its chunk is loaded, or a message and "Try again" if it could not be.
#[cfg(feature = "split")]
fn show<F, Fut>(load: F) -> AnyView
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<AnyView, ChunkFailed>> + 'static,
{
    show_loaded(std::sync::Arc::new(move || Box::pin(load())))
}

#[cfg(feature = "split")]
type PartLoader =
    std::sync::Arc<dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<AnyView, ChunkFailed>>>> + Send + Sync>;

/// The one (non-generic) body behind `show`. `Suspend` renders the part in the owner (and so
/// with the context) of the place it is shown.
#[cfg(feature = "split")]
fn show_loaded(load: PartLoader) -> AnyView {
    let attempt = RwSignal::new(0u32);
    let view = move || {
        attempt.track();
        let load = load.clone();
        // One thread in the browser: the split loader's future need not be `Send`.
        Suspend::new(send_wrapper::SendWrapper::new(async move {
            load().await.unwrap_or_else(|ChunkFailed| part_failed(attempt))
        }))
    };
    view.into_any()
}

#[cfg(feature = "split")]
fn part_failed(attempt: RwSignal<u32>) -> AnyView {
    let lang = state().lang_now();
    view! {
        <div class="notice error-box" role="alert">
            <p>{t(lang, msg::part_failed)}</p>
            <button type="button" class="button secondary" on:click=move |_| attempt.update(|n| *n += 1)>
                {t(lang, msg::retry)}
            </button>
        </div>
    }
    .into_any()
}

/// Without the `split` feature the parts are ordinary functions (the wallet's build, tests).
#[cfg(not(feature = "split"))]
fn show(load: impl Fn() -> Result<AnyView, ChunkFailed>) -> AnyView {
    load().unwrap_or_else(|ChunkFailed| ().into_any())
}

#[cfg_attr(feature = "split", wasm_split(ach_fields, wasm_split_path = ::leptos::wasm_split, fallible))]
fn ach_fields_part() -> Result<AnyView, ChunkFailed> {
    Ok(view! { <AchFields/> }.into_any())
}

#[cfg_attr(feature = "split", wasm_split(saved_methods, wasm_split_path = ::leptos::wasm_split, fallible))]
fn saved_methods_part() -> Result<AnyView, ChunkFailed> {
    Ok(view! { <SavedMethods/> }.into_any())
}

// A session that is over (expired, paid, in progress elsewhere), and the last five minutes'
// countdown: most customers pay long before either.
#[cfg_attr(feature = "split", wasm_split(ended, wasm_split_path = ::leptos::wasm_split, fallible))]
fn ended_part(title: Msg, body: Msg, link: bool) -> Result<AnyView, ChunkFailed> {
    Ok(view! { <Ended title body link/> }.into_any())
}

#[cfg_attr(feature = "split", wasm_split(countdown, wasm_split_path = ::leptos::wasm_split, fallible))]
fn countdown_part() -> Result<AnyView, ChunkFailed> {
    Ok(view! { <CountdownTimer/> }.into_any())
}

/// The Spanish half of the catalogue: only Spanish sessions fetch it.
#[cfg(feature = "split")]
#[wasm_split(spanish, wasm_split_path = ::leptos::wasm_split, fallible)]
fn spanish_part() -> Result<&'static str, ChunkFailed> {
    Ok(crate::i18n::SPANISH)
}

#[cfg_attr(feature = "split", wasm_split(challenge, wasm_split_path = ::leptos::wasm_split, fallible))]
fn challenge_part() -> Result<AnyView, ChunkFailed> {
    Ok(view! { <Challenge/> }.into_any())
}

#[component]
fn AchFields() -> impl IntoView {
    let state = state();
    let f = state.form;
    let lang = state.lang_now();
    let option = |kind: AccountType| {
        let label = match kind {
            AccountType::Checking => msg::checking,
            AccountType::Savings => msg::savings,
        };
        view! { <option value=kind.as_str()>{t(lang, label)}</option> }
    };
    view! {
        <div class="panel" role="tabpanel" aria-labelledby="gv-tab-ach">
            <Field input=Input::text("holder", msg::holder_name, "name") value=f.holder/>
            <Field input=Input::text("routing", msg::routing_number, "off").numeric(None, only_digits) value=f.routing/>
            <Field input=Input::text("account", msg::account_number, "off").numeric(None, only_digits) value=f.account/>
            <div class="field">
                <label for="gv-account-type">{t(lang, msg::account_type)}</label>
                <select
                    id="gv-account-type"
                    prop:value=move || f.account_type.get().as_str()
                    on:change=move |ev| {
                        if let Some(kind) = AccountType::parse(&event_target_value(&ev)) {
                            f.account_type.set(kind);
                        }
                    }
                >
                    {option(AccountType::Checking)}
                    {option(AccountType::Savings)}
                </select>
            </div>
        </div>
    }
}

/// The customer's saved methods (after any challenge), and "use a new method".
#[component]
fn SavedMethods() -> impl IntoView {
    let state = state();
    let lang = state.lang_now();
    let methods =
        move || state.config.with(|c| c.as_ref().map(|c| c.saved_payment_methods.clone()).unwrap_or_default());
    view! {
        <fieldset class="saved">
            <legend>{t(lang, msg::saved_methods)}</legend>
            <For each=methods key=|m| m.id.clone() children=move |m| view! { <SavedOption m/> }/>
            <div class="check">
                <input
                    type="radio"
                    name="gv-saved"
                    id="gv-saved-new"
                    prop:checked=move || state.saved.with(Option::is_none)
                    on:change=move |_| state.saved.set(None)
                />
                <label for="gv-saved-new">{t(lang, msg::use_new_method)}</label>
            </div>
        </fieldset>
    }
}

#[component]
fn SavedOption(m: SavedMethodView) -> impl IntoView {
    let state = state();
    let lang = state.lang_now();
    let label = match (m.kind, m.exp_month, m.exp_year) {
        (MethodType::Card, Some(mm), Some(yy)) => {
            format!("{} ({} {mm:02}/{})", method_label(lang, &m), t(lang, msg::expires), yy % 100)
        }
        _ => method_label(lang, &m),
    };
    let id = format!("gv-saved-{}", m.id);
    let (checked, pick) = (m.id.clone(), m.id);
    view! {
        <div class="check">
            <input
                type="radio"
                name="gv-saved"
                id=id.clone()
                prop:checked=move || state.saved.with(|s| s.as_deref() == Some(checked.as_str()))
                on:change=move |_| {
                    state.saved.set(Some(pick.clone()));
                    state.message.set(None);
                }
            />
            <label for=id>{label}</label>
        </div>
    }
}

/// The fee and the total, once quoted, with the merchant's disclosure.
#[component]
fn FeeLine() -> impl IntoView {
    let state = state();
    view! {
        <div class="fee" aria-live="polite">
            {move || {
                let lang = state.lang();
                match state.current_quote.get() {
                    Some(q) => {
                        view! {
                            <p class="fee-row">
                                <span>{t(lang, msg::fee)}</span>
                                <span class="fee-amount">{state.money(q.fee_amount)}</span>
                            </p>
                            <p class="total-row">
                                <span>{t(lang, msg::total)}</span>
                                <strong class="total-amount">{state.money(q.total_amount)}</strong>
                            </p>
                            <p class="disclosure">{q.disclosure}</p>
                        }
                            .into_any()
                    }
                    None => {
                        let key = if state.quote.pending().get() { msg::quote_loading } else { msg::quote_needed };
                        view! { <p class="hint">{t(lang, key)}</p> }.into_any()
                    }
                }
            }}
        </div>
    }
}

#[component]
fn PayButton() -> impl IntoView {
    let state = state();
    let submitting = state.confirm.pending();
    let disabled = Memo::new(move |_| {
        submitting.get()
            || state.current_quote.with(Option::is_none)
            || state.quote.pending().get()
            || state.config.with(|c| c.as_ref().is_some_and(|c| c.challenge.required && !c.challenge.satisfied))
    });
    let apple = Memo::new(move |_| state.tab.get() == Tab::ApplePay && state.saved.with(Option::is_none));
    let label = move || {
        let lang = state.lang();
        if apple.get() {
            t(lang, msg::apple_pay_button).to_owned()
        } else if submitting.get() {
            t(lang, msg::processing).to_owned()
        } else {
            match state.current_quote.get() {
                Some(q) => format!("{} {}", t(lang, msg::pay), state.money(q.total_amount)),
                None => t(lang, msg::pay).to_owned(),
            }
        }
    };
    view! {
        <button
            type="submit"
            class=move || if apple.get() { "pay apple-pay" } else { "pay" }
            disabled=disabled
            aria-disabled=move || if disabled.get() { "true" } else { "false" }
            aria-busy=move || if submitting.get() { "true" } else { "false" }
            on:click=move |ev| {
                if apple.get_untracked() {
                    ev.prevent_default();
                    state.pay_with_apple();
                }
            }
        >
            {move || submitting.get().then(|| view! { <span class="spinner" aria-hidden="true"></span> })}
            {label}
        </button>
    }
}

/// A one-time code sent to the customer's email, before paying (risk) or saving (step-up).
#[component]
fn Challenge() -> impl IntoView {
    let state = state();
    let lang = state.lang_now();
    let sent = RwSignal::new(false);
    let code = RwSignal::new(String::new());
    let note = RwSignal::new(None::<String>);
    let client = state.client;
    let send = api::action(client);
    let verify = api::action(client);
    let handles = StoredValue::new(Vec::new());
    let busy = Memo::new(move |_| send.pending().get() || verify.pending().get());
    Effect::new(move |_| {
        let Some((_, answer)) = send.value().get() else { return };
        untrack(|| match api::json::<ChallengeSent>(answer) {
            Ok(s) => {
                sent.set(true);
                note.set(Some(tf(lang, msg::challenge_sent, &[("destination", &s.destination_hint)])));
                state.focus("gv-code");
            }
            Err(Failure::Api { status: 429, .. }) => note.set(Some(t(lang, msg::challenge_send_limit).to_owned())),
            Err(Failure::Api { error, .. }) if error.code == "parameter_missing" => {
                note.set(Some(t(lang, msg::challenge_no_email).to_owned()))
            }
            Err(f) => state.handle_failure(f),
        });
    });
    Effect::new(move |_| {
        let Some((_, answer)) = verify.value().get() else { return };
        untrack(|| match api::json::<ChallengeVerified>(answer) {
            Ok(_) => {
                state.step_up.set(false);
                state.say(msg::challenge_verified);
                state.reload();
            }
            Err(Failure::Api { status: 400, error }) => {
                let n = error.attempts_remaining.unwrap_or(0).to_string();
                note.set(Some(tf(lang, msg::challenge_wrong, &[("n", &n)])));
            }
            Err(Failure::Api { status: 429, .. }) => note.set(Some(t(lang, msg::challenge_locked).to_owned())),
            Err(f) => state.handle_failure(f),
        });
    });
    let on_send = move |_| {
        if !busy.get_untracked() {
            let call = Call { tail: "challenge/send".into(), body: Some("{}".into()), ..Call::default() };
            let handle = send.dispatch_local(call);
            handles.update_value(|h: &mut Vec<_>| h.push(handle));
        }
    };
    let on_verify = move |_| {
        if !busy.get_untracked() {
            let body = api::to_json(&ChallengeVerify { code: code.get_untracked() });
            let call = Call { tail: "challenge/verify".into(), body: Some(body), ..Call::default() };
            let handle = verify.dispatch_local(call);
            handles.update_value(|h: &mut Vec<_>| h.push(handle));
        }
    };
    let intro = move || {
        let destination = state.config.with(|c| c.as_ref().and_then(|c| c.challenge.destination_hint.clone()));
        tf(lang, msg::challenge_intro, &[("destination", &destination.unwrap_or_default())])
    };
    view! {
        <div class="challenge" role="group" aria-labelledby="gv-challenge-title">
            <h3 id="gv-challenge-title" class="subtitle">{t(lang, msg::challenge_title)}</h3>
            <p>{intro}</p>
            <p class="challenge-note" role="status" aria-live="polite">{move || note.get().unwrap_or_default()}</p>
            <button type="button" class="button secondary" disabled=busy on:click=on_send>
                {move || t(lang, if sent.get() { msg::challenge_resend } else { msg::challenge_send })}
            </button>
            // Shown once a code has been sent (a second send does not rebuild it).
            <Show when=move || sent.get()>
                <div class="field">
                    <label for="gv-code">{t(lang, msg::challenge_code)}</label>
                    <input
                        id="gv-code"
                        type="text"
                        inputmode="numeric"
                        autocomplete="one-time-code"
                        maxlength="6"
                        prop:value=code
                        on:input=move |ev| code.set(only_digits(&event_target_value(&ev)).chars().take(6).collect())
                    />
                </div>
                <button
                    type="button"
                    class="button"
                    disabled=move || busy.get() || code.with(|c| c.len() != 6)
                    on:click=on_verify
                >
                    {t(lang, msg::challenge_verify)}
                </button>
            </Show>
        </div>
    }
}

/// Paid (or, for ACH, paid once the bank settles).
#[component]
fn Receipt(result: ConfirmResult) -> impl IntoView {
    let state = state();
    let lang = state.lang_now();
    let processing = result.status == ConfirmStatus::Processing;
    let paid = untrack(|| state.money(result.total_amount));
    view! {
        <Header/>
        <div class="receipt" role="alert">
            <h3 class="subtitle">{t(lang, if processing { msg::processing_title } else { msg::success_title })}</h3>
            <p>{t(lang, if processing { msg::processing_body } else { msg::success_body })}</p>
            <p class="receipt-row"><span>{t(lang, msg::amount_paid)}</span><strong>{paid}</strong></p>
            <p class="receipt-row">
                <span>{t(lang, msg::payment_reference)}</span>
                <code class="payment-id">{result.payment_id}</code>
            </p>
            {state.hosted().then(|| view! { <p class="hint">{t(lang, msg::redirecting)}</p> })}
        </div>
    }
}

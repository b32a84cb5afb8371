//! The hosted-session checkout: what a paying customer sees and does.

use std::time::Duration;

use leptos::html;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::api::{Client, Failure};
use super::{Env, js};
use crate::card::{self, Brand};
use crate::color::accessible_primary;
use crate::i18n::{Lang, decline_message, t, tf};
use crate::money::format_amount;
use crate::wire::{
    AchBody, BillingBody, CardBody, ChallengeSent, ChallengeVerified, ChallengeVerify, ConfirmBody, ConfirmResult,
    FeeQuote, PaymentMethodBody, QuoteRequest, SavedBody, SessionConfig, TokenBody,
};

#[derive(Debug, Clone, PartialEq)]
enum Stage {
    Loading,
    Failed(&'static str),
    Open,
    Done(ConfirmResult),
    Expired,
    Paid,
    InProgress,
}

fn stage_for(status: &str) -> Stage {
    match status {
        "active" => Stage::Open,
        "completed" => Stage::Paid,
        "processing" => Stage::InProgress,
        _ => Stage::Expired,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tab {
    Card,
    Ach,
    ApplePay,
}

impl Tab {
    fn key(self) -> &'static str {
        match self {
            Tab::Card => "card",
            Tab::Ach => "ach",
            Tab::ApplePay => "apple_pay",
        }
    }
}

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
    account_type: RwSignal<String>,
    holder: RwSignal<String>,
    errors: RwSignal<Vec<(&'static str, &'static str)>>,
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
            account_type: RwSignal::new("checking".into()),
            holder: s(),
            errors: RwSignal::new(Vec::new()),
        }
    }

    fn error(&self, field: &'static str) -> Option<&'static str> {
        self.errors.with(|e| e.iter().find(|(f, _)| *f == field).map(|(_, k)| *k))
    }

    fn clear(&self, field: &'static str) {
        if self.errors.with_untracked(|e| e.iter().any(|(f, _)| *f == field)) {
            self.errors.update(|e| e.retain(|(f, _)| *f != field));
        }
    }

    fn digits(&self) -> String {
        card::digits_only(&self.number.get_untracked()).unwrap_or_default()
    }
}

/// The state of the whole checkout, shared by its parts.
#[derive(Clone, Copy)]
struct Ctx {
    client: StoredValue<Client>,
    env: StoredValue<Env>,
    config: RwSignal<Option<SessionConfig>>,
    stage: RwSignal<Stage>,
    lang: Memo<Lang>,
    tab: RwSignal<Tab>,
    saved: RwSignal<Option<String>>,
    form: Form,
    quote: RwSignal<Option<FeeQuote>>,
    quoted_for: RwSignal<Option<String>>,
    quoting: RwSignal<bool>,
    save: RwSignal<bool>,
    submitting: RwSignal<bool>,
    message: RwSignal<Option<String>>,
    /// The current attempt: its Idempotency-Key and body (a retry after a network failure reuses it).
    attempt: StoredValue<Option<(String, String)>>,
    step_up: RwSignal<bool>,
    now: RwSignal<f64>,
    apple_pay: bool,
}

impl Ctx {
    fn t(&self, key: &str) -> &'static str {
        t(self.lang.get_untracked(), key)
    }

    fn cfg<R>(&self, f: impl FnOnce(&SessionConfig) -> R) -> Option<R> {
        self.config.with_untracked(|c| c.as_ref().map(f))
    }

    fn money(&self, minor: i64) -> String {
        self.config.with(|c| match c {
            Some(c) => format_amount(minor, &c.currency, &c.locale),
            None => String::new(),
        })
    }

    /// What the quote must be for: the method, and for a new card its BIN.
    fn quote_key(&self) -> Option<String> {
        if let Some(id) = self.saved.get() {
            return Some(format!("saved:{id}"));
        }
        match self.tab.get() {
            Tab::Card => {
                let digits = card::digits_only(&self.form.number.get()).unwrap_or_default();
                (digits.len() >= 6).then(|| format!("card:{}", &digits[..6]))
            }
            other => Some(other.key().to_owned()),
        }
    }

    fn reload(&self) {
        let ctx = *self;
        spawn_local(async move {
            if let Ok(config) = ctx.client.get_value().get::<SessionConfig>("config").await {
                let stage = stage_for(&config.status);
                // Saved methods unlocked by a challenge: offer the first one.
                let had_saved =
                    ctx.config.with_untracked(|c| c.as_ref().is_some_and(|c| !c.saved_payment_methods.is_empty()));
                if !had_saved && ctx.saved.get_untracked().is_none() {
                    ctx.saved.set(config.saved_payment_methods.first().map(|m| m.id.clone()));
                }
                ctx.config.set(Some(config));
                if ctx.stage.get_untracked() != Stage::Open || stage != Stage::Open {
                    ctx.stage.set(stage);
                }
            }
        });
    }
}

#[component]
pub fn Checkout(client: Client, env: Env) -> impl IntoView {
    let ctx = Ctx {
        client: StoredValue::new(client),
        env: StoredValue::new(env),
        config: RwSignal::new(None),
        stage: RwSignal::new(Stage::Loading),
        lang: Memo::new(|_| Lang::En),
        tab: RwSignal::new(Tab::Card),
        saved: RwSignal::new(None),
        form: Form::new(),
        quote: RwSignal::new(None),
        quoted_for: RwSignal::new(None),
        quoting: RwSignal::new(false),
        save: RwSignal::new(false),
        submitting: RwSignal::new(false),
        message: RwSignal::new(None),
        attempt: StoredValue::new(None),
        step_up: RwSignal::new(false),
        now: RwSignal::new(js::now_ms()),
        apple_pay: js::apple_pay_available(),
    };
    let config = ctx.config;
    let ctx = Ctx {
        lang: Memo::new(move |_| config.with(|c| c.as_ref().map(|c| Lang::parse(&c.locale)).unwrap_or_default())),
        ..ctx
    };

    // Load the session.
    spawn_local(async move {
        match ctx.client.get_value().get::<SessionConfig>("config").await {
            Ok(config) => {
                let primary = accessible_primary(config.merchant.primary_color.as_deref());
                ctx.env.with_value(|env| {
                    let _ = env.host.style().set_property("--govifi-primary", &primary);
                });
                let stage = stage_for(&config.status);
                if let Some(first) = config.saved_payment_methods.first() {
                    ctx.saved.set(Some(first.id.clone()));
                }
                if !config.allowed_methods.iter().any(|m| m == "card") {
                    ctx.tab.set(if config.allowed_methods.iter().any(|m| m == "ach") {
                        Tab::Ach
                    } else {
                        Tab::ApplePay
                    });
                }
                let status = config.status.clone();
                ctx.config.set(Some(config));
                ctx.stage.set(stage);
                ctx.env.with_value(|env| env.emit("govifi-ready", &[("status", &status)]));
            }
            Err(failure) => {
                let key = match &failure {
                    Failure::Api { status: 401, .. } => "invalid_link",
                    Failure::Api { error, .. } if error.code == "origin_not_allowed" => "origin_blocked",
                    Failure::Network => "origin_blocked",
                    _ => "generic_error",
                };
                ctx.stage.set(Stage::Failed(key));
                ctx.env.with_value(|env| {
                    env.emit("govifi-error", &[("code", failure.code()), ("message", t(Lang::En, key))])
                });
            }
        }
    });

    // A clock for the countdown and for expiry while the page is open.
    let clock = set_interval_with_handle(move || ctx.now.set(js::now_ms()), Duration::from_secs(1));
    on_cleanup(move || {
        if let Ok(handle) = clock {
            handle.clear();
        }
    });
    Effect::new(move |_| {
        let expires = config.with(|c| c.as_ref().map(|c| js::parse_time(&c.expires_at)));
        if let Some(expires) = expires
            && ctx.now.get() >= expires
            && ctx.stage.get_untracked() == Stage::Open
            && !ctx.submitting.get_untracked()
        {
            ctx.stage.set(Stage::Expired);
        }
    });

    // The fee quote follows the method (and the card's BIN).
    Effect::new(move |_| {
        let key = ctx.quote_key();
        if ctx.stage.get() != Stage::Open {
            return;
        }
        if key == ctx.quoted_for.get_untracked() {
            return;
        }
        ctx.quoted_for.set(key.clone());
        ctx.quote.set(None);
        let Some(key) = key else { return };
        let request = match key.split_once(':') {
            Some(("saved", id)) => {
                let kind =
                    ctx.cfg(|c| c.saved_payment_methods.iter().find(|m| m.id == id).map(|m| m.kind.clone())).flatten();
                QuoteRequest {
                    payment_method_type: kind.unwrap_or_else(|| "card".into()),
                    card_bin: None,
                    saved_payment_method_id: Some(id.to_owned()),
                }
            }
            Some(("card", bin)) => QuoteRequest {
                payment_method_type: "card".into(),
                card_bin: Some(bin.to_owned()),
                saved_payment_method_id: None,
            },
            _ => QuoteRequest { payment_method_type: key.clone(), card_bin: None, saved_payment_method_id: None },
        };
        ctx.quoting.set(true);
        spawn_local(async move {
            let result = ctx.client.get_value().post::<_, FeeQuote>("quote-fee", &request, None).await;
            // An answer for a method the customer has since left is dropped.
            if ctx.quoted_for.get_untracked().as_deref() == Some(key.as_str()) {
                ctx.quoting.set(false);
                match result {
                    Ok(q) => ctx.quote.set(Some(q)),
                    Err(f) => handle_failure(ctx, f),
                }
            }
        });
    });

    let stage = Memo::new(move |_| ctx.stage.get());
    view! {
        <section class="govifi" aria-labelledby="gv-title">
            {move || match stage.get() {
                Stage::Loading => view! {
                    <p id="gv-title" class="notice" role="status">{t(Lang::En, "loading")}</p>
                }.into_any(),
                Stage::Failed(key) => view! {
                    <h2 id="gv-title" class="title">{t(Lang::En, "secure_checkout")}</h2>
                    <p class="notice error-box" role="alert">{t(Lang::En, key)}</p>
                }.into_any(),
                Stage::Open => view! { <Open ctx=ctx /> }.into_any(),
                Stage::Done(result) => view! { <Receipt ctx=ctx result=result /> }.into_any(),
                Stage::Expired => view! { <Ended ctx=ctx title="expired_title" body="expired_body" link=true /> }.into_any(),
                Stage::Paid => view! { <Ended ctx=ctx title="paid_title" body="paid_body" link=false /> }.into_any(),
                Stage::InProgress => view! { <Ended ctx=ctx title="in_progress_title" body="processing_body" link=false /> }.into_any(),
            }}
            <p class="brand-line">{move || t(ctx.lang.get(), "powered_by")}</p>
        </section>
    }
}

/// What a refused call means for the customer.
fn handle_failure(ctx: Ctx, failure: Failure) {
    let lang = ctx.lang.get_untracked();
    let Failure::Api { status, error } = failure else {
        ctx.message.set(Some(t(lang, "network_error").to_owned()));
        return;
    };
    let field = |f: &'static str, k: &'static str| {
        ctx.form.errors.update(|e| e.push((f, k)));
        ctx.message.set(Some(t(lang, "err_fix_fields").to_owned()));
    };
    match (status, error.code.as_str()) {
        (410, _) => ctx.stage.set(Stage::Expired),
        (409, "already_confirmed") => ctx.stage.set(Stage::Paid),
        (409, "confirm_in_progress" | "idempotency_in_progress") => {
            ctx.message.set(Some(t(lang, "processing").to_owned()));
            ctx.reload();
        }
        (409, "quote_stale") => {
            ctx.quoted_for.set(None);
            ctx.quote.set(None);
            ctx.message.set(Some(t(lang, "quote_stale").to_owned()));
            ctx.reload();
            // Ask again for the current method.
            let key = ctx.tab.get_untracked();
            ctx.tab.set(key);
        }
        (402, "card_declined") => {
            ctx.message.set(Some(decline_message(lang, error.decline_code.as_deref()).to_owned()))
        }
        (402, "incorrect_number") => field("number", "err_card_number"),
        (402, "invalid_expiry") => field("exp", "err_expiry"),
        (402, "invalid_cvc") => field("cvc", "err_cvc_3"),
        (400, "invalid_routing_number") => field("routing", "err_routing"),
        (402, "authentication_required") => {
            ctx.step_up.set(true);
            ctx.message.set(Some(t(lang, "step_up_needed").to_owned()));
        }
        (429, _) => ctx.message.set(Some(t(lang, "rate_limited").to_owned())),
        (400, "parameter_missing") => {
            let param = error.param.unwrap_or_default();
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
                ctx.message.set(Some(t(lang, "generic_error").to_owned()));
            } else {
                field(target, "err_required");
            }
        }
        _ => ctx.message.set(Some(t(lang, "generic_error").to_owned())),
    }
    ctx.env.with_value(|env| env.emit("govifi-error", &[("code", &error.code), ("message", &error.message)]));
}

#[component]
fn Ended(ctx: Ctx, title: &'static str, body: &'static str, link: bool) -> impl IntoView {
    let cancel = ctx.cfg(|c| c.cancel_url.clone()).unwrap_or_default();
    let lang = ctx.lang.get_untracked();
    view! {
        <Header ctx=ctx />
        <div class="ended" role="alert">
            <h3 class="subtitle">{t(lang, title)}</h3>
            <p>{t(lang, body)}</p>
        </div>
        {link.then(|| view! { <a class="button secondary" href=cancel>{t(lang, "return_to_merchant")}</a> })}
    }
}

#[component]
fn Header(ctx: Ctx) -> impl IntoView {
    let (name, logo) = ctx
        .cfg(|c| (c.merchant.display_name.clone().unwrap_or_default(), c.merchant.logo_url.clone()))
        .unwrap_or_default();
    let alt = name.clone();
    view! {
        <header class="header">
            {logo.map(|src| view! { <img class="logo" src=src alt=alt /> })}
            <h2 id="gv-title" class="title">{name}</h2>
        </header>
    }
}

#[component]
fn Summary(ctx: Ctx) -> impl IntoView {
    let Some(c) = ctx.config.get_untracked() else { return ().into_any() };
    let lang = ctx.lang.get_untracked();
    let money = move |m: i64| format_amount(m, &c.currency, &c.locale);
    let items = c.line_items.clone();
    let rows = items
        .into_iter()
        .map(|i| {
            let label = if i.quantity > 1 { format!("{} × {}", i.name, i.quantity) } else { i.name.clone() };
            view! { <li><span>{label}</span><span>{money(i.quantity * i.unit_amount)}</span></li> }
        })
        .collect_view();
    let tax = c
        .tax_amount
        .filter(|t| *t > 0)
        .map(|a| view! { <li><span>{t(lang, "tax")}</span><span>{money(a)}</span></li> });
    let shipping = c
        .shipping_amount
        .filter(|s| *s > 0)
        .map(|a| view! { <li><span>{t(lang, "shipping")}</span><span>{money(a)}</span></li> });
    view! {
        <div class="summary" aria-label=t(lang, "order_summary")>
            {c.description.clone().map(|d| view! { <p class="description">{d}</p> })}
            <ul class="lines">{rows}{tax}{shipping}</ul>
            <p class="amount-due"><span>{t(lang, "amount_due")}</span><strong>{money(c.amount)}</strong></p>
        </div>
    }
    .into_any()
}

#[component]
fn Open(ctx: Ctx) -> impl IntoView {
    let lang = ctx.lang.get_untracked();
    let cfg = ctx.config.get_untracked().expect("open with a config");
    let methods = cfg.allowed_methods.clone();
    let usage = cfg.setup_future_usage.clone();
    let layout = cfg.layout.clone();
    let cancel_url = cfg.cancel_url.clone();
    let merchant = cfg.merchant.display_name.clone().unwrap_or_default();
    let challenge_needed = Memo::new(move |_| {
        ctx.config.with(|c| c.as_ref().is_some_and(|c| c.challenge.required && !c.challenge.satisfied))
            || ctx.step_up.get()
    });
    let has_saved =
        Memo::new(move |_| ctx.config.with(|c| c.as_ref().is_some_and(|c| !c.saved_payment_methods.is_empty())));
    let refs = Refs::default();
    let tabs: Vec<Tab> = [Tab::Card, Tab::Ach, Tab::ApplePay]
        .into_iter()
        .filter(|t| methods.iter().any(|m| m == t.key()))
        .filter(|t| *t != Tab::ApplePay || ctx.apple_pay)
        .collect();

    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        submit(ctx, refs, None);
    };
    let save_label = match usage.as_str() {
        "off_session" => Some(("autopay_consent", Some(tf(lang, "autopay_mandate", &[("merchant", &merchant)])))),
        "on_session" => Some(("save_method", None)),
        _ => None,
    };
    let cancel = if layout == "embedded" {
        view! {
            <button type="button" class="link" on:click=move |_| ctx.env.with_value(|e| e.emit("govifi-cancel", &[]))>
                {t(lang, "cancel")}
            </button>
        }
        .into_any()
    } else {
        view! { <a class="link" href=cancel_url>{t(lang, "cancel")}</a> }.into_any()
    };

    view! {
        <Header ctx=ctx />
        <Summary ctx=ctx />
        <Countdown ctx=ctx />
        <Show when=move || challenge_needed.get()>
            <Challenge ctx=ctx />
        </Show>
        <form class="pay-form" novalidate on:submit=on_submit>
            <Show when=move || has_saved.get()>
                <SavedMethods ctx=ctx />
            </Show>
            <Show when=move || ctx.saved.get().is_none()>
                <Tabs ctx=ctx tabs=tabs.clone() />
                {move || match ctx.tab.get() {
                    Tab::Card => view! { <CardFields ctx=ctx refs=refs /> }.into_any(),
                    Tab::Ach => view! { <AchFields ctx=ctx refs=refs /> }.into_any(),
                    Tab::ApplePay => view! { <p class="hint">{t(lang, "apple_pay_button")}</p> }.into_any(),
                }}
                {save_label.clone().map(|(label, mandate)| view! {
                    <div class="check">
                        <input id="gv-save" type="checkbox" prop:checked=move || ctx.save.get()
                            on:change=move |ev| ctx.save.set(event_target_checked(&ev)) />
                        <label for="gv-save">{t(lang, label)}</label>
                    </div>
                    {mandate.map(|m| view! { <p class="mandate">{m}</p> })}
                })}
            </Show>
            <FeeLine ctx=ctx />
            <div class="form-message" role="alert" aria-live="assertive">
                {move || ctx.message.get()}
            </div>
            <PayButton ctx=ctx challenge_needed=challenge_needed refs=refs />
        </form>
        <p class="cancel">{cancel}</p>
    }
}

#[derive(Clone, Copy, Default)]
struct Refs {
    number: NodeRef<html::Input>,
    exp: NodeRef<html::Input>,
    cvc: NodeRef<html::Input>,
    name: NodeRef<html::Input>,
    postal: NodeRef<html::Input>,
    address: NodeRef<html::Input>,
    routing: NodeRef<html::Input>,
    account: NodeRef<html::Input>,
    holder: NodeRef<html::Input>,
}

impl Refs {
    fn focus(&self, field: &str) {
        let target = match field {
            "number" => self.number,
            "exp" => self.exp,
            "cvc" => self.cvc,
            "name" => self.name,
            "postal" => self.postal,
            "address" => self.address,
            "routing" => self.routing,
            "account" => self.account,
            _ => self.holder,
        };
        if let Some(input) = target.get_untracked() {
            let _ = input.focus();
        }
    }
}

#[component]
fn Countdown(ctx: Ctx) -> impl IntoView {
    let remaining = Memo::new(move |_| {
        let expires = ctx.config.with(|c| c.as_ref().map(|c| js::parse_time(&c.expires_at))).unwrap_or(f64::MAX);
        ((expires - ctx.now.get()) / 1000.0).floor() as i64
    });
    view! {
        <Show when=move || { let r = remaining.get(); (0..=300).contains(&r) }>
            <p class="countdown" role="timer" aria-live="off">
                {move || {
                    let r = remaining.get().max(0);
                    format!("{} {}:{:02}", t(ctx.lang.get(), "expires_in"), r / 60, r % 60)
                }}
            </p>
        </Show>
    }
}

#[component]
fn Tabs(ctx: Ctx, tabs: Vec<Tab>) -> impl IntoView {
    let lang = ctx.lang.get_untracked();
    if tabs.len() < 2 {
        return ().into_any();
    }
    let order = tabs.clone();
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let current = order.iter().position(|t| *t == ctx.tab.get_untracked()).unwrap_or(0);
        let next = match ev.key().as_str() {
            "ArrowRight" => (current + 1) % order.len(),
            "ArrowLeft" => (current + order.len() - 1) % order.len(),
            _ => return,
        };
        ev.prevent_default();
        ctx.tab.set(order[next]);
    };
    let buttons = tabs
        .into_iter()
        .map(|tab| {
            let label = match tab {
                Tab::Card => t(lang, "tab_card"),
                Tab::Ach => t(lang, "tab_ach"),
                Tab::ApplePay => t(lang, "tab_apple_pay"),
            };
            view! {
                <button type="button" role="tab" id=format!("gv-tab-{}", tab.key())
                    aria-selected=move || if ctx.tab.get() == tab { "true" } else { "false" }
                    tabindex=move || if ctx.tab.get() == tab { "0" } else { "-1" }
                    class=move || if ctx.tab.get() == tab { "tab selected" } else { "tab" }
                    on:click=move |_| { ctx.tab.set(tab); ctx.message.set(None); }>
                    {label}
                </button>
            }
        })
        .collect_view();
    view! {
        <div class="tabs" role="tablist" aria-label=t(lang, "pay_with") on:keydown=on_key>{buttons}</div>
    }
    .into_any()
}

/// One labelled input with its error message tied to it.
#[component]
fn Field(
    ctx: Ctx,
    id: &'static str,
    field: &'static str,
    label: &'static str,
    value: RwSignal<String>,
    node: NodeRef<html::Input>,
    #[prop(optional)] autocomplete: &'static str,
    #[prop(optional)] inputmode: &'static str,
    #[prop(optional)] placeholder: &'static str,
    #[prop(optional)] format: Option<fn(&str) -> String>,
) -> impl IntoView {
    let lang = ctx.lang.get_untracked();
    let form = ctx.form;
    let error_id = format!("{id}-error");
    let error_id_attr = error_id.clone();
    view! {
        <div class="field">
            <label for=id>{t(lang, label)}</label>
            <input id=id node_ref=node type="text" autocomplete=autocomplete inputmode=(!inputmode.is_empty()).then_some(inputmode)
                placeholder=(!placeholder.is_empty()).then_some(placeholder)
                prop:value=move || value.get()
                aria-invalid=move || if form.error(field).is_some() { "true" } else { "false" }
                aria-describedby=move || form.error(field).map(|_| error_id_attr.clone())
                on:input=move |ev| {
                    let raw = event_target_value(&ev);
                    value.set(match format { Some(f) => f(&raw), None => raw });
                    form.clear(field);
                } />
            {move || form.error(field).map(|key| view! { <p id=error_id.clone() class="field-error">{t(lang, key)}</p> })}
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
fn CardFields(ctx: Ctx, refs: Refs) -> impl IntoView {
    let f = ctx.form;
    let avs = ctx.cfg(|c| c.required_avs_fields.clone()).unwrap_or_default();
    let brand = Memo::new(move |_| {
        let digits = card::digits_only(&f.number.get()).unwrap_or_default();
        if digits.is_empty() { None } else { Some(card::brand_of(&digits)) }
    });
    view! {
        <div class="panel" role="tabpanel" aria-labelledby="gv-tab-card">
            <div class="number-row">
                <Field ctx=ctx id="gv-number" field="number" label="card_number" value=f.number node=refs.number
                    autocomplete="cc-number" inputmode="numeric" placeholder="1234 1234 1234 1234" format=format_number />
                <span class="brand" aria-live="polite">
                    {move || brand.get().filter(|b| *b != Brand::Unknown).map(|b| b.display_name())}
                </span>
            </div>
            <div class="row">
                <Field ctx=ctx id="gv-exp" field="exp" label="expiry" value=f.exp node=refs.exp
                    autocomplete="cc-exp" inputmode="numeric" placeholder="MM / YY" format=format_expiry />
                <Field ctx=ctx id="gv-cvc" field="cvc" label="cvc" value=f.cvc node=refs.cvc
                    autocomplete="cc-csc" inputmode="numeric" placeholder="123" format=only_digits />
            </div>
            {avs.contains(&"cardholder".to_owned()).then(|| view! {
                <Field ctx=ctx id="gv-name" field="name" label="cardholder" value=f.name node=refs.name autocomplete="cc-name" />
            })}
            {avs.contains(&"address".to_owned()).then(|| view! {
                <Field ctx=ctx id="gv-address" field="address" label="address_line1" value=f.address node=refs.address
                    autocomplete="address-line1" />
            })}
            {(avs.contains(&"zip".to_owned()) || avs.contains(&"address".to_owned())).then(|| view! {
                <Field ctx=ctx id="gv-postal" field="postal" label="postal_code" value=f.postal node=refs.postal
                    autocomplete="postal-code" />
            })}
        </div>
    }
}

#[component]
fn AchFields(ctx: Ctx, refs: Refs) -> impl IntoView {
    let f = ctx.form;
    let lang = ctx.lang.get_untracked();
    view! {
        <div class="panel" role="tabpanel" aria-labelledby="gv-tab-ach">
            <Field ctx=ctx id="gv-holder" field="holder" label="holder_name" value=f.holder node=refs.holder autocomplete="name" />
            <Field ctx=ctx id="gv-routing" field="routing" label="routing_number" value=f.routing node=refs.routing
                inputmode="numeric" format=only_digits />
            <Field ctx=ctx id="gv-account" field="account" label="account_number" value=f.account node=refs.account
                inputmode="numeric" format=only_digits />
            <div class="field">
                <label for="gv-account-type">{t(lang, "account_type")}</label>
                <select id="gv-account-type" on:change=move |ev| f.account_type.set(event_target_value(&ev))>
                    <option value="checking" selected=move || f.account_type.get() == "checking">{t(lang, "checking")}</option>
                    <option value="savings" selected=move || f.account_type.get() == "savings">{t(lang, "savings")}</option>
                </select>
            </div>
        </div>
    }
}

#[component]
fn SavedMethods(ctx: Ctx) -> impl IntoView {
    let lang = ctx.lang.get_untracked();
    let methods = ctx.cfg(|c| c.saved_payment_methods.clone()).unwrap_or_default();
    let options = methods
        .into_iter()
        .map(|m| {
            let id = m.id.clone();
            let input_id = format!("gv-saved-{}", m.id);
            let label = if m.kind == "ach" {
                format!("{} {}", t(lang, "bank_ending"), m.last4)
            } else {
                let brand = m.brand.as_deref().map(card_brand_name).unwrap_or("Card");
                let exp = match (m.exp_month, m.exp_year) {
                    (Some(mm), Some(yy)) => format!(" ({} {mm:02}/{})", t(lang, "expires"), yy % 100),
                    _ => String::new(),
                };
                format!("{brand} {} {}{exp}", t(lang, "card_ending"), m.last4)
            };
            let checked_id = id.clone();
            view! {
                <div class="check">
                    <input type="radio" name="gv-saved" id=input_id.clone()
                        prop:checked=move || ctx.saved.get().as_deref() == Some(checked_id.as_str())
                        on:change=move |_| { ctx.saved.set(Some(id.clone())); ctx.message.set(None); } />
                    <label for=input_id>{label}</label>
                </div>
            }
        })
        .collect_view();
    view! {
        <fieldset class="saved">
            <legend>{t(lang, "saved_methods")}</legend>
            {options}
            <div class="check">
                <input type="radio" name="gv-saved" id="gv-saved-new" prop:checked=move || ctx.saved.get().is_none()
                    on:change=move |_| ctx.saved.set(None) />
                <label for="gv-saved-new">{t(lang, "use_new_method")}</label>
            </div>
        </fieldset>
    }
}

fn card_brand_name(brand: &str) -> &'static str {
    match brand {
        "visa" => Brand::Visa.display_name(),
        "mastercard" => Brand::Mastercard.display_name(),
        "amex" => Brand::Amex.display_name(),
        "discover" => Brand::Discover.display_name(),
        _ => Brand::Unknown.display_name(),
    }
}

#[component]
fn FeeLine(ctx: Ctx) -> impl IntoView {
    view! {
        <div class="fee" aria-live="polite">
            {move || {
                let lang = ctx.lang.get();
                match ctx.quote.get() {
                    Some(q) => view! {
                        <p class="fee-row"><span>{t(lang, "fee")}</span><span class="fee-amount">{ctx.money(q.fee_amount)}</span></p>
                        <p class="total-row"><span>{t(lang, "total")}</span><strong class="total-amount">{ctx.money(q.total_amount)}</strong></p>
                        <p class="disclosure">{q.disclosure.clone()}</p>
                    }.into_any(),
                    None if ctx.quoting.get() => view! { <p class="hint">{t(lang, "quote_loading")}</p> }.into_any(),
                    None => view! { <p class="hint">{t(lang, "quote_needed")}</p> }.into_any(),
                }
            }}
        </div>
    }
}

#[component]
fn PayButton(ctx: Ctx, challenge_needed: Memo<bool>, refs: Refs) -> impl IntoView {
    let disabled = Memo::new(move |_| {
        ctx.submitting.get()
            || ctx.quote.get().is_none()
            || ctx.quoting.get()
            || ctx.config.with(|c| c.as_ref().is_some_and(|c| c.challenge.required && !c.challenge.satisfied))
    });
    let label = move || {
        let lang = ctx.lang.get();
        if ctx.submitting.get() {
            t(lang, "processing").to_owned()
        } else {
            match ctx.quote.get() {
                Some(q) => format!("{} {}", t(lang, "pay"), ctx.money(q.total_amount)),
                None => t(lang, "pay").to_owned(),
            }
        }
    };
    let apple = move || ctx.tab.get() == Tab::ApplePay && ctx.saved.get().is_none();
    let _ = challenge_needed;
    view! {
        <button type="submit" class=move || if apple() { "pay apple-pay" } else { "pay" }
            disabled=move || disabled.get() aria-disabled=move || if disabled.get() { "true" } else { "false" }
            aria-busy=move || if ctx.submitting.get() { "true" } else { "false" }
            on:click=move |ev| {
                if apple() {
                    ev.prevent_default();
                    pay_with_apple(ctx, refs);
                }
            }>
            <Show when=move || ctx.submitting.get()><span class="spinner" aria-hidden="true"></span></Show>
            {move || if apple() { t(ctx.lang.get(), "apple_pay_button").to_owned() } else { label() }}
        </button>
    }
}

fn pay_with_apple(ctx: Ctx, refs: Refs) {
    let Some(q) = ctx.quote.get_untracked() else { return };
    let (label, currency, exponent) = ctx
        .cfg(|c| {
            (
                c.merchant.display_name.clone().unwrap_or_default(),
                c.currency.clone(),
                crate::money::currency_exponent(&c.currency).unwrap_or(2),
            )
        })
        .unwrap_or_default();
    // Apple Pay wants a decimal string ("146.47"), made from integers.
    let scale = 10i64.pow(exponent as u32);
    let amount = if exponent == 0 {
        q.total_amount.to_string()
    } else {
        format!("{}.{:0width$}", q.total_amount / scale, q.total_amount % scale, width = exponent as usize)
    };
    spawn_local(async move {
        match js::apple_pay_token(&label, &amount, &currency).await {
            Some(token) => submit(ctx, refs, Some(token)),
            None => ctx.message.set(Some(ctx.t("apple_pay_cancelled").to_owned())),
        }
    });
}

/// Checks the form, then confirms once (one Idempotency-Key per attempt; a retry after a network
/// failure reuses it).
fn submit(ctx: Ctx, refs: Refs, apple_pay_token: Option<String>) {
    if ctx.submitting.get_untracked() {
        return;
    }
    let Some(quote) = ctx.quote.get_untracked() else { return };
    let lang = ctx.lang.get_untracked();
    let method = match build_method(ctx, apple_pay_token) {
        Ok(m) => m,
        Err(errors) => {
            let first = errors[0].0;
            ctx.form.errors.set(errors);
            ctx.message.set(Some(t(lang, "err_fix_fields").to_owned()));
            refs.focus(first);
            return;
        }
    };
    let body = ConfirmBody {
        fee_quote_id: quote.fee_quote_id.clone(),
        payment_method: method,
        save_payment_method: ctx.save.get_untracked(),
    };
    let fingerprint = serde_json::to_string(&body).unwrap_or_default();
    let key = match ctx.attempt.get_value() {
        Some((key, previous)) if previous == fingerprint => key,
        _ => js::random_key(),
    };
    ctx.attempt.set_value(Some((key.clone(), fingerprint)));
    ctx.submitting.set(true);
    ctx.message.set(None);
    spawn_local(async move {
        let result = ctx.client.get_value().post::<_, ConfirmResult>("confirm", &body, Some(&key)).await;
        ctx.submitting.set(false);
        match result {
            Ok(done) => {
                ctx.attempt.set_value(None);
                ctx.env.with_value(|env| {
                    env.emit(
                        "govifi-success",
                        &[
                            ("session_id", &done.session_id),
                            ("payment_id", &done.payment_id),
                            ("redirect_url", &done.redirect_url),
                        ],
                    )
                });
                let hosted = ctx.cfg(|c| c.layout == "hosted").unwrap_or(true);
                let url = done.redirect_url.clone();
                ctx.stage.set(Stage::Done(done));
                if hosted {
                    js::go_to(&url);
                }
            }
            Err(Failure::Network) => {
                // Keep the attempt: pressing Pay again sends the same key, so nothing is charged twice.
                ctx.message.set(Some(t(lang, "network_error").to_owned()));
            }
            Err(failure) => {
                ctx.attempt.set_value(None);
                handle_failure(ctx, failure);
            }
        }
    });
}

type FieldErrors = Vec<(&'static str, &'static str)>;

fn build_method(ctx: Ctx, apple_pay_token: Option<String>) -> Result<PaymentMethodBody, FieldErrors> {
    if let Some(token) = apple_pay_token {
        return Ok(PaymentMethodBody::ApplePay { apple_pay: TokenBody { token } });
    }
    if let Some(id) = ctx.saved.get_untracked() {
        return Ok(PaymentMethodBody::Saved { saved: SavedBody { payment_method_id: id } });
    }
    let f = ctx.form;
    let mut errors: FieldErrors = Vec::new();
    let text = |s: RwSignal<String>| s.get_untracked().trim().to_owned();
    match ctx.tab.get_untracked() {
        Tab::Card | Tab::ApplePay => {
            let digits = f.digits();
            if !card::card_number_valid(&digits) {
                errors.push(("number", "err_card_number"));
            }
            let exp: String = f.exp.get_untracked().chars().filter(char::is_ascii_digit).collect();
            let (month, year) = if exp.len() == 4 {
                (exp[..2].parse::<u32>().unwrap_or(0), exp[2..].parse::<u32>().unwrap_or(0))
            } else {
                (0, 0)
            };
            let now = js_sys::Date::new_0();
            let today = (now.get_full_year(), now.get_month() + 1);
            if !card::expiry_valid(month, year, today) {
                errors.push(("exp", "err_expiry"));
            }
            let brand = card::brand_of(&digits);
            let cvc = text(f.cvc);
            if !card::cvc_valid(&cvc, brand) || cvc.is_empty() {
                errors.push(("cvc", if brand == Brand::Amex { "err_cvc_4" } else { "err_cvc_3" }));
            }
            let avs = ctx.cfg(|c| c.required_avs_fields.clone()).unwrap_or_default();
            let needs = |f: &str| avs.iter().any(|a| a == f);
            let mut billing = BillingBody::default();
            for (field, signal, needed, slot) in [
                ("name", f.name, needs("cardholder"), &mut billing.cardholder_name),
                ("address", f.address, needs("address"), &mut billing.address_line1),
                ("postal", f.postal, needs("zip") || needs("address"), &mut billing.postal_code),
            ] {
                let value = text(signal);
                if needed && value.is_empty() {
                    errors.push((field, "err_required"));
                }
                *slot = (!value.is_empty()).then_some(value);
            }
            if errors.is_empty() {
                Ok(PaymentMethodBody::Card {
                    card: CardBody { number: digits, exp_month: month, exp_year: 2000 + year, cvc },
                    billing,
                })
            } else {
                Err(errors)
            }
        }
        Tab::Ach => {
            let holder = text(f.holder);
            if holder.is_empty() {
                errors.push(("holder", "err_required"));
            }
            let routing = text(f.routing);
            if !card::routing_number_valid(&routing) {
                errors.push(("routing", "err_routing"));
            }
            let account = text(f.account);
            if !card::account_number_valid(&account) {
                errors.push(("account", "err_account"));
            }
            if errors.is_empty() {
                Ok(PaymentMethodBody::Ach {
                    ach: AchBody {
                        routing_number: routing,
                        account_number: account,
                        account_type: f.account_type.get_untracked(),
                        account_holder_name: holder,
                    },
                })
            } else {
                Err(errors)
            }
        }
    }
}

#[component]
fn Challenge(ctx: Ctx) -> impl IntoView {
    let lang = ctx.lang.get_untracked();
    let destination = Memo::new(move |_| {
        ctx.config.with(|c| c.as_ref().and_then(|c| c.challenge.destination_hint.clone())).unwrap_or_default()
    });
    let sent = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let code = RwSignal::new(String::new());
    let note = RwSignal::new(None::<String>);
    let code_ref: NodeRef<html::Input> = NodeRef::new();
    let send = move |_| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        spawn_local(async move {
            let result =
                ctx.client.get_value().post::<_, ChallengeSent>("challenge/send", &serde_json::json!({}), None).await;
            busy.set(false);
            match result {
                Ok(s) => {
                    sent.set(true);
                    note.set(Some(tf(lang, "challenge_sent", &[("destination", &s.destination_hint)])));
                    if let Some(input) = code_ref.get_untracked() {
                        let _ = input.focus();
                    }
                }
                Err(Failure::Api { status: 429, .. }) => note.set(Some(t(lang, "challenge_send_limit").to_owned())),
                Err(Failure::Api { error, .. }) if error.code == "parameter_missing" => {
                    note.set(Some(t(lang, "challenge_no_email").to_owned()))
                }
                Err(f) => handle_failure(ctx, f),
            }
        });
    };
    let verify = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        let body = ChallengeVerify { code: code.get_untracked().trim().to_owned() };
        spawn_local(async move {
            let result = ctx.client.get_value().post::<_, ChallengeVerified>("challenge/verify", &body, None).await;
            busy.set(false);
            match result {
                Ok(_) => {
                    ctx.step_up.set(false);
                    ctx.message.set(Some(t(lang, "challenge_verified").to_owned()));
                    ctx.reload();
                }
                Err(Failure::Api { status: 400, error }) => {
                    let n = error.attempts_remaining.unwrap_or(0).to_string();
                    note.set(Some(tf(lang, "challenge_wrong", &[("n", &n)])));
                }
                Err(Failure::Api { status: 429, .. }) => note.set(Some(t(lang, "challenge_locked").to_owned())),
                Err(f) => handle_failure(ctx, f),
            }
        });
    };
    view! {
        <div class="challenge" role="group" aria-labelledby="gv-challenge-title">
            <h3 id="gv-challenge-title" class="subtitle">{t(lang, "challenge_title")}</h3>
            <p>{move || tf(lang, "challenge_intro", &[("destination", &destination.get())])}</p>
            <p class="challenge-note" role="status" aria-live="polite">{move || note.get()}</p>
            <button type="button" class="button secondary" disabled=move || busy.get() on:click=send>
                {move || if sent.get() { t(lang, "challenge_resend") } else { t(lang, "challenge_send") }}
            </button>
            <Show when=move || sent.get()>
                <div class="field">
                    <label for="gv-code">{t(lang, "challenge_code")}</label>
                    <input id="gv-code" node_ref=code_ref type="text" inputmode="numeric" autocomplete="one-time-code"
                        maxlength="6" prop:value=move || code.get()
                        on:input=move |ev| code.set(only_digits(&event_target_value(&ev)).chars().take(6).collect()) />
                </div>
                <button type="button" class="button" disabled=move || busy.get() || code.get().len() != 6 on:click=verify>
                    {t(lang, "challenge_verify")}
                </button>
            </Show>
        </div>
    }
}

#[component]
fn Receipt(ctx: Ctx, result: ConfirmResult) -> impl IntoView {
    let lang = ctx.lang.get_untracked();
    let processing = result.status == "processing";
    let hosted = ctx.cfg(|c| c.layout == "hosted").unwrap_or(true);
    view! {
        <Header ctx=ctx />
        <div class="receipt" role="alert">
            <h3 class="subtitle">{t(lang, if processing { "processing_title" } else { "success_title" })}</h3>
            <p>{t(lang, if processing { "processing_body" } else { "success_body" })}</p>
            <p class="receipt-row"><span>{t(lang, "amount_paid")}</span><strong>{ctx.money(result.total_amount)}</strong></p>
            <p class="receipt-row"><span>{t(lang, "payment_reference")}</span><code class="payment-id">{result.payment_id.clone()}</code></p>
            {hosted.then(|| view! { <p class="hint">{t(lang, "redirecting")}</p> })}
        </div>
    }
}

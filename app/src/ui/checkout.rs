//! The hosted-session checkout: what a paying customer sees and does.
//!
//! Its parts are plain functions answering `View`, built with `super::dom` (one element type)
//! and `super::rx` (one type per kind of reactive closure): Leptos compiles its rendering code
//! once per type, and this keeps the element within its size budget.

use wasm_bindgen::JsCast;
use web_sys::{Event, KeyboardEvent};

use super::api::{self, Client, Failure};
use super::dom::{El, View, el, event_checked, event_value, group, nothing, part};
use super::rx::prelude::*;
use super::rx::{Flag, go, rx_flag, rx_maybe, rx_memo, rx_part, rx_text};
use super::{Env, js, method_label};
use crate::card::{self, Brand};
use crate::i18n::{Lang, decline_message, t, tf};
use crate::money::format_amount;
use crate::wire::{
    AccountType, AchBody, AvsField, BillingBody, CardBody, ChallengeSent, ChallengeVerified, ChallengeVerify,
    ConfirmBody, ConfirmResult, ConfirmStatus, FeeQuote, FutureUsage, Layout, MethodType, PaymentMethodBody,
    QuoteRequest, SavedBody, SessionConfig, SessionStatus, TokenBody,
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

fn stage_for(status: SessionStatus) -> Stage {
    match status {
        SessionStatus::Active => Stage::Open,
        SessionStatus::Completed => Stage::Paid,
        SessionStatus::Processing => Stage::InProgress,
        SessionStatus::Expired => Stage::Expired,
    }
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

    fn label(self) -> &'static str {
        match self {
            Tab::Card => "tab_card",
            Tab::Ach => "tab_ach",
            Tab::ApplePay => "tab_apple_pay",
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
    account_type: RwSignal<AccountType>,
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
            account_type: RwSignal::new(AccountType::Checking),
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
    /// The session's language (tracked).
    fn lang(&self) -> Lang {
        self.config.with(|c| c.as_ref().map(|c| Lang::parse(&c.locale)).unwrap_or_default())
    }

    fn lang_now(&self) -> Lang {
        self.config.with_untracked(|c| c.as_ref().map(|c| Lang::parse(&c.locale)).unwrap_or_default())
    }

    fn t(&self, key: &str) -> &'static str {
        t(self.lang_now(), key)
    }

    fn say(&self, key: &str) {
        self.message.set(Some(self.t(key).to_owned()));
    }

    fn cfg<R>(&self, f: impl FnOnce(&SessionConfig) -> R) -> Option<R> {
        self.config.with_untracked(|c| c.as_ref().map(f))
    }

    /// An amount in the session's currency, formatted once (not tracked).
    fn money_now(&self, minor: i64) -> String {
        untrack(|| self.money(minor))
    }

    fn money(&self, minor: i64) -> String {
        self.config.with(|c| match c {
            Some(c) => format_amount(minor, &c.currency, &c.locale),
            None => String::new(),
        })
    }

    fn client(&self) -> Client {
        self.client.get_value()
    }

    fn emit(&self, name: &str, detail: &[(&str, &str)]) {
        self.env.with_value(|env| env.emit(name, detail));
    }

    /// Moves to another stage (only a real change re-renders the checkout).
    fn go_to(&self, stage: Stage) {
        if self.stage.with_untracked(|s| *s != stage) {
            self.stage.set(stage);
        }
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
        go!(async move {
            if let Ok(config) = api::json::<SessionConfig>(ctx.client().get("config").await) {
                let stage = stage_for(config.status);
                // Saved methods unlocked by a challenge: offer the first one.
                let had_saved =
                    ctx.config.with_untracked(|c| c.as_ref().is_some_and(|c| !c.saved_payment_methods.is_empty()));
                if !had_saved && ctx.saved.get_untracked().is_none() {
                    ctx.saved.set(config.saved_payment_methods.first().map(|m| m.id.clone()));
                }
                ctx.config.set(Some(config));
                ctx.go_to(stage);
            }
        });
    }
}

/// The checkout for a hosted session.
pub fn checkout(client: Client, env: Env) -> View {
    let ctx = Ctx {
        client: StoredValue::new(client),
        env: StoredValue::new(env),
        config: RwSignal::new(None),
        stage: RwSignal::new(Stage::Loading),
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

    // Load the session.
    go!(async move {
        match api::json::<SessionConfig>(ctx.client().get("config").await) {
            Ok(config) => {
                ctx.env.with_value(|env| env.brand(&config.merchant));
                let stage = stage_for(config.status);
                if let Some(first) = config.saved_payment_methods.first() {
                    ctx.saved.set(Some(first.id.clone()));
                }
                if !config.allowed_methods.contains(&MethodType::Card) {
                    ctx.tab.set(if config.allowed_methods.contains(&MethodType::Ach) {
                        Tab::Ach
                    } else {
                        Tab::ApplePay
                    });
                }
                let status = config.status.as_str();
                ctx.config.set(Some(config));
                ctx.go_to(stage);
                ctx.emit("govifi-ready", &[("status", status)]);
            }
            Err(failure) => {
                let key = match &failure {
                    Failure::Api { status: 401, .. } => "invalid_link",
                    Failure::Api { error, .. } if error.code == "origin_not_allowed" => "origin_blocked",
                    Failure::Network => "origin_blocked",
                    _ => "generic_error",
                };
                ctx.go_to(Stage::Failed(key));
                ctx.emit("govifi-error", &[("code", failure.code()), ("message", t(Lang::En, key))]);
            }
        }
    });

    // A clock for the countdown and for expiry while the page is open.
    js::every(1000, move || ctx.now.set(js::now_ms()));
    Effect::new(move |_| {
        let expires = ctx.config.with(|c| c.as_ref().map(|c| js::parse_time(&c.expires_at)));
        if let Some(expires) = expires
            && ctx.now.get() >= expires
            && ctx.stage.get_untracked() == Stage::Open
            && !ctx.submitting.get_untracked()
        {
            ctx.go_to(Stage::Expired);
        }
    });

    // The fee quote follows the method (and the card's BIN).
    Effect::new(move |_| {
        let key = ctx.quote_key();
        if ctx.stage.get() != Stage::Open || key == ctx.quoted_for.get_untracked() {
            return;
        }
        ctx.quoted_for.set(key.clone());
        ctx.quote.set(None);
        let Some(key) = key else { return };
        let request = match key.split_once(':') {
            Some(("saved", id)) => {
                let kind = ctx.cfg(|c| c.saved_payment_methods.iter().find(|m| m.id == id).map(|m| m.kind)).flatten();
                QuoteRequest {
                    payment_method_type: kind.unwrap_or(MethodType::Card),
                    card_bin: None,
                    saved_payment_method_id: Some(id.to_owned()),
                }
            }
            Some(("card", bin)) => QuoteRequest {
                payment_method_type: MethodType::Card,
                card_bin: Some(bin.to_owned()),
                saved_payment_method_id: None,
            },
            _ => QuoteRequest {
                payment_method_type: ctx.tab.get_untracked().method(),
                card_bin: None,
                saved_payment_method_id: None,
            },
        };
        ctx.quoting.set(true);
        let body = api::to_json(&request);
        go!(async move {
            let result = api::json::<FeeQuote>(ctx.client().post("quote-fee", body, None).await);
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

    el("section")
        .class("govifi")
        .attr("aria-labelledby", "gv-title")
        .part(rx_part!(match ctx.stage.get() {
            Stage::Loading => notice("status", t(Lang::En, "loading")),
            Stage::Failed(key) => group(vec![
                el("h2").id("gv-title").class("title").text(t(Lang::En, "secure_checkout")).view(),
                el("p").class("notice error-box").attr("role", "alert").text(t(Lang::En, key)).view(),
            ]),
            Stage::Open => untrack(|| open(ctx)),
            Stage::Done(result) => untrack(|| receipt(ctx, result)),
            Stage::Expired => untrack(|| ended(ctx, "expired_title", "expired_body", true)),
            Stage::Paid => untrack(|| ended(ctx, "paid_title", "paid_body", false)),
            Stage::InProgress => untrack(|| ended(ctx, "in_progress_title", "processing_body", false)),
        }))
        .el(el("p").class("brand-line").text_rx(rx_text!(t(ctx.lang(), "powered_by"))))
        .view()
}

/// The one line shown while loading (`role` status) or when the checkout cannot start.
fn notice(role: &'static str, text: &'static str) -> View {
    el("p").id("gv-title").class("notice").attr("role", role).text(text).view()
}

fn handle_failure(ctx: Ctx, failure: Failure) {
    let lang = ctx.lang_now();
    let Failure::Api { status, error } = failure else {
        ctx.say("network_error");
        return;
    };
    let field = |f: &'static str, k: &'static str| {
        ctx.form.errors.update(|e| e.push((f, k)));
        ctx.say("err_fix_fields");
    };
    match (status, error.code.as_str()) {
        (410, _) => ctx.go_to(Stage::Expired),
        (409, "already_confirmed") => ctx.go_to(Stage::Paid),
        (409, "confirm_in_progress" | "idempotency_in_progress") => {
            ctx.say("processing");
            ctx.reload();
        }
        (409, "quote_stale") => {
            ctx.quoted_for.set(None);
            ctx.quote.set(None);
            ctx.say("quote_stale");
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
            ctx.say("step_up_needed");
        }
        (429, _) => ctx.say("rate_limited"),
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
                ctx.say("generic_error");
            } else {
                field(target, "err_required");
            }
        }
        _ => ctx.say("generic_error"),
    }
    ctx.emit("govifi-error", &[("code", &error.code), ("message", &error.message)]);
}

fn ended(ctx: Ctx, title: &'static str, body: &'static str, link: bool) -> View {
    let lang = ctx.lang_now();
    let mut parts = vec![
        header(ctx),
        el("div")
            .class("ended")
            .attr("role", "alert")
            .el(el("h3").class("subtitle").text(t(lang, title)))
            .el(el("p").text(t(lang, body)))
            .view(),
    ];
    if link {
        let cancel = ctx.cfg(|c| c.cancel_url.clone()).unwrap_or_default();
        parts.push(el("a").class("button secondary").attr("href", cancel).text(t(lang, "return_to_merchant")).view());
    }
    group(parts)
}

fn header(ctx: Ctx) -> View {
    let (name, logo) = ctx
        .cfg(|c| (c.merchant.display_name.clone().unwrap_or_default(), c.merchant.logo_url.clone()))
        .unwrap_or_default();
    let mut header = el("header").class("header");
    if let Some(src) = logo {
        header = header.el(el("img").class("logo").attr("src", src).attr("alt", name.clone()));
    }
    header.el(el("h2").id("gv-title").class("title").text(name)).view()
}

/// A label and its value (amount due, fee, total, receipt lines).
fn row(class: &'static str, label: &'static str, value: El) -> View {
    el("p").class(class).el(el("span").text(label)).el(value).view()
}

fn summary(ctx: Ctx) -> View {
    let Some(c) = ctx.config.get_untracked() else { return nothing() };
    let lang = ctx.lang_now();
    let money = |m: i64| format_amount(m, &c.currency, &c.locale);
    let mut lines: Vec<(String, String)> = c
        .line_items
        .iter()
        .map(|i| {
            let label = if i.quantity > 1 { format!("{} × {}", i.name, i.quantity) } else { i.name.clone() };
            (label, money(i.quantity * i.unit_amount))
        })
        .collect();
    for (key, amount) in [("tax", c.tax_amount), ("shipping", c.shipping_amount)] {
        if let Some(a) = amount.filter(|a| *a > 0) {
            lines.push((t(lang, key).to_owned(), money(a)));
        }
    }
    let lines =
        lines.into_iter().map(|(label, amount)| el("li").el(el("span").text(label)).el(el("span").text(amount)).view());
    let mut summary = el("div").class("summary").attr("aria-label", t(lang, "order_summary"));
    if let Some(d) = c.description.clone() {
        summary = summary.el(el("p").class("description").text(d));
    }
    summary
        .el(el("ul").class("lines").kids(lines))
        .child(row("amount-due", t(lang, "amount_due"), el("strong").text(money(c.amount))))
        .view()
}

fn open(ctx: Ctx) -> View {
    let lang = ctx.lang_now();
    let Some(cfg) = ctx.config.get_untracked() else { return nothing() };
    let challenge_needed = rx_memo!(
        ctx.config.with(|c| c.as_ref().is_some_and(|c| c.challenge.required && !c.challenge.satisfied))
            || ctx.step_up.get()
    );
    let has_saved = rx_memo!(ctx.config.with(|c| c.as_ref().is_some_and(|c| !c.saved_payment_methods.is_empty())));
    let new_method = rx_memo!(ctx.saved.with(Option::is_none));
    let tabs: Vec<Tab> = [Tab::Card, Tab::Ach, Tab::ApplePay]
        .into_iter()
        .filter(|t| cfg.allowed_methods.contains(&t.method()))
        .filter(|t| *t != Tab::ApplePay || ctx.apple_pay)
        .collect();
    let merchant = cfg.merchant.display_name.clone().unwrap_or_default();
    let save = match cfg.setup_future_usage {
        FutureUsage::OffSession => {
            Some(("autopay_consent", Some(tf(lang, "autopay_mandate", &[("merchant", &merchant)]))))
        }
        FutureUsage::OnSession => Some(("save_method", None)),
        FutureUsage::Off => None,
    };
    let cancel = if cfg.layout == Layout::Embedded {
        el("button").attr("type", "button").class("link").on("click", move |_| ctx.emit("govifi-cancel", &[]))
    } else {
        el("a").class("link").attr("href", cfg.cancel_url.clone())
    };
    let form = el("form")
        .class("pay-form")
        .attr("novalidate", "")
        .on("submit", move |ev| {
            ev.prevent_default();
            submit(ctx, None);
        })
        .part(rx_part!(if has_saved.get() { saved_methods(ctx) } else { nothing() }))
        .part(rx_part!(if new_method.get() {
            untrack(|| new_method_fields(ctx, &tabs, save.clone()))
        } else {
            nothing()
        }))
        .child(fee_line(ctx))
        .el(el("div")
            .class("form-message")
            .attr("role", "alert")
            .attr("aria-live", "assertive")
            .text_rx(rx_text!(ctx.message.get().unwrap_or_default())))
        .child(pay_button(ctx));
    group(vec![
        header(ctx),
        summary(ctx),
        countdown(ctx),
        part(rx_part!(if challenge_needed.get() { untrack(|| challenge(ctx)) } else { nothing() })),
        form.view(),
        el("p").class("cancel").el(cancel.text(t(lang, "cancel"))).view(),
    ])
}

/// A new method: the tabs, the chosen method's fields and the save (or autopay) consent.
fn new_method_fields(ctx: Ctx, tabs: &[Tab], save: Option<(&'static str, Option<String>)>) -> View {
    let lang = ctx.lang_now();
    let mut parts = vec![
        tab_list(ctx, tabs.to_vec()),
        part(rx_part!(match ctx.tab.get() {
            Tab::Card => untrack(|| card_fields(ctx)),
            Tab::Ach => untrack(|| ach_fields(ctx)),
            Tab::ApplePay => el("p").class("hint").text(t(lang, "apple_pay_button")).view(),
        })),
    ];
    if let Some((label, mandate)) = save {
        parts.push(
            el("div")
                .class("check")
                .el(el("input")
                    .id("gv-save")
                    .attr("type", "checkbox")
                    .prop_flag("checked", rx_flag!(ctx.save.get()))
                    .on("change", move |ev| ctx.save.set(event_checked(&ev))))
                .el(el("label").attr("for", "gv-save").text(t(lang, label)))
                .view(),
        );
        if let Some(m) = mandate {
            parts.push(el("p").class("mandate").text(m).view());
        }
    }
    group(parts)
}

fn countdown(ctx: Ctx) -> View {
    let remaining = move || {
        let expires = ctx.config.with(|c| c.as_ref().map(|c| js::parse_time(&c.expires_at))).unwrap_or(f64::MAX);
        ((expires - ctx.now.get()) / 1000.0).floor() as i64
    };
    let shown = rx_memo!((0..=300).contains(&remaining()));
    part(rx_part!(if shown.get() {
        el("p")
            .class("countdown")
            .attr("role", "timer")
            .attr("aria-live", "off")
            .text_rx(rx_text!({
                let r = remaining().max(0);
                format!("{} {}:{:02}", t(ctx.lang(), "expires_in"), r / 60, r % 60)
            }))
            .view()
    } else {
        nothing()
    }))
}

fn tab_list(ctx: Ctx, tabs: Vec<Tab>) -> View {
    let lang = ctx.lang_now();
    if tabs.len() < 2 {
        return nothing();
    }
    let buttons: Vec<View> = tabs
        .iter()
        .map(|&tab| {
            el("button")
                .attr("type", "button")
                .attr("role", "tab")
                .id(format!("gv-tab-{}", tab.key()))
                .attr_rx("aria-selected", rx_text!(if ctx.tab.get() == tab { "true" } else { "false" }))
                .attr_rx("tabindex", rx_text!(if ctx.tab.get() == tab { "0" } else { "-1" }))
                .attr_rx("class", rx_text!(if ctx.tab.get() == tab { "tab selected" } else { "tab" }))
                .on("click", move |_| {
                    ctx.tab.set(tab);
                    ctx.message.set(None);
                })
                .text(t(lang, tab.label()))
                .view()
        })
        .collect();
    el("div")
        .class("tabs")
        .attr("role", "tablist")
        .attr("aria-label", t(lang, "pay_with"))
        .on("keydown", move |ev| {
            let key = ev.unchecked_ref::<KeyboardEvent>().key();
            let current = tabs.iter().position(|t| *t == ctx.tab.get_untracked()).unwrap_or(0);
            let next = match key.as_str() {
                "ArrowRight" => (current + 1) % tabs.len(),
                "ArrowLeft" => (current + tabs.len() - 1) % tabs.len(),
                _ => return,
            };
            ev.prevent_default();
            ctx.tab.set(tabs[next]);
            ctx.env.with_value(|env| env.focus(&format!("gv-tab-{}", tabs[next].key())));
        })
        .kids(buttons)
        .view()
}

/// One input the customer types into: the form field it feeds (its id is `gv-` and the field),
/// its label and hints.
struct Input {
    field: &'static str,
    label: &'static str,
    autocomplete: &'static str,
    numeric: bool,
    placeholder: Option<&'static str>,
    format: Option<fn(&str) -> String>,
}

impl Input {
    const fn text(field: &'static str, label: &'static str, autocomplete: &'static str) -> Self {
        Input { field, label, autocomplete, numeric: false, placeholder: None, format: None }
    }

    const fn numeric(self, placeholder: Option<&'static str>, format: fn(&str) -> String) -> Self {
        Input { numeric: true, placeholder, format: Some(format), ..self }
    }
}

/// One labelled input with its error message tied to it.
fn field(ctx: Ctx, input: Input, value: RwSignal<String>) -> View {
    let lang = ctx.lang_now();
    let form = ctx.form;
    let Input { field, label, autocomplete, numeric, placeholder, format } = input;
    let id = format!("gv-{field}");
    let error_id = format!("{id}-error");
    let described = error_id.clone();
    let mut input = el("input").id(id.clone()).attr("type", "text").attr("autocomplete", autocomplete);
    if numeric {
        input = input.attr("inputmode", "numeric");
    }
    if let Some(p) = placeholder {
        input = input.attr("placeholder", p);
    }
    let input = input
        .prop_text("value", rx_text!(value.get()))
        .attr_rx("aria-invalid", rx_text!(if form.error(field).is_some() { "true" } else { "false" }))
        .attr_maybe("aria-describedby", rx_maybe!(form.error(field).map(|_| described.clone())))
        .on("input", move |ev| {
            let raw = event_value(&ev);
            value.set(match format {
                Some(f) => f(&raw),
                None => raw,
            });
            form.clear(field);
        });
    el("div")
        .class("field")
        .el(el("label").attr("for", id).text(t(lang, label)))
        .el(input)
        .part(rx_part!(match form.error(field) {
            Some(key) => el("p").id(error_id.clone()).class("field-error").text(t(lang, key)).view(),
            None => nothing(),
        }))
        .view()
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

fn card_fields(ctx: Ctx) -> View {
    let f = ctx.form;
    let avs = ctx.cfg(|c| c.required_avs_fields.clone()).unwrap_or_default();
    let needs = |field: AvsField| avs.contains(&field);
    let number = Input::text("number", "card_number", "cc-number").numeric(Some("1234 1234 1234 1234"), format_number);
    let exp = Input::text("exp", "expiry", "cc-exp").numeric(Some("MM / YY"), format_expiry);
    let cvc = Input::text("cvc", "cvc", "cc-csc").numeric(Some("123"), only_digits);
    let brand = rx_text!({
        let digits = card::digits_only(&f.number.get()).unwrap_or_default();
        match card::brand_of(&digits) {
            _ if digits.is_empty() => "",
            Brand::Unknown => "",
            brand => brand.display_name(),
        }
    });
    let mut panel = el("div")
        .class("panel")
        .attr("role", "tabpanel")
        .attr("aria-labelledby", "gv-tab-card")
        .el(el("div")
            .class("number-row")
            .child(field(ctx, number, f.number))
            .el(el("span").class("brand").attr("aria-live", "polite").text_rx(brand)))
        .el(el("div").class("row").child(field(ctx, exp, f.exp)).child(field(ctx, cvc, f.cvc)));
    if needs(AvsField::Cardholder) {
        panel = panel.child(field(ctx, Input::text("name", "cardholder", "cc-name"), f.name));
    }
    if needs(AvsField::Address) {
        panel = panel.child(field(ctx, Input::text("address", "address_line1", "address-line1"), f.address));
    }
    if needs(AvsField::Zip) || needs(AvsField::Address) {
        panel = panel.child(field(ctx, Input::text("postal", "postal_code", "postal-code"), f.postal));
    }
    panel.view()
}

fn ach_fields(ctx: Ctx) -> View {
    let f = ctx.form;
    let lang = ctx.lang_now();
    let routing = Input::text("routing", "routing_number", "off").numeric(None, only_digits);
    let account = Input::text("account", "account_number", "off").numeric(None, only_digits);
    let option = |value: AccountType| {
        el("option")
            .attr("value", value.as_str())
            .attr_if("selected", rx_flag!(f.account_type.get() == value))
            .text(t(lang, value.as_str()))
    };
    el("div")
        .class("panel")
        .attr("role", "tabpanel")
        .attr("aria-labelledby", "gv-tab-ach")
        .child(field(ctx, Input::text("holder", "holder_name", "name"), f.holder))
        .child(field(ctx, routing, f.routing))
        .child(field(ctx, account, f.account))
        .el(el("div").class("field").el(el("label").attr("for", "gv-account-type").text(t(lang, "account_type"))).el(
            el("select")
                .id("gv-account-type")
                .on("change", move |ev| {
                    if let Some(kind) = AccountType::parse(&event_value(&ev)) {
                        f.account_type.set(kind);
                    }
                })
                .el(option(AccountType::Checking))
                .el(option(AccountType::Savings)),
        ))
        .view()
}

/// A radio button with its label (saved methods).
fn radio(id: String, label: String, checked: Flag, on_pick: impl FnMut(Event) + 'static) -> View {
    el("div")
        .class("check")
        .el(el("input")
            .attr("type", "radio")
            .attr("name", "gv-saved")
            .id(id.clone())
            .prop_flag("checked", checked)
            .on("change", on_pick))
        .el(el("label").attr("for", id).text(label))
        .view()
}

fn saved_methods(ctx: Ctx) -> View {
    let lang = ctx.lang_now();
    let methods = ctx.cfg(|c| c.saved_payment_methods.clone()).unwrap_or_default();
    let options = methods.into_iter().map(|m| {
        let label = match (m.kind, m.exp_month, m.exp_year) {
            (MethodType::Card, Some(mm), Some(yy)) => {
                format!("{} ({} {mm:02}/{})", method_label(lang, &m), t(lang, "expires"), yy % 100)
            }
            _ => method_label(lang, &m),
        };
        let id = m.id.clone();
        let checked_id = m.id;
        radio(
            format!("gv-saved-{id}"),
            label,
            rx_flag!(ctx.saved.get().as_deref() == Some(checked_id.as_str())),
            move |_| {
                ctx.saved.set(Some(id.clone()));
                ctx.message.set(None);
            },
        )
    });
    let new = radio(
        "gv-saved-new".into(),
        t(lang, "use_new_method").into(),
        rx_flag!(ctx.saved.get().is_none()),
        move |_| ctx.saved.set(None),
    );
    el("fieldset").class("saved").el(el("legend").text(t(lang, "saved_methods"))).kids(options).child(new).view()
}

fn fee_line(ctx: Ctx) -> View {
    el("div")
        .class("fee")
        .attr("aria-live", "polite")
        .part(rx_part!({
            let lang = ctx.lang();
            match ctx.quote.get() {
                Some(q) => group(vec![
                    row("fee-row", t(lang, "fee"), el("span").class("fee-amount").text(ctx.money(q.fee_amount))),
                    row(
                        "total-row",
                        t(lang, "total"),
                        el("strong").class("total-amount").text(ctx.money(q.total_amount)),
                    ),
                    el("p").class("disclosure").text(q.disclosure.clone()).view(),
                ]),
                None => {
                    let key = if ctx.quoting.get() { "quote_loading" } else { "quote_needed" };
                    el("p").class("hint").text(t(lang, key)).view()
                }
            }
        }))
        .view()
}

fn pay_button(ctx: Ctx) -> View {
    let disabled = rx_memo!(
        ctx.submitting.get()
            || ctx.quote.with(Option::is_none)
            || ctx.quoting.get()
            || ctx.config.with(|c| c.as_ref().is_some_and(|c| c.challenge.required && !c.challenge.satisfied))
    );
    let apple = rx_memo!(ctx.tab.get() == Tab::ApplePay && ctx.saved.with(Option::is_none));
    el("button")
        .attr("type", "submit")
        .attr_rx("class", rx_text!(if apple.get() { "pay apple-pay" } else { "pay" }))
        .attr_if("disabled", rx_flag!(disabled.get()))
        .attr_rx("aria-disabled", rx_text!(if disabled.get() { "true" } else { "false" }))
        .attr_rx("aria-busy", rx_text!(if ctx.submitting.get() { "true" } else { "false" }))
        .on("click", move |ev| {
            if apple.get_untracked() {
                ev.prevent_default();
                pay_with_apple(ctx);
            }
        })
        .part(rx_part!(if ctx.submitting.get() {
            el("span").class("spinner").attr("aria-hidden", "true").view()
        } else {
            nothing()
        }))
        .text_rx(rx_text!({
            let lang = ctx.lang();
            if apple.get() {
                t(lang, "apple_pay_button").to_owned()
            } else if ctx.submitting.get() {
                t(lang, "processing").to_owned()
            } else {
                match ctx.quote.get() {
                    Some(q) => format!("{} {}", t(lang, "pay"), ctx.money(q.total_amount)),
                    None => t(lang, "pay").to_owned(),
                }
            }
        }))
        .view()
}

fn pay_with_apple(ctx: Ctx) {
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
    go!(async move {
        match js::apple_pay_token(&label, &amount, &currency).await {
            Some(token) => submit(ctx, Some(token)),
            None => ctx.say("apple_pay_cancelled"),
        }
    });
}

/// Checks the form, then confirms once (one Idempotency-Key per attempt; a retry after a network
/// failure reuses it).
fn submit(ctx: Ctx, apple_pay_token: Option<String>) {
    if ctx.submitting.get_untracked() {
        return;
    }
    let Some(quote) = ctx.quote.get_untracked() else { return };
    let method = match build_method(ctx, apple_pay_token) {
        Ok(m) => m,
        Err(errors) => {
            let first = errors[0].0;
            ctx.form.errors.set(errors);
            ctx.say("err_fix_fields");
            ctx.env.with_value(|env| env.focus(&format!("gv-{first}")));
            return;
        }
    };
    let body = ConfirmBody {
        fee_quote_id: quote.fee_quote_id.clone(),
        payment_method: method,
        save_payment_method: ctx.save.get_untracked(),
    };
    let body = api::to_json(&body);
    let key = match ctx.attempt.get_value() {
        Some((key, previous)) if previous == body => key,
        _ => js::random_key(),
    };
    ctx.attempt.set_value(Some((key.clone(), body.clone())));
    ctx.submitting.set(true);
    ctx.message.set(None);
    go!(async move {
        let result = api::json::<ConfirmResult>(ctx.client().post("confirm", body, Some(key)).await);
        ctx.submitting.set(false);
        match result {
            Ok(done) => {
                ctx.attempt.set_value(None);
                ctx.emit(
                    "govifi-success",
                    &[
                        ("session_id", &done.session_id),
                        ("payment_id", &done.payment_id),
                        ("redirect_url", &done.redirect_url),
                    ],
                );
                let hosted = ctx.cfg(|c| c.layout == Layout::Hosted).unwrap_or(true);
                let url = done.redirect_url.clone();
                ctx.go_to(Stage::Done(done));
                if hosted {
                    js::go_to(&url);
                }
            }
            Err(Failure::Network) => {
                // Keep the attempt: pressing Pay again sends the same key, so nothing is charged twice.
                ctx.say("network_error");
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
            let (month, year) = card::parse_expiry(&f.exp.get_untracked());
            if !card::expiry_valid(month, year, js::year_month()) {
                errors.push(("exp", "err_expiry"));
            }
            let brand = card::brand_of(&digits);
            let cvc = text(f.cvc);
            if !card::cvc_valid(&cvc, brand) || cvc.is_empty() {
                errors.push(("cvc", if brand == Brand::Amex { "err_cvc_4" } else { "err_cvc_3" }));
            }
            let avs = ctx.cfg(|c| c.required_avs_fields.clone()).unwrap_or_default();
            let needs = |f: AvsField| avs.contains(&f);
            let mut billing = BillingBody::default();
            for (field, signal, needed, slot) in [
                ("name", f.name, needs(AvsField::Cardholder), &mut billing.cardholder_name),
                ("address", f.address, needs(AvsField::Address), &mut billing.address_line1),
                ("postal", f.postal, needs(AvsField::Zip) || needs(AvsField::Address), &mut billing.postal_code),
            ] {
                let value = text(signal);
                if needed && value.is_empty() {
                    errors.push((field, "err_required"));
                }
                *slot = (!value.is_empty()).then_some(value);
            }
            if errors.is_empty() {
                Ok(PaymentMethodBody::Card {
                    card: CardBody { number: digits, exp_month: month, exp_year: 2000 + year, cvc: Some(cvc) },
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

fn challenge(ctx: Ctx) -> View {
    let lang = ctx.lang_now();
    let sent = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let code = RwSignal::new(String::new());
    let note = RwSignal::new(None::<String>);
    let send = move |_| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        go!(async move {
            let result = api::json::<ChallengeSent>(ctx.client().post("challenge/send", "{}".into(), None).await);
            busy.set(false);
            match result {
                Ok(s) => {
                    sent.set(true);
                    note.set(Some(tf(lang, "challenge_sent", &[("destination", &s.destination_hint)])));
                    ctx.env.with_value(|env| env.focus("gv-code"));
                }
                Err(Failure::Api { status: 429, .. }) => note.set(Some(t(lang, "challenge_send_limit").to_owned())),
                Err(Failure::Api { error, .. }) if error.code == "parameter_missing" => {
                    note.set(Some(t(lang, "challenge_no_email").to_owned()))
                }
                Err(f) => handle_failure(ctx, f),
            }
        });
    };
    let verify = move |ev: Event| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        let body = api::to_json(&ChallengeVerify { code: code.get_untracked().trim().to_owned() });
        go!(async move {
            let result = api::json::<ChallengeVerified>(ctx.client().post("challenge/verify", body, None).await);
            busy.set(false);
            match result {
                Ok(_) => {
                    ctx.step_up.set(false);
                    ctx.say("challenge_verified");
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
    // Shown once a code has been sent (a second send does not rebuild it).
    let shown = rx_memo!(sent.get());
    let entry = move || {
        group(vec![
            el("div")
                .class("field")
                .el(el("label").attr("for", "gv-code").text(t(lang, "challenge_code")))
                .el(el("input")
                    .id("gv-code")
                    .attr("type", "text")
                    .attr("inputmode", "numeric")
                    .attr("autocomplete", "one-time-code")
                    .attr("maxlength", "6")
                    .prop_text("value", rx_text!(code.get()))
                    .on("input", move |ev| code.set(only_digits(&event_value(&ev)).chars().take(6).collect())))
                .view(),
            el("button")
                .attr("type", "button")
                .class("button")
                .attr_if("disabled", rx_flag!(busy.get() || code.with(|c| c.len() != 6)))
                .on("click", verify)
                .text(t(lang, "challenge_verify"))
                .view(),
        ])
    };
    el("div")
        .class("challenge")
        .attr("role", "group")
        .attr("aria-labelledby", "gv-challenge-title")
        .el(el("h3").id("gv-challenge-title").class("subtitle").text(t(lang, "challenge_title")))
        .el(el("p").text_rx(rx_text!({
            let destination = ctx.config.with(|c| c.as_ref().and_then(|c| c.challenge.destination_hint.clone()));
            tf(lang, "challenge_intro", &[("destination", &destination.unwrap_or_default())])
        })))
        .el(el("p")
            .class("challenge-note")
            .attr("role", "status")
            .attr("aria-live", "polite")
            .text_rx(rx_text!(note.get().unwrap_or_default())))
        .el(el("button")
            .attr("type", "button")
            .class("button secondary")
            .attr_if("disabled", rx_flag!(busy.get()))
            .on("click", send)
            .text_rx(rx_text!(if sent.get() { t(lang, "challenge_resend") } else { t(lang, "challenge_send") })))
        .part(rx_part!(if shown.get() { untrack(entry) } else { nothing() }))
        .view()
}

fn receipt(ctx: Ctx, result: ConfirmResult) -> View {
    let lang = ctx.lang_now();
    let processing = result.status == ConfirmStatus::Processing;
    let hosted = ctx.cfg(|c| c.layout == Layout::Hosted).unwrap_or(true);
    let mut receipt = el("div")
        .class("receipt")
        .attr("role", "alert")
        .el(el("h3").class("subtitle").text(t(lang, if processing { "processing_title" } else { "success_title" })))
        .el(el("p").text(t(lang, if processing { "processing_body" } else { "success_body" })))
        .child(row("receipt-row", t(lang, "amount_paid"), el("strong").text(ctx.money_now(result.total_amount))))
        .child(row(
            "receipt-row",
            t(lang, "payment_reference"),
            el("code").class("payment-id").text(result.payment_id),
        ));
    if hosted {
        receipt = receipt.el(el("p").class("hint").text(t(lang, "redirecting")));
    }
    group(vec![header(ctx), receipt.view()])
}

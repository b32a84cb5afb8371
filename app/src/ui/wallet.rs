//! Wallet mode: a customer lists, adds and removes saved payment methods. Built like the
//! checkout (`super::dom` and `super::rx`).

use super::api::{self, Client, Failure};
use super::dom::{El, View, el, event_value, group, nothing};
use super::rx::prelude::*;
use super::rx::{go, rx_flag, rx_part, rx_text};
use super::{Env, js, method_label};
use crate::card;
use crate::i18n::{Lang, t};
use crate::wire::{
    AchBody, BillingBody, CardBody, PaymentMethodBody, SavedMethodView, ValueList, WalletAddBody, WalletConfig,
};

/// The wallet's shared state.
#[derive(Clone, Copy)]
struct Wallet {
    client: StoredValue<Client>,
    methods: RwSignal<Vec<SavedMethodView>>,
    message: RwSignal<Option<String>>,
    lang: Lang,
}

impl Wallet {
    fn say(&self, key: &str) {
        self.message.set(Some(t(self.lang, key).to_owned()));
    }

    fn refresh(self) {
        go!(async move {
            let answer = self.client.get_value().get("payment-methods").await;
            if let Ok(list) = api::json::<ValueList<SavedMethodView>>(answer) {
                self.methods.set(list.value);
            }
        });
    }

    fn remove(self, id: String) {
        go!(async move {
            match self.client.get_value().delete(&format!("payment-methods/{id}")).await {
                Ok(_) => {
                    self.say("wallet_removed");
                    self.refresh();
                }
                Err(_) => self.say("generic_error"),
            }
        });
    }
}

/// The wallet for a wallet session.
pub fn wallet(client: Client, env: Env) -> View {
    let client = StoredValue::new(client);
    let env = StoredValue::new(env);
    let config = RwSignal::new(None::<WalletConfig>);
    let failed = RwSignal::new(None::<&'static str>);
    go!(async move {
        match api::json::<WalletConfig>(client.get_value().get("config").await) {
            Ok(c) => {
                env.with_value(|e| {
                    e.brand(&c.merchant);
                    e.emit("govifi-ready", &[("mode", "wallet")]);
                });
                config.set(Some(c));
            }
            Err(f) => {
                let key = match &f {
                    Failure::Api { status: 410, .. } => "expired_title",
                    Failure::Api { status: 401, .. } => "invalid_link",
                    _ => "origin_blocked",
                };
                failed.set(Some(key));
                env.with_value(|e| e.emit("govifi-error", &[("code", f.code())]));
            }
        }
    });
    let lang = move || config.with(|c| c.as_ref().map(|c| Lang::parse(&c.locale)).unwrap_or_default());
    el("section")
        .class("govifi")
        .attr("aria-labelledby", "gv-title")
        .part(rx_part!(match (failed.get(), config.get()) {
            (Some(key), _) => group(vec![
                el("h2").id("gv-title").class("title").text(t(Lang::En, "wallet_title")).view(),
                el("p").class("notice error-box").attr("role", "alert").text(t(Lang::En, key)).view(),
            ]),
            (None, None) =>
                el("p").id("gv-title").class("notice").attr("role", "status").text(t(Lang::En, "loading")).view(),
            (None, Some(c)) => untrack(|| methods(client, c)),
        }))
        .el(el("p").class("brand-line").text_rx(rx_text!(t(lang(), "powered_by"))))
        .view()
}

fn methods(client: StoredValue<Client>, c: WalletConfig) -> View {
    let l = Lang::parse(&c.locale);
    let w = Wallet { client, methods: RwSignal::new(Vec::new()), message: RwSignal::new(None), lang: l };
    w.refresh();
    group(vec![
        el("header")
            .class("header")
            .el(el("h2").id("gv-title").class("title").text(c.merchant.display_name.clone().unwrap_or_default()))
            .view(),
        el("h3").class("subtitle").text(t(l, "wallet_title")).view(),
        el("ul")
            .class("wallet-list")
            .part(rx_part!({
                let list = w.methods.get();
                if list.is_empty() {
                    el("li").class("hint").text(t(l, "wallet_empty")).view()
                } else {
                    group(list.into_iter().map(|m| item(w, m)).collect())
                }
            }))
            .view(),
        add_method(w, c.methods.clone()),
        el("div")
            .class("form-message")
            .attr("role", "alert")
            .text_rx(rx_text!(w.message.get().unwrap_or_default()))
            .view(),
        el("a").class("button secondary").attr("href", c.return_url.clone()).text(t(l, "wallet_done")).view(),
    ])
}

fn item(w: Wallet, m: SavedMethodView) -> View {
    let l = w.lang;
    let label = method_label(l, &m);
    let aria = format!("{} {label}", t(l, "wallet_remove"));
    let id = m.id;
    el("li")
        .class("wallet-item")
        .el(el("span").text(label))
        .el(el("button")
            .attr("type", "button")
            .class("button secondary")
            .attr("aria-label", aria)
            .on("click", move |_| w.remove(id.clone()))
            .text(t(l, "wallet_remove")))
        .view()
}

/// A labelled text input bound to a signal.
fn input(lang: Lang, id: &'static str, label: &'static str, value: RwSignal<String>, ac: &'static str) -> View {
    let mut input = el("input").id(id).attr("type", "text").attr("autocomplete", ac);
    if ac != "name" {
        input = input.attr("inputmode", "numeric");
    }
    el("div")
        .class("field")
        .el(el("label").attr("for", id).text(t(lang, label)))
        .el(input.prop_text("value", rx_text!(value.get())).on("input", move |ev| value.set(event_value(&ev))))
        .view()
}

/// What the customer typed, checked and shaped as a payment method.
fn method_from(ach: bool, fields: [RwSignal<String>; 5]) -> Option<PaymentMethodBody> {
    let [number, exp, routing, account, holder] = fields.map(|f| f.get_untracked());
    if ach {
        let valid =
            card::routing_number_valid(&routing) && card::account_number_valid(&account) && !holder.trim().is_empty();
        return valid.then_some(PaymentMethodBody::Ach {
            ach: AchBody {
                routing_number: routing,
                account_number: account,
                account_type: crate::wire::AccountType::Checking,
                account_holder_name: holder,
            },
        });
    }
    let digits = card::digits_only(&number).unwrap_or_default();
    let (m, y) = card::parse_expiry(&exp);
    let valid = card::card_number_valid(&digits) && card::expiry_valid(m, y, js::year_month());
    valid.then(|| PaymentMethodBody::Card {
        card: CardBody { number: digits, exp_month: m, exp_year: 2000 + y, cvc: None },
        billing: BillingBody::default(),
    })
}

fn add_method(w: Wallet, methods: Vec<crate::wire::MethodType>) -> View {
    let lang = w.lang;
    let ach = RwSignal::new(!methods.contains(&crate::wire::MethodType::Card));
    let fields = [(); 5].map(|_| RwSignal::new(String::new()));
    let [number, exp, routing, account, holder] = fields;
    let busy = RwSignal::new(false);
    let save = move |ev: web_sys::Event| {
        ev.prevent_default();
        let Some(method) = method_from(ach.get_untracked(), fields) else {
            w.say("err_fix_fields");
            return;
        };
        busy.set(true);
        let body = api::to_json(&WalletAddBody { payment_method: method });
        go!(async move {
            let result = w.client.get_value().post("payment-methods", body, Some(js::random_key())).await;
            busy.set(false);
            match result {
                Ok(_) => {
                    number.set(String::new());
                    exp.set(String::new());
                    account.set(String::new());
                    w.say("wallet_added");
                    w.refresh();
                }
                Err(_) => w.say("err_fix_fields"),
            }
        });
    };
    let tab = move |is_ach: bool, label: &'static str| -> El {
        el("button")
            .attr("type", "button")
            .attr("role", "tab")
            .attr_rx("aria-selected", rx_text!(if ach.get() == is_ach { "true" } else { "false" }))
            .attr_rx("class", rx_text!(if ach.get() == is_ach { "tab selected" } else { "tab" }))
            .on("click", move |_| ach.set(is_ach))
            .text(t(lang, label))
    };
    let tabs = if methods.len() > 1 {
        el("div")
            .class("tabs")
            .attr("role", "tablist")
            .attr("aria-label", t(lang, "pay_with"))
            .el(tab(false, "tab_card"))
            .el(tab(true, "tab_ach"))
            .view()
    } else {
        nothing()
    };
    el("form")
        .class("pay-form")
        .attr("novalidate", "")
        .on("submit", save)
        .el(el("h3").class("subtitle").text(t(lang, "wallet_add")))
        .child(tabs)
        .part(rx_part!(if ach.get() {
            group(vec![
                input(lang, "gv-w-holder", "holder_name", holder, "name"),
                input(lang, "gv-w-routing", "routing_number", routing, "off"),
                input(lang, "gv-w-account", "account_number", account, "off"),
            ])
        } else {
            group(vec![
                input(lang, "gv-w-number", "card_number", number, "cc-number"),
                input(lang, "gv-w-exp", "expiry", exp, "cc-exp"),
            ])
        }))
        .el(el("button")
            .attr("type", "submit")
            .class("pay")
            .attr_if("disabled", rx_flag!(busy.get()))
            .text(t(lang, "wallet_save")))
        .view()
}

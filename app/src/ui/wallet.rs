//! Wallet mode: a customer lists, adds and removes saved payment methods.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::api::{Client, Failure};
use super::{Env, js};
use crate::card;
use crate::color::accessible_primary;
use crate::i18n::{Lang, t};
use crate::wire::{
    AchBody, BillingBody, CardBody, PaymentMethodBody, SavedMethodView, ValueList, WalletAddBody, WalletConfig,
};

#[component]
pub fn Wallet(client: Client, env: Env) -> impl IntoView {
    let client = StoredValue::new(client);
    let env = StoredValue::new(env);
    let config = RwSignal::new(None::<WalletConfig>);
    let failed = RwSignal::new(None::<&'static str>);
    let methods = RwSignal::new(Vec::<SavedMethodView>::new());
    let message = RwSignal::new(None::<String>);
    let lang = Memo::new(move |_| config.with(|c| c.as_ref().map(|c| Lang::parse(&c.locale)).unwrap_or_default()));

    let refresh = move || {
        spawn_local(async move {
            if let Ok(list) = client.get_value().get::<ValueList<SavedMethodView>>("payment-methods").await {
                methods.set(list.value);
            }
        });
    };
    spawn_local(async move {
        match client.get_value().get::<WalletConfig>("config").await {
            Ok(c) => {
                let primary = accessible_primary(c.merchant.primary_color.as_deref());
                env.with_value(|e| {
                    let _ = e.host.style().set_property("--govifi-primary", &primary);
                    e.emit("govifi-ready", &[("mode", "wallet")]);
                });
                config.set(Some(c));
                refresh();
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

    let remove = move |id: String| {
        spawn_local(async move {
            match client.get_value().delete(&format!("payment-methods/{id}")).await {
                Ok(()) => {
                    message.set(Some(t(lang.get_untracked(), "wallet_removed").to_owned()));
                    refresh();
                }
                Err(_) => message.set(Some(t(lang.get_untracked(), "generic_error").to_owned())),
            }
        });
    };

    view! {
        <section class="govifi" aria-labelledby="gv-title">
            {move || match (failed.get(), config.get()) {
                (Some(key), _) => view! {
                    <h2 id="gv-title" class="title">{t(Lang::En, "wallet_title")}</h2>
                    <p class="notice error-box" role="alert">{t(Lang::En, key)}</p>
                }.into_any(),
                (None, None) => view! { <p id="gv-title" class="notice" role="status">{t(Lang::En, "loading")}</p> }.into_any(),
                (None, Some(c)) => {
                    let l = Lang::parse(&c.locale);
                    let return_url = c.return_url.clone();
                    view! {
                        <header class="header">
                            <h2 id="gv-title" class="title">{c.merchant.display_name.clone().unwrap_or_default()}</h2>
                        </header>
                        <h3 class="subtitle">{t(l, "wallet_title")}</h3>
                        <ul class="wallet-list">
                            {move || {
                                let list = methods.get();
                                if list.is_empty() {
                                    view! { <li class="hint">{t(l, "wallet_empty")}</li> }.into_any()
                                } else {
                                    list.into_iter().map(|m| {
                                        let id = m.id.clone();
                                        let label = if m.kind == "ach" {
                                            format!("{} {}", t(l, "bank_ending"), m.last4)
                                        } else {
                                            format!("{} {} {}", m.brand.clone().unwrap_or_default().to_uppercase(), t(l, "card_ending"), m.last4)
                                        };
                                        let aria = format!("{} {label}", t(l, "wallet_remove"));
                                        view! {
                                            <li class="wallet-item">
                                                <span>{label}</span>
                                                <button type="button" class="button secondary" aria-label=aria
                                                    on:click=move |_| remove(id.clone())>{t(l, "wallet_remove")}</button>
                                            </li>
                                        }
                                    }).collect_view().into_any()
                                }
                            }}
                        </ul>
                        <AddMethod client=client lang=l methods=c.methods.clone() message=message on_added=refresh />
                        <div class="form-message" role="alert">{move || message.get()}</div>
                        <a class="button secondary" href=return_url>{t(l, "wallet_done")}</a>
                    }.into_any()
                }
            }}
            <p class="brand-line">{move || t(lang.get(), "powered_by")}</p>
        </section>
    }
}

#[component]
fn AddMethod(
    client: StoredValue<Client>,
    lang: Lang,
    methods: Vec<String>,
    message: RwSignal<Option<String>>,
    on_added: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let ach = RwSignal::new(!methods.iter().any(|m| m == "card"));
    let number = RwSignal::new(String::new());
    let exp = RwSignal::new(String::new());
    let routing = RwSignal::new(String::new());
    let account = RwSignal::new(String::new());
    let holder = RwSignal::new(String::new());
    let busy = RwSignal::new(false);
    let has_both = methods.len() > 1;
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let method = if ach.get_untracked() {
            let (r, a, h) = (routing.get_untracked(), account.get_untracked(), holder.get_untracked());
            if !card::routing_number_valid(&r) || !card::account_number_valid(&a) || h.trim().is_empty() {
                message.set(Some(t(lang, "err_fix_fields").to_owned()));
                return;
            }
            PaymentMethodBody::Ach {
                ach: AchBody {
                    routing_number: r,
                    account_number: a,
                    account_type: "checking".into(),
                    account_holder_name: h,
                },
            }
        } else {
            let digits = card::digits_only(&number.get_untracked()).unwrap_or_default();
            let e: String = exp.get_untracked().chars().filter(char::is_ascii_digit).collect();
            let (m, y) = if e.len() == 4 { (e[..2].parse().unwrap_or(0), e[2..].parse().unwrap_or(0)) } else { (0, 0) };
            let now = js_sys::Date::new_0();
            if !card::card_number_valid(&digits)
                || !card::expiry_valid(m, y, (now.get_full_year(), now.get_month() + 1))
            {
                message.set(Some(t(lang, "err_fix_fields").to_owned()));
                return;
            }
            PaymentMethodBody::Card {
                card: CardBody { number: digits, exp_month: m, exp_year: 2000 + y, cvc: String::new() },
                billing: BillingBody::default(),
            }
        };
        busy.set(true);
        let body = WalletAddBody { payment_method: method };
        spawn_local(async move {
            let result =
                client.get_value().post::<_, SavedMethodView>("payment-methods", &body, Some(&js::random_key())).await;
            busy.set(false);
            match result {
                Ok(_) => {
                    number.set(String::new());
                    exp.set(String::new());
                    account.set(String::new());
                    message.set(Some(t(lang, "wallet_added").to_owned()));
                    on_added();
                }
                Err(_) => message.set(Some(t(lang, "err_fix_fields").to_owned())),
            }
        });
    };
    let input = move |id: &'static str, label: &'static str, value: RwSignal<String>, ac: &'static str| {
        view! {
            <div class="field">
                <label for=id>{t(lang, label)}</label>
                <input id=id type="text" inputmode="numeric" autocomplete=ac prop:value=move || value.get()
                    on:input=move |ev| value.set(event_target_value(&ev)) />
            </div>
        }
    };
    view! {
        <form class="pay-form" novalidate on:submit=save>
            <h3 class="subtitle">{t(lang, "wallet_add")}</h3>
            {has_both.then(|| view! {
                <div class="tabs" role="tablist" aria-label=t(lang, "pay_with")>
                    <button type="button" role="tab" aria-selected=move || if ach.get() { "false" } else { "true" }
                        class=move || if ach.get() { "tab" } else { "tab selected" } on:click=move |_| ach.set(false)>{t(lang, "tab_card")}</button>
                    <button type="button" role="tab" aria-selected=move || if ach.get() { "true" } else { "false" }
                        class=move || if ach.get() { "tab selected" } else { "tab" } on:click=move |_| ach.set(true)>{t(lang, "tab_ach")}</button>
                </div>
            })}
            {move || if ach.get() {
                view! {
                    <div class="field">
                        <label for="gv-w-holder">{t(lang, "holder_name")}</label>
                        <input id="gv-w-holder" type="text" autocomplete="name" prop:value=move || holder.get()
                            on:input=move |ev| holder.set(event_target_value(&ev)) />
                    </div>
                    {input("gv-w-routing", "routing_number", routing, "off")}
                    {input("gv-w-account", "account_number", account, "off")}
                }.into_any()
            } else {
                view! {
                    {input("gv-w-number", "card_number", number, "cc-number")}
                    {input("gv-w-exp", "expiry", exp, "cc-exp")}
                }.into_any()
            }}
            <button type="submit" class="pay" disabled=move || busy.get()>{t(lang, "wallet_save")}</button>
        </form>
    }
}

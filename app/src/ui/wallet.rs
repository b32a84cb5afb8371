//! Wallet mode: a customer lists, adds and removes saved payment methods. The wallet's config
//! and its list of methods are local resources; adding and removing are local actions.

use leptos::prelude::*;

use super::api::{self, Call, CallAction, Client, Failure};
use super::{env, js, method_label};
use crate::card;
use crate::i18n::{Lang, Msg, msg, t};
use crate::wire::{
    AccountType, AchBody, BillingBody, CardBody, MethodType, PaymentMethodBody, SavedMethodView, ValueList,
    WalletAddBody, WalletConfig,
};

/// The wallet's state, shared by its parts through context.
#[derive(Clone, Copy)]
struct WalletState {
    methods: LocalResource<Result<Vec<SavedMethodView>, Failure>>,
    add: CallAction,
    remove: CallAction,
    /// Handles of dispatched adds and removes (dropping one aborts it).
    in_flight: StoredValue<Vec<ActionAbortHandle>>,
    message: RwSignal<Option<String>>,
    lang: Lang,
}

impl WalletState {
    fn say(&self, key: Msg) {
        self.message.set(Some(t(self.lang, key).to_owned()));
    }
}

fn state() -> WalletState {
    expect_context::<WalletState>()
}

/// The wallet for a wallet session.
#[component]
pub fn Wallet(client: Client) -> impl IntoView {
    let client = StoredValue::new(client);
    let config = LocalResource::new(move || {
        let client = client.get_value();
        async move { api::json::<WalletConfig>(client.get("config").await) }
    });
    Effect::new(move |_| {
        config.with(|c| match c {
            Some(Ok(c)) => env().with_value(|e| {
                e.brand(&c.merchant);
                e.emit("govifi-ready", &[("mode", "wallet")]);
            }),
            Some(Err(f)) => env().with_value(|e| e.emit("govifi-error", &[("code", f.code())])),
            None => {}
        })
    });
    let lang = move || {
        config.with(|c| match c {
            Some(Ok(c)) => Lang::parse(&c.locale),
            _ => Lang::En,
        })
    };
    view! {
        <section class="govifi" aria-labelledby="gv-title">
            {move || match config.get() {
                None => {
                    view! { <p id="gv-title" class="notice" role="status">{t(Lang::En, msg::loading)}</p> }.into_any()
                }
                Some(Err(f)) => {
                    let key = match f {
                        Failure::Api { status: 410, .. } => msg::expired_title,
                        Failure::Api { status: 401, .. } => msg::invalid_link,
                        _ => msg::origin_blocked,
                    };
                    view! {
                        <h2 id="gv-title" class="title">{t(Lang::En, msg::wallet_title)}</h2>
                        <p class="notice error-box" role="alert">{t(Lang::En, key)}</p>
                    }
                        .into_any()
                }
                Some(Ok(c)) => view! { <Methods client=client.get_value() c/> }.into_any(),
            }}
            <p class="brand-line">{move || t(lang(), msg::powered_by)}</p>
        </section>
    }
}

#[component]
fn Methods(client: Client, c: WalletConfig) -> impl IntoView {
    let lang = Lang::parse(&c.locale);
    let client = StoredValue::new(client);
    let methods = LocalResource::new(move || {
        let client = client.get_value();
        async move { api::json::<ValueList<SavedMethodView>>(client.get("payment-methods").await).map(|l| l.value) }
    });
    let add = api::action(client);
    let remove = api::action(client);
    let state = WalletState {
        methods,
        add,
        remove,
        in_flight: StoredValue::new(Vec::new()),
        message: RwSignal::new(None),
        lang,
    };
    provide_context(state);
    Effect::new(move |_| {
        let Some((_, result)) = remove.value().get() else { return };
        untrack(|| match result {
            Ok(_) => {
                state.say(msg::wallet_removed);
                methods.refetch();
            }
            Err(_) => state.say(msg::generic_error),
        });
    });
    let list = move || methods.with(|m| m.as_ref().and_then(|m| m.as_ref().ok()).cloned().unwrap_or_default());
    let empty = move || methods.with(|m| matches!(m, Some(Ok(list)) if list.is_empty()));
    view! {
        <header class="header">
            <h2 id="gv-title" class="title">{c.merchant.display_name.clone().unwrap_or_default()}</h2>
        </header>
        <h3 class="subtitle">{t(lang, msg::wallet_title)}</h3>
        <ul class="wallet-list">
            <For each=list key=|m| m.id.clone() children=move |m| view! { <Item m/> }/>
            <Show when=empty>
                <li class="hint">{t(lang, msg::wallet_empty)}</li>
            </Show>
        </ul>
        <AddMethod methods=c.methods.clone()/>
        <div class="form-message" role="alert">{move || state.message.get().unwrap_or_default()}</div>
        <a class="button secondary" href=c.return_url.clone()>{t(lang, msg::wallet_done)}</a>
    }
}

#[component]
fn Item(m: SavedMethodView) -> impl IntoView {
    let state = state();
    let lang = state.lang;
    let label = method_label(lang, &m);
    let aria = format!("{} {label}", t(lang, msg::wallet_remove));
    let id = m.id;
    let on_remove = move |_| {
        let handle = state.remove.dispatch_local(Call { tail: format!("payment-methods/{id}"), ..Call::default() });
        state.in_flight.update_value(|h| h.push(handle));
    };
    view! {
        <li class="wallet-item">
            <span>{label}</span>
            <button type="button" class="button secondary" aria-label=aria on:click=on_remove>
                {t(lang, msg::wallet_remove)}
            </button>
        </li>
    }
}

/// A labelled text input bound to a signal.
#[component]
fn Input(id: &'static str, label: Msg, value: RwSignal<String>, autocomplete: &'static str) -> impl IntoView {
    let lang = state().lang;
    view! {
        <div class="field">
            <label for=id>{t(lang, label)}</label>
            <input
                id=id
                type="text"
                autocomplete=autocomplete
                inputmode=(autocomplete != "name").then_some("numeric")
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
            />
        </div>
    }
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
                account_type: AccountType::Checking,
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

#[component]
fn AddMethod(methods: Vec<MethodType>) -> impl IntoView {
    let state = state();
    let lang = state.lang;
    let ach = RwSignal::new(!methods.contains(&MethodType::Card));
    let fields = [(); 5].map(|_| RwSignal::new(String::new()));
    let [number, exp, routing, account, holder] = fields;
    let busy = state.add.pending();
    // The save last sent (its Idempotency-Key and body): kept after a network failure, so
    // saving the same method again sends the same key and the server answers the first save.
    let sent = StoredValue::new(None::<(String, String)>);
    Effect::new(move |_| {
        let Some((_, result)) = state.add.value().get() else { return };
        untrack(|| match result {
            Ok(_) => {
                sent.set_value(None);
                number.set(String::new());
                exp.set(String::new());
                account.set(String::new());
                state.say(msg::wallet_added);
                state.methods.refetch();
            }
            Err(Failure::Network) => state.say(msg::network_error),
            Err(_) => {
                sent.set_value(None);
                state.say(msg::err_fix_fields);
            }
        });
    });
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let Some(method) = method_from(ach.get_untracked(), fields) else {
            state.say(msg::err_fix_fields);
            return;
        };
        let body = api::to_json(&WalletAddBody { payment_method: method });
        let key = match sent.get_value() {
            Some((key, before)) if before == body => key,
            _ => js::random_key(),
        };
        sent.set_value(Some((key.clone(), body.clone())));
        let call = Call { tail: "payment-methods".into(), body: Some(body), key: Some(key), tag: String::new() };
        let handle = state.add.dispatch_local(call);
        state.in_flight.update_value(|h| h.push(handle));
    };
    let tab = move |is_ach: bool, label: Msg| {
        view! {
            <button
                type="button"
                role="tab"
                aria-selected=move || if ach.get() == is_ach { "true" } else { "false" }
                class=move || if ach.get() == is_ach { "tab selected" } else { "tab" }
                on:click=move |_| ach.set(is_ach)
            >
                {t(lang, label)}
            </button>
        }
    };
    view! {
        <form class="pay-form" novalidate="" on:submit=save>
            <h3 class="subtitle">{t(lang, msg::wallet_add)}</h3>
            {(methods.len() > 1)
                .then(|| {
                    view! {
                        <div class="tabs" role="tablist" aria-label=t(lang, msg::pay_with)>
                            {tab(false, msg::tab_card)}
                            {tab(true, msg::tab_ach)}
                        </div>
                    }
                })}
            {move || {
                if ach.get() {
                    view! {
                        <Input id="gv-w-holder" label=msg::holder_name value=holder autocomplete="name"/>
                        <Input id="gv-w-routing" label=msg::routing_number value=routing autocomplete="off"/>
                        <Input id="gv-w-account" label=msg::account_number value=account autocomplete="off"/>
                    }
                        .into_any()
                } else {
                    view! {
                        <Input id="gv-w-number" label=msg::card_number value=number autocomplete="cc-number"/>
                        <Input id="gv-w-exp" label=msg::expiry value=exp autocomplete="cc-exp"/>
                    }
                        .into_any()
                }
            }}
            <button type="submit" class="pay" disabled=move || busy.get()>{t(lang, msg::wallet_save)}</button>
        </form>
    }
}

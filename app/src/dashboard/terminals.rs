//! Terminals: the list, Add terminal, and on each one Start a payment or Cancel the one
//! waiting; in the sandbox, a test card can be presented to finish it.

use leptos::prelude::*;
use leptos_router::components::A;

use super::api::*;
use super::{failed, loading, outcome, page_links, query_page, shown_account, with_profile};

/// The sandbox's test cards a terminal can be shown (SPEC §9).
const TEST_CARDS: &[(&str, &str)] = &[("4242424242424242", "Visa, approved"), ("4000000000000002", "Declined")];

#[component]
pub fn Terminals() -> impl IntoView {
    let add = ServerAction::<AddTerminal>::new();
    let start = ServerAction::<StartTerminalPayment>::new();
    let cancel = ServerAction::<CancelTerminalPayment>::new();
    let present = ServerAction::<PresentTestCard>::new();
    let changes =
        move || add.version().get() + start.version().get() + cancel.version().get() + present.version().get();
    let page = query_page();
    let data = Resource::new(move || (page.get(), changes()), |(page, _)| list_terminals(page));
    view! {
        <h1>"Terminals"</h1>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                let (p, listing) = match with_profile(data).await {
                    Ok(both) => both,
                    Err(e) => return failed(e),
                };
                let locale = p.locale.clone();
                let currency = p.account.as_ref().map(|a| a.currency.clone()).unwrap_or_default();
                let account = shown_account(&p);
                let add_form = p.can.operate.then(|| view! {
                    <details class="panel" open=listing.rows.is_empty() && listing.page == 0>
                        <summary>"Add terminal"</summary>
                        <ActionForm action=add attr:class="demo-form">
                            <input type="hidden" name="account" value=account.clone()/>
                            <label for="terminal-label">"Label"</label>
                            <input id="terminal-label" name="terminal[label]" required="" maxlength="200"/>
                            <label for="terminal-serial">"Serial number"</label>
                            <input id="terminal-serial" name="terminal[serial_number]" required="" maxlength="100"/>
                            <label for="terminal-model">"Model"</label>
                            <input id="terminal-model" name="terminal[model]" maxlength="100"/>
                            <label for="terminal-location">"Location"</label>
                            <input id="terminal-location" name="terminal[location]" maxlength="200"/>
                            <button type="submit" disabled=move || add.pending().get()>"Add terminal"</button>
                        </ActionForm>
                        {outcome(add.value(), "Terminal added.")}
                    </details>
                });
                let (page, more) = (listing.page, listing.more);
                let list = if listing.rows.is_empty() {
                    view! { <p class="empty">{if page > 0 { "No more terminals." } else { "No terminals yet." }}</p> {page_links(page, false)} }.into_any()
                } else {
                    view! {
                        <ul class="plain terminals" id="terminals">
                            {listing.rows.into_iter().map(|t| {
                                let (label, currency, locale) = (t.label.clone(), currency.clone(), locale.clone());
                                let (start_id, cancel_id, present_id) = (t.id.clone(), t.id.clone(), t.id.clone());
                                let controls = p.can.operate.then(|| match &t.pending {
                                    None if t.status == "online" => view! {
                                        <ActionForm action=start attr:class="inline-form">
                                            <input type="hidden" name="id" value=start_id/>
                                            <label for=format!("amount-{}", t.id)>{format!("Amount ({currency})")}</label>
                                            <input id=format!("amount-{}", t.id) name="charge[amount]" inputmode="decimal" required=""/>
                                            <label for=format!("reference-{}", t.id)>"Reference"</label>
                                            <input id=format!("reference-{}", t.id) name="charge[reference]" maxlength="255"/>
                                            <input type="hidden" name="charge[description]" value=""/>
                                            <button type="submit" aria-label=format!("Start a payment on {label}")>"Start a payment"</button>
                                        </ActionForm>
                                    }.into_any(),
                                    None => ().into_any(),
                                    Some(_) => view! {
                                        <div class="row">
                                            <ActionForm action=cancel>
                                                <input type="hidden" name="id" value=cancel_id/>
                                                <button type="submit" class="secondary" aria-label=format!("Cancel payment on {label}")>"Cancel payment"</button>
                                            </ActionForm>
                                            {p.sandbox.then(|| view! {
                                                <ActionForm action=present attr:class="inline-form">
                                                    <input type="hidden" name="id" value=present_id.clone()/>
                                                    <label for=format!("card-{present_id}")>"Test card"</label>
                                                    <select id=format!("card-{present_id}") name="card_number">
                                                        {TEST_CARDS.iter().map(|(n, what)| view! { <option value=*n>{*what}</option> }).collect_view()}
                                                    </select>
                                                    <button type="submit" class="secondary">"Present card"</button>
                                                </ActionForm>
                                            })}
                                        </div>
                                    }.into_any(),
                                });
                                let waiting = t.pending.clone().map(|w| view! {
                                    <p>"Waiting for a card: "<A href=format!("/dashboard/payments/{}", w.payment_id)>{w.amount.show(&locale)}</A></p>
                                });
                                let place = [t.model.clone(), t.location.clone()].into_iter().flatten().collect::<Vec<_>>().join(" · ");
                                view! {
                                    <li class="panel">
                                        <h2>{t.label.clone()}" "<span class="status">{t.status.clone()}</span></h2>
                                        <p class="small">{format!("Serial {}", t.serial_number)}{(!place.is_empty()).then(|| format!(" · {place}"))}</p>
                                        {waiting}
                                        {controls}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                        {page_links(page, more)}
                    }
                    .into_any()
                };
                view! {
                    {add_form}
                    {outcome(start.value(), "Payment started: present the card at the terminal.")}
                    {outcome(cancel.value(), "Payment cancelled.")}
                    {move || match present.value().get() {
                        Some(Ok(status)) => view! { <p class="ok" role="status">{format!("Card presented: the payment is {status}.")}</p> }.into_any(),
                        Some(Err(e)) => failed(e),
                        None => ().into_any(),
                    }}
                    {list}
                }
                .into_any()
            })}
        </Transition>
    }
}

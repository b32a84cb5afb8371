//! Developers: API keys, webhooks with their delivery log, events.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::api::*;
use super::{OneTime, Pager, failed, hydrated, loading, outcome, page_links, profile, query_page, shown_account};

#[component]
fn DeveloperTabs() -> impl IntoView {
    view! {
        <nav class="tabs" aria-label="Developers">
            <A href="/dashboard/developers" exact=true>"API keys"</A>
            <A href="/dashboard/developers/webhooks">"Webhooks"</A>
            <A href="/dashboard/developers/events">"Events"</A>
        </nav>
    }
}

/// The refusal when the user's role has no developer access (the server refuses the calls too).
fn not_for_role() -> AnyView {
    view! { <p class="empty">"Your role does not include developer tools. Ask an owner or a developer."</p> }.into_any()
}

#[component]
pub fn ApiKeys() -> impl IntoView {
    let create = ServerAction::<CreateApiKey>::new();
    let ready = hydrated();
    let revoke = ServerAction::<RevokeApiKey>::new();
    let page = query_page();
    let keys = Resource::new(
        move || (page.get(), create.version().get(), revoke.version().get()),
        |(page, _, _)| list_api_keys(page),
    );
    view! {
        <h1>"Developers"</h1>
        <DeveloperTabs/>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                let p = match profile().await { Ok(p) => p, Err(e) => return failed(e) };
                if !p.can.develop {
                    return not_for_role();
                }
                let keys = match keys.await { Ok(k) => k, Err(e) => return failed(e) };
                let account = shown_account(&p);
                view! {
                    <section class="panel">
                        <h2>"Create API key"</h2>
                        <ActionForm action=create attr:class="demo-form">
                            <input type="hidden" name="account" value=account.clone()/>
                            <label for="key-label">"Label"</label>
                            <input id="key-label" name="label" required="" maxlength="200"/>
                            <label for="key-scopes">"Scopes"</label>
                            <input id="key-scopes" name="scopes" value="*" aria-describedby="key-scopes-hint"/>
                            <p class="small" id="key-scopes-hint">"Separated by spaces: sessions.read, sessions.write, payments.read, payments.write, refunds.write, customers.read, customers.write, terminals.read, terminals.write, webhooks.read, webhooks.write, or * for all."</p>
                            <label for="key-expiry">"Expires after (days, empty for never)"</label>
                            <input id="key-expiry" name="expires_in_days" inputmode="numeric"/>
                            <button type="submit" disabled=move || !ready.get() || create.pending().get()>"Create API key"</button>
                        </ActionForm>
                        {move || match create.value().get() {
                            Some(Ok(s)) => view! { <OneTime title="Your new API key" secret=s.secret/> }.into_any(),
                            Some(Err(e)) => failed(e),
                            None => ().into_any(),
                        }}
                    </section>
                    {outcome(revoke.value(), "Revoked.")}
                    {if keys.rows.is_empty() {
                        view! { <p class="empty">{if keys.page > 0 { "No more API keys." } else { "No API keys yet." }}</p> {page_links(keys.page, false)} }.into_any()
                    } else {
                        view! {
                            <div class="table-wrap">
                                <table class="data" id="api-keys">
                                    <thead><tr><th scope="col">"Label"</th><th scope="col">"Key"</th><th scope="col">"Scopes"</th><th scope="col">"Expires"</th><th scope="col">"Last used"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                                    <tbody>
                                        {keys.rows.into_iter().map(|k| {
                                            let label = k.label.clone();
                                            let revoke_form = (!k.revoked).then(|| view! {
                                                <ActionForm action=revoke>
                                                    <input type="hidden" name="id" value=k.id.clone()/>
                                                    <button type="submit" class="secondary small-button" aria-label=format!("Revoke {label}")>"Revoke"</button>
                                                </ActionForm>
                                            });
                                            view! {
                                                <tr>
                                                    <td>{k.label.clone()}</td>
                                                    <td><code>{format!("{}…", k.prefix)}</code></td>
                                                    <td>{k.scopes.clone()}</td>
                                                    <td>{k.expires_at.clone().unwrap_or_else(|| "Never".into())}</td>
                                                    <td>{k.last_used_at.clone().unwrap_or_else(|| "—".into())}</td>
                                                    <td>{if k.revoked { view! { <span class="status">"revoked"</span> }.into_any() } else { revoke_form.into_any() }}</td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            {page_links(keys.page, keys.more)}
                        }.into_any()
                    }}
                }
                .into_any()
            })}
        </Transition>
    }
}

#[component]
pub fn Webhooks() -> impl IntoView {
    let add = ServerAction::<AddWebhook>::new();
    let ready = hydrated();
    let toggle = ServerAction::<SetWebhookEnabled>::new();
    let test = ServerAction::<SendTestEvent>::new();
    let page = query_page();
    let hooks = Resource::new(
        move || (page.get(), add.version().get(), toggle.version().get()),
        |(page, _, _)| list_webhooks(page),
    );
    view! {
        <h1>"Developers"</h1>
        <DeveloperTabs/>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                let p = match profile().await { Ok(p) => p, Err(e) => return failed(e) };
                if !p.can.develop {
                    return not_for_role();
                }
                let hooks = match hooks.await { Ok(h) => h, Err(e) => return failed(e) };
                let account = shown_account(&p);
                view! {
                    <section class="panel">
                        <h2>"Add webhook"</h2>
                        <ActionForm action=add attr:class="demo-form">
                            <input type="hidden" name="account" value=account.clone()/>
                            <label for="hook-url">"Endpoint URL"</label>
                            <input id="hook-url" name="url" type="url" required=""/>
                            <label for="hook-events">"Events"</label>
                            <input id="hook-events" name="events" value="*" aria-describedby="hook-events-hint"/>
                            <p class="small" id="hook-events-hint">"Event types separated by spaces (checkout.session.completed payment.refunded …), or * for all."</p>
                            <button type="submit" disabled=move || !ready.get() || add.pending().get()>"Add webhook"</button>
                        </ActionForm>
                        {move || match add.value().get() {
                            Some(Ok(s)) => view! { <OneTime title="The webhook's signing secret" secret=s.secret/> }.into_any(),
                            Some(Err(e)) => failed(e),
                            None => ().into_any(),
                        }}
                    </section>
                    {outcome(test.value(), "Test event sent: see its delivery in the log.")}
                    {outcome(toggle.value(), "Saved.")}
                    {if hooks.rows.is_empty() {
                        view! { <p class="empty">{if hooks.page > 0 { "No more webhooks." } else { "No webhooks yet." }}</p> {page_links(hooks.page, false)} }.into_any()
                    } else {
                        view! {
                            <ul class="plain cards-list" id="webhooks">
                                {hooks.rows.into_iter().map(|h| {
                                    let log = format!("/dashboard/developers/webhooks/{}", h.id);
                                    let (test_id, toggle_id) = (h.id.clone(), h.id.clone());
                                    let state = if h.enabled { "enabled".to_owned() } else { format!("disabled{}", h.disabled_reason.clone().map(|r| format!(" ({r})")).unwrap_or_default()) };
                                    view! {
                                        <li class="panel">
                                            <p><strong class="wrap">{h.url.clone()}</strong></p>
                                            <p class="small">{format!("Events: {} · {state}", h.events)}</p>
                                            <div class="row">
                                                <A href=log>"Delivery log"</A>
                                                <ActionForm action=test>
                                                    <input type="hidden" name="id" value=test_id/>
                                                    <button type="submit" class="secondary small-button">"Send test event"</button>
                                                </ActionForm>
                                                <ActionForm action=toggle>
                                                    <input type="hidden" name="id" value=toggle_id/>
                                                    <input type="hidden" name="enabled" value=(!h.enabled).to_string()/>
                                                    <button type="submit" class="secondary small-button">{if h.enabled { "Disable" } else { "Enable" }}</button>
                                                </ActionForm>
                                            </div>
                                        </li>
                                    }
                                }).collect_view()}
                            </ul>
                            {page_links(hooks.page, hooks.more)}
                        }.into_any()
                    }}
                }
                .into_any()
            })}
        </Transition>
    }
}

#[component]
pub fn DeliveryLogPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let redeliver_action = ServerAction::<Redeliver>::new();
    // Deliveries happen in the background: "Refresh" reloads the log.
    let refresh = RwSignal::new(0u32);
    let page = query_page();
    let log = Resource::new(
        move || (id(), page.get(), refresh.get(), redeliver_action.version().get()),
        |(id, page, _, _)| load_delivery_log(id, page),
    );
    view! {
        <h1>"Delivery log"</h1>
        <DeveloperTabs/>
        <p><button type="button" class="secondary" on:click=move |_| refresh.update(|n| *n += 1)>"Refresh"</button></p>
        {outcome(redeliver_action.value(), "Queued for delivery again.")}
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                let log = match log.await { Ok(l) => l, Err(e) => return failed(e) };
                let webhook_id = log.webhook.id.clone();
                view! {
                    <p class="wrap"><strong>{log.webhook.url.clone()}</strong></p>
                    {if log.deliveries.rows.is_empty() {
                        let said = if log.deliveries.page > 0 { "No more deliveries." } else { "Nothing delivered yet." };
                        view! { <p class="empty">{said}</p> {page_links(log.deliveries.page, false)} }.into_any()
                    } else {
                        view! {
                            <ol class="plain" id="deliveries">
                                {log.deliveries.rows.into_iter().map(|d| { let webhook_id = webhook_id.clone(); view! {
                                    <li class="panel delivery">
                                        <p><strong>{d.event_type.clone()}</strong>" · "<span class="status">{d.status.clone()}</span><span class="small">" · "{d.created_at.clone()}</span></p>
                                        <ul class="attempts">
                                            {d.attempts.iter().map(|a| view! {
                                                <li>
                                                    <span class="attempt-status">{a.status.map(|s| s.to_string()).unwrap_or_else(|| "no answer".into())}</span>
                                                    " · "{a.outcome.clone()}<span class="small">" · "{a.at.clone()}</span>
                                                    {a.response.clone().map(|r| view! { <pre class="response">{r}</pre> })}
                                                </li>
                                            }).collect_view()}
                                        </ul>
                                        <ActionForm action=redeliver_action>
                                            <input type="hidden" name="webhook_id" value=webhook_id.clone()/>
                                            <input type="hidden" name="event_id" value=d.event_id.clone()/>
                                            <button type="submit" class="secondary small-button">"Redeliver"</button>
                                        </ActionForm>
                                    </li>
                                }}).collect_view()}
                            </ol>
                            {page_links(log.deliveries.page, log.deliveries.more)}
                        }.into_any()
                    }}
                }
                .into_any()
            })}
        </Transition>
    }
}

#[component]
pub fn Events() -> impl IntoView {
    let query = use_query_map();
    let page = move || query.read().get("page").and_then(|p| p.parse().ok()).unwrap_or(0u32);
    let events = Resource::new(page, list_events);
    view! {
        <h1>"Developers"</h1>
        <DeveloperTabs/>
        <Suspense fallback=loading>
            {move || {
                let page = page();
                Suspend::new(async move {
                let events = match events.await { Ok(e) => e, Err(e) => return failed(e) };
                if events.is_empty() {
                    // A page past the last (its Next was offered for a full page) still leads back.
                    let prev = (page > 0).then(|| format!("?page={}", page - 1));
                    let said = if page > 0 { "No more events." } else { "No events yet." };
                    return view! { <p class="empty">{said}</p> <Pager prev=prev next=None/> }.into_any();
                }
                let more = events.len() >= 25;
                view! {
                    <ol class="plain" id="events">
                        {events.into_iter().map(|e| view! {
                            <li class="panel">
                                <details>
                                    <summary><strong>{e.kind.clone()}</strong>" · "{e.actor.clone().unwrap_or_else(|| "api".into())}<span class="small">" · "{e.created_at.clone()}</span></summary>
                                    <pre>{e.json.clone()}</pre>
                                </details>
                            </li>
                        }).collect_view()}
                    </ol>
                    <Pager prev=(page > 0).then(|| format!("?page={}", page - 1)) next=more.then(|| format!("?page={}", page + 1))/>
                }
                .into_any()
            })}}
        </Suspense>
    }
}

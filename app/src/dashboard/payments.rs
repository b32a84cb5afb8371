//! Home, Payments, a payment's page and Checkout sessions.

use leptos::prelude::*;
use leptos_router::components::{A, Form};
use leptos_router::hooks::{use_params_map, use_query_map};

use super::api::*;
use super::{Pager, failed, loading, message, outcome, shown_account, with_profile};
use crate::money::{format_amount, parse_units};

#[component]
pub fn Home() -> impl IntoView {
    let data = Resource::new(|| (), |_| load_home());
    view! {
        <h1>"Home"</h1>
        <Suspense fallback=loading>
            {move || Suspend::new(async move {
                let (p, d) = match with_profile(data).await {
                    Ok(both) => both,
                    Err(e) => return failed(e),
                };
                let locale = p.locale.clone();
                view! {
                    <div class="cards">
                        <Figures title="Today (UTC)" totals=d.today.clone() locale=locale.clone()/>
                        <Figures title="Last 30 days" totals=d.last_30_days.clone() locale=locale.clone()/>
                    </div>
                    <section class="panel">
                        <h2 id="chart-title">"Daily volume, last 30 days (UTC days)"</h2>
                        <VolumeChart days=d.days.clone() locale=locale.clone()/>
                    </section>
                    <section>
                        <h2>"Latest payments"</h2>
                        <PaymentTable rows=d.latest.clone() locale/>
                    </section>
                }
                .into_any()
            })}
        </Suspense>
    }
}

#[component]
fn Figures(title: &'static str, totals: Totals, locale: String) -> impl IntoView {
    view! {
        <section class="panel figures" aria-label=title>
            <h2>{title}</h2>
            <dl>
                <dt>"Gross volume"</dt><dd>{totals.gross.show(&locale)}</dd>
                <dt>"Fees"</dt><dd>{totals.fees.show(&locale)}</dd>
                <dt>"Refunds"</dt><dd>{totals.refunds.show(&locale)}</dd>
                <dt>"Success rate"</dt><dd>{totals.success_rate()}</dd>
            </dl>
        </section>
    }
}

/// Daily gross volume as bars (SVG: presentation attributes, nothing the CSP blocks).
#[component]
fn VolumeChart(days: Vec<DayVolume>, locale: String) -> impl IntoView {
    const W: f64 = 600.0;
    const H: f64 = 160.0;
    let peak_minor = days.iter().map(|d| d.gross.minor).max().unwrap_or(0);
    // (Divided by below: at least one minor unit.)
    let max = peak_minor.max(1) as f64;
    let slot = W / days.len().max(1) as f64;
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let h = (d.gross.minor as f64 / max * (H - 20.0)).max(if d.gross.minor > 0 { 2.0 } else { 0.0 });
            let label = format!("{}: {}", d.date, d.gross.show(&locale));
            view! {
                <rect x=format!("{:.1}", i as f64 * slot + 1.0) y=format!("{:.1}", H - h) width=format!("{:.1}", (slot - 2.0).max(1.0))
                    height=format!("{h:.1}") fill="#1a5fb4"><title>{label}</title></rect>
            }
        })
        .collect_view();
    let first = days.first().map(|d| d.date.clone()).unwrap_or_default();
    let last = days.last().map(|d| d.date.clone()).unwrap_or_default();
    let peak = format_amount(peak_minor, days.first().map(|d| d.gross.currency.as_str()).unwrap_or("USD"), &locale);
    let described = if peak_minor > 0 {
        format!("Bars from {first} to {last}; the tallest is {peak}.")
    } else {
        format!("No volume from {first} to {last}.")
    };
    view! {
        <svg class="chart" viewBox=format!("0 0 {W} {H}") role="img" aria-labelledby="chart-title chart-desc" preserveAspectRatio="none">
            <desc id="chart-desc">{described}</desc>
            <line x1="0" y1=H.to_string() x2=W.to_string() y2=H.to_string() stroke="#8a939e" stroke-width="1"/>
            {bars}
        </svg>
        <p class="small chart-axis"><span>{first}</span><span>{last}</span></p>
    }
}

#[component]
pub(super) fn PaymentTable(rows: Vec<PaymentRow>, locale: String) -> impl IntoView {
    if rows.is_empty() {
        return view! { <p class="empty">"No payments yet."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="data">
                <thead><tr><th scope="col">"Amount"</th><th scope="col">"Status"</th><th scope="col">"Method"</th><th scope="col">"Reference"</th><th scope="col">"Created"</th></tr></thead>
                <tbody>
                    {rows.into_iter().map(move |r| {
                        let locale = locale.clone();
                        let href = format!("/dashboard/payments/{}", r.id);
                        view! {
                            <tr>
                                <td><A href=href>{r.amount.show(&locale)}</A></td>
                                <td><span class="status">{r.status}</span></td>
                                <td>{r.method}</td>
                                <td>{r.reference.unwrap_or_default()}</td>
                                <td>{r.created_at}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

const METHODS: &[(&str, &str)] = &[("card", "Card"), ("ach", "Bank account (ACH)"), ("apple_pay", "Apple Pay")];

const STATUSES: &[&str] =
    &["authorized", "captured", "processing", "partially_refunded", "refunded", "voided", "failed", "pending_terminal"];

#[component]
pub fn Payments() -> impl IntoView {
    let query = use_query_map();
    let filter = move || {
        let q = query.read();
        let get = |k: &str| q.get(k).unwrap_or_default();
        PaymentFilter {
            status: get("status"),
            reference: get("reference"),
            method: get("method"),
            from: get("from"),
            to: get("to"),
            page: get("page").parse().unwrap_or(0),
        }
    };
    let data = Resource::new(filter, list_payments);
    view! {
        <h1>"Payments"</h1>
        <Form method="GET" action="/dashboard/payments">
            <div class="filters">
                <label>"Status"
                    <select name="status">
                        <option value="">"Any"</option>
                        {STATUSES.iter().map(|s| view! { <option value=*s selected=move || filter().status == *s>{*s}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Method"
                    <select name="method">
                        <option value="">"Any"</option>
                        {METHODS.iter().map(|(m, name)| view! { <option value=*m selected=move || filter().method == *m>{*name}</option> }).collect_view()}
                    </select>
                </label>
                <label>"Reference"<input name="reference" type="search" prop:value=move || filter().reference/></label>
                <label>"From"<input name="from" type="date" prop:value=move || filter().from/></label>
                <label>"To"<input name="to" type="date" prop:value=move || filter().to/></label>
                <button type="submit">"Filter"</button>
            </div>
        </Form>
        <Transition fallback=loading>
            {move || {
                let f = filter();
                Suspend::new(async move {
                let (p, d) = match with_profile(data).await {
                    Ok(both) => both,
                    Err(e) => return failed(e),
                };
                let link = move |page: u32| {
                    format!(
                        "?status={}&method={}&reference={}&from={}&to={}&page={page}",
                        enc(&f.status), enc(&f.method), enc(&f.reference), enc(&f.from), enc(&f.to)
                    )
                };
                let prev = (d.page > 0).then(|| link(d.page - 1));
                let next = d.has_more.then(|| link(d.page + 1));
                view! {
                    <p class="small" role="status">{format!("{} payments", d.total)}</p>
                    <PaymentTable rows=d.rows.clone() locale=p.locale.clone()/>
                    <Pager prev next current=format!("Page {}", u64::from(d.page) + 1)/>
                }
                .into_any()
            })}}
        </Transition>
    }
}

/// A query value, percent-encoded.
pub(super) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[component]
pub fn PaymentPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let refund = ServerAction::<RefundPayment>::new();
    let capture = ServerAction::<CapturePayment>::new();
    let void = ServerAction::<VoidPayment>::new();
    let moves = move || refund.version().get() + capture.version().get() + void.version().get();
    let data = Resource::new(move || (id(), moves()), |(id, _)| load_payment(id));
    view! {
        <p><A href="/dashboard/payments">"← Payments"</A></p>
        <Transition fallback=loading>
            {move || {
                // Read here, outside the async block, so that a new address re-renders the page.
                let confirm = query.read().get("confirm");
                let typed = query.read().get("amount").unwrap_or_default();
                let reason = query.read().get("reason").unwrap_or_default();
                // The key the action's own form carried in, so that a confirmation sent again
                // after an error (the page reloads its data, with a new key) is the same request.
                let carried = query.read().get("key");
                Suspend::new(async move {
                let (p, d) = match with_profile(data).await {
                    Ok(both) => both,
                    Err(e) => return failed(e),
                };
                let locale = p.locale.clone();
                let shown = |typed: &str| match parse_units(typed, &d.amount.currency, &locale) {
                    Some(minor) => format_amount(minor, &d.amount.currency, &locale),
                    None if typed.is_empty() => "the whole amount left".to_owned(),
                    None => typed.to_owned(),
                };
                let back = format!("/dashboard/payments/{}", d.id);
                let (refund_id, capture_id, void_id) = (d.id.clone(), d.id.clone(), d.id.clone());
                let key = carried.unwrap_or_else(|| d.move_key.clone());
                let (refund_key, capture_key, void_key) = (key.clone(), key.clone(), key);
                let (refundable, authorized) = (d.refundable.show(&locale), d.amount.show(&locale));
                let confirmation = match (p.can.operate, confirm.as_deref()) {
                    (true, Some("refund")) if d.can_refund => Some(view! {
                        <section class="panel confirm" aria-labelledby="confirm-title">
                            <h2 id="confirm-title">{format!("Refund {}?", shown(&typed))}</h2>
                            <p>"The money goes back to the customer. This cannot be undone."</p>
                            <ActionForm action=refund>
                                <input type="hidden" name="id" value=refund_id/>
                                <input type="hidden" name="amount" value=typed.clone()/>
                                <input type="hidden" name="reason" value=reason.clone()/>
                                <input type="hidden" name="key" value=refund_key/>
                                <button type="submit" class="danger" disabled=move || refund.pending().get()>"Confirm refund"</button>
                                <A href=back.clone()>"Cancel"</A>
                            </ActionForm>
                            {outcome(refund.value(), "Refunded.")}
                        </section>
                    }.into_any()),
                    (true, Some("capture")) if d.can_capture => Some(view! {
                        <section class="panel confirm" aria-labelledby="confirm-title">
                            <h2 id="confirm-title">{format!("Capture {}?", shown(&typed))}</h2>
                            <p>"The customer is charged; what is not captured is released."</p>
                            <ActionForm action=capture>
                                <input type="hidden" name="id" value=capture_id/>
                                <input type="hidden" name="key" value=capture_key/>
                                <input type="hidden" name="amount" value=typed.clone()/>
                                <button type="submit" disabled=move || capture.pending().get()>"Confirm capture"</button>
                                <A href=back.clone()>"Cancel"</A>
                            </ActionForm>
                            {outcome(capture.value(), "Captured.")}
                        </section>
                    }.into_any()),
                    (true, Some("void")) if d.can_void => Some(view! {
                        <section class="panel confirm" aria-labelledby="confirm-title">
                            <h2 id="confirm-title">"Void this authorization?"</h2>
                            <p>"The hold on the customer's money is released; it cannot be captured afterwards."</p>
                            <ActionForm action=void>
                                <input type="hidden" name="id" value=void_id/>
                                <input type="hidden" name="key" value=void_key/>
                                <button type="submit" class="danger" disabled=move || void.pending().get()>"Confirm void"</button>
                                <A href=back.clone()>"Cancel"</A>
                            </ActionForm>
                            {outcome(void.value(), "Voided.")}
                        </section>
                    }.into_any()),
                    _ => None,
                };
                // Plain GET forms: the confirmation is a page of its own (leptos_router's <Form>
                // lowercases its action, which would change the payment's id).
                let here = format!("/dashboard/payments/{}", d.id);
                let actions = (p.can.operate && confirmation.is_none()).then(|| view! {
                    <section class="actions" aria-label="Actions">
                        {d.can_refund.then(|| view! {
                            <form method="get" action=here.clone()>
                                <input type="hidden" name="confirm" value="refund"/>
                                <input type="hidden" name="key" value=d.move_key.clone()/>
                                <fieldset class="panel">
                                    <legend>"Refund"</legend>
                                    <label for="refund-amount">{format!("Amount (up to {refundable})")}</label>
                                    <input id="refund-amount" name="amount" inputmode="decimal" placeholder="All that is left"/>
                                    <label for="refund-reason">"Reason"</label>
                                    <input id="refund-reason" name="reason" maxlength="500"/>
                                    <button type="submit">"Refund"</button>
                                </fieldset>
                            </form>
                        })}
                        {d.can_capture.then(|| view! {
                            <form method="get" action=here.clone()>
                                <input type="hidden" name="confirm" value="capture"/>
                                <input type="hidden" name="key" value=d.move_key.clone()/>
                                <fieldset class="panel">
                                    <legend>"Capture"</legend>
                                    <label for="capture-amount">{format!("Amount (up to {authorized})")}</label>
                                    <input id="capture-amount" name="amount" inputmode="decimal" placeholder="The whole amount"/>
                                    <button type="submit">"Capture"</button>
                                </fieldset>
                            </form>
                        })}
                        {d.can_void.then(|| view! {
                            <form method="get" action=here.clone()>
                                <input type="hidden" name="confirm" value="void"/>
                                <input type="hidden" name="key" value=d.move_key.clone()/>
                                <button type="submit" class="secondary">"Void"</button>
                            </form>
                        })}
                    </section>
                });
                view! {
                    <h1>{format!("{} payment", d.amount.show(&locale))}</h1>
                    <p>"Status: "<span class="status" id="payment-status">{d.status.clone()}</span></p>
                    {d.capture_by.clone().map(|by| view! {
                        <p id="capture-by">{format!("Capture by {by}: an authorization left uncaptured then is voided.")}</p>
                    })}
                    {confirmation}
                    {actions}
                    <dl class="panel details">
                        <dt>"Payment"</dt><dd><code>{d.id.clone()}</code></dd>
                        <dt>"Amount"</dt><dd>{d.amount.show(&locale)}</dd>
                        <dt>"Fee"</dt><dd>{d.fee.show(&locale)}</dd>
                        <dt>"Total"</dt><dd>{d.total.show(&locale)}</dd>
                        <dt>"Captured"</dt><dd>{d.captured.show(&locale)}</dd>
                        <dt>"Refunded"</dt><dd id="payment-refunded">{d.refunded.show(&locale)}</dd>
                        <dt>"Method"</dt><dd>{d.method.clone()}</dd>
                        <dt>"Reference"</dt><dd>{d.reference.clone().unwrap_or_else(|| "—".into())}</dd>
                        <dt>"Description"</dt><dd>{d.description.clone().unwrap_or_else(|| "—".into())}</dd>
                        <dt>"Customer"</dt><dd>{d.customer_id.clone().unwrap_or_else(|| "—".into())}</dd>
                        <dt>"Checkout session"</dt><dd>{d.session_id.clone().unwrap_or_else(|| "—".into())}</dd>
                        {d.decline_code.clone().map(|c| view! { <dt>"Decline code"</dt><dd>{c}</dd> })}
                        <dt>"Created"</dt><dd>{d.created_at.clone()}</dd>
                    </dl>
                    <section>
                        <h2>"Ledger"</h2>
                        <ol class="timeline" id="ledger">
                            {d.ledger.iter().map(|e| view! {
                                <li><strong>{e.kind.clone()}</strong>" "{e.amount.show(&locale)}<span class="small">" · "{e.at.clone()}</span></li>
                            }).collect_view()}
                        </ol>
                    </section>
                    {(!d.refunds.is_empty()).then(|| view! {
                        <section>
                            <h2>"Refunds"</h2>
                            <ul class="plain">
                                {d.refunds.iter().map(|r| view! {
                                    <li>{r.amount.show(&locale)}" · "{r.status.clone()}" · "{r.reason.clone().unwrap_or_default()}<span class="small">" · "{r.created_at.clone()}</span></li>
                                }).collect_view()}
                            </ul>
                        </section>
                    })}
                    {d.more.then(|| view! {
                        <p class="small" id="more-entries">{format!("The first 100 entries are shown; GET /api/payments/{}/transactions and /refunds list them all.", d.id)}</p>
                    })}
                    {d.consent.clone().map(|c| view! {
                        <details class="panel"><summary>"Consent record"</summary><pre>{c}</pre></details>
                    })}
                }
                .into_any()
            })}}
        </Transition>
    }
}

#[component]
pub fn Sessions() -> impl IntoView {
    let query = use_query_map();
    let page = move || query.read().get("page").and_then(|p| p.parse().ok()).unwrap_or(0u32);
    let expire = ServerAction::<ExpireSession>::new();
    let create = ServerAction::<CreatePaymentLink>::new();
    let data =
        Resource::new(move || (page(), expire.version().get(), create.version().get()), |(p, _, _)| list_sessions(p));
    view! {
        <h1>"Checkout sessions"</h1>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                let (p, d) = match with_profile(data).await {
                    Ok(both) => both,
                    Err(e) => return failed(e),
                };
                let locale = p.locale.clone();
                let currency = p.account.as_ref().map(|a| a.currency.clone()).unwrap_or_default();
                let account = shown_account(&p);
                let new_link = p.can.operate.then(|| view! {
                    <details class="panel" open=move || create.value().get().is_some()>
                        <summary>"New payment link"</summary>
                        <ActionForm action=create attr:class="demo-form">
                            <input type="hidden" name="account" value=account.clone()/>
                            <label for="link-amount">{format!("Amount ({currency})")}</label>
                            <input id="link-amount" name="link[amount]" inputmode="decimal" required=""/>
                            <label for="link-description">"Description"</label>
                            <input id="link-description" name="link[description]" maxlength="500"/>
                            <label for="link-reference">"Reference"</label>
                            <input id="link-reference" name="link[reference]" maxlength="200"/>
                            <label for="link-success">"Success URL"</label>
                            <input id="link-success" name="link[success_url]" type="url" required=""/>
                            <label for="link-cancel">"Cancel URL"</label>
                            <input id="link-cancel" name="link[cancel_url]" type="url" required=""/>
                            <button type="submit" disabled=move || create.pending().get()>"Create payment link"</button>
                        </ActionForm>
                        {move || match create.value().get() {
                            Some(Ok(link)) => view! {
                                <LinkToCopy url=link.hosted_url note=" — send it to your customer." id="payment-link"/>
                            }.into_any(),
                            Some(Err(e)) => failed(e),
                            None => ().into_any(),
                        }}
                    </details>
                });
                let rows = d.rows.clone();
                let table = if rows.is_empty() {
                    view! { <p class="empty">"No checkout sessions yet."</p> }.into_any()
                } else {
                    view! {
                        <div class="table-wrap">
                            <table class="data">
                                <thead><tr><th scope="col">"Amount"</th><th scope="col">"Status"</th><th scope="col">"Reference"</th><th scope="col">"Created"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|s| {
                                        let (href, amount) = (format!("/dashboard/sessions/{}", s.id), s.amount.show(&locale));
                                        let expire_form = (p.can.operate && s.can_expire).then(|| view! {
                                            <ActionForm action=expire>
                                                <input type="hidden" name="id" value=s.id.clone()/>
                                                <button type="submit" class="secondary small-button" aria-label=format!("Expire {}", s.id)>"Expire"</button>
                                            </ActionForm>
                                        });
                                        let payment = s.payment_id.clone().map(|pid| view! { <A href=format!("/dashboard/payments/{pid}")>"Payment"</A> });
                                        view! {
                                            <tr>
                                                <td><A href=href>{amount}</A></td>
                                                <td><span class="status">{s.status.clone()}</span></td>
                                                <td>{s.reference.clone().unwrap_or_default()}</td>
                                                <td>{s.created_at.clone()}</td>
                                                <td>{expire_form}{payment}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                    }.into_any()
                };
                let prev = (d.page > 0).then(|| format!("?page={}", d.page - 1));
                let next = d.has_more.then(|| format!("?page={}", d.page + 1));
                view! {
                    {new_link}
                    {move || expire.value().get().and_then(|r| r.err()).map(|e| view! { <p class="error" role="alert">{message(&e)}</p> })}
                    {table}
                    <Pager prev next/>
                }
                .into_any()
            })}
        </Transition>
    }
}

/// A session's hosted link, to copy and send.
#[component]
fn LinkToCopy(url: String, note: &'static str, #[prop(optional)] id: Option<&'static str>) -> impl IntoView {
    view! {
        <div class="panel secret">
            <p><strong>"Payment link"</strong>{note}</p>
            <code class="secret-value" id=id>{url.clone()}</code>
            <super::CopyButton text=url label="Copy link"/>
        </div>
    }
}

#[component]
pub fn SessionPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let expire = ServerAction::<ExpireSession>::new();
    let data = Resource::new(move || (id(), expire.version().get()), |(id, _)| load_session(id));
    view! {
        <p><A href="/dashboard/sessions">"← Checkout sessions"</A></p>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                let (p, d) = match with_profile(data).await {
                    Ok(both) => both,
                    Err(e) => return failed(e),
                };
                let locale = p.locale.clone();
                let s = d.row.clone();
                let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
                let shown = |m: &Option<Money>| m.as_ref().map(|m| m.show(&locale)).unwrap_or_else(|| "—".into());
                let expire_id = s.id.clone();
                let expire_form = (p.can.operate && s.can_expire).then(|| view! {
                    <ActionForm action=expire>
                        <input type="hidden" name="id" value=expire_id/>
                        <button type="submit" class="secondary" disabled=move || expire.pending().get()>"Expire"</button>
                    </ActionForm>
                });
                let link = s.hosted_url.clone().map(|url| view! {
                    <LinkToCopy url note=" — open until the session expires."/>
                });
                let items = (!d.line_items.is_empty()).then(|| view! {
                    <section>
                        <h2>"Line items"</h2>
                        <ul class="plain">
                            {d.line_items.iter().map(|l| view! {
                                <li>{format!("{} × {}", l.quantity, l.name)}" · "{l.amount.show(&locale)}</li>
                            }).collect_view()}
                        </ul>
                    </section>
                });
                view! {
                    <h1>{format!("{} checkout session", s.amount.show(&locale))}</h1>
                    <p>"Status: "<span class="status" id="session-status">{s.status.clone()}</span></p>
                    {outcome(expire.value(), "Expired.")}
                    {expire_form}
                    {link}
                    <dl class="panel details">
                        <dt>"Session"</dt><dd><code>{s.id.clone()}</code></dd>
                        <dt>"Amount"</dt><dd>{s.amount.show(&locale)}</dd>
                        <dt>"Fee"</dt><dd>{shown(&d.fee)}</dd>
                        <dt>"Total"</dt><dd>{shown(&d.total)}</dd>
                        <dt>"Reference"</dt><dd>{dash(&s.reference)}</dd>
                        <dt>"Description"</dt><dd>{dash(&s.description)}</dd>
                        <dt>"Customer"</dt><dd>{dash(&d.customer_id)}</dd>
                        <dt>"Customer email"</dt><dd>{dash(&d.customer_email)}</dd>
                        <dt>"Methods"</dt><dd>{d.methods.clone()}</dd>
                        <dt>"Payment"</dt><dd>{s.payment_id.clone().map(|pid| view! { <A href=format!("/dashboard/payments/{pid}")>{pid.clone()}</A> })}</dd>
                        <dt>"Success URL"</dt><dd class="wrap">{d.success_url.clone()}</dd>
                        <dt>"Cancel URL"</dt><dd class="wrap">{d.cancel_url.clone()}</dd>
                        <dt>"Created"</dt><dd>{s.created_at.clone()}</dd>
                        <dt>"Expires"</dt><dd>{d.expires_at.clone()}</dd>
                        {d.completed_at.clone().map(|c| view! { <dt>"Completed"</dt><dd>{c}</dd> })}
                    </dl>
                    {items}
                }
                .into_any()
            })}
        </Transition>
    }
}

//! Customers: the list (searchable), a customer's page with their saved methods (remove one,
//! after a confirmation) and their latest payments.

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

use super::api::*;
use super::payments::{PaymentTable, enc};
use super::{Pager, failed, loading, outcome, with_profile};

#[component]
pub fn Customers() -> impl IntoView {
    let query = use_query_map();
    let search = move || query.read().get("q").unwrap_or_default();
    let page = move || query.read().get("page").and_then(|p| p.parse().ok()).unwrap_or(0u32);
    let data = Resource::new(move || (search(), page()), |(q, p)| list_customers(q, p));
    view! {
        <h1>"Customers"</h1>
        <form method="get" action="/dashboard/customers" role="search">
            <div class="filters">
                <label>"Name, email or reference"<input name="q" type="search" prop:value=search/></label>
                <button type="submit">"Search"</button>
            </div>
        </form>
        <Transition fallback=loading>
            {move || {
                let q = search();
                Suspend::new(async move {
                    let (_, d) = match with_profile(data).await {
                        Ok(both) => both,
                        Err(e) => return failed(e),
                    };
                    if d.rows.is_empty() {
                        let empty = if q.is_empty() { "No customers yet." } else { "No customer matches." };
                        return view! { <p class="empty">{empty}</p> }.into_any();
                    }
                    let link = move |page: u32| format!("?q={}&page={page}", enc(&q));
                    let prev = (d.page > 0).then(|| link(d.page - 1));
                    let next = d.has_more.then(|| link(d.page + 1));
                    view! {
                        <p class="small" role="status">{format!("{} customers", d.total)}</p>
                        <div class="table-wrap">
                            <table class="data" id="customers">
                                <thead><tr><th scope="col">"Name"</th><th scope="col">"Email"</th><th scope="col">"Reference"</th><th scope="col">"Created"</th></tr></thead>
                                <tbody>
                                    {d.rows.iter().map(|c| {
                                        let name = c.name.clone().or_else(|| c.email.clone()).unwrap_or_else(|| c.id.clone());
                                        view! {
                                            <tr>
                                                <td><A href=format!("/dashboard/customers/{}", c.id)>{name}</A></td>
                                                <td>{c.email.clone().unwrap_or_default()}</td>
                                                <td>{c.reference.clone().unwrap_or_default()}</td>
                                                <td>{c.created_at.clone()}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </div>
                        <Pager prev next current=format!("Page {}", u64::from(d.page) + 1)/>
                    }
                    .into_any()
                })
            }}
        </Transition>
    }
}

#[component]
pub fn CustomerPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.read().get("id").unwrap_or_default();
    let remove = ServerAction::<RemoveSavedMethod>::new();
    let data = Resource::new(move || (id(), remove.version().get()), |(id, _)| load_customer(id));
    view! {
        <p><A href="/dashboard/customers">"← Customers"</A></p>
        <Transition fallback=loading>
            {move || {
                // Read outside the async block, so that a new address re-renders the page.
                let confirm = query.read().get("remove");
                Suspend::new(async move {
                    let (p, c) = match with_profile(data).await {
                        Ok(both) => both,
                        Err(e) => return failed(e),
                    };
                    let here = format!("/dashboard/customers/{}", c.id);
                    let asked = confirm.and_then(|pm| c.methods.iter().find(|m| m.id == pm).cloned());
                    let (customer_id, back) = (c.id.clone(), here.clone());
                    let confirmation = asked.filter(|_| p.can.operate).map(|m| view! {
                        <section class="panel confirm" aria-labelledby="confirm-title">
                            <h2 id="confirm-title">{format!("Remove {}?", m.method)}</h2>
                            <p>"The customer will have to enter it again to pay with it; autopay with it stops."</p>
                            <ActionForm action=remove>
                                <input type="hidden" name="customer_id" value=customer_id/>
                                <input type="hidden" name="id" value=m.id/>
                                <button type="submit" class="danger" disabled=move || remove.pending().get()>"Confirm removal"</button>
                                <A href=back>"Cancel"</A>
                            </ActionForm>
                        </section>
                    });
                    let title = c.name.clone().or_else(|| c.email.clone()).unwrap_or_else(|| c.id.clone());
                    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
                    let methods = if c.methods.is_empty() {
                        view! { <p class="empty">"No saved methods."</p> }.into_any()
                    } else {
                        view! {
                            <ul class="plain methods" id="saved-methods">
                                {c.methods.iter().map(|m| {
                                    let expires = m.expires.clone().map(|e| format!(" · expires {e}"));
                                    let usage = if m.usage == "off_session" { " · autopay" } else { "" };
                                    let action = here.clone();
                                    let form = p.can.operate.then(|| view! {
                                        <form method="get" action=action class="inline-form">
                                            <input type="hidden" name="remove" value=m.id.clone()/>
                                            <button type="submit" class="secondary small-button" aria-label=format!("Remove {}", m.method)>"Remove"</button>
                                        </form>
                                    });
                                    view! { <li><strong>{m.method.clone()}</strong>{expires}{usage}" "{form}</li> }
                                }).collect_view()}
                            </ul>
                        }
                        .into_any()
                    };
                    view! {
                        <h1>{title}</h1>
                        {outcome(remove.value(), "Removed.")}
                        {confirmation}
                        <dl class="panel details">
                            <dt>"Customer"</dt><dd><code>{c.id.clone()}</code></dd>
                            <dt>"Name"</dt><dd>{dash(&c.name)}</dd>
                            <dt>"Email"</dt><dd>{dash(&c.email)}</dd>
                            <dt>"Phone"</dt><dd>{dash(&c.phone)}</dd>
                            <dt>"Reference"</dt><dd>{dash(&c.reference)}</dd>
                            <dt>"Created"</dt><dd>{c.created_at.clone()}</dd>
                        </dl>
                        <section>
                            <h2>"Saved methods"</h2>
                            {methods}
                        </section>
                        <section>
                            <h2>"Latest payments"</h2>
                            <PaymentTable rows=c.payments.clone() locale=p.locale.clone()/>
                        </section>
                    }
                    .into_any()
                })
            }}
        </Transition>
    }
}

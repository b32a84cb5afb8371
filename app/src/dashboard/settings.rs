//! Settings: branding with a live preview of the checkout, the fee rules and their calculator,
//! allowed origins, rotating the redirect secret.

use leptos::prelude::*;

use super::api::*;
use super::{OneTime, failed, hydrated, loading, outcome, shown_account, with_profile};

#[component]
pub fn SettingsPage() -> impl IntoView {
    let branding = ServerAction::<SaveBranding>::new();
    let origins = ServerAction::<SaveOrigins>::new();
    let rotate = ServerAction::<RotateRedirectSecret>::new();
    let ready = hydrated();
    // Rotating breaks the merchant's redirect checks until they take the new secret: it asks
    // first, and the question closes once a rotation is answered.
    let confirming = RwSignal::new(false);
    Effect::new(move |_| {
        if rotate.version().get() > 0 {
            confirming.set(false);
        }
    });
    let quote = ServerAction::<QuoteFee>::new();
    let fee_rules = ServerAction::<SaveFeeRules>::new();
    let data = Resource::new(
        move || (branding.version().get(), origins.version().get(), fee_rules.version().get()),
        |_| load_settings(),
    );
    view! {
        <h1>"Settings"</h1>
        <Transition fallback=loading>
            {move || Suspend::new(async move {
                let (p, s) = match with_profile(data).await {
                    Ok(both) => both,
                    Err(e) => return failed(e),
                };
                let locale = p.locale.clone();
                let editable = p.can.settings;
                // One copy per form: each form's children are a closure that keeps its own.
                let (for_branding, for_origins, for_rotate) = (shown_account(&p), shown_account(&p), shown_account(&p));
                let for_rules = shown_account(&p);
                let rules_locale = locale.clone();
                // The preview follows the form as it is typed.
                let name = RwSignal::new(if s.display_name.is_empty() { s.account_name.clone() } else { s.display_name.clone() });
                let color = RwSignal::new(if s.primary_color.is_empty() { "#1a5fb4".to_owned() } else { s.primary_color.clone() });
                let methods = s.methods.clone();
                view! {
                    <div class="side-by-side">
                        <section class="panel">
                            <h2>"Branding"</h2>
                            <ActionForm action=branding attr:class="demo-form">
                                <input type="hidden" name="account" value=for_branding.clone()/>
                                <label for="brand-name">"Name shown to customers"</label>
                                <input id="brand-name" name="display_name" maxlength="100" value=s.display_name.clone()
                                    on:input=move |ev| name.set(event_target_value(&ev)) disabled=!editable/>
                                <label for="brand-logo">"Logo URL (https)"</label>
                                <input id="brand-logo" name="logo_url" type="url" value=s.logo_url.clone() disabled=!editable/>
                                <label for="brand-color">"Colour"</label>
                                <input id="brand-color" name="primary_color" type="color" value=color.get_untracked()
                                    on:input=move |ev| color.set(event_target_value(&ev)) disabled=!editable/>
                                {editable.then(|| view! { <button type="submit" disabled=move || branding.pending().get()>"Save branding"</button> })}
                            </ActionForm>
                            {outcome(branding.value(), "Saved: new checkouts show it.")}
                        </section>
                        <section class="panel" aria-labelledby="preview-title">
                            <h2 id="preview-title">"Checkout preview"</h2>
                            <svg class="preview" viewBox="0 0 320 200" role="img" aria-labelledby="preview-title preview-desc">
                                <desc id="preview-desc">{move || format!("The checkout as customers see it: {} on the header and the Pay button in {}.", name.get(), color.get())}</desc>
                                <rect x="0" y="0" width="320" height="200" rx="10" fill="#ffffff" stroke="#d0d7de"/>
                                <text x="20" y="34" font-size="16" font-weight="700" fill="#1b1f24" id="preview-name">{move || name.get()}</text>
                                <rect x="20" y="56" width="280" height="30" rx="6" fill="#ffffff" stroke="#8a939e"/>
                                <rect x="20" y="96" width="135" height="30" rx="6" fill="#ffffff" stroke="#8a939e"/>
                                <rect x="165" y="96" width="135" height="30" rx="6" fill="#ffffff" stroke="#8a939e"/>
                                <rect x="20" y="144" width="280" height="36" rx="8" fill=move || color.get() id="preview-pay"/>
                                <text x="160" y="167" font-size="14" font-weight="700" fill="#ffffff" text-anchor="middle">"Pay"</text>
                            </svg>
                        </section>
                    </div>
                    <section class="panel" aria-labelledby="fee-rules-title">
                        <h2 id="fee-rules-title">"Fee rules"</h2>
                        <p class="small">"The first rule that matches a payment sets its fee: a percentage of the amount plus a fixed part, kept between the minimum and the maximum. No matching rule: no fee."</p>
                        <FeeRules rules=s.fee_rules.clone() locale=rules_locale editable account=for_rules action=fee_rules/>
                        {outcome(fee_rules.value(), "Saved: new quotes use these rules.")}
                    </section>
                    <div class="side-by-side">
                        <section class="panel">
                            <h2>"Fee calculator"</h2>
                            <ActionForm action=quote attr:class="demo-form">
                                <label for="fee-amount">{format!("Amount ({})", s.currency)}</label>
                                <input id="fee-amount" name="amount" inputmode="decimal" required=""/>
                                <label for="fee-method">"Method"</label>
                                <select id="fee-method" name="method">
                                    {methods.into_iter().map(|m| view! { <option value=m.clone()>{m.clone()}</option> }).collect_view()}
                                </select>
                                <label for="fee-funding">"Card funding (cards only)"</label>
                                <select id="fee-funding" name="funding">
                                    <option value="">"Not known"</option>
                                    <option value="credit">"Credit"</option>
                                    <option value="debit">"Debit"</option>
                                    <option value="prepaid">"Prepaid"</option>
                                </select>
                                <button type="submit">"Calculate"</button>
                            </ActionForm>
                            {move || match quote.value().get() {
                                Some(Ok(q)) => view! {
                                    <p role="status" id="fee-result">{format!("Fee {} · total {}", q.fee.show(&locale), q.total.show(&locale))}</p>
                                    <p class="small">{q.disclosure}</p>
                                }.into_any(),
                                Some(Err(e)) => failed(e),
                                None => ().into_any(),
                            }}
                        </section>
                        <section class="panel">
                            <h2>"Allowed origins"</h2>
                            <ActionForm action=origins attr:class="demo-form">
                                <input type="hidden" name="account" value=for_origins.clone()/>
                                <label for="origins">"Sites that may embed the checkout (one per line)"</label>
                                <textarea id="origins" name="allowed_origins" rows="4" disabled=!editable>{s.allowed_origins.clone()}</textarea>
                                {editable.then(|| view! { <button type="submit">"Save origins"</button> })}
                            </ActionForm>
                            {outcome(origins.value(), "Saved.")}
                            {editable.then(|| view! {
                                <h2>"Redirect secret"</h2>
                                <p class="small">"Signs the customer's return to your success URL. Rotating it makes the old one stop working at once."</p>
                                <button type="button" class="secondary" hidden=move || confirming.get()
                                    disabled=move || !ready.get() on:click=move |_| confirming.set(true)>"Rotate redirect secret"</button>
                                <div class="panel confirm" role="group" aria-labelledby="rotate-title" hidden=move || !confirming.get()>
                                    <p id="rotate-title"><strong>"Rotate the redirect secret?"</strong></p>
                                    <p class="small">"Success pages that check the old secret refuse every return until they use the new one."</p>
                                    <ActionForm action=rotate>
                                        <input type="hidden" name="account" value=for_rotate.clone()/>
                                        <button type="submit" class="danger" disabled=move || !ready.get() || rotate.pending().get()>"Confirm rotation"</button>
                                        <button type="button" class="secondary" on:click=move |_| confirming.set(false)>"Cancel"</button>
                                    </ActionForm>
                                </div>
                                {move || match rotate.value().get() {
                                    Some(Ok(s)) => view! { <OneTime title="The new redirect secret" secret=s.secret/> }.into_any(),
                                    Some(Err(e)) => failed(e),
                                    None => ().into_any(),
                                }}
                            })}
                        </section>
                    </div>
                }
                .into_any()
            })}
        </Transition>
    }
}

/// The fee rules: a table to read, or for those who change settings a form of the same table
/// (each rule's fields, its place and a box to remove it), with one empty row to add a rule
/// (more with "Add a row").
#[component]
fn FeeRules(
    rules: Vec<FeeRuleRow>,
    locale: String,
    editable: bool,
    account: String,
    action: ServerAction<SaveFeeRules>,
) -> impl IntoView {
    let percent = |bps: i64, locale: &str| format!("{} %", crate::money::format_percent(bps, locale));
    if !editable {
        if rules.is_empty() {
            return view! { <p id="fee-rules">"No fee rules: payments carry no fee."</p> }.into_any();
        }
        let shown = |m: &Option<Money>, locale: &str| m.as_ref().map(|m| m.show(locale)).unwrap_or_else(|| "—".into());
        return view! {
            <div class="table-wrap">
                <table class="data" id="fee-rules">
                    <thead><tr><th scope="col">"#"</th><th scope="col">"Method"</th><th scope="col">"Card funding"</th><th scope="col">"Percent"</th><th scope="col">"Fixed"</th><th scope="col">"Minimum"</th><th scope="col">"Maximum"</th></tr></thead>
                    <tbody>
                        {rules.iter().enumerate().map(|(i, r)| view! {
                            <tr>
                                <td>{i + 1}</td>
                                <td>{r.method.clone()}</td>
                                <td>{if r.funding.is_empty() { "any".to_owned() } else { r.funding.clone() }}</td>
                                <td>{percent(r.percent_bps, &locale)}</td>
                                <td>{r.fixed.show(&locale)}</td>
                                <td>{shown(&r.min, &locale)}</td>
                                <td>{shown(&r.max, &locale)}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
        .into_any();
    }
    let ready = hydrated();
    let existing = rules.len();
    let added = RwSignal::new(1usize);
    let blank_locale = locale.clone();
    view! {
        <ActionForm action=action attr:class="fee-rules-form">
            <input type="hidden" name="account" value=account/>
            <div class="table-wrap">
                <table class="data" id="fee-rules">
                    <thead><tr><th scope="col">"Order"</th><th scope="col">"Method"</th><th scope="col">"Card funding"</th><th scope="col">"Percent"</th><th scope="col">"Fixed"</th><th scope="col">"Minimum"</th><th scope="col">"Maximum"</th><th scope="col">"Remove"</th></tr></thead>
                    <tbody>
                        {rules.into_iter().enumerate().map(|(i, r)| view! { <RuleRow index=i rule=Some(r) locale=locale.clone()/> }).collect_view()}
                        <For each=move || 0..added.get() key=|k| *k
                            children=move |k| view! { <RuleRow index=existing + k rule=None locale=blank_locale.clone()/> }/>
                    </tbody>
                </table>
            </div>
            <div class="row">
                <button type="button" class="secondary" disabled=move || !ready.get() on:click=move |_| added.update(|n| *n += 1)>"Add a row"</button>
                <button type="submit" disabled=move || action.pending().get()>"Save fee rules"</button>
            </div>
        </ActionForm>
    }
    .into_any()
}

/// One row of the fee rules form (`rules[i][…]`); `None` is an empty row for a new rule.
#[component]
fn RuleRow(index: usize, rule: Option<FeeRuleRow>, locale: String) -> impl IntoView {
    let n = index + 1;
    let name = move |field: &str| format!("rules[{index}][{field}]");
    let label = move |what: &str| format!("Rule {n}: {what}");
    let (method, funding) = rule.as_ref().map(|r| (r.method.clone(), r.funding.clone())).unwrap_or_default();
    let percent = rule.as_ref().map(|r| crate::money::format_percent(r.percent_bps, &locale)).unwrap_or_default();
    let fixed = rule.as_ref().map(|r| r.fixed.units(&locale)).unwrap_or_default();
    let min = rule.as_ref().and_then(|r| r.min.as_ref()).map(|m| m.units(&locale)).unwrap_or_default();
    let max = rule.as_ref().and_then(|r| r.max.as_ref()).map(|m| m.units(&locale)).unwrap_or_default();
    let is_new = rule.is_none();
    view! {
        <tr>
            <td><input name=name("order") class="narrow" inputmode="numeric" value=n.to_string() aria-label=label("order")/></td>
            <td>
                <select name=name("method") aria-label=label("method")>
                    {is_new.then(|| view! { <option value="" selected=true>"(new rule)"</option> })}
                    {FEE_METHODS.iter().map(|m| view! { <option value=*m selected=*m == method>{*m}</option> }).collect_view()}
                </select>
            </td>
            <td>
                <select name=name("funding") aria-label=label("card funding")>
                    <option value="" selected=funding.is_empty()>"any"</option>
                    {["credit", "debit", "prepaid"].into_iter().map(|f| view! { <option value=f selected=f == funding>{f}</option> }).collect_view()}
                </select>
            </td>
            <td><input name=name("percent") class="narrow" inputmode="decimal" value=percent aria-label=label("percent")/></td>
            <td><input name=name("fixed") class="narrow" inputmode="decimal" value=fixed aria-label=label("fixed amount")/></td>
            <td><input name=name("min") class="narrow" inputmode="decimal" value=min aria-label=label("minimum fee")/></td>
            <td><input name=name("max") class="narrow" inputmode="decimal" value=max aria-label=label("maximum fee")/></td>
            <td>{(!is_new).then(|| view! { <input type="checkbox" name=name("remove") value="yes" aria-label=label("remove")/> })}</td>
        </tr>
    }
}

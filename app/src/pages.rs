//! The pages around `<govifi-payment>` — hosted checkout, embed, wallet, the sandbox demo and
//! its receipt — as Leptos components, rendered on the server by `leptos_axum`. Every value is
//! interpolated by `view!`, so it is escaped by construction. No page has inline script (their
//! CSP forbids it); the element and the demo's script are modules served by the server.

use leptos::prelude::*;

/// Where the server serves the pages' assets (content-hashed names).
#[derive(Debug, Clone, PartialEq)]
pub struct Assets {
    pub stylesheet: String,
    pub favicon: String,
    /// The element's loader, `/sdk/govifi-payment.js`.
    pub element: String,
    /// The demo's merchant-side script.
    pub demo_script: String,
}

/// The shell of every page: a whole document.
#[component]
pub fn Document(
    assets: Assets,
    lang: String,
    title: String,
    body_class: &'static str,
    scripts: Vec<String>,
    children: Children,
) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang=lang>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <title>{title}</title>
                <link rel="icon" href=assets.favicon type="image/svg+xml"/>
                <link rel="stylesheet" href=assets.stylesheet/>
                {scripts.into_iter().map(|src| view! { <script type="module" src=src></script> }).collect_view()}
            </head>
            <body class=body_class>{children()}</body>
        </html>
    }
}

/// The hosted checkout (`GET /{session_id}`, credential in `#cs=`) and the wallet
/// (`GET /wallet/{id}`, credential in `#ws=`): the element alone on a page.
#[component]
pub fn ElementPage(assets: Assets, lang: String, title: String) -> impl IntoView {
    let scripts = vec![assets.element.clone()];
    view! {
        <Document assets lang title=title.clone() body_class="checkout-page" scripts>
            <main class="narrow">
                <h1 class="visually-hidden">{title}</h1>
                <govifi-payment></govifi-payment>
            </main>
        </Document>
    }
}

/// `GET /embed/{session_id}`: made to be framed by the account's allowed origins.
#[component]
pub fn EmbedPage(
    assets: Assets,
    lang: String,
    merchant: String,
    session_id: String,
    parent_origins: String,
) -> impl IntoView {
    let scripts = vec![assets.element.clone()];
    view! {
        <Document assets lang title=merchant.clone() body_class="embed-page" scripts>
            <main class="embed">
                <h1 class="visually-hidden">{merchant}</h1>
                <govifi-payment session-id=session_id data-parent-origins=parent_origins></govifi-payment>
            </main>
        </Document>
    }
}

/// The hosted checkout of a session that is over (paid, or expired): said by the server, so it
/// needs no credential — the page after a refresh, or Back from the merchant's success page,
/// whose address no longer holds `#cs=`. An expired one links back to the merchant.
#[component]
pub fn SessionEndedPage(
    assets: Assets,
    lang: String,
    title: String,
    paid: bool,
    back: Option<String>,
) -> impl IntoView {
    use crate::i18n::{Lang, msg, t};
    let l = Lang::parse(&lang);
    let (heading, body) =
        if paid { (msg::paid_title, msg::paid_body) } else { (msg::expired_title, msg::expired_body) };
    view! {
        <Document assets lang title body_class="checkout-page" scripts=vec![]>
            <main class="narrow">
                <section class="ended">
                    <h1>{t(l, heading)}</h1>
                    <p>{t(l, body)}</p>
                    {back.map(|href| view! { <a class="button" href=href>{t(l, msg::return_to_merchant)}</a> })}
                </section>
            </main>
        </Document>
    }
}

#[component]
pub fn NotFoundPage(assets: Assets) -> impl IntoView {
    view! {
        <Document assets lang="en".into() title="Checkout not found".into() body_class="checkout-page" scripts=vec![]>
            <main class="narrow">
                <h1>"Checkout not found"</h1>
                <p>"This checkout link is not valid. Return to the merchant and start again."</p>
            </main>
        </Document>
    }
}

/// The two sessions the demo made: one to pay on the hosted page, one for the element.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoSessions {
    pub hosted_id: String,
    pub hosted_url: String,
    pub embedded_id: String,
    pub embedded_secret: String,
}

fn demo_scripts(assets: &Assets) -> Vec<String> {
    vec![assets.element.clone(), assets.demo_script.clone()]
}

/// `GET /demo`: the merchant's side of a checkout, played by the server in sandbox mode. The
/// form posts to the server function (`action`) that creates the sessions; it comes back here
/// with them (or with the error to show).
#[component]
pub fn DemoPage(
    assets: Assets,
    action: String,
    error: Option<String>,
    sessions: Option<DemoSessions>,
) -> impl IntoView {
    let scripts = demo_scripts(&assets);
    let body = match sessions {
        Some(s) => view! {
            <div class="side-by-side">
                <section class="panel">
                    <h2>"Hosted page"</h2>
                    <p>"The customer is sent to Govifi's page and comes back to the receipt with a signed redirect."</p>
                    <p><a class="button" id="hosted-link" href=s.hosted_url>"Pay on the hosted page"</a></p>
                    <p class="small">"Session "<code>{s.hosted_id}</code></p>
                </section>
                <section class="panel">
                    <h2>"Embedded element"</h2>
                    <govifi-payment id="embedded" session-id=s.embedded_id client-secret=s.embedded_secret></govifi-payment>
                    <p id="demo-events" class="small" role="status"></p>
                </section>
            </div>
            <p><a href="/demo">"Start again"</a></p>
        }
        .into_any(),
        None => view! {
            <p class="lede">
                "This page plays a merchant. It creates checkout sessions server-side, then offers the hosted page \
                 and the embedded "<code>"<govifi-payment>"</code>" element side by side. Test cards: 4242 4242 4242 \
                 4242 (approved), 4000 0000 0000 0002 (declined)."
            </p>
            <DemoForm action error/>
        }
        .into_any(),
    };
    view! {
        <Document assets lang="en".into() title="Govifi sandbox demo".into() body_class="demo-page" scripts>
            <main>
                <h1>"Govifi sandbox"</h1>
                {body}
            </main>
        </Document>
    }
}

#[component]
fn DemoForm(action: String, error: Option<String>) -> impl IntoView {
    view! {
        <form class="panel demo-form" method="post" action=action>
            <h2>"New checkout"</h2>
            {error.map(|e| view! { <p class="error" role="alert">{e}</p> })}
            <label for="amount">"Amount (minor units: 14227 is $142.27)"</label>
            <input id="amount" name="amount" inputmode="numeric" value="14227"/>
            <label for="description">"Description"</label>
            <input id="description" name="description" value="Utility bill — account #4471"/>
            <label for="email">"Customer email"</label>
            <input id="email" name="email" type="email" value="alex@example.com"/>
            <label for="locale">"Language"</label>
            <select id="locale" name="locale">
                <option value="en">"English"</option>
                <option value="es">"Español"</option>
            </select>
            <label for="risk">"Risk"</label>
            <select id="risk" name="risk">
                <option value="low">"Low"</option>
                <option value="high">"High (verification code)"</option>
            </select>
            <label for="save">"Saving the method"</label>
            <select id="save" name="save">
                <option value="off">"Off"</option>
                <option value="on_session">"Offer to save"</option>
                <option value="off_session">"Autopay (off session)"</option>
            </select>
            <button type="submit">"Create checkout"</button>
        </form>
    }
}

/// `GET /demo/receipt`: where the success redirect lands; says whether its signature holds.
#[component]
pub fn ReceiptPage(assets: Assets, valid: bool, session_id: String, payment_id: String) -> impl IntoView {
    let scripts = demo_scripts(&assets);
    let verdict = if valid {
        view! { <p class="ok" id="signature" role="status">"Signature verified: this redirect came from Govifi."</p> }
            .into_any()
    } else {
        view! { <p class="error" id="signature" role="alert">"Signature NOT valid: do not trust this redirect."</p> }
            .into_any()
    };
    view! {
        <Document assets lang="en".into() title="Govifi sandbox demo".into() body_class="demo-page" scripts>
            <main>
                <h1>"Receipt"</h1>
                {verdict}
                <dl class="panel">
                    <dt>"Session"</dt>
                    <dd><code>{session_id}</code></dd>
                    <dt>"Payment"</dt>
                    <dd><code id="payment">{payment_id}</code></dd>
                </dl>
                <p>"Fulfil orders from the "<code>"checkout.session.completed"</code>" event, not from this redirect alone."</p>
                <p><a href="/demo">"New checkout"</a></p>
            </main>
        </Document>
    }
}

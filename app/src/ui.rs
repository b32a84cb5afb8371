//! The checkout's Leptos components (compiled for the browser only).

use leptos::prelude::*;

/// What the element was given by the page: from attributes or the `#cs=` fragment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Launch {
    pub session_id: Option<String>,
    pub client_secret: Option<String>,
}

/// The checkout inside the element's shadow root.
#[component]
pub fn Checkout(launch: Launch) -> impl IntoView {
    let status = match (&launch.session_id, &launch.client_secret) {
        (Some(id), Some(_)) => format!("Checkout session {id}"),
        (Some(id), None) => format!("Checkout session {id} has no credential"),
        (None, _) => "No checkout session was given".to_owned(),
    };
    view! {
        <section class="govifi-checkout" aria-label="Secure checkout">
            <p class="govifi-brand">"Secure checkout by Govifi"</p>
            <p class="govifi-status" role="status">{status}</p>
        </section>
    }
}

//! One concrete type for every reactive closure and every spawned future of the element.
//!
//! Each distinct closure is its own type, and Leptos's rendering and effect code is compiled
//! again for every one of them; the same goes for each async block handed to the spawner. That
//! repetition, not the element's own logic, was most of its size. Behind these aliases every
//! reactive text is the same type, every reactive flag the same type, and so on, so that code
//! exists once. Write them with the macros: `rx_text!(…)`, `rx_flag!(…)`, `rx_maybe!(…)`,
//! `rx_part!(…)`, `rx_memo!(…)` and `go!(async move {…})`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The reactive types the components use: Leptos's reactive graph (`leptos::prelude`'s signals,
/// memos, effects and owners), taken from its own crate.
pub mod prelude {
    pub use reactive_graph::computed::Memo;
    pub use reactive_graph::effect::{Effect, RenderEffect};
    pub use reactive_graph::graph::untrack;
    pub use reactive_graph::owner::{Owner, StoredValue};
    pub use reactive_graph::prelude::*;
    pub use reactive_graph::signal::RwSignal;
}

use prelude::*;

use super::dom::View;

/// A reactive text (a text node, an attribute's or a property's value).
pub type Text = Arc<dyn Fn() -> String + Send + Sync>;
/// A reactive boolean (an attribute's presence, a checkbox's state).
pub type Flag = Arc<dyn Fn() -> bool + Send + Sync>;
/// A reactive optional text (an attribute present only sometimes).
pub type MaybeText = Arc<dyn Fn() -> Option<String> + Send + Sync>;
/// A reactive piece of view.
pub type Part = Arc<dyn Fn() -> View + Send + Sync>;

/// A derived boolean, recomputed only when its inputs change (and only then re-rendering what
/// reads it).
pub fn memo_flag(f: Flag) -> Memo<bool> {
    Memo::new(move |_| f())
}

/// Keeps `value` (an effect, a listener, a timer) alive until the current reactive owner is
/// cleaned up: the part it belongs to is rebuilt, or the element goes away.
pub fn keep<T: 'static>(value: T) {
    let value = send_wrapper::SendWrapper::new(value);
    Owner::on_cleanup(move || drop(value));
}

pub type Task = Pin<Box<dyn Future<Output = ()>>>;

pub fn spawn(task: Task) {
    any_spawner::Executor::spawn_local(task);
}

/// Reactive text (anything `String::from` takes).
macro_rules! rx_text {
    ($($body:tt)*) => {{
        let text: $crate::ui::rx::Text =
            ::std::sync::Arc::new(move || ::std::string::String::from({ $($body)* }));
        text
    }};
}

/// A reactive boolean.
macro_rules! rx_flag {
    ($($body:tt)*) => {{
        let flag: $crate::ui::rx::Flag = ::std::sync::Arc::new(move || -> bool { $($body)* });
        flag
    }};
}

/// A reactive optional text.
macro_rules! rx_maybe {
    ($($body:tt)*) => {{
        let maybe: $crate::ui::rx::MaybeText =
            ::std::sync::Arc::new(move || -> ::std::option::Option<::std::string::String> { $($body)* });
        maybe
    }};
}

/// A reactive piece of view (each branch a `View`).
macro_rules! rx_part {
    ($($body:tt)*) => {{
        let part: $crate::ui::rx::Part =
            ::std::sync::Arc::new(move || -> $crate::ui::dom::View { $($body)* });
        part
    }};
}

/// A derived boolean memo.
macro_rules! rx_memo {
    ($($body:tt)*) => {
        $crate::ui::rx::memo_flag(::std::sync::Arc::new(move || -> bool { $($body)* }))
    };
}

/// Runs a future on the browser's event loop.
macro_rules! go {
    ($fut:expr) => {
        $crate::ui::rx::spawn(::std::boxed::Box::pin($fut))
    };
}

pub(crate) use {go, rx_flag, rx_maybe, rx_memo, rx_part, rx_text};

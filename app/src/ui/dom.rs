//! The element's markup, built with Leptos's type-erased views.
//!
//! `view!` gives every element a type of its own (its tag, its attributes, its children), and
//! Leptos compiles its rendering code once per type: for a checkout with a few hundred elements
//! that was most of the WASM. Here every element is one type — a tag name, a list of erased
//! attributes, a list of erased children — so that code is compiled once, and the element stays
//! within its size budget. It reads like Leptos's own builder syntax:
//!
//! ```ignore
//! el("p").class("hint").text(t(lang, "quote_needed")).view()
//! ```

use leptos::ev::Event;
use leptos::prelude::*;
use leptos::tachys::html::attribute::any_attribute::{AnyAttribute, IntoAnyAttribute};
use leptos::tachys::html::attribute::custom::custom_attribute;
use leptos::tachys::html::element::custom;
use leptos::tachys::html::event::{Custom, on};
use leptos::tachys::html::property::prop;

use super::rx::{Flag, MaybeText, Part, Text};

/// An element being built.
#[must_use]
pub struct El {
    tag: &'static str,
    attrs: Vec<AnyAttribute>,
    kids: Vec<AnyView>,
}

/// Starts an element (`"div"`, `"input"`, …).
pub fn el(tag: &'static str) -> El {
    El { tag, attrs: Vec::new(), kids: Vec::new() }
}

/// Nothing (a branch that shows no markup).
pub fn nothing() -> AnyView {
    ().into_any()
}

/// Several pieces side by side, without a wrapping element.
pub fn group(parts: Vec<AnyView>) -> AnyView {
    parts.into_any()
}

/// A reactive text node.
pub fn text_rx(f: Text) -> AnyView {
    (move || f()).into_any()
}

/// A piece of view rebuilt whenever what it reads changes.
pub fn part(f: Part) -> AnyView {
    (move || f()).into_any()
}

impl El {
    /// An attribute with a fixed value.
    pub fn attr(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.attrs.push(custom_attribute(name, value.into()).into_any_attr());
        self
    }

    pub fn class(self, value: &'static str) -> Self {
        self.attr("class", value)
    }

    pub fn id(self, value: impl Into<String>) -> Self {
        self.attr("id", value)
    }

    /// An attribute whose value follows the signals it reads.
    pub fn attr_rx(mut self, name: &'static str, f: Text) -> Self {
        self.attrs.push(custom_attribute(name, move || f()).into_any_attr());
        self
    }

    /// An attribute present only while `f` answers a value.
    pub fn attr_maybe(mut self, name: &'static str, f: MaybeText) -> Self {
        self.attrs.push(custom_attribute(name, move || f()).into_any_attr());
        self
    }

    /// A boolean attribute (`disabled`, `selected`), present while `f` is true.
    pub fn attr_if(self, name: &'static str, f: Flag) -> Self {
        self.attr_maybe(name, std::sync::Arc::new(move || f().then(String::new)))
    }

    /// A DOM property (an input's `value`) that follows the signals it reads.
    pub fn prop_text(mut self, name: &'static str, f: Text) -> Self {
        self.attrs.push(prop(name, move || f()).into_any_attr());
        self
    }

    /// A boolean DOM property (`checked`).
    pub fn prop_flag(mut self, name: &'static str, f: Flag) -> Self {
        self.attrs.push(prop(name, move || f()).into_any_attr());
        self
    }

    /// An event listener (`"click"`, `"input"`, `"submit"`, …).
    pub fn on(mut self, event: &'static str, f: impl FnMut(Event) + 'static) -> Self {
        let f: Box<dyn FnMut(Event)> = Box::new(f);
        self.attrs.push(on(Custom::<Event>::new(event), f).into_any_attr());
        self
    }

    pub fn child(mut self, view: AnyView) -> Self {
        self.kids.push(view);
        self
    }

    pub fn kids(mut self, views: impl IntoIterator<Item = AnyView>) -> Self {
        self.kids.extend(views);
        self
    }

    /// A child element.
    pub fn el(self, child: El) -> Self {
        self.child(child.view())
    }

    /// Fixed text.
    pub fn text(self, value: impl Into<String>) -> Self {
        self.child(value.into().into_any())
    }

    /// Text that follows the signals it reads.
    pub fn text_rx(self, f: Text) -> Self {
        self.child(text_rx(f))
    }

    /// A piece rebuilt when what it reads changes.
    pub fn part(self, f: Part) -> Self {
        self.child(part(f))
    }

    pub fn view(self) -> AnyView {
        custom(self.tag).child(self.kids).add_any_attr(self.attrs).into_any()
    }
}

//! The element's markup: real DOM nodes, kept up to date by Leptos's reactive graph.
//!
//! Leptos's `view!` renderer (tachys) gives every element and every attribute a type of its own
//! and compiles its rendering code once per type; for a checkout of a few hundred elements that
//! was most of the WASM, over the element's size budget. Here an element is created at once
//! with the DOM API, and each reactive piece — an attribute, a property, a text, a part of the
//! tree — is one Leptos `RenderEffect` that writes to its node when the signals it reads change.
//! Effects and listeners belong to the reactive owner they were made under, so a part's are
//! dropped when the part is rebuilt. It reads like Leptos's own builder syntax:
//!
//! ```ignore
//! el("p").class("hint").text(t(lang, "quote_needed")).view()
//! ```

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Document, Element, Event, HtmlInputElement, Node};

use super::rx::prelude::RenderEffect;
use super::rx::{Flag, MaybeText, Part, Text, keep};

/// A piece of markup: one node, or a fragment holding several.
#[must_use]
pub struct View(Node);

impl View {
    pub fn node(&self) -> &Node {
        &self.0
    }
}

fn document() -> Document {
    web_sys::window().and_then(|w| w.document()).expect_throw("a document")
}

/// Runs `f` now and again whenever a signal it read changes, for as long as the current owner.
fn watch(mut f: impl FnMut() + 'static) {
    keep(RenderEffect::new(move |_: Option<()>| f()));
}

/// An element being built.
#[must_use]
pub struct El(Element);

/// Starts an element (`"div"`, `"input"`, …).
pub fn el(tag: &'static str) -> El {
    El(document().create_element(tag).expect_throw("an element"))
}

/// Nothing (a branch that shows no markup).
pub fn nothing() -> View {
    View(document().create_text_node("").into())
}

/// Several pieces side by side, without a wrapping element.
pub fn group(parts: Vec<View>) -> View {
    let fragment = document().create_document_fragment();
    for part in parts {
        let _ = fragment.append_child(&part.0);
    }
    View(fragment.into())
}

/// A reactive text node.
pub fn text_rx(f: Text) -> View {
    let node = document().create_text_node("");
    let target = node.clone();
    watch(move || target.set_data(&f()));
    View(node.into())
}

/// A piece of view rebuilt whenever what it reads changes. It lives between two empty text
/// nodes; a rebuild removes what is between them (and drops its effects) and inserts the new.
pub fn part(f: Part) -> View {
    let doc = document();
    let fragment = doc.create_document_fragment();
    let start: Node = doc.create_text_node("").into();
    let end: Node = doc.create_text_node("").into();
    let _ = fragment.append_child(&start);
    let _ = fragment.append_child(&end);
    watch(move || {
        let Some(parent) = end.parent_node() else { return };
        while let Some(old) = start.next_sibling().filter(|n| *n != end) {
            let _ = parent.remove_child(&old);
        }
        let _ = parent.insert_before(&f().0, Some(&end));
    });
    View(fragment.into())
}

/// The value of the input an event came from.
pub fn event_value(ev: &Event) -> String {
    input_of(ev).map(|i| i.value()).unwrap_or_default()
}

/// Whether the checkbox an event came from is checked.
pub fn event_checked(ev: &Event) -> bool {
    input_of(ev).is_some_and(|i| i.checked())
}

fn input_of(ev: &Event) -> Option<HtmlInputElement> {
    ev.target().map(|t| t.unchecked_into())
}

impl El {
    /// An attribute with a fixed value.
    pub fn attr(self, name: &'static str, value: impl Into<String>) -> Self {
        let _ = self.0.set_attribute(name, &value.into());
        self
    }

    pub fn class(self, value: &'static str) -> Self {
        self.attr("class", value)
    }

    pub fn id(self, value: impl Into<String>) -> Self {
        self.attr("id", value)
    }

    /// An attribute whose value follows the signals it reads.
    pub fn attr_rx(self, name: &'static str, f: Text) -> Self {
        self.attr_maybe(name, std::sync::Arc::new(move || Some(f())))
    }

    /// An attribute present only while `f` answers a value.
    pub fn attr_maybe(self, name: &'static str, f: MaybeText) -> Self {
        let target = self.0.clone();
        watch(move || {
            let _ = match f() {
                Some(value) => target.set_attribute(name, &value),
                None => target.remove_attribute(name),
            };
        });
        self
    }

    /// A boolean attribute (`disabled`, `selected`), present while `f` is true.
    pub fn attr_if(self, name: &'static str, f: Flag) -> Self {
        self.attr_maybe(name, std::sync::Arc::new(move || f().then(String::new)))
    }

    /// A DOM property (an input's `value`) that follows the signals it reads.
    pub fn prop_text(self, name: &'static str, f: Text) -> Self {
        self.prop(name, move || JsValue::from_str(&f()))
    }

    /// A boolean DOM property (`checked`).
    pub fn prop_flag(self, name: &'static str, f: Flag) -> Self {
        self.prop(name, move || JsValue::from_bool(f()))
    }

    fn prop(self, name: &'static str, f: impl Fn() -> JsValue + 'static) -> Self {
        let target = self.0.clone();
        let key = JsValue::from_str(name);
        watch(move || {
            let _ = js_sys::Reflect::set(&target, &key, &f());
        });
        self
    }

    /// An event listener (`"click"`, `"input"`, `"submit"`, …).
    pub fn on(self, event: &'static str, f: impl FnMut(Event) + 'static) -> Self {
        let listener = Closure::<dyn FnMut(Event)>::new(f);
        let _ = self.0.add_event_listener_with_callback(event, listener.as_ref().unchecked_ref());
        keep(listener);
        self
    }

    pub fn child(self, view: View) -> Self {
        let _ = self.0.append_child(&view.0);
        self
    }

    pub fn kids(self, views: impl IntoIterator<Item = View>) -> Self {
        for view in views {
            let _ = self.0.append_child(&view.0);
        }
        self
    }

    /// A child element.
    pub fn el(self, child: El) -> Self {
        self.child(child.view())
    }

    /// Fixed text.
    pub fn text(self, value: impl Into<String>) -> Self {
        let node = document().create_text_node(&value.into());
        let _ = self.0.append_child(&node);
        self
    }

    /// Text that follows the signals it reads.
    pub fn text_rx(self, f: Text) -> Self {
        self.child(text_rx(f))
    }

    /// A piece rebuilt when what it reads changes.
    pub fn part(self, f: Part) -> Self {
        self.child(part(f))
    }

    pub fn view(self) -> View {
        View(self.0.into())
    }
}

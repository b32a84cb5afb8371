//! Types that parse, so a bad value never travels further than the edge. Depends on nothing
//! above it: the answers a bad value gets are its own ([`error`]).

pub mod account;
pub mod card;
pub mod dashboard;
pub mod error;
pub mod event;
pub mod fees;
pub mod ids;
pub mod limit;
pub mod money;
pub mod odata;
pub mod payment;
pub mod payment_method;
pub mod session;
pub mod terminal;
pub mod time;
pub mod validate;
pub mod webhook;

/// An enum stored and sent as one of a fixed set of words (statuses, kinds). Storage reads it
/// back with [`TextEnum::parse`]; anything else in a column is a decoding error, never a default.
pub trait TextEnum: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == text)
    }
}

/// The enums the server shares with the element (declared in `app::wire`) are stored the same way.
macro_rules! shared_text_enum {
    ($($name:ty),+) => {
        $(impl TextEnum for $name {
            const ALL: &'static [Self] = <$name>::ALL;
            fn as_str(self) -> &'static str {
                <$name>::as_str(self)
            }
        })+
    };
}

shared_text_enum!(app::wire::MethodType, app::wire::Layout, app::wire::FutureUsage, app::wire::AvsField);

/// Declares a [`TextEnum`] with its serde and OpenAPI forms: `Variant => "word"`.
#[macro_export]
macro_rules! text_enum {
    ($(#[doc = $doc:literal])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        app::text_schema!($name, [$($text),+], concat!($($doc),*));

        impl $crate::domain::TextEnum for $name {
            const ALL: &'static [Self] = $name::ALL;
            fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$($name::$variant),+];
            /// Every word, in declaration order (a list's filter takes only these).
            pub const WORDS: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                $crate::domain::TextEnum::as_str(self)
            }

            pub fn parse(text: &str) -> Option<Self> {
                <Self as $crate::domain::TextEnum>::parse(text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

//! Card-present terminals (SPEC §7): a terminal takes one pending payment at a time.

use crate::text_enum;

text_enum! {
    pub enum TerminalStatus {
        /// Ready for a payment (new terminals start here).
        Online => "online",
        Offline => "offline",
        /// A payment is pending on it.
        Busy => "busy",
    }
}

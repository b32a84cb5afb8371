//! Types that parse, so a bad value never travels further than the edge.

pub mod account;
pub mod card;
pub mod fees;
pub mod ids;
pub mod money;
pub mod odata;
pub mod payment_method;
pub mod session;
pub mod time;
pub mod validate;

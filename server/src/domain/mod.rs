//! Types that parse, so a bad value never travels further than the edge.

pub mod account;
pub mod ids;
pub mod money;
pub mod time;

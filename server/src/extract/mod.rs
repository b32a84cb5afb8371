//! Extractors whose rejections answer in SPEC §2's error shape.

mod json;

pub use json::{BODY_LIMIT, Json, parse as parse_json};

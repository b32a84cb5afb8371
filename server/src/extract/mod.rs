//! Extractors whose rejections answer in SPEC §2's error shape.

pub mod auth;
mod json;

pub use json::{BODY_LIMIT, Json, parse as parse_json};

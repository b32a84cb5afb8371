//! Lists: the OData options of a request, and the `{"value": [...]}` answer with
//! `@odata.count` and `@odata.nextLink`.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::domain::odata::{self, Field, Query, Resource};
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::store::Db;
use crate::store::odata::{Page, Scope, fetch_page};
use sqlx::any::AnyRow;

/// The OData options every list takes (SPEC §8), for the OpenAPI document; which fields each
/// list filters and sorts on is in its description.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // read by the OpenAPI document only; requests go through `ListQuery`
pub struct ODataParams {
    /// `field op value` with `eq ne gt ge lt le`, `and or not`, parentheses, and
    /// `contains`/`startswith`/`endswith(field,'text')`; text in single quotes (`''` for a quote).
    /// A status or kind is compared with its own words only (400 for a word it never holds).
    #[serde(rename = "$filter")]
    filter: Option<String>,
    /// `field asc|desc`, several separated by commas; newest first when left out.
    #[serde(rename = "$orderby")]
    orderby: Option<String>,
    /// The page's size: 100 when left out, at most 1000.
    #[serde(rename = "$top")]
    top: Option<i64>,
    /// How many to pass over (`@odata.nextLink` gives the next page's).
    #[serde(rename = "$skip")]
    skip: Option<i64>,
    /// `true` adds `@odata.count`, the number of matches.
    #[serde(rename = "$count")]
    count: Option<bool>,
    /// The properties to keep, separated by commas.
    #[serde(rename = "$select")]
    select: Option<String>,
}

/// A resource that can be listed, with its OData allowlist.
pub trait Listable: Send + Sync + 'static {
    const RESOURCE: &'static Resource;
}

/// The parsed OData options of a list request (400/501 before the handler runs).
pub struct ListQuery<R> {
    pub query: Query,
    path: String,
    _resource: PhantomData<R>,
}

impl<R: Listable, S: Send + Sync> FromRequestParts<S> for ListQuery<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = odata::parse_query(parts.uri.query(), R::RESOURCE)?;
        Ok(ListQuery { query, path: parts.uri.path().to_owned(), _resource: PhantomData })
    }
}

/// Characters kept as they are in a next link's values (readable filters, nothing unsafe).
const LINK_VALUE: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'\'').remove(b',').remove(b':');

impl<R> ListQuery<R> {
    /// The answer: each item serialised, `$select` applied, count and next link when due.
    pub fn respond<T: Serialize>(&self, items: &[T], count: Option<i64>, has_more: bool) -> Value {
        let value: Vec<Value> = items
            .iter()
            .map(|item| {
                let v = serde_json::to_value(item).unwrap_or(Value::Null);
                match (&self.query.select, v) {
                    (Some(fields), Value::Object(map)) => {
                        Value::Object(map.into_iter().filter(|(k, _)| fields.contains(k)).collect::<Map<_, _>>())
                    }
                    (_, v) => v,
                }
            })
            .collect();
        let mut out = Map::new();
        out.insert("value".into(), Value::Array(value));
        if let Some(count) = count {
            out.insert("@odata.count".into(), count.into());
        }
        if has_more {
            out.insert("@odata.nextLink".into(), self.next_link().into());
        }
        Value::Object(out)
    }

    fn next_link(&self) -> String {
        let q = &self.query;
        let mut parts: Vec<String> = q
            .raw
            .iter()
            .filter(|(k, _)| k != "$top")
            .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, LINK_VALUE)))
            .collect();
        parts.push(format!("$top={}", q.top));
        parts.push(format!("$skip={}", q.skip + q.top));
        format!("{}?{}", self.path, parts.join("&"))
    }
}

impl<R: Listable> ListQuery<R> {
    /// Without an `$orderby`, ascending by `field` (a payment's ledger and refunds read in the
    /// order they happened; ties in the resource's key order). The field need not be one a
    /// caller may name.
    pub fn ascending_by_default(&mut self, field: &'static Field) {
        if self.query.order_by.is_empty() {
            self.query.order_by.push((field, false));
        }
    }

    /// The page of `scope` this query asks for, as rows (for items that need more than a row).
    pub async fn page(&self, db: &Db, scope: Scope<'_>) -> ApiResult<Page> {
        Ok(fetch_page(db, scope, &self.query, R::RESOURCE).await?)
    }

    /// Fetches the page of `scope` this query asks for and answers it: each row read by `read`
    /// and shown as `V`.
    pub async fn answer<T, V>(
        &self,
        db: &Db,
        scope: Scope<'_>,
        read: fn(&AnyRow) -> Result<T, sqlx::Error>,
    ) -> ApiResult<Json<Value>>
    where
        V: From<T> + Serialize,
    {
        let page = fetch_page(db, scope, &self.query, R::RESOURCE).await?;
        let items: Vec<V> =
            page.rows.iter().map(read).collect::<Result<Vec<T>, _>>()?.into_iter().map(V::from).collect();
        Ok(Json(self.respond(&items, page.count, page.has_more)))
    }
}

/// `{"value": [...]}` for small lists that are not paged.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ValueList<T> {
    pub value: Vec<T>,
}

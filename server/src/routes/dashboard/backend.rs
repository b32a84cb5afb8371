//! The dashboard's server functions, answered by the services the REST API calls. Each call
//! first checks who is calling (`dashboard::guard`): origin, session, role; each change runs
//! with the user as the actor of the events it writes.

use app::dashboard::api::{self as dto, Backend, Can, Money};
use async_trait::async_trait;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use cookie::{Cookie, SameSite};
use leptos::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::{refuse, refuse_with};
use crate::dashboard::guard::{self, Caller};
use crate::dashboard::reports;
use crate::domain::account::{FeeMethod, FeeRule, Funding, MethodType};
use crate::domain::dashboard::{Permission, Role};
use crate::domain::event::acting_as;
use crate::domain::fees;
use crate::domain::ids::random_base62;
use crate::domain::money::{Amount, Currency};
use crate::domain::odata::{self, Resource};
use crate::domain::payment::{MethodDetails, Move, PaymentStatus};
use crate::domain::session::{Locale, SessionStatus};
use crate::domain::time::Timestamp;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::idempotency::Idempotency;
use crate::payments::movements::{self, CaptureRequest, RefundRequest};
use crate::payments::{Answer, terminals};
use crate::routes::customers::Customers;
use crate::routes::list::Listable;
use crate::routes::payments::Payments;
use crate::routes::terminals::Terminals;
use crate::state::AppState;
use crate::store::odata::{Page, Scope, fetch_page};
use crate::store::{self, accounts::Account, now_ms};
use crate::views::{EventObject, SessionObject, WebhookObject};
use crate::{accounts, checkout, customers, payments, webhooks};

/// Marks a page's own render: its reads come from no `Origin` (a navigation), and only reads
/// run there.
#[derive(Clone)]
pub struct PageLoad;

/// What a call does with what its role allows: reads may run in a page's own render (no
/// `Origin`); changes never do.
#[derive(Clone, Copy)]
enum Access {
    Reads(Permission),
    Changes(Permission),
}

/// The cookie that remembers which of the client's accounts the dashboard shows.
const ACCOUNT_COOKIE: &str = "govifi_account";
const PAGE_SIZE: i64 = 20;
/// Ledger entries and refunds a payment's page shows at most.
const DETAIL_ROWS: i64 = 100;

pub struct Services {
    pub state: AppState,
}

/// Who is calling and the account they work on.
struct Ctx {
    caller: Caller,
    account: Account,
    headers: HeaderMap,
}

impl Ctx {
    fn actor(&self) -> String {
        user_actor(&self.caller)
    }

    /// An amount typed in the account currency's units, as the page's locale writes numbers
    /// (the page showed amounts that way); empty is `None` (all of it).
    fn typed_amount(&self, text: &str, param: &str) -> Result<Option<Amount>, ServerFnError> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        let currency = &self.account.currency;
        let locale = locale_of(&self.headers);
        app::money::parse_units(text, currency.as_str(), &locale).and_then(Amount::new).map(Some).ok_or_else(|| {
            let example = app::money::format_amount(1000, currency.as_str(), &locale);
            refuse(ApiError::invalid(param, format!("{param} must be an amount in {currency}, written like {example}")))
        })
    }

    /// A required `amount` typed in the account currency's units.
    fn required_amount(&self, text: &str) -> Result<Amount, ServerFnError> {
        self.typed_amount(text, "amount")?.ok_or_else(|| {
            refuse(ApiError::new(ErrorCode::ParameterMissing, "amount is required").with_param("amount"))
        })
    }

    fn money(&self, a: Amount) -> Money {
        money(a, &self.account.currency)
    }
}

/// The events' `actor` for what a dashboard user does.
fn user_actor(caller: &Caller) -> String {
    format!("user:{}", caller.user.email)
}

fn money(a: Amount, c: &Currency) -> Money {
    Money { minor: a.minor(), currency: c.to_string() }
}

/// `2026-12-01 19:22 UTC`.
fn at(ms: i64) -> String {
    let t = Timestamp(ms).to_rfc3339();
    format!("{} UTC", t.get(..16).unwrap_or(&t).replace('T', " "))
}

fn method_text(m: &MethodDetails) -> String {
    method_label(m.kind, m.brand.as_deref(), m.bank_name.as_deref(), m.last4.as_deref())
}

/// `Visa •••• 4242`, `First Bank •••• 6789`, `Apple pay`.
fn method_label(kind: MethodType, brand: Option<&str>, bank: Option<&str>, last4: Option<&str>) -> String {
    let kind = match kind {
        MethodType::Card => brand.map(capitalize).unwrap_or_else(|| "Card".into()),
        MethodType::Ach => bank.map(str::to_owned).unwrap_or_else(|| "Bank account".into()),
        other => capitalize(&other.to_string().replace('_', " ")),
    };
    match last4 {
        Some(last4) => format!("{kind} •••• {last4}"),
        None => kind,
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

fn internal(e: impl Into<ApiError>) -> ServerFnError {
    refuse(e.into())
}

/// A move's answer as a server function's: a 2xx (the first answer or its replay) is done; an
/// error answer is refused with its status and message.
async fn moved(answer: Result<Response, ServerFnError>) -> Result<(), ServerFnError> {
    let response = answer?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
    let message = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "The payment could not be changed".to_owned());
    Err(refuse_with(status, message))
}

impl Services {
    /// A capture, void or refund from a payment's page, made as the signed-in user under the
    /// page's key in the account's payment key space (with the API's path and body): a form
    /// sent twice makes one move, and the second gets the first one's answer.
    async fn move_once<T: DeserializeOwned>(
        &self,
        ctx: &Ctx,
        id: &str,
        verb: &str,
        key: &str,
        body: serde_json::Map<String, Value>,
        run: impl AsyncFnOnce(T, &Idempotency) -> ApiResult<Answer>,
    ) -> Result<Response, ServerFnError> {
        if key.is_empty() || key.len() > 64 || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(refuse(ApiError::invalid("key", "key must be the move key the payment's page gave")));
        }
        let path = format!("/api/payments/{id}/{verb}");
        // One page's key names one request per body: the same confirmation sent again replays
        // its answer, and another amount from the same page is a request of its own.
        let body = Value::Object(body);
        let print = crate::idempotency::fingerprint(&self.state.config().master_key, "POST", &path, &body);
        let key = Some(format!("dashboard:{key}.{}", &print.current[..16]));
        let answer = payments::keyed(&self.state, &ctx.account.uid, key, &path, body, run);
        Ok(acting_as(ctx.actor(), answer).await)
    }

    /// The caller, if the request's origin, session and role allow `permission`. A page's own
    /// render may read without an `Origin` (navigations send none).
    async fn caller(&self, access: Access) -> Result<(Caller, HeaderMap), ServerFnError> {
        let headers: HeaderMap = leptos_axum::extract().await?;
        let now = now_ms();
        let checked = match access {
            Access::Reads(permission) if use_context::<PageLoad>().is_some() => {
                guard::check_session(&self.state, &headers, permission, now).await
            }
            Access::Reads(permission) | Access::Changes(permission) => {
                guard::check(&self.state, &headers, permission, now).await
            }
        };
        checked.map(|caller| (caller, headers)).map_err(refuse)
    }

    /// [`Self::ctx`] for a change the page made for account `shown` (its form says which): the
    /// account chosen is a cookie that another tab may have switched since, and a setting, a key
    /// or a link made for one account must not land on another.
    async fn ctx_for(&self, access: Access, shown: &str) -> Result<Ctx, ServerFnError> {
        let ctx = self.ctx(access).await?;
        if ctx.account.uid != shown {
            return Err(refuse(ApiError::new(
                ErrorCode::InvalidState,
                "This page was for another payment account (it was switched in another tab): reload the page",
            )));
        }
        Ok(ctx)
    }

    /// The caller and the account the dashboard shows them (the cookie's, else the client's
    /// first).
    async fn ctx(&self, access: Access) -> Result<Ctx, ServerFnError> {
        let (caller, headers) = self.caller(access).await?;
        let accounts = store::accounts::of_client(self.state.db(), &caller.user.client_id).await.map_err(internal)?;
        let account = chosen(&accounts, &headers).cloned().ok_or_else(|| {
            refuse(ApiError::new(ErrorCode::ResourceMissing, "This client has no payment account yet"))
        })?;
        Ok(Ctx { caller, account, headers })
    }

    /// One page of a list, through the same OData machinery as the API's lists.
    async fn page(&self, scope: Scope<'_>, resource: &Resource, query: &str) -> Result<Page, ServerFnError> {
        let query = odata::parse_query(Some(query), resource).map_err(refuse)?;
        fetch_page(self.state.db(), scope, &query, resource).await.map_err(internal)
    }

    /// Payments as the tables show them, with whether more follow and (with `$count`) how many.
    async fn payment_rows(&self, scope: Scope<'_>, query: &str) -> Result<(Vec<dto::PaymentRow>, Page), ServerFnError> {
        let page = self.page(scope, Payments::RESOURCE, query).await?;
        let rows = page
            .rows
            .iter()
            .map(|r| store::payments::from_row(r).map(|p| payment_row(&p)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(internal)?;
        Ok((rows, page))
    }
}

/// The OData options of page `page` (from 0) of `size` rows, uncounted.
fn rows_page(page: u32, size: i64) -> String {
    format!("$top={size}&$skip={}", i64::from(page) * size)
}

fn session_row(v: &SessionObject) -> dto::SessionRow {
    dto::SessionRow {
        id: v.id.clone(),
        status: v.status.to_string(),
        amount: money(v.amount, &v.currency),
        reference: v.reference.clone(),
        description: v.description.clone(),
        hosted_url: v.client_secret.is_some().then(|| v.hosted_url.clone()),
        payment_id: v.payment_id.clone(),
        can_expire: v.status.can_become(SessionStatus::Expired),
        created_at: at(v.created_at.millis()),
    }
}

fn payment_row(p: &store::payments::Payment) -> dto::PaymentRow {
    dto::PaymentRow {
        id: p.id.clone(),
        status: p.status.to_string(),
        amount: money(p.amount, &p.currency),
        method: method_text(&p.payment_method),
        reference: p.reference.clone(),
        created_at: at(p.created_at),
    }
}

/// The account the dashboard shows: the cookie's, else the client's first.
fn chosen<'a>(accounts: &'a [Account], headers: &HeaderMap) -> Option<&'a Account> {
    let wanted = guard::cookie(headers, ACCOUNT_COOKIE);
    accounts.iter().find(|a| Some(&a.uid) == wanted.as_ref()).or_else(|| accounts.first())
}

/// The OData query for page `page` (of `top` rows, counted) of a list, filtered by `filter`.
fn page_query(top: i64, page: u32, filter: Option<&str>) -> String {
    format!("{}&$count=true", rows_query(top, page, filter))
}

/// [`page_query`] without the count, where the page shows none (the count is a second walk of
/// the rows the filter finds).
fn rows_query(top: i64, page: u32, filter: Option<&str>) -> String {
    let mut query = rows_page(page, top);
    if let Some(filter) = filter {
        query.push_str("&$filter=");
        query.extend(form_urlencoded::byte_serialize(filter.as_bytes()));
    }
    query
}

/// A form's optional text: trimmed, `None` when empty.
fn given(s: &str) -> Option<String> {
    Some(s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn locale_of(headers: &HeaderMap) -> String {
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if accept.trim_start().to_ascii_lowercase().starts_with("es") { "es" } else { "en" }.to_owned()
}

fn choice(a: &Account) -> dto::AccountChoice {
    dto::AccountChoice { uid: a.uid.clone(), name: a.name.clone(), currency: a.currency.to_string() }
}

/// An OData string literal.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `YYYY-MM-DD` as the first millisecond of that UTC day.
fn day_start(date: &str, param: &str) -> Result<i64, ServerFnError> {
    Timestamp::parse_rfc3339(&format!("{date}T00:00:00Z"))
        .map(|t| t.millis())
        .ok_or_else(|| refuse(ApiError::invalid(param, format!("{param} must be a date (YYYY-MM-DD)"))))
}

#[async_trait]
impl Backend for Services {
    async fn profile(&self) -> Result<dto::Profile, ServerFnError> {
        let (caller, headers) = self.caller(Access::Reads(Permission::Read)).await?;
        let db = self.state.db();
        let client = store::clients::get(db, &caller.user.client_id).await.map_err(internal)?;
        let accounts = store::accounts::of_client(db, &caller.user.client_id).await.map_err(internal)?;
        let account = chosen(&accounts, &headers);
        let role = caller.user.role;
        Ok(dto::Profile {
            email: caller.user.email.clone(),
            role: role.to_string(),
            client_name: client.map(|c| c.name).unwrap_or_default(),
            account: account.map(choice),
            accounts: accounts.iter().map(choice).collect(),
            locale: locale_of(&headers),
            can: Can {
                operate: role.allows(Permission::Operate),
                settings: role.allows(Permission::Settings),
                develop: role.allows(Permission::Develop),
                team: role.allows(Permission::Team),
            },
            sandbox: self.state.config().sandbox,
        })
    }

    async fn sign_out(&self) -> Result<(), ServerFnError> {
        let (caller, _) = self.caller(Access::Changes(Permission::Read)).await?;
        crate::dashboard::sign_out(self.state.db(), &caller.token).await.map_err(internal)?;
        if let Some(options) = use_context::<leptos_axum::ResponseOptions>() {
            options.append_header(header::SET_COOKIE, guard::cleared_cookie(&self.state));
        }
        leptos_axum::redirect("/dashboard/login");
        Ok(())
    }

    async fn switch_account(&self, uid: String) -> Result<(), ServerFnError> {
        let (caller, _) = self.caller(Access::Changes(Permission::Read)).await?;
        let accounts = store::accounts::of_client(self.state.db(), &caller.user.client_id).await.map_err(internal)?;
        if !accounts.iter().any(|a| a.uid == uid) {
            return Err(refuse(ApiError::invalid("uid", "not one of your accounts")));
        }
        let mut c = Cookie::new(ACCOUNT_COOKIE, uid);
        c.set_http_only(true);
        c.set_same_site(SameSite::Strict);
        c.set_secure(self.state.config().public_url.starts_with("https://"));
        c.set_path("/dashboard");
        if let (Some(options), Ok(value)) =
            (use_context::<leptos_axum::ResponseOptions>(), HeaderValue::from_str(&c.to_string()))
        {
            options.append_header(header::SET_COOKIE, value);
        }
        leptos_axum::redirect("/dashboard");
        Ok(())
    }

    async fn home(&self) -> Result<dto::HomeData, ServerFnError> {
        let ctx = self.ctx(Access::Reads(Permission::Read)).await?;
        let now = now_ms();
        let db = self.state.db();
        let since = reports::window_start(now);
        let (uid, currency) = (&ctx.account.uid, &ctx.account.currency);
        let (sums, refunds) = tokio::try_join!(
            store::payments::daily_sums(db, uid, currency, since, reports::DAY_MS),
            store::payments::daily_refunds(db, uid, currency, since, reports::DAY_MS),
        )
        .map_err(internal)?;
        let report = reports::report(&sums, &refunds, now);
        let totals = |t: &reports::Totals| dto::Totals {
            gross: ctx.money(t.gross),
            fees: ctx.money(t.fees),
            refunds: ctx.money(t.refunds),
            succeeded: t.succeeded,
            attempted: t.attempted,
        };
        let (latest, _) =
            self.payment_rows(store::payments::listed(&ctx.account.uid, None), &rows_query(5, 0, None)).await?;
        Ok(dto::HomeData {
            today: totals(&report.today),
            last_30_days: totals(&report.last_30_days),
            days: report
                .days
                .iter()
                .map(|(date, gross)| dto::DayVolume { date: date.clone(), gross: ctx.money(*gross) })
                .collect(),
            latest,
        })
    }

    async fn payments(&self, f: dto::PaymentFilter) -> Result<dto::PaymentPage, ServerFnError> {
        let ctx = self.ctx(Access::Reads(Permission::Read)).await?;
        let mut clauses = Vec::new();
        if !f.status.is_empty() {
            let status = PaymentStatus::parse(&f.status)
                .ok_or_else(|| refuse(ApiError::invalid("status", "not a payment status")))?;
            clauses.push(format!("status eq {}", quoted(status.as_str())));
        }
        let method = match f.method.as_str() {
            "" => None,
            m => Some(
                MethodType::parse(m).ok_or_else(|| refuse(ApiError::invalid("method", "not a payment method type")))?,
            ),
        };
        if !f.reference.trim().is_empty() {
            clauses.push(format!("contains(reference, {})", quoted(f.reference.trim())));
        }
        if !f.from.is_empty() {
            clauses.push(format!("created_at ge {}", Timestamp(day_start(&f.from, "from")?).to_rfc3339()));
        }
        if !f.to.is_empty() {
            // Up to the day's last second, inclusive: the next midnight would not be a date on
            // the day 9999-12-31.
            let last_second = day_start(&f.to, "to")? + reports::DAY_MS - 1000;
            clauses.push(format!("created_at le {}", Timestamp(last_second).to_rfc3339()));
        }
        let filter = (!clauses.is_empty()).then(|| clauses.join(" and "));
        let query = page_query(PAGE_SIZE, f.page, filter.as_deref());
        let (rows, page) = self.payment_rows(store::payments::listed(&ctx.account.uid, method), &query).await?;
        Ok(dto::PaymentPage { rows, page: f.page, has_more: page.has_more, total: page.count.unwrap_or(0) })
    }

    async fn payment(&self, id: String) -> Result<dto::PaymentDetail, ServerFnError> {
        let ctx = self.ctx(Access::Reads(Permission::Read)).await?;
        let state = &self.state;
        let p = payments::find(state, &ctx.account.uid, &id).await.map_err(refuse)?;
        // The first entries of each (a payment may have thousands of partial refunds): one more
        // is read to tell whether the API has more to list.
        let mut ledger = store::payments::transactions(state.db(), &p.id, DETAIL_ROWS + 1).await.map_err(internal)?;
        let mut refunds = movements::refunds(state, &ctx.account, &p.id, DETAIL_ROWS + 1).await.map_err(refuse)?;
        let cut = DETAIL_ROWS as usize;
        let more = ledger.len() > cut || refunds.len() > cut;
        ledger.truncate(cut);
        refunds.truncate(cut);
        let m = |a: Amount| money(a, &p.currency);
        let consent = p.consent.as_ref().and_then(|c| serde_json::to_string_pretty(c).ok());
        // An authorized payment's capture deadline, if the installation has a window.
        let capturable = Move::CAPTURE.applies_to(p.status);
        let deadline = capturable.then(|| movements::capture_deadline(&self.state, &p)).flatten();
        Ok(dto::PaymentDetail {
            id: p.id.clone(),
            status: p.status.to_string(),
            amount: m(p.amount),
            fee: m(p.fee_amount),
            total: m(p.total_amount),
            captured: m(p.amount_captured),
            refunded: m(p.amount_refunded),
            refundable: m(p.refundable()),
            method: method_text(&p.payment_method),
            customer_id: p.customer_id.clone(),
            session_id: p.session_id.clone(),
            reference: p.reference.clone(),
            description: p.description.clone(),
            decline_code: p.decline_code.clone(),
            consent,
            ledger: ledger
                .iter()
                .map(|t| dto::LedgerEntry {
                    kind: t.kind.to_string(),
                    amount: m(t.amount),
                    at: at(t.created_at.millis()),
                })
                .collect(),
            refunds: refunds
                .iter()
                .map(|r| dto::RefundRow {
                    id: r.id.clone(),
                    amount: m(r.amount),
                    status: r.status.to_string(),
                    reason: r.reason.clone(),
                    created_at: at(r.created_at.millis()),
                })
                .collect(),
            can_capture: capturable && p.pending_op.is_none() && deadline.is_none_or(|d| now_ms() < d),
            capture_by: deadline.map(at),
            can_void: Move::VOID.applies_to(p.status) && p.pending_op.is_none(),
            can_refund: Move::REFUND_PART.applies_to(p.status) && !p.refundable().is_zero(),
            more,
            move_key: random_base62(24),
            created_at: at(p.created_at),
        })
    }

    async fn capture(&self, id: String, amount: String, key: String) -> Result<(), ServerFnError> {
        let ctx = self.ctx(Access::Changes(Permission::Operate)).await?;
        let mut body = serde_json::Map::new();
        if let Some(amount) = ctx.typed_amount(&amount, "amount")? {
            body.insert("amount".into(), amount.minor().into());
        }
        let answer = self
            .move_once(&ctx, &id, "capture", &key, body, async |req: CaptureRequest, idem| {
                movements::capture(&self.state, &ctx.account, &id, &req, idem).await
            })
            .await;
        moved(answer).await?;
        leptos_axum::redirect(&format!("/dashboard/payments/{id}"));
        Ok(())
    }

    async fn void(&self, id: String, key: String) -> Result<(), ServerFnError> {
        let ctx = self.ctx(Access::Changes(Permission::Operate)).await?;
        let answer = self
            .move_once(&ctx, &id, "void", &key, serde_json::Map::new(), async |_: Value, idem| {
                movements::void(&self.state, &ctx.account, &id, idem).await
            })
            .await;
        moved(answer).await?;
        leptos_axum::redirect(&format!("/dashboard/payments/{id}"));
        Ok(())
    }

    async fn refund(&self, id: String, amount: String, reason: String, key: String) -> Result<(), ServerFnError> {
        let ctx = self.ctx(Access::Changes(Permission::Operate)).await?;
        let mut body = serde_json::Map::new();
        if let Some(amount) = ctx.typed_amount(&amount, "amount")? {
            body.insert("amount".into(), amount.minor().into());
        }
        if let Some(reason) = given(&reason) {
            body.insert("reason".into(), reason.into());
        }
        let answer = self
            .move_once(&ctx, &id, "refund", &key, body, async |req: RefundRequest, idem| {
                movements::refund(&self.state, &ctx.account, &id, &req, idem).await
            })
            .await;
        moved(answer).await?;
        leptos_axum::redirect(&format!("/dashboard/payments/{id}"));
        Ok(())
    }

    async fn sessions(&self, page: u32) -> Result<dto::SessionPage, ServerFnError> {
        let ctx = self.ctx(Access::Reads(Permission::Read)).await?;
        let now = now_ms();
        let scope = store::sessions::listed(&ctx.account.uid, now);
        let found =
            self.page(scope, super::super::sessions::Sessions::RESOURCE, &page_query(PAGE_SIZE, page, None)).await?;
        let mut rows = Vec::with_capacity(found.rows.len());
        for row in &found.rows {
            let s = store::sessions::from_row(row).map_err(internal)?;
            rows.push(session_row(&checkout::merchant_view(&self.state, &s, now).map_err(refuse)?));
        }
        Ok(dto::SessionPage { rows, page, has_more: found.has_more })
    }

    async fn session(&self, id: String) -> Result<dto::SessionDetail, ServerFnError> {
        let ctx = self.ctx(Access::Reads(Permission::Read)).await?;
        let s = checkout::merchant::find(&self.state, &ctx.account.uid, &id).await.map_err(refuse)?;
        let v = checkout::merchant_view(&self.state, &s, now_ms()).map_err(refuse)?;
        let m = |a: Amount| money(a, &v.currency);
        Ok(dto::SessionDetail {
            fee: v.fee_amount.map(m),
            total: v.total_amount.map(m),
            line_items: v
                .line_items
                .iter()
                .flatten()
                .map(|l| dto::LineItemRow {
                    name: l.name.clone(),
                    quantity: l.quantity,
                    amount: Money { minor: l.unit_amount.saturating_mul(l.quantity), currency: v.currency.to_string() },
                })
                .collect(),
            customer_id: v.customer_id.clone(),
            customer_email: v.customer_email.clone(),
            methods: v.allowed_methods.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(" "),
            success_url: v.success_url.clone(),
            cancel_url: v.cancel_url.clone(),
            expires_at: at(v.expires_at.millis()),
            completed_at: v.completed_at.map(|t| at(t.millis())),
            row: session_row(&v),
        })
    }

    async fn expire_session(&self, id: String) -> Result<(), ServerFnError> {
        let ctx = self.ctx(Access::Changes(Permission::Operate)).await?;
        acting_as(ctx.actor(), checkout::merchant::expire_now(&self.state, &ctx.account.uid, &id))
            .await
            .map_err(refuse)?;
        Ok(())
    }

    async fn create_payment_link(
        &self,
        account: String,
        link: dto::NewPaymentLink,
    ) -> Result<dto::PaymentLink, ServerFnError> {
        let ctx = self.ctx_for(Access::Changes(Permission::Operate), &account).await?;
        let amount = ctx.required_amount(&link.amount)?;
        let mut body = json!({
            "amount": amount.minor(),
            "currency": ctx.account.currency.to_string(),
            "success_url": link.success_url.trim(),
            "cancel_url": link.cancel_url.trim(),
        });
        for (field, value) in [("description", &link.description), ("reference", &link.reference)] {
            if let Some(value) = given(value) {
                body[field] = Value::String(value);
            }
        }
        let (session, _) =
            acting_as(ctx.actor(), checkout::merchant::create(&self.state, &ctx.account, body, &Idempotency::none()))
                .await
                .map_err(refuse)?;
        Ok(dto::PaymentLink { session_id: session.id, hosted_url: session.hosted_url })
    }

    async fn customers(&self, search: String, page: u32) -> Result<dto::CustomerPage, ServerFnError> {
        let ctx = self.ctx(Access::Reads(Permission::Read)).await?;
        // Names, emails and references are at most 200 characters: a longer search finds nothing
        // and would only cost the database a longer pattern.
        if search.chars().count() > 200 {
            return Err(refuse(ApiError::invalid("search", "search is at most 200 characters")));
        }
        let search = search.trim();
        // (A tab pasted at either end is trimmed.) No stored text holds a control character, and
        // PostgreSQL's text cannot hold U+0000 at all: one inside is refused alike on both.
        if search.chars().any(char::is_control) {
            return Err(refuse(ApiError::invalid("search", "search holds a control character")));
        }
        let scope = match given(search) {
            Some(text) => store::customers::matching(&ctx.account.uid, &text),
            None => store::customers::listed(&ctx.account.uid),
        };
        let found = self.page(scope, Customers::RESOURCE, &page_query(PAGE_SIZE, page, None)).await?;
        let rows = found
            .rows
            .iter()
            .map(|r| {
                store::customers::from_row(r).map(|c| dto::CustomerRow {
                    id: c.id,
                    name: c.name,
                    email: c.email,
                    reference: c.reference,
                    created_at: at(c.created_at),
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(internal)?;
        Ok(dto::CustomerPage { rows, page, has_more: found.has_more, total: found.count.unwrap_or(0) })
    }

    async fn customer(&self, id: String) -> Result<dto::CustomerDetail, ServerFnError> {
        let ctx = self.ctx(Access::Reads(Permission::Read)).await?;
        let uid = &ctx.account.uid;
        let c = customers::find(&self.state, uid, &id).await.map_err(refuse)?;
        let methods = store::payment_methods::live(self.state.db(), uid, &c.id).await.map_err(internal)?;
        let theirs = format!("customer_id eq {}", quoted(&c.id));
        let (payments, _) =
            self.payment_rows(store::payments::listed(uid, None), &rows_query(10, 0, Some(&theirs))).await?;
        Ok(dto::CustomerDetail {
            methods: methods
                .into_iter()
                .map(|m| dto::SavedMethodRow {
                    method: method_label(m.kind, m.brand.as_deref(), m.bank_name.as_deref(), Some(&m.last4)),
                    expires: m.exp_month.zip(m.exp_year).map(|(mo, y)| format!("{mo:02}/{y}")),
                    usage: m.usage.to_string(),
                    created_at: at(m.created_at),
                    id: m.id,
                })
                .collect(),
            payments,
            id: c.id,
            name: c.name,
            email: c.email,
            phone: c.phone,
            reference: c.reference,
            created_at: at(c.created_at),
        })
    }

    async fn remove_saved_method(&self, customer_id: String, id: String) -> Result<(), ServerFnError> {
        let ctx = self.ctx(Access::Changes(Permission::Operate)).await?;
        let customer = customers::find(&self.state, &ctx.account.uid, &customer_id).await.map_err(refuse)?;
        acting_as(ctx.actor(), customers::remove_payment_method(&self.state, &ctx.account.uid, &customer.id, &id))
            .await
            .map_err(refuse)
    }

    async fn terminals(&self, page: u32) -> Result<dto::Listing<dto::TerminalRow>, ServerFnError> {
        let ctx = self.ctx(Access::Reads(Permission::Read)).await?;
        let found =
            self.page(store::terminals::listed(&ctx.account.uid), Terminals::RESOURCE, &rows_page(page, 100)).await?;
        let mut rows = Vec::with_capacity(found.rows.len());
        for r in &found.rows {
            let t = store::terminals::from_row(r).map_err(internal)?;
            let pending = match &t.payment_id {
                Some(pid) => store::payments::get(self.state.db(), &ctx.account.uid, pid)
                    .await
                    .map_err(internal)?
                    .filter(|p| p.status == PaymentStatus::PendingTerminal)
                    .map(|p| dto::PendingTerminalPayment { amount: money(p.amount, &p.currency), payment_id: p.id }),
                None => None,
            };
            rows.push(dto::TerminalRow {
                id: t.id,
                label: t.label,
                serial_number: t.serial_number,
                model: t.model,
                location: t.location,
                status: t.status.to_string(),
                pending,
                created_at: at(t.created_at),
            });
        }
        Ok(dto::Listing { rows, page, more: found.has_more })
    }

    async fn add_terminal(&self, account: String, t: dto::NewTerminal) -> Result<(), ServerFnError> {
        let ctx = self.ctx_for(Access::Changes(Permission::Operate), &account).await?;
        let body = terminals::CreateTerminal {
            label: t.label.trim().to_owned(),
            serial_number: t.serial_number.trim().to_owned(),
            model: given(&t.model),
            location: given(&t.location),
            metadata: None,
        };
        acting_as(ctx.actor(), terminals::create(&self.state, &ctx.account, body)).await.map_err(refuse)?;
        Ok(())
    }

    async fn start_terminal_payment(&self, id: String, charge: dto::TerminalCharge) -> Result<(), ServerFnError> {
        let ctx = self.ctx(Access::Changes(Permission::Operate)).await?;
        let amount = ctx.required_amount(&charge.amount)?;
        let body = terminals::StartTerminalPayment {
            amount,
            currency: ctx.account.currency.clone(),
            description: given(&charge.description),
            reference: given(&charge.reference),
            metadata: None,
        };
        acting_as(ctx.actor(), terminals::start_payment(&self.state, &ctx.account, &id, body, &Idempotency::none()))
            .await
            .map_err(refuse)?;
        Ok(())
    }

    async fn cancel_terminal_payment(&self, id: String) -> Result<(), ServerFnError> {
        let ctx = self.ctx(Access::Changes(Permission::Operate)).await?;
        acting_as(ctx.actor(), terminals::cancel(&self.state, &ctx.account, &id, &Idempotency::none()))
            .await
            .map_err(refuse)?;
        Ok(())
    }

    async fn present_test_card(&self, id: String, card_number: String) -> Result<String, ServerFnError> {
        if !self.state.config().sandbox {
            return Err(refuse(ApiError::not_found("route")));
        }
        let ctx = self.ctx(Access::Changes(Permission::Operate)).await?;
        let terminal = terminals::find(&self.state, &ctx.account.uid, &id).await.map_err(refuse)?;
        let body = terminals::SimulateCard { card_number };
        // A decline is an answer, not an error: the payment is `failed` and the page says so.
        acting_as(ctx.actor(), terminals::simulate(&self.state, &ctx.account, &id, body, &Idempotency::none()))
            .await
            .map_err(refuse)?;
        let payment = match terminal.payment_id {
            Some(pid) => store::payments::get(self.state.db(), &ctx.account.uid, &pid).await.map_err(internal)?,
            None => None,
        };
        Ok(payment.map(|p| p.status.to_string()).unwrap_or_default())
    }

    async fn api_keys(&self, page: u32) -> Result<dto::Listing<dto::ApiKeyRow>, ServerFnError> {
        let ctx = self.ctx(Access::Reads(Permission::Develop)).await?;
        let scope = store::api_keys::listed(&ctx.account.uid);
        let found = self.page(scope, super::super::accounts::ApiKeys::RESOURCE, &rows_page(page, 100)).await?;
        let rows = found
            .rows
            .iter()
            .map(|r| {
                store::api_keys::from_row(r).map(|k| dto::ApiKeyRow {
                    id: k.id,
                    label: k.label,
                    prefix: k.prefix,
                    scopes: k.scopes.join(" "),
                    expires_at: k.expires_at.map(at),
                    last_used_at: k.last_used_at.map(at),
                    revoked: k.revoked_at.is_some(),
                    created_at: at(k.created_at),
                })
            })
            .collect::<Result<_, _>>()
            .map_err(internal)?;
        Ok(dto::Listing { rows, page, more: found.has_more })
    }

    async fn create_api_key(
        &self,
        account: String,
        label: String,
        scopes: String,
        expires_in_days: String,
    ) -> Result<dto::OneTimeSecret, ServerFnError> {
        let ctx = self.ctx_for(Access::Changes(Permission::Develop), &account).await?;
        let expires_at = match expires_in_days.trim() {
            "" => None,
            days => {
                let days: i64 = days.parse().ok().filter(|d| (1..=3650).contains(d)).ok_or_else(|| {
                    refuse(ApiError::invalid("expires_in_days", "give a number of days from 1 to 3650"))
                })?;
                Some(Timestamp::now().plus_seconds(days * 86_400).to_rfc3339())
            }
        };
        let body = accounts::CreateApiKey {
            label,
            scopes: scopes.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            expires_at,
        };
        let key = acting_as(ctx.actor(), accounts::create_api_key(&self.state, &ctx.account.uid, &body))
            .await
            .map_err(refuse)?;
        Ok(dto::OneTimeSecret { id: key.id, secret: key.key.unwrap_or_default() })
    }

    async fn revoke_api_key(&self, id: String) -> Result<(), ServerFnError> {
        let ctx = self.ctx(Access::Changes(Permission::Develop)).await?;
        acting_as(ctx.actor(), accounts::revoke_api_key(&self.state, &ctx.account.uid, &id)).await.map_err(refuse)
    }

    async fn webhooks(&self, page: u32) -> Result<dto::Listing<dto::WebhookRow>, ServerFnError> {
        let ctx = self.ctx(Access::Reads(Permission::Develop)).await?;
        let scope = store::webhooks::listed(&ctx.account.uid);
        let found = self.page(scope, super::super::webhooks::Webhooks::RESOURCE, &rows_page(page, 100)).await?;
        let mut rows = Vec::with_capacity(found.rows.len());
        for r in &found.rows {
            let w = store::webhooks::read(self.state.db(), r).await.map_err(internal)?;
            rows.push(webhook_row(WebhookObject::from(w)));
        }
        Ok(dto::Listing { rows, page, more: found.has_more })
    }

    async fn add_webhook(
        &self,
        account: String,
        url: String,
        events: String,
    ) -> Result<dto::OneTimeSecret, ServerFnError> {
        let ctx = self.ctx_for(Access::Changes(Permission::Develop), &account).await?;
        let body = webhooks::CreateWebhook {
            url: url.trim().to_owned(),
            events: events.split([' ', ',']).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            enabled: None,
            description: None,
        };
        let hook = acting_as(ctx.actor(), webhooks::create(&self.state, &ctx.account, body)).await.map_err(refuse)?;
        Ok(dto::OneTimeSecret { id: hook.id, secret: hook.secret.unwrap_or_default() })
    }

    async fn set_webhook_enabled(&self, id: String, enabled: bool) -> Result<(), ServerFnError> {
        let ctx = self.ctx(Access::Changes(Permission::Develop)).await?;
        let changes = webhooks::UpdateWebhook { url: None, events: None, enabled: Some(enabled), description: None };
        acting_as(ctx.actor(), webhooks::update(&self.state, &ctx.account, &id, changes)).await.map_err(refuse)?;
        Ok(())
    }

    async fn send_test_event(&self, id: String) -> Result<(), ServerFnError> {
        let ctx = self.ctx(Access::Changes(Permission::Develop)).await?;
        acting_as(ctx.actor(), webhooks::send_test(&self.state, &ctx.account, &id)).await.map_err(refuse)?;
        Ok(())
    }

    async fn delivery_log(&self, id: String, page: u32) -> Result<dto::DeliveryLog, ServerFnError> {
        let ctx = self.ctx(Access::Reads(Permission::Develop)).await?;
        let hook = webhooks::find(&self.state, &ctx.account.uid, &id).await.map_err(refuse)?;
        let scope = store::deliveries::listed(&ctx.account.uid, &hook.id);
        let found = self.page(scope, super::super::webhooks::Deliveries::RESOURCE, &rows_page(page, 50)).await?;
        let deliveries = found
            .rows
            .iter()
            .map(|r| {
                store::deliveries::from_row(r).map(|d| dto::DeliveryRow {
                    id: d.id,
                    event_id: d.event_id,
                    event_type: d.event_type.to_string(),
                    status: d.status.to_string(),
                    attempts: d
                        .attempts
                        .iter()
                        .map(|a| dto::AttemptRow {
                            at: a.at.get(..19).unwrap_or(&a.at).replace('T', " "),
                            status: a.response_status,
                            outcome: a.error.clone().unwrap_or_else(|| format!("{} ms", a.duration_ms)),
                            response: a.response_body.clone().filter(|b| !b.is_empty()),
                        })
                        .collect(),
                    created_at: at(d.created_at),
                })
            })
            .collect::<Result<_, _>>()
            .map_err(internal)?;
        let deliveries = dto::Listing { rows: deliveries, page, more: found.has_more };
        Ok(dto::DeliveryLog { webhook: webhook_row(WebhookObject::from(hook)), deliveries })
    }

    async fn redeliver(&self, webhook_id: String, event_id: String) -> Result<(), ServerFnError> {
        let ctx = self.ctx(Access::Changes(Permission::Develop)).await?;
        webhooks::redeliver_to(&self.state, &ctx.account, &webhook_id, &event_id).await.map_err(refuse)?;
        Ok(())
    }

    async fn events(&self, page: u32) -> Result<Vec<dto::EventRow>, ServerFnError> {
        let ctx = self.ctx(Access::Reads(Permission::Develop)).await?;
        let scope = store::events::listed(&ctx.account.uid);
        let query = rows_page(page, 25);
        let found = self.page(scope, super::super::events::Events::RESOURCE, &query).await?;
        found
            .rows
            .iter()
            .map(|r| {
                store::events::from_row(r).map(|e| {
                    let object = EventObject::from(e);
                    dto::EventRow {
                        id: object.id.clone(),
                        kind: object.kind.to_string(),
                        actor: object.actor.clone(),
                        created_at: at(object.created_at.millis()),
                        json: serde_json::to_string_pretty(&object).unwrap_or_default(),
                    }
                })
            })
            .collect::<Result<_, _>>()
            .map_err(internal)
    }

    async fn settings(&self) -> Result<dto::Settings, ServerFnError> {
        let ctx = self.ctx(Access::Reads(Permission::Read)).await?;
        let a = &ctx.account;
        Ok(dto::Settings {
            account_name: a.name.clone(),
            currency: a.currency.to_string(),
            display_name: a.branding.display_name.clone().unwrap_or_default(),
            logo_url: a.branding.logo_url.clone().unwrap_or_default(),
            primary_color: a.branding.primary_color.clone().unwrap_or_default(),
            allowed_origins: a.allowed_origins.join("\n"),
            fee_rules: a
                .fee_rules
                .iter()
                .map(|r| dto::FeeRuleRow {
                    method: r.method.to_string(),
                    funding: r.card_funding.filter(|f| *f != Funding::Any).map(|f| f.to_string()).unwrap_or_default(),
                    percent_bps: r.percent_bps,
                    fixed: ctx.money(r.fixed_amount),
                    min: r.min_fee.map(|m| ctx.money(m)),
                    max: r.max_fee.map(|m| ctx.money(m)),
                })
                .collect(),
            methods: a.enabled_methods.iter().map(|m| m.to_string()).collect(),
        })
    }

    async fn save_branding(
        &self,
        account: String,
        display_name: String,
        logo_url: String,
        primary_color: String,
    ) -> Result<(), ServerFnError> {
        let ctx = self.ctx_for(Access::Changes(Permission::Settings), &account).await?;
        let branding = crate::domain::account::Branding {
            display_name: given(&display_name),
            logo_url: given(&logo_url),
            primary_color: given(&primary_color).map(|c| c.to_ascii_uppercase()),
        };
        let changes = accounts::UpdateAccount { branding: Some(branding), ..Default::default() };
        acting_as(ctx.actor(), accounts::update(&self.state, &ctx.account.uid, changes)).await.map_err(refuse)?;
        Ok(())
    }

    async fn save_origins(&self, account: String, allowed_origins: String) -> Result<(), ServerFnError> {
        let ctx = self.ctx_for(Access::Changes(Permission::Settings), &account).await?;
        let origins = allowed_origins.split_whitespace().map(str::to_owned).collect();
        let changes = accounts::UpdateAccount { allowed_origins: Some(origins), ..Default::default() };
        acting_as(ctx.actor(), accounts::update(&self.state, &ctx.account.uid, changes)).await.map_err(refuse)?;
        Ok(())
    }

    async fn save_fee_rules(&self, account: String, rows: Vec<dto::FeeRuleForm>) -> Result<(), ServerFnError> {
        let ctx = self.ctx_for(Access::Changes(Permission::Settings), &account).await?;
        let rules = fee_rules_of(&ctx, &rows)?;
        let changes = accounts::UpdateAccount { fee_rules: Some(rules), ..Default::default() };
        acting_as(ctx.actor(), accounts::update(&self.state, &ctx.account.uid, changes)).await.map_err(refuse)?;
        Ok(())
    }

    async fn rotate_redirect_secret(&self, account: String) -> Result<dto::OneTimeSecret, ServerFnError> {
        let ctx = self.ctx_for(Access::Changes(Permission::Settings), &account).await?;
        let account = acting_as(ctx.actor(), accounts::rotate_redirect_secret(&self.state, &ctx.account.uid))
            .await
            .map_err(refuse)?;
        Ok(dto::OneTimeSecret { id: account.uid, secret: account.redirect_signing_secret.unwrap_or_default() })
    }

    async fn fee_quote(&self, amount: String, method: String, funding: String) -> Result<dto::FeeQuote, ServerFnError> {
        let ctx = self.ctx(Access::Reads(Permission::Read)).await?;
        let currency = &ctx.account.currency;
        let amount = ctx.required_amount(&amount)?;
        let method = MethodType::parse(&method).ok_or_else(|| refuse(ApiError::invalid("method", "not a method")))?;
        // The checkout knows a card's funding from its BIN; here the user says it, so a rule for
        // debit (or credit) cards shows the fee the checkout would.
        let funding = match funding.trim() {
            "" => None,
            text => Some(
                Funding::parse(text)
                    .filter(|f| *f != Funding::Any)
                    .ok_or_else(|| refuse(ApiError::invalid("funding", "credit, debit, prepaid or empty")))?,
            ),
        };
        let locale = Locale::parse(&locale_of(&ctx.headers)).unwrap_or(Locale::En);
        let priced = fees::price(&ctx.account.fee_rules, method, funding, amount, currency, locale)
            .ok_or_else(|| refuse(ApiError::invalid("amount", "the total is too large")))?;
        Ok(dto::FeeQuote {
            fee: ctx.money(priced.fee.amount),
            total: ctx.money(priced.total),
            disclosure: priced.disclosure,
        })
    }

    async fn team(&self) -> Result<Vec<dto::TeamMember>, ServerFnError> {
        let (caller, _) = self.caller(Access::Reads(Permission::Team)).await?;
        let users =
            store::dashboard::users_of_client(self.state.db(), &caller.user.client_id).await.map_err(internal)?;
        Ok(users
            .into_iter()
            .map(|u| dto::TeamMember {
                is_you: u.id == caller.user.id,
                id: u.id,
                email: u.email,
                role: u.role.to_string(),
                created_at: at(u.created_at),
            })
            .collect())
    }

    async fn add_user(&self, email: String, role: String) -> Result<dto::OneTimeSecret, ServerFnError> {
        let (caller, _) = self.caller(Access::Changes(Permission::Team)).await?;
        let role = role_of(&role)?;
        let made = crate::dashboard::add_user(self.state.db(), &caller.user, &email, role);
        let (user, password) = acting_as(user_actor(&caller), made).await.map_err(refuse)?;
        Ok(dto::OneTimeSecret { id: user.id, secret: password })
    }

    async fn change_role(&self, id: String, role: String) -> Result<(), ServerFnError> {
        let (caller, _) = self.caller(Access::Changes(Permission::Team)).await?;
        let role = role_of(&role)?;
        acting_as(user_actor(&caller), crate::dashboard::set_role(self.state.db(), &caller.user, &id, role))
            .await
            .map_err(refuse)
    }

    async fn remove_user(&self, id: String) -> Result<(), ServerFnError> {
        let (caller, _) = self.caller(Access::Changes(Permission::Team)).await?;
        acting_as(user_actor(&caller), crate::dashboard::remove_user(self.state.db(), &caller.user, &id))
            .await
            .map_err(refuse)
    }
}

/// The fee rules form's rows as rules, in the order their `order` numbers give (ties keep the
/// form's order); blank and removed rows are left out. The service checks the list as it checks
/// an API request's.
fn fee_rules_of(ctx: &Ctx, rows: &[dto::FeeRuleForm]) -> Result<Vec<FeeRule>, ServerFnError> {
    // Twice the service's limit of 50: room for blank and removed rows, and no more work.
    if rows.len() > 100 {
        return Err(refuse(ApiError::invalid("rules", "at most 100 rows")));
    }
    let locale = locale_of(&ctx.headers);
    let mut kept = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if row.method.trim().is_empty() || !row.remove.trim().is_empty() {
            continue;
        }
        let order = match row.order.trim() {
            "" => i64::MAX,
            text => text.parse::<i64>().map_err(|_| {
                let what = format!("Rule {}: order must be a whole number", i + 1);
                refuse(ApiError::invalid(format!("rules[{i}].order"), what))
            })?,
        };
        kept.push((order, i, row));
    }
    kept.sort_by_key(|(order, i, _)| (*order, *i));
    kept.into_iter()
        .map(|(_, i, row)| {
            let param = |field: &str| format!("rules[{i}].{field}");
            // The page numbers its rows from 1.
            let bad =
                |field: &str, what: &str| refuse(ApiError::invalid(param(field), format!("Rule {}: {what}", i + 1)));
            let method = FeeMethod::parse(row.method.trim())
                .ok_or_else(|| bad("method", "method must be any, card, ach or apple_pay"))?;
            let card_funding = match row.funding.trim() {
                "" | "any" => None,
                text => Some(
                    Funding::parse(text)
                        .ok_or_else(|| bad("funding", "funding must be credit, debit, prepaid or empty"))?,
                ),
            };
            let percent_bps = match row.percent.trim() {
                "" => 0,
                text => app::money::parse_percent(text, &locale)
                    .ok_or_else(|| bad("percent", "percent must be from 0 to 100, with at most two decimals"))?,
            };
            Ok(FeeRule {
                method,
                card_funding,
                percent_bps,
                fixed_amount: ctx.typed_amount(&row.fixed, &param("fixed"))?.unwrap_or(Amount::ZERO),
                min_fee: ctx.typed_amount(&row.min, &param("min"))?,
                max_fee: ctx.typed_amount(&row.max, &param("max"))?,
            })
        })
        .collect()
}

fn role_of(text: &str) -> Result<Role, ServerFnError> {
    Role::parse(text).ok_or_else(|| refuse(ApiError::invalid("role", "one of owner, admin, developer, viewer")))
}

fn webhook_row(w: WebhookObject) -> dto::WebhookRow {
    dto::WebhookRow {
        id: w.id,
        url: w.url,
        events: w.events.join(" "),
        enabled: w.enabled,
        disabled_reason: w.disabled_reason,
        created_at: at(w.created_at.millis()),
    }
}

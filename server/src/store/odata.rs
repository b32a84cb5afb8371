//! OData queries as parameterised SQL. Column names come only from the resource's allowlist;
//! every value travels as a bind parameter. The same SQL serves SQLite and PostgreSQL (`LIKE` is
//! case-sensitive on both: SQLite connections set `case_sensitive_like`), but for one word: text
//! is ordered and compared by its code points on both, so PostgreSQL's are marked `COLLATE "C"`
//! (SQLite's own order; a PostgreSQL database made with another collation, `en_US` or ICU's,
//! would otherwise put `alpha` before `Beta` where SQLite puts it after).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Backend, Bind, Db, bind_all};
use crate::domain::odata::{CmpOp, Expr, Field, FieldType, Literal, Query, Resource, TextFn};

/// A WHERE fragment with its binds, numbered from some starting placeholder.
#[derive(Debug, Default)]
pub struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
}

impl Sql {
    fn placeholder(&mut self, bind: Bind, first: usize) -> String {
        self.binds.push(bind);
        format!("${}", first + self.binds.len() - 1)
    }
}

/// How a list's text is ordered and compared on its database.
#[derive(Debug, Clone, Copy)]
pub struct Collation<'a> {
    backend: Backend,
    /// The resource's key is left in the database's own order, in the filter as in the tie
    /// break (which the list's index serves): ids mean nothing to sort by, and within one
    /// database the two still agree.
    key: &'a str,
}

impl<'a> Collation<'a> {
    pub fn of(backend: Backend, resource: &'a Resource) -> Self {
        Collation { backend, key: resource.key }
    }

    /// The column as it is ordered and compared: text by its code points on either database.
    fn ordered(self, field: &Field) -> String {
        match (field.ty, self.backend) {
            (FieldType::Text | FieldType::OneOf(_), Backend::Postgres) if field.name != self.key => {
                format!("{} COLLATE \"C\"", field.column)
            }
            _ => field.column.to_owned(),
        }
    }
}

/// Renders a filter; placeholders start at `$first`.
pub fn filter_sql(expr: &Expr, first: usize, collation: Collation) -> Sql {
    let mut sql = Sql::default();
    let text = render(expr, first, collation, &mut sql);
    sql.text = text;
    sql
}

fn render(expr: &Expr, first: usize, c: Collation, sql: &mut Sql) -> String {
    match expr {
        Expr::And(a, b) => format!("({} AND {})", render(a, first, c, sql), render(b, first, c, sql)),
        Expr::Or(a, b) => format!("({} OR {})", render(a, first, c, sql), render(b, first, c, sql)),
        // OData is two-valued (a comparison with a null column is false, so its `not` is true);
        // SQL's unknown is made false before `NOT`, else such rows would drop out.
        Expr::Not(a) => format!("(NOT COALESCE({}, FALSE))", render(a, first, c, sql)),
        Expr::Cmp { field, op, value } => {
            let col = field.column;
            let bind = match value {
                Literal::Null => {
                    return if *op == CmpOp::Eq { format!("{col} IS NULL") } else { format!("{col} IS NOT NULL") };
                }
                Literal::DateTime(at) => return seconds_cmp(col, *op, *at, first, sql),
                Literal::Text(s) => Bind::Text(s.clone()),
                Literal::Int(n) => Bind::Int(*n),
                Literal::Bool(b) => Bind::Int(*b as i64),
            };
            let p = sql.placeholder(bind, first);
            // (Equality needs no collation: the databases' collations are deterministic.)
            let ranged = c.ordered(field);
            match op {
                CmpOp::Eq => format!("{col} = {p}"),
                // OData: null ne 'x' is true; SQL's <> alone would drop NULLs.
                CmpOp::Ne => format!("({col} <> {p} OR {col} IS NULL)"),
                CmpOp::Gt => format!("{ranged} > {p}"),
                CmpOp::Ge => format!("{ranged} >= {p}"),
                CmpOp::Lt => format!("{ranged} < {p}"),
                CmpOp::Le => format!("{ranged} <= {p}"),
            }
        }
        Expr::Text { func, field, value } => {
            let escaped = value.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            let pattern = match func {
                TextFn::Contains => format!("%{escaped}%"),
                TextFn::StartsWith => format!("{escaped}%"),
                TextFn::EndsWith => format!("%{escaped}"),
            };
            let p = sql.placeholder(Bind::Text(pattern), first);
            format!("{} LIKE {p} ESCAPE '\\'", field.column)
        }
    }
}

/// A date-time comparison at the precision the API shows times, whole seconds (rows keep
/// milliseconds): `created_at eq <a value read back>` finds that row, and `le` includes it.
/// Each is a range on the column, so its index still serves.
fn seconds_cmp(col: &str, op: CmpOp, at: i64, first: usize, sql: &mut Sql) -> String {
    let from = at.div_euclid(1000) * 1000;
    let until = from + 1000;
    let mut bound = |ms: i64| sql.placeholder(Bind::Int(ms), first);
    match op {
        CmpOp::Eq => format!("({col} >= {} AND {col} < {})", bound(from), bound(until)),
        // (null ne a time is true, as for every `ne`)
        CmpOp::Ne => format!("({col} < {} OR {col} >= {} OR {col} IS NULL)", bound(from), bound(until)),
        CmpOp::Gt => format!("{col} >= {}", bound(until)),
        CmpOp::Ge => format!("{col} >= {}", bound(from)),
        CmpOp::Lt => format!("{col} < {}", bound(from)),
        CmpOp::Le => format!("{col} < {}", bound(until)),
    }
}

/// Which rows a list may show at all (tenant, not deleted), before the caller's filter.
pub struct Scope<'a> {
    pub table: &'a str,
    pub columns: &'a str,
    /// SQL condition using `$1..$n` for `binds` (e.g. `account_uid = $1 AND deleted_at IS NULL`).
    pub condition: &'a str,
    pub binds: Vec<Bind>,
}

impl Scope<'static> {
    /// Every row of `table` (the admin's lists).
    pub fn all(table: &'static str, columns: &'static str) -> Self {
        Scope { table, columns, condition: "", binds: vec![] }
    }

    /// One account's rows of `table`.
    pub fn account(table: &'static str, columns: &'static str, account_uid: &str) -> Self {
        Scope { table, columns, condition: "account_uid = $1", binds: vec![Bind::Text(account_uid.to_owned())] }
    }

    /// One account's rows of `table` that are not deleted.
    pub fn account_live(table: &'static str, columns: &'static str, account_uid: &str) -> Self {
        Scope { condition: "account_uid = $1 AND deleted_at IS NULL", ..Self::account(table, columns, account_uid) }
    }
}

pub struct Page {
    pub rows: Vec<AnyRow>,
    pub count: Option<i64>,
    pub has_more: bool,
}

/// One page of a list, newest first unless `$orderby` says otherwise.
pub async fn fetch_page(db: &Db, scope: Scope<'_>, query: &Query, resource: &Resource) -> Result<Page, sqlx::Error> {
    let collation = Collation::of(db.backend(), resource);
    let mut binds = scope.binds.clone();
    let mut condition = if scope.condition.is_empty() { "1 = 1".to_owned() } else { scope.condition.to_owned() };
    if let Some(filter) = &query.filter {
        let sql = filter_sql(filter, binds.len() + 1, collation);
        condition = format!("{condition} AND {}", sql.text);
        binds.extend(sql.binds);
    }
    let mut order: Vec<String> = query
        .order_by
        .iter()
        .map(|(f, desc)| {
            let nulls = match (resource.nullable.contains(&f.name), desc) {
                (false, _) => "",
                (true, false) => " NULLS FIRST",
                (true, true) => " NULLS LAST",
            };
            format!("{} {}{nulls}", collation.ordered(f), if *desc { "DESC" } else { "ASC" })
        })
        .collect();
    if order.is_empty() {
        order.push("created_at DESC".into());
    }
    // The key breaks ties in the direction of the first sort, so pages are stable.
    let key_dir = if query.order_by.first().is_none_or(|(_, desc)| *desc) { "DESC" } else { "ASC" };
    order.push(format!("{} {key_dir}", resource.key));

    let count = if query.count {
        let sql = format!("SELECT COUNT(*) FROM {} WHERE {condition}", scope.table);
        let row = bind_all(sqlx::query(&sql), &binds).fetch_one(db.pool()).await?;
        Some(row.try_get::<i64, _>(0)?)
    } else {
        None
    };

    let n = binds.len();
    let sql = format!(
        "SELECT {} FROM {} WHERE {condition} ORDER BY {} LIMIT ${} OFFSET ${}",
        scope.columns,
        scope.table,
        order.join(", "),
        n + 1,
        n + 2
    );
    binds.push(Bind::Int(query.top + 1));
    binds.push(Bind::Int(query.skip));
    let mut rows = bind_all(sqlx::query(&sql), &binds).fetch_all(db.pool()).await?;
    // (`$top=0` asks for no rows: no next page follows it either.)
    let has_more = query.top > 0 && rows.len() as i64 > query.top;
    rows.truncate(query.top as usize);
    Ok(Page { rows, count, has_more })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::odata::{Field, TEST_FIELDS, parse_filter};

    static FIELDS: &[Field] = TEST_FIELDS;
    static RES: Resource = Resource { fields: FIELDS, key: "id", nullable: &["name"], properties: &["id"] };

    fn sqlite() -> Collation<'static> {
        Collation::of(Backend::Sqlite, &RES)
    }

    #[test]
    fn postgres_ranges_text_by_code_point_but_not_the_key() {
        let e = parse_filter("name gt 'a' and id lt 'x' and amount le 3 and name eq 'b'", &RES).unwrap();
        let sql = filter_sql(&e, 1, Collation::of(Backend::Postgres, &RES));
        assert_eq!(sql.text, "(((name COLLATE \"C\" > $1 AND id < $2) AND amount <= $3) AND name = $4)");
        let sql = filter_sql(&e, 1, sqlite());
        assert_eq!(sql.text, "(((name > $1 AND id < $2) AND amount <= $3) AND name = $4)");
    }

    #[test]
    fn renders_placeholders_in_order_from_the_given_start() {
        let e = parse_filter("name eq 'O''Brien' and (amount ge 5 or not contains(name,'50%_off'))", &RES).unwrap();
        let sql = filter_sql(&e, 2, sqlite());
        assert_eq!(sql.text, "(name = $2 AND (amount >= $3 OR (NOT COALESCE(name LIKE $4 ESCAPE '\\', FALSE))))");
        assert_eq!(sql.binds, vec![Bind::Text("O'Brien".into()), Bind::Int(5), Bind::Text("%50\\%\\_off%".into())]);
        let e = parse_filter("name ne null and enabled eq false and name ne 'x'", &RES).unwrap();
        let sql = filter_sql(&e, 1, sqlite());
        assert_eq!(sql.text, "((name IS NOT NULL AND enabled = $1) AND (name <> $2 OR name IS NULL))");
    }

    #[test]
    fn date_times_compare_at_the_seconds_the_api_shows() {
        let at = crate::domain::time::Timestamp::parse_rfc3339("2026-06-11T18:30:00Z").unwrap().0;
        let sql = filter_sql(&parse_filter("created_at eq 2026-06-11T18:30:00Z", &RES).unwrap(), 1, sqlite());
        assert_eq!(sql.text, "(created_at >= $1 AND created_at < $2)");
        assert_eq!(sql.binds, vec![Bind::Int(at), Bind::Int(at + 1000)]);
        let sql = filter_sql(&parse_filter("created_at le 2026-06-11T18:30:00.250Z", &RES).unwrap(), 1, sqlite());
        assert_eq!((sql.text.as_str(), sql.binds), ("created_at < $1", vec![Bind::Int(at + 1000)]));
        let sql = filter_sql(&parse_filter("created_at gt 2026-06-11T18:30:00Z", &RES).unwrap(), 1, sqlite());
        assert_eq!((sql.text.as_str(), sql.binds), ("created_at >= $1", vec![Bind::Int(at + 1000)]));
    }

    /// Fragments a filter may be built from, including hostile ones.
    fn token() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("name".to_owned()),
            Just("amount".to_owned()),
            Just("created_at".to_owned()),
            Just("enabled".to_owned()),
            Just("nosuch".to_owned()),
            Just("eq".to_owned()),
            Just("ne".to_owned()),
            Just("gt".to_owned()),
            Just("and".to_owned()),
            Just("or".to_owned()),
            Just("not".to_owned()),
            Just("(".to_owned()),
            Just(")".to_owned()),
            Just(",".to_owned()),
            Just("contains".to_owned()),
            Just("null".to_owned()),
            Just("true".to_owned()),
            Just("2026-06-11T18:30:00Z".to_owned()),
            any::<i64>().prop_map(|n| n.to_string()),
            "[a-zA-Z0-9 ;'%_\\-]{0,12}".prop_map(|s| format!("'{}'", s.replace('\'', "''"))),
            "\\PC{0,6}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever arrives, parsing answers Ok or a 400 — never a panic.
        #[test]
        fn random_filters_never_panic(tokens in proptest::collection::vec(token(), 0..24)) {
            let input = tokens.join(" ");
            match parse_filter(&input, &RES) {
                Ok(expr) => { filter_sql(&expr, 1, sqlite()); }
                Err(e) => prop_assert_eq!(e.code(), "invalid_odata"),
            }
        }

        /// Arbitrary text values never reach the SQL text: only placeholders do.
        #[test]
        fn values_only_ever_travel_as_binds(value in "\\PC{0,40}", n in any::<i64>()) {
            let quoted = value.replace('\'', "''");
            let input = format!("name eq '{quoted}' or contains(name, '{quoted}') or amount lt {n}");
            let expr = parse_filter(&input, &RES).expect("well-formed filter parses");
            let sql = filter_sql(&expr, 1, sqlite());
            let allowed = ['(', ')', '$', ' ', '=', '<', '>', '\'', '\\'];
            for ch in sql.text.chars() {
                prop_assert!(ch.is_ascii_alphanumeric() || ch == '_' || allowed.contains(&ch), "{}", sql.text);
            }
            let words: Vec<&str> = sql.text.split(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '$').filter(|w| !w.is_empty()).collect();
            for w in words {
                prop_assert!(
                    ["name", "amount", "OR", "LIKE", "ESCAPE"].contains(&w) || (w.starts_with('$') && w[1..].parse::<usize>().is_ok()),
                    "unexpected word {w:?} in {}", sql.text
                );
            }
            prop_assert_eq!(sql.binds.len(), 3);
        }
    }
}

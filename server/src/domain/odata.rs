//! OData list options (SPEC §8): `$filter`, `$orderby`, `$top`, `$skip`, `$count`, `$select`.
//!
//! The query string is parsed into a [`Query`] checked against the resource's allowlist of
//! fields, so only known columns and typed literals travel further; `store::odata` turns it into
//! parameterised SQL. Anything the server does not support fails loudly (501), never silently.

use super::time::Timestamp;
use crate::domain::error::{ApiError, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Text,
    Int,
    Bool,
    DateTime,
    /// Text that is one of a fixed set of words (a status, a kind): compared with one of them
    /// only, so a value it can never hold is the caller's mistake, not an empty page.
    OneOf(&'static [&'static str]),
}

/// A filterable, sortable property of a resource and the column behind it.
#[derive(Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub column: &'static str,
    pub ty: FieldType,
}

/// What a list endpoint allows.
#[derive(Debug)]
pub struct Resource {
    pub fields: &'static [Field],
    /// Unique column that breaks ties, so pages never overlap or skip.
    pub key: &'static str,
    /// Sortable fields whose column may be NULL. OData sorts nulls before every value in
    /// ascending order and after them in descending order; SQLite does so by itself, PostgreSQL
    /// the other way round, so these are sorted with `NULLS FIRST`/`LAST` spelled out (only
    /// these: on a column that is never NULL the words would keep PostgreSQL from its index).
    pub nullable: &'static [&'static str],
    /// Properties of the JSON object that `$select` may name.
    pub properties: &'static [&'static str],
}

impl Resource {
    fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

pub const DEFAULT_TOP: i64 = 100;
pub const MAX_TOP: i64 = 1000;
const MAX_FILTER_LEN: usize = 4096;
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Text(String),
    Int(i64),
    Bool(bool),
    DateTime(i64),
    Null,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "eq" => CmpOp::Eq,
            "ne" => CmpOp::Ne,
            "gt" => CmpOp::Gt,
            "ge" => CmpOp::Ge,
            "lt" => CmpOp::Lt,
            "le" => CmpOp::Le,
            _ => return None,
        })
    }

    /// `5 lt amount` is `amount gt 5`.
    fn flipped(self) -> Self {
        match self {
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Ge => CmpOp::Le,
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Le => CmpOp::Ge,
            other => other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextFn {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp { field: &'static Field, op: CmpOp, value: Literal },
    Text { func: TextFn, field: &'static Field, value: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub filter: Option<Expr>,
    /// Field and descending?
    pub order_by: Vec<(&'static Field, bool)>,
    pub top: i64,
    pub skip: i64,
    pub count: bool,
    pub select: Option<Vec<String>>,
    /// The other options as given, in order, to build `@odata.nextLink`.
    pub raw: Vec<(String, String)>,
}

fn invalid(option: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidOdata, message).with_param(option.to_owned())
}

fn not_implemented(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::NotImplemented, message)
}

/// Parses a request's query string (undecoded, without `?`) for a list of `resource`.
pub fn parse_query(raw: Option<&str>, resource: &Resource) -> Result<Query, ApiError> {
    let mut query = Query {
        filter: None,
        order_by: Vec::new(),
        top: DEFAULT_TOP,
        skip: 0,
        count: false,
        select: None,
        raw: vec![],
    };
    let mut seen: Vec<String> = Vec::new();
    for (key, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        let (mut key, value) = (key.into_owned(), value.into_owned());
        if !key.starts_with('$') {
            // OData 4.01 lets system options go without their `$` (`top=5`): they are read as
            // such, never silently dropped. Any other name is a custom option, the caller's.
            if !SYSTEM_OPTIONS.contains(&key.as_str()) {
                continue;
            }
            key.insert(0, '$');
        }
        if seen.contains(&key) {
            return Err(invalid(&key, format!("{key} is given more than once")));
        }
        seen.push(key.clone());
        match key.as_str() {
            "$filter" => query.filter = Some(parse_filter(&value, resource)?),
            "$orderby" => query.order_by = parse_orderby(&value, resource)?,
            "$top" => {
                query.top = parse_non_negative("$top", &value)?;
                if query.top > MAX_TOP {
                    return Err(invalid("$top", format!("$top must be at most {MAX_TOP}")));
                }
            }
            "$skip" => query.skip = parse_non_negative("$skip", &value)?,
            "$count" => {
                query.count = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(invalid("$count", "$count must be true or false")),
                }
            }
            "$select" => query.select = Some(parse_select(&value, resource)?),
            "$expand" | "$search" | "$apply" | "$compute" | "$format" | "$skiptoken" | "$deltatoken" | "$levels"
            | "$index" | "$schemaversion" | "$id" => {
                return Err(not_implemented(format!("The OData option {key} is not supported")));
            }
            other => return Err(not_implemented(format!("Unknown OData option {other}"))),
        }
        if key != "$skip" {
            query.raw.push((key, value));
        }
    }
    Ok(query)
}

/// System query option names (without their `$`) that may also arrive without it.
const SYSTEM_OPTIONS: &[&str] =
    &["filter", "orderby", "top", "skip", "count", "select", "expand", "search", "apply", "compute", "skiptoken"];

fn parse_non_negative(option: &str, value: &str) -> Result<i64, ApiError> {
    value
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0 && value.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| invalid(option, format!("{option} must be a non-negative integer, not {value:?}")))
}

fn parse_select(value: &str, resource: &Resource) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for name in value.split(',').map(str::trim) {
        if !resource.properties.contains(&name) {
            return Err(invalid("$select", format!("$select names an unknown property {name:?}")));
        }
        if !out.iter().any(|n| n == name) {
            out.push(name.to_owned());
        }
    }
    Ok(out)
}

fn parse_orderby(value: &str, resource: &Resource) -> Result<Vec<(&'static Field, bool)>, ApiError> {
    let mut out: Vec<(&'static Field, bool)> = Vec::new();
    for item in value.split(',') {
        let mut words = item.split_whitespace();
        let name = words.next().ok_or_else(|| invalid("$orderby", "$orderby has an empty item"))?;
        let field = resource
            .field(name)
            .ok_or_else(|| invalid("$orderby", format!("$orderby names an unknown or unsortable field {name:?}")))?;
        let desc = match words.next() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return Err(invalid("$orderby", format!("expected asc or desc after {name}, not {other:?}")));
            }
        };
        if let Some(extra) = words.next() {
            return Err(invalid("$orderby", format!("unexpected {extra:?} in $orderby")));
        }
        if out.iter().any(|(f, _)| f.name == field.name) {
            return Err(invalid("$orderby", format!("{name} appears twice in $orderby")));
        }
        out.push((field, desc));
    }
    Ok(out)
}

// ----- $filter -----

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Num(i64),
    DateTime(i64),
    Open,
    Close,
    Comma,
}

fn tokenize(input: &str) -> Result<Vec<Tok>, ApiError> {
    let err = |m: String| invalid("$filter", m);
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '\'' => {
                // A string literal; '' stands for one quote.
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err("unterminated string literal in $filter".into())),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        // No stored text can hold it (PostgreSQL's text cannot).
                        Some('\0') => return Err(err("a $filter string may not contain U+0000".into())),
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            '0'..='9' | '-' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '-' | ':' | '.' | '+'))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                out.push(
                    number_or_datetime(&text).ok_or_else(|| err(format!("{text:?} is not a number or date-time")))?,
                );
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
            other => return Err(err(format!("unexpected character {other:?} in $filter"))),
        }
    }
    Ok(out)
}

fn number_or_datetime(text: &str) -> Option<Tok> {
    if text.len() >= 10 && text.as_bytes().get(4) == Some(&b'-') {
        if let Some(t) = Timestamp::parse_rfc3339(text) {
            return Some(Tok::DateTime(t.0));
        }
        // A bare date: midnight UTC.
        return Timestamp::parse_rfc3339(&format!("{text}T00:00:00Z")).map(|t| Tok::DateTime(t.0));
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i64>().ok().map(Tok::Num)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    resource: &'a Resource,
    depth: usize,
}

/// Parses a `$filter` expression against the resource's fields.
pub fn parse_filter(input: &str, resource: &Resource) -> Result<Expr, ApiError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(invalid("$filter", format!("$filter is longer than {MAX_FILTER_LEN} characters")));
    }
    let toks = tokenize(input)?;
    if toks.is_empty() {
        return Err(invalid("$filter", "$filter is empty"));
    }
    let mut p = Parser { toks, pos: 0, resource, depth: 0 };
    let expr = p.or()?;
    if let Some(t) = p.toks.get(p.pos) {
        return Err(invalid("$filter", format!("unexpected {} in $filter", describe(t))));
    }
    Ok(expr)
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("'{w}'"),
        Tok::Str(s) => format!("string '{s}'"),
        Tok::Num(n) => format!("number {n}"),
        Tok::DateTime(_) => "date-time".into(),
        Tok::Open => "'('".into(),
        Tok::Close => "')'".into(),
        Tok::Comma => "','".into(),
    }
}

impl Parser<'_> {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(w)) if w == word)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn expect(&mut self, want: Tok, what: &str) -> Result<(), ApiError> {
        match self.next() {
            Some(t) if t == want => Ok(()),
            Some(t) => Err(invalid("$filter", format!("expected {what}, found {}", describe(&t)))),
            None => Err(invalid("$filter", format!("expected {what} at the end of $filter"))),
        }
    }

    fn enter(&mut self) -> Result<(), ApiError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH { Err(invalid("$filter", "$filter is nested too deeply")) } else { Ok(()) }
    }

    fn or(&mut self) -> Result<Expr, ApiError> {
        self.enter()?;
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ApiError> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    /// `not` applies to the boolean term that follows it.
    fn unary(&mut self) -> Result<Expr, ApiError> {
        if self.peek_word("not") {
            self.pos += 1;
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ApiError> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Open) => {
                self.pos += 1;
                let e = self.or()?;
                self.expect(Tok::Close, "')'")?;
                Ok(e)
            }
            Some(Tok::Word(w)) if matches!(self.toks.get(self.pos + 1), Some(Tok::Open)) => self.text_fn(&w),
            Some(_) => self.comparison(),
            None => Err(invalid("$filter", "$filter ends where a condition was expected")),
        }
    }

    fn text_fn(&mut self, name: &str) -> Result<Expr, ApiError> {
        let func = match name {
            "contains" => TextFn::Contains,
            "startswith" => TextFn::StartsWith,
            "endswith" => TextFn::EndsWith,
            other => return Err(invalid("$filter", format!("unknown function '{other}' in $filter"))),
        };
        self.pos += 2; // name and '('
        let field = match self.next() {
            Some(Tok::Word(w)) => self.field(&w)?,
            _ => return Err(invalid("$filter", format!("{name}() takes a field first"))),
        };
        if !matches!(field.ty, FieldType::Text | FieldType::OneOf(_)) {
            return Err(invalid("$filter", format!("{name}() needs a text field; {} is not one", field.name)));
        }
        self.expect(Tok::Comma, "','")?;
        let value = match self.next() {
            Some(Tok::Str(s)) => s,
            _ => return Err(invalid("$filter", format!("{name}() takes a string literal second"))),
        };
        self.expect(Tok::Close, "')'")?;
        Ok(Expr::Text { func, field, value })
    }

    fn field(&self, name: &str) -> Result<&'static Field, ApiError> {
        self.resource
            .field(name)
            .ok_or_else(|| invalid("$filter", format!("'{name}' is not a field that can be filtered here")))
    }

    fn comparison(&mut self) -> Result<Expr, ApiError> {
        let left = self.operand()?;
        let op = match self.next() {
            Some(Tok::Word(w)) => match CmpOp::parse(&w) {
                Some(op) => op,
                None => {
                    return Err(invalid("$filter", format!("'{w}' is not a comparison operator (eq ne gt ge lt le)")));
                }
            },
            Some(t) => {
                return Err(invalid("$filter", format!("expected a comparison operator, found {}", describe(&t))));
            }
            // A lone boolean field means `field eq true`.
            None => {
                return match left {
                    Operand::Field(f) if f.ty == FieldType::Bool => {
                        Ok(Expr::Cmp { field: f, op: CmpOp::Eq, value: Literal::Bool(true) })
                    }
                    _ => Err(invalid("$filter", "expected a comparison operator at the end of $filter")),
                };
            }
        };
        let right = self.operand()?;
        let (field, op, value) = match (left, right) {
            (Operand::Field(f), Operand::Value(v)) => (f, op, v),
            (Operand::Value(v), Operand::Field(f)) => (f, op.flipped(), v),
            (Operand::Field(a), Operand::Field(b)) => {
                return Err(invalid(
                    "$filter",
                    format!("comparing two fields ({} and {}) is not supported", a.name, b.name),
                ));
            }
            (Operand::Value(_), Operand::Value(_)) => {
                return Err(invalid("$filter", "a comparison needs a field on one side"));
            }
        };
        let value = typed(field, op, value)?;
        Ok(Expr::Cmp { field, op, value })
    }

    fn operand(&mut self) -> Result<Operand, ApiError> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(match w.as_str() {
                "true" => Operand::Value(Literal::Bool(true)),
                "false" => Operand::Value(Literal::Bool(false)),
                "null" => Operand::Value(Literal::Null),
                _ => Operand::Field(self.field(&w)?),
            }),
            Some(Tok::Str(s)) => Ok(Operand::Value(Literal::Text(s))),
            Some(Tok::Num(n)) => Ok(Operand::Value(Literal::Int(n))),
            Some(Tok::DateTime(t)) => Ok(Operand::Value(Literal::DateTime(t))),
            Some(t) => Err(invalid("$filter", format!("expected a field or a value, found {}", describe(&t)))),
            None => Err(invalid("$filter", "$filter ends where a value was expected")),
        }
    }
}

enum Operand {
    Field(&'static Field),
    Value(Literal),
}

/// Checks a literal against its field's type (date-times may also come quoted).
fn typed(field: &Field, op: CmpOp, value: Literal) -> Result<Literal, ApiError> {
    let mismatch = |what: &str| invalid("$filter", format!("{} is {what}", field.name));
    match (&value, field.ty) {
        (Literal::Null, _) => {
            if matches!(op, CmpOp::Eq | CmpOp::Ne) {
                Ok(value)
            } else {
                Err(invalid("$filter", format!("{} can only be compared with null by eq or ne", field.name)))
            }
        }
        (Literal::Text(_), FieldType::Text) | (Literal::Int(_), FieldType::Int) => Ok(value),
        (Literal::Text(s), FieldType::OneOf(words)) => {
            if words.contains(&s.as_str()) {
                Ok(value)
            } else {
                Err(mismatch(&format!("one of {}", words.join(", "))))
            }
        }
        (Literal::DateTime(_), FieldType::DateTime) => Ok(value),
        (Literal::Text(s), FieldType::DateTime) => Timestamp::parse_rfc3339(s)
            .map(|t| Literal::DateTime(t.0))
            .ok_or_else(|| mismatch("a date-time; write it like 2026-06-11T18:30:00Z")),
        (Literal::Bool(_), FieldType::Bool) => {
            if matches!(op, CmpOp::Eq | CmpOp::Ne) {
                Ok(value)
            } else {
                Err(invalid("$filter", format!("{} can only be compared by eq or ne", field.name)))
            }
        }
        (_, FieldType::Text | FieldType::OneOf(_)) => Err(mismatch("text; quote the value like 'this'")),
        (_, FieldType::Int) => Err(mismatch("an integer")),
        (_, FieldType::Bool) => Err(mismatch("true or false")),
        (_, FieldType::DateTime) => Err(mismatch("a date-time; write it like 2026-06-11T18:30:00Z")),
    }
}

/// Fields of every kind, for the parser's and the SQL builder's tests.
#[cfg(test)]
pub(crate) static TEST_FIELDS: &[Field] = &[
    Field { name: "id", column: "id", ty: FieldType::Text },
    Field { name: "name", column: "name", ty: FieldType::Text },
    Field { name: "amount", column: "amount", ty: FieldType::Int },
    Field { name: "enabled", column: "enabled", ty: FieldType::Bool },
    Field { name: "created_at", column: "created_at", ty: FieldType::DateTime },
    Field { name: "status", column: "status", ty: FieldType::OneOf(&["active", "closed"]) },
];

#[cfg(test)]
mod tests {
    use super::*;

    static FIELDS: &[Field] = TEST_FIELDS;
    static RES: Resource =
        Resource { fields: FIELDS, key: "id", nullable: &["name"], properties: &["id", "name", "amount", "metadata"] };

    fn f(input: &str) -> Result<Expr, String> {
        parse_filter(input, &RES).map_err(|e| match e {
            ApiError::Client(c) => format!("{} {}", c.code, c.message),
            ApiError::Internal(e) => e.to_string(),
        })
    }

    fn cmp(name: &str, op: CmpOp, value: Literal) -> Expr {
        Expr::Cmp { field: RES.field(name).unwrap(), op, value }
    }

    #[test]
    fn precedence_not_binds_tighter_than_and_than_or() {
        let e = f("not name eq 'a' and amount gt 1 or enabled eq true").unwrap();
        let expected = Expr::Or(
            Box::new(Expr::And(
                Box::new(Expr::Not(Box::new(cmp("name", CmpOp::Eq, Literal::Text("a".into()))))),
                Box::new(cmp("amount", CmpOp::Gt, Literal::Int(1))),
            )),
            Box::new(cmp("enabled", CmpOp::Eq, Literal::Bool(true))),
        );
        assert_eq!(e, expected);
        // Parentheses override it.
        let e = f("not (name eq 'a' or amount gt 1)").unwrap();
        assert!(matches!(e, Expr::Not(inner) if matches!(*inner, Expr::Or(..))));
    }

    #[test]
    fn a_field_of_fixed_words_takes_only_them() {
        assert_eq!(f("status eq 'active'").unwrap(), cmp("status", CmpOp::Eq, Literal::Text("active".into())));
        assert_eq!(f("status ne 'closed'").unwrap(), cmp("status", CmpOp::Ne, Literal::Text("closed".into())));
        assert_eq!(f("status eq null").unwrap(), cmp("status", CmpOp::Eq, Literal::Null));
        let e = f("status eq 'succeeded'").unwrap_err();
        assert!(e.starts_with("invalid_odata") && e.contains("one of active, closed"), "{e}");
        // Every operator SPEC §8 names applies, with one of the words.
        assert_eq!(f("status gt 'active'").unwrap(), cmp("status", CmpOp::Gt, Literal::Text("active".into())));
        assert!(f("status lt 'open'").unwrap_err().contains("one of active, closed"));
        assert!(f("status eq 5").unwrap_err().contains("text"));
        // The text functions still apply (`startswith(type,'payment.')` on events).
        assert!(f("startswith(status,'act')").is_ok());
    }

    #[test]
    fn string_escapes() {
        assert_eq!(f("name eq 'O''Brien'").unwrap(), cmp("name", CmpOp::Eq, Literal::Text("O'Brien".into())));
        assert_eq!(f("name eq ''''").unwrap(), cmp("name", CmpOp::Eq, Literal::Text("'".into())));
        assert!(f("name eq 'unterminated").unwrap_err().contains("unterminated"));
    }

    #[test]
    fn date_times_quoted_or_not_and_dates() {
        let t = Timestamp::parse_rfc3339("2026-06-11T18:30:00Z").unwrap().0;
        assert_eq!(
            f("created_at gt 2026-06-11T18:30:00Z").unwrap(),
            cmp("created_at", CmpOp::Gt, Literal::DateTime(t))
        );
        assert_eq!(
            f("created_at gt '2026-06-11T18:30:00Z'").unwrap(),
            cmp("created_at", CmpOp::Gt, Literal::DateTime(t))
        );
        assert_eq!(
            f("created_at le 2026-06-11T20:30:00+02:00").unwrap(),
            cmp("created_at", CmpOp::Le, Literal::DateTime(t))
        );
        let midnight = Timestamp::parse_rfc3339("2026-06-11T00:00:00Z").unwrap().0;
        assert_eq!(f("created_at ge 2026-06-11").unwrap(), cmp("created_at", CmpOp::Ge, Literal::DateTime(midnight)));
        assert!(f("created_at gt 'yesterday'").is_err());
    }

    #[test]
    fn functions_literals_and_flips() {
        assert_eq!(
            f("contains(name,'City')").unwrap(),
            Expr::Text { func: TextFn::Contains, field: RES.field("name").unwrap(), value: "City".into() }
        );
        assert!(matches!(f("startswith(name, 'A') and endswith(id,'z')").unwrap(), Expr::And(..)));
        assert_eq!(f("5 lt amount").unwrap(), cmp("amount", CmpOp::Gt, Literal::Int(5)));
        assert_eq!(f("name eq null").unwrap(), cmp("name", CmpOp::Eq, Literal::Null));
        assert_eq!(f("enabled").unwrap(), cmp("enabled", CmpOp::Eq, Literal::Bool(true)));
        assert_eq!(f("amount eq -3").unwrap(), cmp("amount", CmpOp::Eq, Literal::Int(-3)));
    }

    #[test]
    fn errors_name_the_offending_token() {
        assert!(f("nosuchfield eq 1").unwrap_err().contains("'nosuchfield'"));
        assert!(f("name eq 1").unwrap_err().contains("name is text"));
        assert!(f("amount eq 'x'").unwrap_err().contains("amount is an integer"));
        assert!(f("name like 'x'").unwrap_err().contains("'like'"));
        assert!(f("name eq 'a' and").unwrap_err().starts_with("invalid_odata"));
        assert!(f("(name eq 'a'").unwrap_err().contains("')'"));
        assert!(f("name eq 'a')").unwrap_err().contains("')'"));
        assert!(f("contains(amount,'1')").unwrap_err().contains("text field"));
        assert!(f("amount gt 1.5").unwrap_err().contains("1.5"));
        assert!(f("name eq 'a'; DROP TABLE clients").unwrap_err().contains("';'"));
        assert!(f("amount gt null").is_err());
        assert!(f(&"(".repeat(200)).unwrap_err().contains("deeply"));
        assert!(f("").is_err());
    }

    #[test]
    fn query_options() {
        let q = parse_query(Some("$filter=name%20eq%20'City%20of%20Example'&$top=1&$count=true"), &RES).unwrap();
        assert_eq!(q.top, 1);
        assert!(q.count);
        assert!(q.filter.is_some());
        let q = parse_query(Some("$orderby=amount desc,name&$skip=20&$select=id,name"), &RES).unwrap();
        assert_eq!(q.order_by.len(), 2);
        assert!(q.order_by[0].1 && !q.order_by[1].1);
        assert_eq!(q.skip, 20);
        assert_eq!(q.select.as_deref(), Some(&["id".to_owned(), "name".to_owned()][..]));
        let code = |raw: &str| parse_query(Some(raw), &RES).unwrap_err().code();
        assert_eq!(code("$expand=x"), "not_implemented");
        assert_eq!(code("$search=x"), "not_implemented");
        assert_eq!(code("$fitler=name eq 'x'"), "not_implemented");
        assert_eq!(code("$top=1001"), "invalid_odata");
        assert_eq!(code("$top=-1"), "invalid_odata");
        assert_eq!(code("$top=1&$top=2"), "invalid_odata");
        assert_eq!(code("$orderby=metadata"), "invalid_odata");
        assert_eq!(code("$orderby=name sideways"), "invalid_odata");
        assert_eq!(code("$select=secret"), "invalid_odata");
        assert_eq!(code("$count=yes"), "invalid_odata");
        assert_eq!(parse_query(Some("page=2"), &RES).unwrap().top, DEFAULT_TOP, "custom options pass");
        // Without its `$`, a system option is still that option (OData 4.01), never ignored.
        let q = parse_query(Some("top=5&filter=name%20eq%20'x'"), &RES).unwrap();
        assert_eq!((q.top, q.filter.is_some()), (5, true));
        assert_eq!(code("expand=x"), "not_implemented");
        assert_eq!(code("top=5&$top=6"), "invalid_odata");
    }
}

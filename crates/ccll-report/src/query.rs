//! `ccll-report query`: any SQL on a read-only handle, printed as a text table, CSV or JSON.
//! The handle is opened with SQLITE_OPEN_READONLY and `query_only`, so a statement that
//! would write fails with SQLite's own message and changes nothing.

use crate::{Store, StoreError};
use sqlx::{Column, Executor, Row, Statement, TypeInfo, ValueRef};
use std::fmt::Write as _;

/// One SQLite value, by its storage class.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    /// The value as text for tables and CSV: NULL as empty (CSV) or `NULL` (tables, via
    /// [`QueryOutput::to_table`]), blobs as lowercase hex.
    fn plain(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Integer(i) => i.to_string(),
            Value::Real(r) => r.to_string(),
            Value::Text(t) => t.clone(),
            Value::Blob(b) => hex(b),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Integer(i) => (*i).into(),
            // JSON has no infinities: they become null.
            Value::Real(r) => serde_json::Number::from_f64(*r)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Text(t) => t.clone().into(),
            Value::Blob(b) => hex(b).into(),
        }
    }
}

/// The columns and rows a statement returned.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutput {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

/// How `query` prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryFormat {
    /// Aligned columns for the terminal.
    Table,
    Csv,
    /// An array of objects, one per row.
    Json,
}

/// What one query may spend: a runaway recursive CTE or a cross join stops with a clear error
/// instead of running forever or filling the machine's memory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueryLimits {
    /// Wall-clock seconds before SQLite is interrupted.
    pub timeout: std::time::Duration,
    /// Rows collected at most; a query that returns more stops with an error (add LIMIT).
    pub max_rows: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            timeout: std::time::Duration::from_secs(60),
            max_rows: 1_000_000,
        }
    }
}

/// Runs `sql` on `store` within the default [`QueryLimits`] and collects every row.
pub async fn run_query(store: &Store, sql: &str) -> Result<QueryOutput, StoreError> {
    run_query_within(store, sql, QueryLimits::default()).await
}

/// Runs one statement `sql` on `store` and collects every row, within `limits`. Open the store
/// with [`Store::open_read_only`] to make the query unable to change anything.
pub async fn run_query_within(
    store: &Store,
    sql: &str,
    limits: QueryLimits,
) -> Result<QueryOutput, StoreError> {
    check_statement(sql)?;
    let mut conn = store.pool().acquire().await?;
    let deadline = std::time::Instant::now() + limits.timeout;
    // SQLite calls this every ~10,000 VM instructions; sqlx interrupts on `false`.
    conn.lock_handle()
        .await?
        .set_progress_handler(10_000, move || std::time::Instant::now() < deadline);
    let result = collect(&mut conn, sql, limits.max_rows).await;
    conn.lock_handle().await?.remove_progress_handler();
    match result {
        Err(StoreError::Sql(sqlx::Error::Database(e))) if e.message().contains("interrupt") => {
            Err(StoreError::QueryLimit(format!(
                "the query ran longer than {} s and was stopped (raise --timeout, or add a \
                 LIMIT or a bound to a recursive CTE)",
                limits.timeout.as_secs_f64()
            )))
        }
        other => other,
    }
}

/// Refuses what a read-only handle cannot stop cleanly: several statements (only the first's
/// columns would be known) and `VACUUM`, whose `INTO` creates its file before failing.
fn check_statement(sql: &str) -> Result<(), StoreError> {
    if let Some(at) = second_statement(sql) {
        let (line, column) = line_column(sql, at);
        return Err(StoreError::QueryRefused(format!(
            "give one statement: a second one starts at line {line}, column {column} (after \
             ';'); run them one by one"
        )));
    }
    let first_word: String = strip_comments(sql)
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    if first_word.eq_ignore_ascii_case("vacuum") {
        return Err(StoreError::QueryRefused(
            "VACUUM writes (VACUUM INTO a new file too); query is read-only: use `sqlite3 DB \
             \"VACUUM INTO 'copy.sqlite'\"` on a store no sweep is writing"
                .to_string(),
        ));
    }
    Ok(())
}

/// Byte offset of the start of a second statement: text other than whitespace, comments and
/// `;` after a `;` outside quotes and comments.
fn second_statement(sql: &str) -> Option<usize> {
    let code = strip_comments(sql);
    let mut ended = false;
    let mut quote: Option<char> = None;
    for (i, c) in code.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' | '`' => {
                    if ended {
                        return Some(i);
                    }
                    quote = Some(c);
                }
                '[' => {
                    if ended {
                        return Some(i);
                    }
                    quote = Some(']');
                }
                ';' => ended = true,
                c if c.is_whitespace() => {}
                _ if ended => return Some(i),
                _ => {}
            },
        }
    }
    None
}

/// `sql` with every comment outside quotes replaced by spaces (same byte offsets).
fn strip_comments(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        match quote {
            Some(q) => {
                if b[i] == q {
                    quote = None;
                }
                i += 1;
            }
            None if b[i..].starts_with(b"--") => {
                while i < b.len() && b[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
            }
            None if b[i..].starts_with(b"/*") => {
                let end = sql[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
                for o in &mut out[i..end] {
                    if *o != b'\n' {
                        *o = b' ';
                    }
                }
                i = end;
            }
            None => {
                quote = match b[i] {
                    b'\'' | b'"' | b'`' => Some(b[i]),
                    b'[' => Some(b']'),
                    _ => None,
                };
                i += 1;
            }
        }
    }
    // Only ASCII bytes were replaced, by ASCII spaces: still UTF-8.
    String::from_utf8(out).expect("comments replaced by spaces stay UTF-8")
}

fn line_column(sql: &str, at: usize) -> (usize, usize) {
    let before = &sql[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

async fn collect(
    conn: &mut sqlx::SqliteConnection,
    sql: &str,
    max_rows: usize,
) -> Result<QueryOutput, StoreError> {
    use futures_util::TryStreamExt;
    // Prepared first so that the column names are known even when no row comes back.
    let statement = conn.prepare(sql).await?;
    let columns: Vec<String> = statement
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let mut rows = statement.query().fetch(&mut *conn);
    let mut out = Vec::new();
    while let Some(row) = rows.try_next().await? {
        if out.len() == max_rows {
            return Err(StoreError::QueryLimit(format!(
                "the query returns more than {max_rows} rows (add a LIMIT, or raise --max-rows)"
            )));
        }
        let mut values = Vec::with_capacity(row.len());
        for i in 0..row.len() {
            let raw = row.try_get_raw(i)?;
            let value = if raw.is_null() {
                Value::Null
            } else {
                match raw.type_info().name() {
                    "INTEGER" => Value::Integer(row.try_get_unchecked(i)?),
                    "REAL" => Value::Real(row.try_get_unchecked(i)?),
                    "BLOB" => Value::Blob(row.try_get_unchecked(i)?),
                    _ => Value::Text(row.try_get_unchecked(i)?),
                }
            };
            values.push(value);
        }
        out.push(values);
    }
    Ok(QueryOutput { columns, rows: out })
}

impl QueryOutput {
    pub fn render(&self, format: QueryFormat) -> String {
        match format {
            QueryFormat::Table => self.to_table(),
            QueryFormat::Csv => self.to_csv(),
            QueryFormat::Json => self.to_json(),
        }
    }

    /// Columns padded to their widest cell; numbers right-aligned; NULL spelled out.
    pub fn to_table(&self) -> String {
        let cells: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                r.iter()
                    .map(|v| match v {
                        Value::Null => "NULL".to_string(),
                        // One line per row: newlines in text would break the alignment.
                        v => v.plain().replace('\n', "\\n"),
                    })
                    .collect()
            })
            .collect();
        let mut widths: Vec<usize> = self.columns.iter().map(|c| c.chars().count()).collect();
        for row in &cells {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self
            .columns
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", header.join("  ").trim_end());
        let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
        let _ = writeln!(out, "{}", rule.join("  "));
        for (row, values) in cells.iter().zip(&self.rows) {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .zip(values)
                .map(|((c, &w), v)| match v {
                    Value::Integer(_) | Value::Real(_) => format!("{c:>w$}"),
                    _ => format!("{c:<w$}"),
                })
                .collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
        let _ = writeln!(
            out,
            "({} row{})",
            self.rows.len(),
            if self.rows.len() == 1 { "" } else { "s" }
        );
        out
    }

    /// RFC 4180: a header line, fields quoted when they hold a comma, quote or newline;
    /// NULL as an empty field.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let header: Vec<String> = self.columns.iter().map(|c| csv_field(c)).collect();
        let _ = writeln!(out, "{}", header.join(","));
        for row in &self.rows {
            let line: Vec<String> = row.iter().map(|v| csv_field(&v.plain())).collect();
            let _ = writeln!(out, "{}", line.join(","));
        }
        out
    }

    /// An array of objects keyed by column name, one object per line, keys in column order
    /// (written by hand: a JSON map would sort them).
    pub fn to_json(&self) -> String {
        let keys: Vec<String> = self
            .columns
            .iter()
            .map(|c| serde_json::Value::from(c.as_str()).to_string())
            .collect();
        let objects: Vec<String> = self
            .rows
            .iter()
            .map(|row| {
                let fields: Vec<String> = keys
                    .iter()
                    .zip(row)
                    .map(|(k, v)| format!("{k}: {}", v.to_json()))
                    .collect();
                format!("  {{{}}}", fields.join(", "))
            })
            .collect();
        if objects.is_empty() {
            "[]\n".to_string()
        } else {
            format!("[\n{}\n]\n", objects.join(",\n"))
        }
    }
}

/// Quotes a CSV field when needed.
pub(crate) fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> QueryOutput {
        QueryOutput {
            columns: vec!["id".into(), "name".into(), "acc".into(), "blob".into()],
            rows: vec![
                vec![
                    Value::Integer(1),
                    Value::Text("a, \"b\"".into()),
                    Value::Real(91.5),
                    Value::Blob(vec![0xde, 0xad]),
                ],
                vec![Value::Integer(22), Value::Null, Value::Null, Value::Null],
            ],
        }
    }

    #[test]
    fn csv_quotes_and_leaves_null_empty() {
        assert_eq!(
            sample().to_csv(),
            "id,name,acc,blob\n1,\"a, \"\"b\"\"\",91.5,dead\n22,,,\n"
        );
    }

    #[test]
    fn json_keeps_types_and_column_order() {
        let text = sample().to_json();
        assert!(
            text.contains("{\"id\": 1, \"name\": \"a, \\\"b\\\"\", \"acc\": 91.5"),
            "{text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v[0]["id"], 1);
        assert_eq!(v[0]["acc"], 91.5);
        assert_eq!(v[0]["blob"], "dead");
        assert!(v[1]["name"].is_null());
    }

    #[test]
    fn table_aligns_columns() {
        let t = sample().to_table();
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "id  name    acc   blob");
        assert_eq!(lines[2], " 1  a, \"b\"  91.5  dead");
        assert_eq!(lines[3], "22  NULL    NULL  NULL");
        assert_eq!(lines[4], "(2 rows)");
    }
}

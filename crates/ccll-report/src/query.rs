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

/// Runs `sql` on `store` and collects every row. Open the store with
/// [`Store::open_read_only`] to make the query unable to change anything.
pub async fn run_query(store: &Store, sql: &str) -> Result<QueryOutput, StoreError> {
    let mut conn = store.pool().acquire().await?;
    // Prepared first so that the column names are known even when no row comes back.
    let statement = conn.prepare(sql).await?;
    let columns: Vec<String> = statement
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let rows = statement.query().fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
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

//! Reading a key-import file: one key per line; CSV whose header row has a `key` column (and
//! any of `key_secret`, `collection_id`, `registrations`, `blocked`); or JSON lines, one record
//! per line (`{"key", "key_secret"?, "collection_id"?, "registrations"?, "blocked"?}`).
//! Without `--format`, a `.jsonl` file or a first line starting with `{` is JSON lines, and a
//! first line holding a comma, or exactly `key`, is CSV.

use serde_json::{Map, Value};

/// How an import file is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Decide from the file name and its first line.
    Auto,
    /// One key per line.
    Lines,
    /// Comma-separated, header row first.
    Csv,
    /// One JSON record per line.
    Jsonl,
}

/// The CSV columns sent on (others, e.g. an e-mail address, are ignored).
const RECORD_COLUMNS: [&str; 5] = ["key", "key_secret", "collection_id", "registrations", "blocked"];

/// The records in `text`, in file order (duplicates kept: the API reports them): a key string
/// when the file holds nothing but the key, else a record object.
///
/// # Errors
/// A CSV without a `key` column, or a row or line that cannot be read; the message names the
/// line.
pub fn parse_records(text: &str, format: Format, jsonl_name: bool) -> Result<Vec<Value>, String> {
    let first = text.lines().find(|l| !l.trim().is_empty());
    let Some(first) = first else {
        return Ok(Vec::new());
    };
    let format = match format {
        Format::Auto if jsonl_name || first.trim_start().starts_with('{') => Format::Jsonl,
        Format::Auto if first.contains(',') || first.trim().eq_ignore_ascii_case("key") => Format::Csv,
        Format::Auto => Format::Lines,
        other => other,
    };
    match format {
        Format::Jsonl => parse_jsonl(text),
        Format::Csv => parse_csv(text),
        _ => Ok(text.lines().map(str::trim).filter(|l| !l.is_empty()).map(Value::from).collect()),
    }
}

fn parse_jsonl(text: &str) -> Result<Vec<Value>, String> {
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: not a JSON record: {e}", index + 1))?;
        match &value {
            Value::Object(o) if o.get("key").is_some_and(Value::is_string) => records.push(value),
            Value::String(_) => records.push(value),
            _ => return Err(format!("line {}: a record needs a \"key\" string", index + 1)),
        }
    }
    Ok(records)
}

fn parse_csv(text: &str) -> Result<Vec<Value>, String> {
    let mut reader =
        csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let header = reader.headers().map_err(|e| format!("the CSV header: {e}"))?.clone();
    let column = |name: &str| header.iter().position(|h| h.eq_ignore_ascii_case(name));
    let Some(key_column) = column("key") else {
        return Err(format!(
            "the CSV header {:?} has no `key` column",
            header.iter().collect::<Vec<_>>().join(",")
        ));
    };
    let columns: Vec<(&str, usize)> =
        RECORD_COLUMNS.iter().skip(1).filter_map(|name| column(name).map(|i| (*name, i))).collect();
    let mut records = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| format!("CSV: {e}"))?;
        let line = row.position().map_or(0, csv::Position::line);
        if row.iter().all(str::is_empty) {
            continue;
        }
        let key = match row.get(key_column) {
            Some(key) if !key.is_empty() => key,
            _ => return Err(format!("line {line}: no key in column {} (`key`)", key_column + 1)),
        };
        if columns.is_empty() {
            records.push(Value::from(key));
            continue;
        }
        let mut record = Map::new();
        record.insert("key".into(), key.into());
        for (name, i) in &columns {
            let cell = row.get(*i).unwrap_or_default();
            if cell.is_empty() {
                continue;
            }
            let bad = |what: &str| format!("line {line}: `{name}` must be {what}, not {cell:?}");
            let value = match *name {
                "key_secret" => Value::from(cell),
                "collection_id" => Value::from(cell.parse::<i64>().map_err(|_| bad("an integer"))?),
                "registrations" => Value::from(cell.parse::<u64>().map_err(|_| bad("a count"))?),
                _ => Value::from(parse_bool(cell).ok_or_else(|| bad("true or false"))?),
            };
            record.insert((*name).into(), value);
        }
        records.push(Value::Object(record));
    }
    Ok(records)
}

fn parse_bool(cell: &str) -> Option<bool> {
    match cell.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn auto(text: &str) -> Result<Vec<Value>, String> {
        parse_records(text, Format::Auto, false)
    }

    #[test]
    fn one_per_line() {
        assert_eq!(auto("AAA\n\n  BBB \r\nAAA\n").unwrap(), [json!("AAA"), json!("BBB"), json!("AAA")]);
        assert!(auto("\n \n").unwrap().is_empty());
    }

    #[test]
    fn csv_with_key_column() {
        let text = "email,key,note\nx@y.z,K-1,\"hello, world\"\n\"a\"\"b\",K-2,\n";
        assert_eq!(auto(text).unwrap(), [json!("K-1"), json!("K-2")]);
    }

    #[test]
    fn csv_with_patchkit_columns() {
        let text = "key,key_secret,collection_id,registrations,blocked,email\n\
                    K-1,s3cret,7,3,false,a@b\nK-2,,,,TRUE,\n";
        assert_eq!(
            auto(text).unwrap(),
            [
                json!({"key":"K-1","key_secret":"s3cret","collection_id":7,"registrations":3,"blocked":false}),
                json!({"key":"K-2","blocked":true}),
            ]
        );
        let err = auto("key,collection_id\nK-1,seven\n").unwrap_err();
        assert_eq!(err, "line 2: `collection_id` must be an integer, not \"seven\"");
    }

    #[test]
    fn lone_key_header_is_csv() {
        assert_eq!(auto("key\nK-1\nK-2\n").unwrap(), [json!("K-1"), json!("K-2")]);
        assert_eq!(auto("Key\r\nK-1\r\n").unwrap(), [json!("K-1")]);
    }

    #[test]
    fn json_lines() {
        let text = "{\"key\":\"K-1\",\"key_secret\":\"s\"}\n\n{\"key\":\"K-2\"}\n";
        assert_eq!(auto(text).unwrap(), [json!({"key":"K-1","key_secret":"s"}), json!({"key":"K-2"})]);
        assert_eq!(parse_records("\"K-3\"\n", Format::Jsonl, false).unwrap(), [json!("K-3")]);
        assert!(
            parse_records("K-1\n", Format::Auto, true).unwrap_err().starts_with("line 1: not a JSON record")
        );
        assert_eq!(auto("{\"nokey\":1}\n").unwrap_err(), "line 1: a record needs a \"key\" string");
    }

    #[test]
    fn csv_errors_name_the_problem() {
        assert!(auto("email,code\na,b\n").unwrap_err().contains("no `key` column"));
        assert_eq!(auto("key,note\nK-1,x\n,y\n").unwrap_err(), "line 3: no key in column 1 (`key`)");
    }
}

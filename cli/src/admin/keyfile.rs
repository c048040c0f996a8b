//! Reading a key-import file: one key per line, or CSV whose header row has a `key` column.
//! It is CSV when the first non-blank line holds a comma or is exactly `key`.

/// The keys in `text`, in file order (duplicates kept: the API reports them).
///
/// # Errors
/// A CSV without a `key` column, or a row whose key cell is missing or empty; the message
/// names the line.
pub fn parse_keys(text: &str) -> Result<Vec<String>, String> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((_, first)) = lines.next() else {
        return Ok(Vec::new());
    };
    let is_csv = first.contains(',') || first.trim().eq_ignore_ascii_case("key");
    if !is_csv {
        let mut keys = vec![first.trim().to_owned()];
        keys.extend(lines.map(|(_, l)| l.trim().to_owned()));
        return Ok(keys);
    }
    let header = split_csv_line(first);
    let column = header
        .iter()
        .position(|h| h.trim().eq_ignore_ascii_case("key"))
        .ok_or_else(|| format!("the CSV header {first:?} has no `key` column"))?;
    lines
        .map(|(index, line)| {
            let cells = split_csv_line(line);
            match cells.get(column).map(|c| c.trim()) {
                Some(key) if !key.is_empty() => Ok(key.to_owned()),
                _ => Err(format!("line {}: no key in column {} (`key`)", index + 1, column + 1)),
            }
        })
        .collect()
}

/// One CSV record on one line: commas separate, double quotes enclose, `""` is a quote.
fn split_csv_line(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => cells.push(std::mem::take(&mut cell)),
            other => cell.push(other),
        }
    }
    cells.push(cell);
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_line() {
        assert_eq!(parse_keys("AAA\n\n  BBB \r\nAAA\n").unwrap(), ["AAA", "BBB", "AAA"]);
        assert!(parse_keys("\n \n").unwrap().is_empty());
    }

    #[test]
    fn csv_with_key_column() {
        let text = "email,key,note\nx@y.z,K-1,\"hello, world\"\n\"a\"\"b\",K-2,\n";
        assert_eq!(parse_keys(text).unwrap(), ["K-1", "K-2"]);
    }

    #[test]
    fn lone_key_header_is_csv() {
        assert_eq!(parse_keys("key\nK-1\nK-2\n").unwrap(), ["K-1", "K-2"]);
        assert_eq!(parse_keys("Key\r\nK-1\r\n").unwrap(), ["K-1"]);
    }

    #[test]
    fn csv_errors_name_the_problem() {
        assert!(parse_keys("email,code\na,b\n").unwrap_err().contains("no `key` column"));
        assert_eq!(parse_keys("key,note\nK-1,x\n,y\n").unwrap_err(), "line 3: no key in column 1 (`key`)");
    }
}

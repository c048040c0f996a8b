//! A lint: secrets are compared in constant time (`Secret::matches`, `constant_time_eq`,
//! `subtle`), never with `==`, `!=`, `.eq(…)` or `.ne(…)`, whose early exit leaks how much of a
//! guess was right.
//!
//! It scans the non-test Rust sources of the workspace (every `src/` under `shared/`,
//! `functions/` and `cli/`; `#[cfg(test)]` items are skipped), with comments and string literals
//! blanked out, and flags any comparison where either operand mentions a secret-like name
//! (`secret`, `token`, `signature`, `password`, `hmac`). Two kinds of comparison are not flagged:
//!
//! - sizes: an operand ending in `.len()`, `.is_empty()` or `.count()` compares a length, which
//!   constant-time comparison does not hide either;
//! - the explicit [`ALLOWED`] list, each entry with its reason. An entry that no longer matches
//!   anything fails the lint, so the list cannot rot.
//!
//! Not covered (reviewed by hand instead): `assert_eq!`/`matches!` in non-test code, `PartialEq`
//! derived on types that hold raw secret strings, comparisons inside SQL or DynamoDB
//! expressions (those compare hashes: see `ids::secret_lookup_hash`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

/// Names that make an operand secret-like (matched case-insensitively, anywhere in the operand).
const SECRET_WORDS: &[&str] = &["secret", "token", "signature", "password", "passwd", "hmac"];

/// Operands that compare a size, not content.
const SIZE_SUFFIXES: &[&str] = &[".len()", ".is_empty()", ".count()"];

/// Comparisons that look secret-like but are not: (path suffix, text of the line, reason).
/// Empty today; add an entry only with a reason a reviewer can check.
const ALLOWED: &[(&str, &str, &str)] = &[];

/// The directories scanned, relative to the workspace root.
const ROOTS: &[&str] = &["shared", "functions", "cli"];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Finding {
    line: usize,
    text: String,
    operands: (String, String),
}

// ---------------------------------------------------------------------------------------------
// Source preparation
// ---------------------------------------------------------------------------------------------

fn blank(c: char) -> char {
    if c == '\n' { '\n' } else { ' ' }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The source with comments and the contents of string and char literals replaced by spaces
/// (line structure kept), so only code is left to match.
fn sanitize(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let len = chars.len();
    let at = |i: usize| chars.get(i).copied();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < len {
        let c = chars[i];
        let next = at(i + 1);
        let after_ident = i > 0 && is_ident(chars[i - 1]);
        // Line comment (doc comments included).
        if c == '/' && next == Some('/') {
            while i < len && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
            continue;
        }
        // Block comment, nested.
        if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < len {
                if chars[i] == '/' && at(i + 1) == Some('*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == Some('/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            continue;
        }
        // Raw strings: r"…", r#"…"#, br"…", br#"…"#.
        if !after_ident && (c == 'r' || (c == 'b' && next == Some('r'))) {
            let mut j = i + if c == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while at(j) == Some('#') {
                hashes += 1;
                j += 1;
            }
            if at(j) == Some('"') {
                out.extend(&chars[i..=j]);
                i = j + 1;
                while i < len {
                    if chars[i] == '"' && (1..=hashes).all(|k| at(i + k) == Some('#')) {
                        out.push('"');
                        out.extend(std::iter::repeat_n('#', hashes));
                        i += 1 + hashes;
                        break;
                    }
                    out.push(blank(chars[i]));
                    i += 1;
                }
                continue;
            }
        }
        // Strings (and byte strings: the `b` went out as code).
        if c == '"' {
            out.push('"');
            i += 1;
            while i < len {
                match chars[i] {
                    '\\' => {
                        out.push(' ');
                        if let Some(escaped) = at(i + 1) {
                            out.push(blank(escaped));
                        }
                        i += 2;
                    }
                    '"' => {
                        out.push('"');
                        i += 1;
                        break;
                    }
                    other => {
                        out.push(blank(other));
                        i += 1;
                    }
                }
            }
            continue;
        }
        // Char literals ('x', '\n', '\u{1F600}'); anything else after a quote is a lifetime.
        if c == '\'' {
            if next == Some('\\') {
                let mut j = i + 2;
                while j < len && chars[j] != '\'' && chars[j] != '\n' {
                    j += 1;
                }
                if at(j) == Some('\'') {
                    out.push('\'');
                    out.extend(std::iter::repeat_n(' ', j - i - 1));
                    out.push('\'');
                    i = j + 1;
                    continue;
                }
            } else if next.is_some() && at(i + 2) == Some('\'') {
                out.push_str("' '");
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Blank out every `#[cfg(test)]` item (usually `mod tests { … }`), keeping line numbers.
fn without_test_items(sanitized: &str) -> Vec<String> {
    let mut lines: Vec<String> = sanitized.lines().map(str::to_owned).collect();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "#[cfg(test)]" {
            i += 1;
            continue;
        }
        // Skip the attribute and the item after it: to its closing brace, or its `;`.
        let mut depth = 0i32;
        let mut opened = false;
        let mut j = i;
        loop {
            let line = std::mem::take(&mut lines[j]);
            for c in line.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            let ends_item = j > i && ((opened && depth <= 0) || (!opened && line.trim_end().ends_with(';')));
            j += 1;
            if ends_item || j >= lines.len() {
                break;
            }
        }
        i = j;
    }
    lines
}

// ---------------------------------------------------------------------------------------------
// Comparisons
// ---------------------------------------------------------------------------------------------

fn operand_char(c: char) -> bool {
    is_ident(c) || matches!(c, '.' | ':' | '&' | '*' | '?' | '"')
}

/// The operand that ends just before byte `end` (skipping spaces): a path, field or method
/// chain, with balanced `(…)` and `[…]`.
fn left_operand(line: &[char], end: usize) -> String {
    let mut i = end;
    while i > 0 && line[i - 1] == ' ' {
        i -= 1;
    }
    let stop = i;
    while i > 0 {
        let c = line[i - 1];
        if c == ')' || c == ']' {
            let (open, close) = if c == ')' { ('(', ')') } else { ('[', ']') };
            let mut depth = 0;
            let mut j = i;
            while j > 0 {
                let d = line[j - 1];
                if d == close {
                    depth += 1;
                } else if d == open {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                j -= 1;
            }
            if j == 0 {
                break;
            }
            i = j - 1;
        } else if operand_char(c) {
            i -= 1;
        } else {
            break;
        }
    }
    line[i..stop].iter().collect()
}

/// The operand that starts at `start` (skipping spaces).
fn right_operand(line: &[char], start: usize) -> String {
    let mut i = start;
    while i < line.len() && line[i] == ' ' {
        i += 1;
    }
    let from = i;
    while i < line.len() {
        let c = line[i];
        if c == '(' || c == '[' {
            let (open, close) = if c == '(' { ('(', ')') } else { ('[', ']') };
            let mut depth = 0;
            while i < line.len() {
                if line[i] == open {
                    depth += 1;
                } else if line[i] == close {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                i += 1;
            }
            i += 1;
        } else if operand_char(c) {
            i += 1;
        } else {
            break;
        }
    }
    line[from..i.min(line.len())].iter().collect()
}

fn secret_like(operand: &str) -> bool {
    let lower = operand.to_lowercase();
    SECRET_WORDS.iter().any(|w| lower.contains(w)) && !SIZE_SUFFIXES.iter().any(|s| operand.ends_with(s))
}

/// Every secret-like comparison on one (sanitized) line, as its two operands.
fn comparisons(line: &str) -> Vec<(String, String)> {
    let chars: Vec<char> = line.chars().collect();
    let mut found = Vec::new();
    for i in 0..chars.len().saturating_sub(1) {
        let (c, next) = (chars[i], chars[i + 1]);
        let before = if i > 0 { Some(chars[i - 1]) } else { None };
        let after = chars.get(i + 2).copied();
        let operator = (c == '=' || c == '!')
            && next == '='
            && !matches!(before, Some('=' | '<' | '>' | '!'))
            && after != Some('=');
        if operator {
            let left = left_operand(&chars, i);
            let right = right_operand(&chars, i + 2);
            if secret_like(&left) || secret_like(&right) {
                found.push((left, right));
            }
        }
        // `.eq(…)` / `.ne(…)`
        if c == '.'
            && (chars[i + 1..].starts_with(&['e', 'q', '(']) || chars[i + 1..].starts_with(&['n', 'e', '(']))
        {
            let receiver = left_operand(&chars, i);
            let argument = right_operand(&chars, i + 3);
            if secret_like(&receiver) || secret_like(&argument) {
                found.push((receiver, argument));
            }
        }
    }
    found
}

/// Every flagged comparison in a file's source, not yet filtered by [`ALLOWED`].
fn scan(source: &str) -> Vec<Finding> {
    let original: Vec<&str> = source.lines().collect();
    let mut findings = Vec::new();
    for (index, line) in without_test_items(&sanitize(source)).iter().enumerate() {
        for operands in comparisons(line) {
            findings.push(Finding {
                line: index + 1,
                text: original.get(index).map(|l| l.trim().to_owned()).unwrap_or_default(),
                operands,
            });
        }
    }
    findings
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            if !matches!(name, "tests" | "target" | "benches" | "examples") && !name.starts_with('.') {
                rust_sources(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The `src/` directories of every crate under the scanned roots.
fn source_files(workspace: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for root in ROOTS {
        let root = workspace.join(root);
        let mut crates = vec![root.clone()];
        if let Ok(entries) = std::fs::read_dir(&root) {
            crates.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
        for krate in crates {
            rust_sources(&krate.join("src"), &mut files);
        }
    }
    files.sort();
    files.dedup();
    files
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn secrets_are_never_compared_with_eq() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let files = source_files(workspace);
    assert!(files.len() > 20, "found too few sources to trust the scan: {files:?}");
    assert!(
        files.iter().any(|f| f.ends_with("shared/core/src/secret.rs")),
        "the scan must cover shared/core/src"
    );

    let mut offending = Vec::new();
    let mut used = vec![false; ALLOWED.len()];
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        let shown = file.strip_prefix(workspace).unwrap_or(file).display().to_string();
        for finding in scan(&source) {
            let allowed = ALLOWED
                .iter()
                .position(|(path, text, _)| shown.ends_with(path) && finding.text.contains(text));
            match allowed {
                Some(index) => used[index] = true,
                None => offending.push(format!(
                    "{shown}:{}: {}   (compares {:?} with {:?})",
                    finding.line, finding.text, finding.operands.0, finding.operands.1
                )),
            }
        }
    }
    for line in &offending {
        println!("{line}");
    }
    assert!(
        offending.is_empty(),
        "secret-like values compared with ==/!=/eq/ne; use Secret::matches or secret::constant_time_eq \
         (or add an ALLOWED entry with a reason):\n{}",
        offending.join("\n")
    );
    let stale: Vec<_> =
        ALLOWED.iter().zip(&used).filter(|(_, used)| !**used).map(|(entry, _)| entry).collect();
    assert!(stale.is_empty(), "ALLOWED entries that match nothing any more: {stale:?}");
}

/// The scanner itself: it must catch what it is for, and ignore comments, strings, tests and
/// length checks.
#[test]
fn scanner_catches_and_ignores_the_right_things() {
    let flagged = |code: &str| scan(code).into_iter().map(|f| f.line).collect::<Vec<_>>();

    // Caught.
    assert_eq!(flagged("if app.app_secret.expose() == candidate {\n"), [1]);
    assert_eq!(flagged("x\nif given != key_secret { return; }\n"), [2]);
    assert_eq!(flagged("let ok = token==presented;\n"), [1]);
    assert_eq!(flagged("let ok = expected_signature.as_bytes() == sig.as_bytes();\n"), [1]);
    assert_eq!(flagged("if headers.get(\"x\") == Some(&self.token) {}\n"), [1]);
    assert_eq!(flagged("if candidate.eq(self.secret.expose()) {}\n"), [1]);
    assert_eq!(flagged("    Some(s) if s == admin_token.expose() => {}\n"), [1]);
    assert_eq!(flagged("if self.password.ne(&given) {}\n"), [1]);
    assert_eq!(flagged("let s = r#\"a \"quoted\" raw\"#; if secret == x {}\n"), [1]);

    // Ignored: comments, strings, lengths, unrelated names, other operators, test items.
    assert!(flagged("// if secret == x\n/* token != y */\n/// signature == z\n").is_empty());
    assert!(flagged("let m = \"secret == x\"; let n = r#\"token != y\"#;\n").is_empty());
    assert!(flagged("let c = '\"'; let d = secret_count; if a == b {}\n").is_empty());
    assert!(flagged("if secret.len() == 0 || token.is_empty() == false {}\n").is_empty());
    assert!(flagged("if key.len() != n || owner != app_id {}\n").is_empty());
    assert!(flagged("let ok = secret_len <= 3 && token >= 4; let f = |x| x => 1;\n").is_empty());
    assert!(flagged("/* nested /* secret == x */ token != y */ fn f() {}\n").is_empty());
    assert!(
        flagged(
            "fn real() {}\n#[cfg(test)]\nmod tests {\n    fn t() {\n        assert!(secret == other);\n    }\n}\nfn after() { if token == x {} }\n"
        ) == [8],
        "test modules are skipped, code after them is not"
    );
    assert!(flagged("#[cfg(test)]\nconst T: bool = SECRET == 1;\nlet a = token == b;\n") == [3]);
    assert!(flagged("fn f<'a>(x: &'a str) -> bool { x == 'a'.to_string() }\n").is_empty());
}

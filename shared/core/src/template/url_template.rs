//! URL templates. Every value is percent-encoded for the part of the URL it lands in, so a value
//! can never end a path segment, start a query, add a parameter or a fragment: it stays one piece
//! of data, and the receiver decodes back exactly what the event carried.
//!
//! Variables may not appear before the path starts (scheme, credentials, host, port). Where a
//! request goes must be decided by the studio when it saves the webhook, not by event data: a
//! host from a variable would let a version label redirect deliveries, and the address checks
//! made at save time would check a host that is not the one used.
//!
//! One thing encoding cannot prevent: a path segment whose whole value is `.` or `..` is a dot
//! segment to every URL parser (even as `%2E`), so the URL is normalised around it.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use url::Url;

use super::parse::{ParseError, Segment, Template};
use super::vars::{Values, Variable};

/// What no part of a URL may hold as data: controls, space, the delimiters that end a part
/// (`#`), what parsers rewrite or refuse (`"`, `<`, `>`, `[`, `\`, `]`, `^`, `` ` ``, `{`, `|`,
/// `}`), and `%` so values decode to themselves.
const UNSAFE_ANYWHERE: AsciiSet = CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Inside a path segment: also what could end the segment or the path (`/`, `?`).
/// Sub-delimiters such as `&`, `=`, `+`, `:` and `@` are plain data in a path and stay readable.
const PATH_SEGMENT: &AsciiSet = &UNSAFE_ANYWHERE.add(b'/').add(b'?');

/// Inside the query: also what separates parameters (`&`, `;`) and names from values (`=`), and
/// what form decoders read as a space (`+`) or as a quote (`'`). `/`, `?`, `:` and `@` are data
/// in a query and stay readable, so a URL-valued variable is still legible.
const QUERY: &AsciiSet = &UNSAFE_ANYWHERE.add(b'&').add(b'\'').add(b'+').add(b';').add(b'=');

/// Inside the fragment nothing follows, so only what is not allowed there at all, and `%`.
const FRAGMENT: &AsciiSet = &UNSAFE_ANYWHERE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Path,
    Query,
    Fragment,
}

impl Part {
    fn set(self) -> &'static AsciiSet {
        match self {
            Part::Path => PATH_SEGMENT,
            Part::Query => QUERY,
            Part::Fragment => FRAGMENT,
        }
    }

    /// The part after `text`, read as literal URL text starting in `self`.
    fn after(self, text: &str) -> Part {
        text.chars().fold(self, |part, c| match (part, c) {
            (Part::Path, '?') => Part::Query,
            (Part::Path | Part::Query, '#') => Part::Fragment,
            (part, _) => part,
        })
    }
}

#[derive(Debug, Clone)]
enum UrlSegment {
    Literal(String),
    Variable(Variable, Part),
}

#[derive(Debug, Clone)]
pub struct UrlTemplate {
    segments: Vec<UrlSegment>,
    /// Literal length, to size the output once.
    literal_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlTemplateError {
    Parse(ParseError),
    /// A variable before the path of what does look like an http(s) URL.
    VariableBeforePath,
    /// A variable in a template that does not even start as an http(s) URL.
    NotAbsolute,
}

impl std::fmt::Display for UrlTemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UrlTemplateError::Parse(e) => e.fmt(f),
            UrlTemplateError::VariableBeforePath => f.write_str(
                "variables may only appear in the path, query or fragment; write the scheme and \
                 host out in full (e.g. https://example.com/hooks/{{app.name}})",
            ),
            UrlTemplateError::NotAbsolute => f.write_str(
                "must be an absolute http(s) URL with the scheme and host written out; variables \
                 may only appear in the path, query or fragment",
            ),
        }
    }
}

impl UrlTemplate {
    /// # Errors
    /// A template that does not parse, or a variable before the path.
    pub fn parse(source: &str) -> Result<UrlTemplate, UrlTemplateError> {
        let template = Template::parse(source).map_err(UrlTemplateError::Parse)?;
        let mut segments = Vec::with_capacity(template.segments().len());
        // None while still in the scheme and authority.
        let mut part = None;
        for segment in template.segments() {
            match segment {
                Segment::Literal(text) => {
                    part = match part {
                        None => path_start(text),
                        Some(part) => Some(part.after(text)),
                    };
                    segments.push(UrlSegment::Literal(text.clone()));
                }
                Segment::Variable(var) => {
                    let part = part.ok_or_else(|| misplaced(&template))?;
                    segments.push(UrlSegment::Variable(*var, part));
                }
            }
        }
        let literal_len = source.len();
        Ok(UrlTemplate { segments, literal_len })
    }

    /// The URL with `values` placed, not yet checked (see [`check`]).
    #[must_use]
    pub fn render(&self, values: &Values) -> String {
        let mut out = String::with_capacity(self.literal_len + 64);
        for segment in &self.segments {
            match segment {
                UrlSegment::Literal(text) => out.push_str(text),
                UrlSegment::Variable(var, part) => {
                    out.extend(utf8_percent_encode(values.get(*var), part.set()));
                }
            }
        }
        out
    }
}

/// Why a variable came before the path: a misplaced variable in an http(s) URL, or no such URL.
fn misplaced(template: &Template) -> UrlTemplateError {
    let prefix = match template.segments().first() {
        Some(Segment::Literal(text)) => text.to_ascii_lowercase(),
        _ => String::new(),
    };
    if prefix.starts_with("http://") || prefix.starts_with("https://") {
        UrlTemplateError::VariableBeforePath
    } else {
        UrlTemplateError::NotAbsolute
    }
}

/// The part a URL is in at the end of `prefix`, if its path (or query, or fragment) has started:
/// after `scheme://`, the authority ends at the first `/`, `?` or `#`, as in the URL standard.
/// Anything else (no `//`, a backslash) is not guessed at: a variable after it is refused.
fn path_start(prefix: &str) -> Option<Part> {
    let authority = &prefix[prefix.find("://")? + 3..];
    let end = authority.find(['/', '?', '#'])?;
    Some(Part::Path.after(&authority[end..]))
}

/// Checks a rendered URL: absolute, http or https, with a host.
///
/// # Errors
/// Why it is not one, for the studio.
pub fn check(rendered: &str) -> Result<Url, String> {
    let url = Url::parse(rendered).map_err(|e| format!("must be an absolute http(s) URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("must be an absolute http(s) URL (scheme is `{}`)", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must be an absolute http(s) URL (no host)".to_owned());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(v: &str) -> Values {
        Values::default().with(Variable::VersionLabel, v)
    }

    fn render(template: &str, v: &str) -> String {
        UrlTemplate::parse(template).unwrap().render(&values(v))
    }

    #[test]
    fn encodes_for_the_part_the_value_lands_in() {
        let v = "a b/c?d&e=f+g#h%i:j@k 🎮";
        assert_eq!(
            render("https://x.test/p/{{version.label}}", v),
            "https://x.test/p/a%20b%2Fc%3Fd&e=f+g%23h%25i:j@k%20%F0%9F%8E%AE"
        );
        assert_eq!(
            render("https://x.test/p?q={{version.label}}", v),
            "https://x.test/p?q=a%20b/c?d%26e%3Df%2Bg%23h%25i:j@k%20%F0%9F%8E%AE"
        );
        assert_eq!(
            render("https://x.test/p#{{version.label}}", v),
            "https://x.test/p#a%20b/c?d&e=f+g%23h%25i:j@k%20%F0%9F%8E%AE"
        );
        // The part is tracked across literals: `?` inside a value does not move it, `?` and `#`
        // in the template do.
        assert_eq!(
            render("https://x.test/{{version.label}}/s?a={{version.label}}#{{version.label}}", "?#&"),
            "https://x.test/%3F%23&/s?a=?%23%26#?%23&"
        );
        assert_eq!(render("https://x.test?q={{version.label}}", "&"), "https://x.test?q=%26");
    }

    #[test]
    fn variables_before_the_path_are_refused() {
        for template in [
            "{{app.download_url}}",
            "https://{{app.name}}.example.com/",
            "https://example.com:{{version.id}}/",
            "https://user:{{version.id}}@example.com/",
            "https://example.com{{version.id}}",
            "http:example.com/{{version.id}}",
            "https:\\\\example.com\\{{version.id}}",
        ] {
            let err = UrlTemplate::parse(template).unwrap_err();
            assert!(err.to_string().contains("only appear in the path, query or fragment"), "{template}");
        }
        let err = |t: &str| UrlTemplate::parse(t).unwrap_err();
        assert_eq!(err("HTTPS://{{app.name}}/"), UrlTemplateError::VariableBeforePath);
        assert_eq!(err("/relative/{{app.name}}"), UrlTemplateError::NotAbsolute);
        assert_eq!(err("{{app.download_url}}"), UrlTemplateError::NotAbsolute);
    }

    #[test]
    fn check_wants_absolute_http() {
        assert_eq!(check("https://example.com").unwrap().as_str(), "https://example.com/");
        for bad in ["/relative", "ftp://example.com/", "mailto:a@b.c", "https://exa mple.com/", ""] {
            let err = check(bad).unwrap_err();
            assert!(err.starts_with("must be an absolute http(s) URL"), "{bad}: {err}");
        }
    }
}

//! String templates: literal text with `{{ variable }}` holes, parsed once when a webhook is saved
//! so that delivery never meets a template it cannot understand.
//!
//! There is no escape for a literal `{{`: PatchKit has none, and an unknown name inside braces is
//! an error rather than text, so nothing renders differently from what the studio previewed.

use std::fmt;

use super::vars::{Values, Variable};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Variable(Variable),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

/// Why a template does not parse. `at` counts characters from 1, pointing at the `{{`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    UnknownVariable { name: String, at: usize },
    Unclosed { at: usize },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnknownVariable { name, at } => {
                write!(f, "unknown variable `{{{{{name}}}}}` at character {at}")
            }
            ParseError::Unclosed { at } => write!(f, "`{{{{` at character {at} is never closed by `}}}}`"),
        }
    }
}

impl Template {
    /// # Errors
    /// The first `{{` that is not closed or does not name a known variable.
    pub fn parse(source: &str) -> Result<Template, ParseError> {
        let mut segments = Vec::new();
        let mut rest = source;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                segments.push(Segment::Literal(rest[..open].to_owned()));
            }
            let at = source.len() - rest.len() + open;
            let at = source[..at].chars().count() + 1;
            let inner = &rest[open + 2..];
            let close = inner.find("}}").ok_or(ParseError::Unclosed { at })?;
            let name = inner[..close].trim();
            let var = Variable::parse(name)
                .ok_or_else(|| ParseError::UnknownVariable { name: name.to_owned(), at })?;
            segments.push(Segment::Variable(var));
            rest = &inner[close + 2..];
        }
        if !rest.is_empty() {
            segments.push(Segment::Literal(rest.to_owned()));
        }
        Ok(Template { segments })
    }

    #[must_use]
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    pub fn variables(&self) -> impl Iterator<Item = Variable> + '_ {
        self.segments.iter().filter_map(|s| match s {
            Segment::Variable(v) => Some(*v),
            Segment::Literal(_) => None,
        })
    }

    #[must_use]
    pub fn has_variables(&self) -> bool {
        self.variables().next().is_some()
    }

    /// Values are placed verbatim: a value that itself contains `{{…}}` is text, never expanded.
    #[must_use]
    pub fn render(&self, values: &Values) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Variable(var) => out.push_str(values.get(*var)),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Segment {
        Segment::Literal(s.to_owned())
    }

    #[test]
    fn splits_literals_and_variables() {
        let t = Template::parse("Hi {{app.name}}, v{{ version.label }}!{{\tversion.id\n}}").unwrap();
        assert_eq!(
            t.segments(),
            &[
                lit("Hi "),
                Segment::Variable(Variable::AppName),
                lit(", v"),
                Segment::Variable(Variable::VersionLabel),
                lit("!"),
                Segment::Variable(Variable::VersionId),
            ]
        );
    }

    #[test]
    fn plain_text_and_lone_braces_are_literal() {
        for text in ["", "plain", "{ single }", "}} closes nothing", "a { {b} }", "{}"] {
            let t = Template::parse(text).unwrap();
            assert!(!t.has_variables(), "{text}");
            assert_eq!(t.render(&Values::default()), text);
        }
    }

    #[test]
    fn unknown_and_empty_names_are_errors() {
        assert_eq!(
            Template::parse("x {{app.nam}}").unwrap_err(),
            ParseError::UnknownVariable { name: "app.nam".into(), at: 3 }
        );
        assert_eq!(
            Template::parse("{{ }}").unwrap_err(),
            ParseError::UnknownVariable { name: String::new(), at: 1 }
        );
        // Mustache's triple braces are not a thing here.
        assert_eq!(
            Template::parse("{{{app.name}}}").unwrap_err(),
            ParseError::UnknownVariable { name: "{app.name".into(), at: 1 }
        );
        assert_eq!(
            Template::parse("{{app.name}}").map(|t| t.variables().collect::<Vec<_>>()),
            Ok(vec![Variable::AppName])
        );
    }

    #[test]
    fn unclosed_is_an_error_at_the_opening_braces() {
        assert_eq!(
            Template::parse("ok {{app.name}} then {{app.name").unwrap_err(),
            ParseError::Unclosed { at: 22 }
        );
        assert_eq!(Template::parse("{{").unwrap_err(), ParseError::Unclosed { at: 1 });
        assert_eq!(Template::parse("{{app.name}").unwrap_err(), ParseError::Unclosed { at: 1 });
        // Positions count characters, not bytes.
        assert_eq!(Template::parse("🎮é{{").unwrap_err(), ParseError::Unclosed { at: 3 });
    }

    #[test]
    fn messages_name_the_variable_and_position() {
        let err = Template::parse("a{{ app.nam }}").unwrap_err();
        assert_eq!(err.to_string(), "unknown variable `{{app.nam}}` at character 2");
        let err = Template::parse("a{{b").unwrap_err();
        assert_eq!(err.to_string(), "`{{` at character 2 is never closed by `}}`");
    }

    #[test]
    fn values_are_not_re_expanded() {
        let t = Template::parse("[{{version.changes}}]").unwrap();
        let values = Values::default().with(Variable::VersionChanges, "{{app.name}} {{nope");
        assert_eq!(t.render(&values), "[{{app.name}} {{nope]");
    }
}

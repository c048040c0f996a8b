//! Payload templates: the studio's JSON with variables in string values and object keys. Values
//! are placed inside the parsed JSON, never spliced into JSON text, so quotes, backslashes and
//! newlines in a changelog come out as the same characters in valid JSON. A string that is only
//! a variable is still a string: no guessing at numbers or booleans.

use serde_json::{Map, Number, Value};

use super::TemplateError;
use super::parse::Template;
use super::vars::Values;

/// Deeper than any payload a person writes, shallow enough that recursion cannot exhaust the
/// stack.
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone)]
pub enum PayloadTemplate {
    Null,
    Bool(bool),
    Number(Number),
    String(Template),
    Array(Vec<PayloadTemplate>),
    Object(Vec<Field>),
}

#[derive(Debug, Clone)]
pub struct Field {
    key: Template,
    /// Where the field is, for errors that only show up when rendering.
    location: String,
    value: PayloadTemplate,
}

impl PayloadTemplate {
    /// # Errors
    /// The first string or key that does not parse, located (`payload.a.b[2]`); a key's own
    /// problem is reported at the key's location with the message saying it is the key.
    pub fn compile(value: &Value) -> Result<PayloadTemplate, TemplateError> {
        compile_at(value, &mut "payload".to_owned(), 0)
    }

    /// # Errors
    /// Two keys of one object that render to the same text (one would silently replace the other).
    pub fn render(&self, values: &Values) -> Result<Value, TemplateError> {
        Ok(match self {
            PayloadTemplate::Null => Value::Null,
            PayloadTemplate::Bool(b) => Value::Bool(*b),
            PayloadTemplate::Number(n) => Value::Number(n.clone()),
            PayloadTemplate::String(t) => Value::String(t.render(values)),
            PayloadTemplate::Array(items) => {
                Value::Array(items.iter().map(|item| item.render(values)).collect::<Result<_, _>>()?)
            }
            PayloadTemplate::Object(fields) => {
                let mut map = Map::new();
                for field in fields {
                    let key = field.key.render(values);
                    let value = field.value.render(values)?;
                    if map.insert(key, value).is_some() {
                        return Err(TemplateError {
                            location: field.location.clone(),
                            message: "this key renders to the same text as another key of the object"
                                .to_owned(),
                        });
                    }
                }
                Value::Object(map)
            }
        })
    }
}

fn compile_at(value: &Value, location: &mut String, depth: usize) -> Result<PayloadTemplate, TemplateError> {
    if depth > MAX_DEPTH {
        return Err(TemplateError {
            location: location.clone(),
            message: format!("nested more than {MAX_DEPTH} levels deep"),
        });
    }
    let error = |location: &str, message: String| TemplateError { location: location.to_owned(), message };
    Ok(match value {
        Value::Null => PayloadTemplate::Null,
        Value::Bool(b) => PayloadTemplate::Bool(*b),
        Value::Number(n) => PayloadTemplate::Number(n.clone()),
        Value::String(s) => {
            PayloadTemplate::String(Template::parse(s).map_err(|e| error(location, e.to_string()))?)
        }
        Value::Array(items) => {
            let len = location.len();
            let mut compiled = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                location.push_str(&format!("[{i}]"));
                compiled.push(compile_at(item, location, depth + 1)?);
                location.truncate(len);
            }
            PayloadTemplate::Array(compiled)
        }
        Value::Object(map) => {
            let len = location.len();
            let mut fields = Vec::with_capacity(map.len());
            for (key, item) in map {
                location.push('.');
                location.push_str(key);
                let key =
                    Template::parse(key).map_err(|e| error(location, format!("in the key itself: {e}")))?;
                let value = compile_at(item, location, depth + 1)?;
                fields.push(Field { key, location: location.clone(), value });
                location.truncate(len);
            }
            PayloadTemplate::Object(fields)
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::vars::Variable;
    use super::*;

    fn values() -> Values {
        Values::default()
            .with(Variable::AppName, "Game \"X\"")
            .with(Variable::VersionChanges, "line 1\nline 2 \\ 🎮")
            .with(Variable::VersionId, "7")
    }

    #[test]
    fn substitutes_in_values_and_keys() {
        let template = PayloadTemplate::compile(&json!({
            "text": "{{app.name}}: {{version.changes}}",
            "id": "{{version.id}}",
            "{{app.name}}": [1, true, null, {"deep": "v{{version.id}}"}],
        }))
        .unwrap();
        assert_eq!(
            template.render(&values()).unwrap(),
            json!({
                "text": "Game \"X\": line 1\nline 2 \\ 🎮",
                "id": "7",
                "Game \"X\"": [1, true, null, {"deep": "v7"}],
            })
        );
    }

    #[test]
    fn errors_are_located() {
        let err = |v: Value| PayloadTemplate::compile(&v).unwrap_err();
        assert_eq!(err(json!("{{nope}}")).location, "payload");
        assert_eq!(err(json!({"a": {"b": [0, 1, "{{x"]}})).location, "payload.a.b[2]");
        assert_eq!(err(json!([{"k": "{{app.nam}}"}])).location, "payload[0].k");
        let key = err(json!({"a": {"{{app.nam}}": 1}}));
        assert_eq!(key.location, "payload.a.{{app.nam}}");
        assert_eq!(key.message, "in the key itself: unknown variable `{{app.nam}}` at character 1");
    }

    #[test]
    fn colliding_keys_are_an_error_not_a_silent_overwrite() {
        let template = PayloadTemplate::compile(&json!({"x": 2, "{{app.name}}": 1})).unwrap();
        let err = template.render(&Values::default().with(Variable::AppName, "x")).unwrap_err();
        assert_eq!(err.location, "payload.{{app.name}}");
    }

    #[test]
    fn depth_is_bounded() {
        let mut deep = json!("leaf");
        for _ in 0..=MAX_DEPTH {
            deep = json!([deep]);
        }
        assert!(PayloadTemplate::compile(&deep).unwrap_err().message.contains("nested"));
    }
}

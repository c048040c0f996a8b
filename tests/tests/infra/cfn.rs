//! Reading a SAM template: YAML with CloudFormation's short-form tags turned into JSON, and
//! the intrinsic functions (`Ref`, `Fn::GetAtt`, `Fn::Sub`) and parameters it refers to.

use serde_json::{Value, json};

/// The template as JSON, with CloudFormation's short-form tags (`!Ref X`, `!GetAtt A.B`,
/// `!Sub ...`, `!If [...]`) turned into their long forms (`{"Ref": "X"}`, ...).
pub fn parse(yaml: &str) -> Value {
    let doc: serde_norway::Value =
        serde_norway::from_str(yaml).expect("infra/template.yaml is not valid YAML");
    to_json(doc)
}

fn to_json(v: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_u64() {
                json!(i)
            } else if let Some(i) = n.as_i64() {
                json!(i)
            } else {
                json!(n.as_f64())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(seq) => Value::Array(seq.into_iter().map(to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_norway::to_string(&other).expect("YAML key").trim().to_owned(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(tagged.value);
            match name {
                "Ref" | "Condition" => json!({ name: inner }),
                "GetAtt" => match inner {
                    Value::String(s) => match s.split_once('.') {
                        Some((resource, attribute)) => json!({ "Fn::GetAtt": [resource, attribute] }),
                        None => json!({ "Fn::GetAtt": s }),
                    },
                    other => json!({ "Fn::GetAtt": other }),
                },
                other => json!({ format!("Fn::{other}"): inner }),
            }
        }
    }
}

pub fn as_ref(v: &Value) -> Option<&str> {
    v.as_object().filter(|o| o.len() == 1)?.get("Ref")?.as_str()
}

pub fn as_getatt(v: &Value) -> Option<(&str, &str)> {
    match v.as_object().filter(|o| o.len() == 1)?.get("Fn::GetAtt")? {
        Value::Array(parts) if parts.len() == 2 => Some((parts[0].as_str()?, parts[1].as_str()?)),
        Value::String(s) => s.split_once('.'),
        _ => None,
    }
}

/// The template string of an `Fn::Sub` (either form).
pub fn as_sub(v: &Value) -> Option<&str> {
    match v.as_object().filter(|o| o.len() == 1)?.get("Fn::Sub")? {
        Value::String(s) => Some(s),
        Value::Array(parts) => parts.first()?.as_str(),
        _ => None,
    }
}

/// `${Name}` references in a `Fn::Sub` template.
pub fn sub_names(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        if !after.starts_with('!') {
            names.push(&after[..end]);
        }
        rest = &after[end + 1..];
    }
    names
}

pub fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// Whether anything inside `v` refers to the resource `id` (`Ref`, `GetAtt`, `${id}` or
/// `${id.Attr}` in a `Sub`).
pub fn mentions(v: &Value, id: &str) -> bool {
    match v {
        Value::String(s) => {
            s == id
                || s.starts_with(&format!("{id}."))
                || s.contains(&format!("${{{id}}}"))
                || s.contains(&format!("${{{id}."))
        }
        Value::Array(items) => items.iter().any(|i| mentions(i, id)),
        Value::Object(map) => map.values().any(|i| mentions(i, id)),
        _ => false,
    }
}

/// A number, given literally, as a numeric string, or as a `Ref` to a parameter (its default).
pub fn number(t: &Value, v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => as_ref(v).and_then(|p| parameter(t, p)).and_then(|p| number(t, &p["Default"])),
    }
}

pub fn parameter<'a>(t: &'a Value, name: &str) -> Option<&'a Value> {
    t["Parameters"].get(name)
}

fn parameter_text(p: &Value, field: &str) -> Option<String> {
    match &p[field] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What `v` evaluates to when every referenced parameter takes `field` (`Default`, or
/// `MaxValue` for a worst case). `None` for anything else (resources, other intrinsics).
pub fn evaluate(t: &Value, v: &Value, field: &str) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => {
            if let Some(name) = as_ref(v) {
                return parameter_text(parameter(t, name)?, field);
            }
            let template = as_sub(v)?;
            let mut out = template.to_owned();
            for name in sub_names(template) {
                let value = parameter_text(parameter(t, name)?, field)?;
                out = out.replace(&format!("${{{name}}}"), &value);
            }
            Some(out)
        }
    }
}

pub fn is_secret_reference(v: &Value) -> bool {
    let text = v.as_str().or_else(|| as_sub(v));
    text.is_some_and(|s| {
        s.trim_start().starts_with("{{resolve:secretsmanager:") && s.trim_end().ends_with("}}")
    })
}

#[test]
fn short_form_tags_become_long_form() {
    let v = parse(
        "a: !Ref X\nb: !GetAtt T.Arn\nc: !Sub \"${T.Arn}/index/x\"\nd: !If [C, 1, !Ref AWS::NoValue]\n",
    );
    assert_eq!(v["a"], json!({"Ref": "X"}));
    assert_eq!(v["b"], json!({"Fn::GetAtt": ["T", "Arn"]}));
    assert_eq!(v["c"], json!({"Fn::Sub": "${T.Arn}/index/x"}));
    assert_eq!(v["d"], json!({"Fn::If": ["C", 1, {"Ref": "AWS::NoValue"}]}));
    assert!(mentions(&v["c"], "T"));
    assert!(!mentions(&v["c"], "Tx"));
}

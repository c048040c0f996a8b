//! A JSON object as `application/x-www-form-urlencoded`, with the bracket convention Rails and PHP
//! read back into the same structure: `a[b]=v` for nested objects, `a[]=v` for arrays. Scalars
//! are their JSON text (`1.5`, `true`), null is empty, and an empty object or array still sends
//! its key (`a=`, `a[]=`) so a receiver can tell it was there.

use serde_json::{Map, Value};

/// The encoded pairs of `object`, in its key order.
#[must_use]
pub fn encode(object: &Map<String, Value>) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    let mut name = String::new();
    for (key, value) in object {
        name.clear();
        name.push_str(key);
        append(&mut serializer, &mut name, value);
    }
    serializer.finish()
}

/// `name` is the bracketed path so far; it is restored before returning so siblings reuse it.
fn append(serializer: &mut form_urlencoded::Serializer<'_, String>, name: &mut String, value: &Value) {
    match value {
        Value::Null => {
            serializer.append_pair(name, "");
        }
        Value::Bool(b) => {
            serializer.append_pair(name, if *b { "true" } else { "false" });
        }
        Value::Number(n) => {
            serializer.append_pair(name, &n.to_string());
        }
        Value::String(s) => {
            serializer.append_pair(name, s);
        }
        Value::Array(items) => {
            let len = name.len();
            name.push_str("[]");
            if items.is_empty() {
                serializer.append_pair(name, "");
            }
            for item in items {
                append(serializer, name, item);
            }
            name.truncate(len);
        }
        Value::Object(fields) => {
            if fields.is_empty() {
                serializer.append_pair(name, "");
            }
            let len = name.len();
            for (key, field) in fields {
                name.push('[');
                name.push_str(key);
                name.push(']');
                append(serializer, name, field);
                name.truncate(len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn form(value: Value) -> String {
        match value {
            Value::Object(map) => encode(&map),
            _ => panic!("test payloads are objects"),
        }
    }

    // Keys are written in sorted order so the expectations hold whether or not serde_json's
    // `preserve_order` gets enabled by some other crate in the build.
    #[test]
    fn scalars() {
        assert_eq!(
            form(json!({"f": false, "i": -3, "n": 1.5, "s": "a b&c=d+é", "t": true, "z": null})),
            "f=false&i=-3&n=1.5&s=a+b%26c%3Dd%2B%C3%A9&t=true&z="
        );
    }

    #[test]
    fn nesting_and_arrays() {
        assert_eq!(
            form(json!({"a": {"b": "1", "c": {"d": 2}}, "l": ["x", 3, {"k": "v"}]})),
            "a%5Bb%5D=1&a%5Bc%5D%5Bd%5D=2&l%5B%5D=x&l%5B%5D=3&l%5B%5D%5Bk%5D=v"
        );
    }

    #[test]
    fn empty_containers_keep_their_key() {
        assert_eq!(form(json!({"l": [], "o": {}})), "l%5B%5D=&o=");
        assert_eq!(form(json!({})), "");
    }
}

//! Secrets reach the functions as Secrets Manager names, never as values: each function reads
//! them through the Parameters and Secrets extension layer, and may read exactly its own.

use std::collections::BTreeSet;

use patchbay_core::config::SECRET_VARIABLES;

use crate::FUNCTIONS;
use crate::cfn::{as_ref, as_sub, is_secret_reference};
use crate::checker::Checker;
use crate::iam::statements;

/// The layer the functions' Arm64 bootstraps need (the x86_64 one is named without the suffix).
const EXTENSION_LAYER: &str = ":layer:AWS-Parameters-and-Secrets-Lambda-Extension-Arm64:";
const READ_SECRET: &str = "secretsmanager:GetSecretValue";
/// Secrets Manager ends every secret's ARN in `-` and six random characters.
const ARN_SUFFIX: &str = "-??????";

pub fn check_environment(c: &mut Checker<'_>) {
    for f in FUNCTIONS {
        let id = f.logical_id;
        let env = c.environment(id);
        for (name, value) in &env {
            if is_secret_reference(value) {
                c.fail(format!(
                    "{id}: {name} resolves a secret into the environment, where lambda:GetFunctionConfiguration shows it"
                ));
            }
        }
        for secret in SECRET_VARIABLES {
            if env.contains_key(secret.value) {
                c.fail(format!(
                    "{id}: sets {}, a secret's value; set {} to the secret's name instead",
                    secret.value, secret.id
                ));
            }
            if let Some(value) = env.get(secret.id)
                && as_ref(value).is_none_or(|p| c.t["Parameters"].get(p).is_none())
            {
                c.fail(format!(
                    "{id}: {} must be !Ref to a parameter naming the secret, not {value}",
                    secret.id
                ));
            }
        }
        let reads_secrets =
            f.variables.iter().any(|(name, _)| SECRET_VARIABLES.iter().any(|s| s.id == *name));
        let layers = c.function_prop(id, "Layers");
        let has_layer = layers.as_array().is_some_and(|layers| {
            layers
                .iter()
                .any(|l| l.as_str().or_else(|| as_sub(l)).is_some_and(|t| t.contains(EXTENSION_LAYER)))
        });
        if reads_secrets && !has_layer {
            c.fail(format!(
                "{id}: reads secrets through the Parameters and Secrets extension but has no {EXTENSION_LAYER} layer"
            ));
        }
    }
}

/// Each function may call `GetSecretValue` on exactly the secrets its environment names.
pub fn check_policies(c: &mut Checker<'_>) {
    let secret_parameter = |c: &Checker<'_>, f: &crate::Function| -> BTreeSet<String> {
        let env = c.environment(f.logical_id);
        SECRET_VARIABLES
            .iter()
            .filter_map(|s| env.get(s.id).and_then(|v| as_ref(v)).map(str::to_owned))
            .collect()
    };
    let all_secrets: BTreeSet<String> = FUNCTIONS.iter().flat_map(|f| secret_parameter(c, f)).collect();
    for f in FUNCTIONS {
        let id = f.logical_id;
        let needed = secret_parameter(c, f);
        let (found, _) = statements(c, f);
        let mut granted = BTreeSet::new();
        for s in found.iter().filter(|s| s.actions.iter().any(|a| a.starts_with("secretsmanager:"))) {
            for a in s.actions.iter().filter(|a| *a != READ_SECRET) {
                c.fail(format!("{id}: secretsmanager actions must be exactly {READ_SECRET}, not {a}"));
            }
            let resources = match &s.resources {
                serde_json::Value::Array(items) => items.clone(),
                one => vec![one.clone()],
            };
            for r in &resources {
                let text = r.as_str().or_else(|| as_sub(r)).unwrap_or_default();
                let names: Vec<&String> =
                    all_secrets.iter().filter(|p| text.contains(&format!("${{{p}}}"))).collect();
                if names.is_empty() {
                    c.fail(format!("{id}: {READ_SECRET} on {r}, which names none of its secrets"));
                } else if !names.iter().any(|p| text.ends_with(&format!("${{{p}}}{ARN_SUFFIX}"))) {
                    c.fail(format!(
                        "{id}: secret resource {text} must end in ${{Name}}{ARN_SUFFIX} (the ARN's random suffix), so no other secret matches"
                    ));
                }
                granted.extend(names.into_iter().cloned());
            }
        }
        for p in granted.difference(&needed) {
            c.fail(format!("{id}: may read secret {p}, which it does not use"));
        }
        for p in needed.difference(&granted) {
            c.fail(format!("{id}: cannot read its secret {p} (no {READ_SECRET} on it)"));
        }
    }
}

//! Each function's environment against what its config reads, and the parameter defaults
//! against the code's own defaults. (Secrets: `secrets.rs`.)

use std::collections::{BTreeMap, BTreeSet};

use patchbay_core::config::{
    self, DEFAULT_SECRETS_REFRESH, DeliverConfig, Env, IngestConfig, LicenseCheckConfig, Need, SecretSource,
};

use crate::cfn::{as_ref, as_sub, evaluate, parameter, sub_names};
use crate::checker::Checker;
use crate::{DELIVER, FUNCTIONS, Function, INGEST, LICENSE_CHECK};

pub fn check_environment(c: &mut Checker<'_>, f: &Function) {
    let id = f.logical_id;
    let env = c.environment(id);
    let read: BTreeSet<&str> = f.variables.iter().map(|(name, _)| *name).collect();
    for (name, need) in f.variables {
        match env.get(*name) {
            None => c.fail(format!("{id}: {name} ({need:?}) is not set; {} reads it", f.name)),
            Some(value) if *value == "" && *need == Need::Required => {
                c.fail(format!("{id}: {name} is Required but set to an empty string"));
            }
            Some(value) if *need == Need::Optional => {
                let names: Vec<&str> = as_ref(value)
                    .map_or_else(|| as_sub(value).map(sub_names).unwrap_or_default(), |r| vec![r]);
                if !names.iter().any(|n| parameter(c.t, n).is_some()) {
                    c.fail(format!(
                        "{id}: optional {name} should come from a template parameter, not {value}"
                    ));
                }
            }
            Some(_) => {}
        }
    }
    for name in env.keys() {
        if !read.contains(name.as_str()) {
            c.fail(format!("{id}: sets {name}, which {} does not read (not in its config list)", f.name));
        }
    }
    if let Some(store) = env.get(config::STORE)
        && *store != "aws"
    {
        c.fail(format!("{id}: {} must be aws, not {store}", config::STORE));
    }
}

/// The environment a function gets with every parameter at its default, resource names
/// replaced by their logical ids.
fn default_environment(c: &Checker<'_>, f: &Function) -> BTreeMap<String, String> {
    c.environment(f.logical_id)
        .into_iter()
        .filter_map(|(name, value)| {
            let text = if let Some(id) = as_ref(value).filter(|id| c.resource(id).is_some()) {
                Some(id.to_owned())
            } else {
                evaluate(c.t, value, "Default")
            };
            text.map(|text| (name, text))
        })
        .collect()
}

/// The template's defaults must make configs the code accepts, equal to the code's defaults.
pub fn check_defaults(c: &mut Checker<'_>) {
    let envs: BTreeMap<&str, BTreeMap<String, String>> =
        FUNCTIONS.iter().map(|f| (f.logical_id, default_environment(c, f))).collect();
    let lookup = |id: &str| {
        let env = envs[id].clone();
        Env::new(move |k| env.get(k).cloned())
    };
    match IngestConfig::from_env(&lookup(INGEST.logical_id)) {
        Err(e) => c.fail(format!("IngestFunction: the code rejects the template's defaults: {e}")),
        Ok(cfg) => {
            if let SecretSource::SecretsManager { refresh, .. } = cfg.admin_token
                && refresh != DEFAULT_SECRETS_REFRESH
            {
                c.fail("parameter SecretsRefresh's default differs from DEFAULT_SECRETS_REFRESH");
            }
        }
    }
    if let Err(e) = LicenseCheckConfig::from_env(&lookup(LICENSE_CHECK.logical_id)) {
        c.fail(format!("LicenseCheckFunction: the code rejects the template's defaults: {e}"));
    }
    let code_default =
        DeliverConfig::from_env(&Env::new(|k| (k == config::STORE).then(|| "sqlite:x.db".to_owned())))
            .expect("deliver's own defaults");
    match DeliverConfig::from_env(&lookup(DELIVER.logical_id)) {
        Err(e) => c.fail(format!("DeliverFunction: the code rejects the template's defaults: {e}")),
        Ok(cfg) => {
            if cfg.retry != code_default.retry {
                c.fail("parameter RetrySchedule's default differs from RetrySchedule::default()");
            }
            if cfg.send != code_default.send {
                c.fail(format!(
                    "delivery parameter defaults ({:?}) differ from SendConfig::default() ({:?})",
                    cfg.send, code_default.send
                ));
            }
            if cfg.auto_disable_after != code_default.auto_disable_after {
                c.fail("parameter AutoDisableAfter's default differs from the code's default");
            }
        }
    }
}

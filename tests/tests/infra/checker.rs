//! What the checks share: the template, the failures found so far (each with the check that
//! found it), and lookups that follow SAM's rules (`Globals.Function` under each function).

use std::collections::BTreeMap;
use std::panic::Location;

use serde_json::Value;

use crate::Function;
use crate::cfn::as_ref;

/// One failure: its message, and the `fail` call that reported it (which check).
pub struct Problem {
    pub message: String,
    pub check: &'static Location<'static>,
}

pub struct Checker<'t> {
    pub t: &'t Value,
    pub problems: Vec<Problem>,
}

impl<'t> Checker<'t> {
    pub fn new(t: &'t Value) -> Checker<'t> {
        Checker { t, problems: Vec::new() }
    }

    /// Report a failure; where this is called from identifies the check (the mutation test
    /// counts the checks its mutations reach).
    #[track_caller]
    pub fn fail(&mut self, problem: impl Into<String>) {
        self.problems.push(Problem { message: problem.into(), check: Location::caller() });
    }

    pub fn resource(&self, id: &str) -> Option<&'t Value> {
        self.t["Resources"].get(id)
    }

    pub fn props(&self, id: &str) -> &'t Value {
        self.resource(id).map_or(&Value::Null, |r| &r["Properties"])
    }

    pub fn resource_type(&self, id: &str) -> Option<&'t str> {
        self.resource(id)?["Type"].as_str()
    }

    /// A function property, falling back to `Globals.Function`.
    pub fn function_prop(&self, id: &str, name: &str) -> &'t Value {
        match self.props(id).get(name) {
            Some(v) if !v.is_null() => v,
            _ => &self.t["Globals"]["Function"][name],
        }
    }

    /// Environment variables, `Globals.Function` merged under the function's own.
    pub fn environment(&self, id: &str) -> BTreeMap<String, &'t Value> {
        let mut vars = BTreeMap::new();
        for source in [&self.t["Globals"]["Function"], self.props(id)] {
            if let Some(map) = source["Environment"]["Variables"].as_object() {
                for (k, v) in map {
                    vars.insert(k.clone(), v);
                }
            }
        }
        vars
    }

    pub fn events(&self, id: &str, kind: &str) -> Vec<(&'t str, &'t Value)> {
        self.props(id)["Events"]
            .as_object()
            .map(|events| {
                events
                    .iter()
                    .filter(|(_, e)| e["Type"] == kind)
                    .map(|(name, e)| (name.as_str(), &e["Properties"]))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The logical id a function's variable `Ref`s, if it refs a resource of type `kind`.
    pub fn env_resource(&mut self, f: &Function, var: &str, kind: &str) -> Option<&'t str> {
        let env = self.environment(f.logical_id);
        let value = env.get(var)?;
        match as_ref(value) {
            Some(id) if self.resource_type(id) == Some(kind) => Some(id),
            _ => {
                self.fail(format!(
                    "{}: {var} must be a !Ref to a {kind} in the template, not {value}",
                    f.logical_id
                ));
                None
            }
        }
    }
}

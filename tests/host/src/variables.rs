//! Application variables, resolved as `spin up` resolves them: explicit
//! values (like `--variable`) first, then `SPIN_VARIABLE_<NAME>` from the
//! environment, then the manifest default. Component variables are
//! templates over application variables.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, bail};

use crate::manifest::{Manifest, VariableDecl, check_variable_name};

/// Where variable values come from, before defaults.
#[derive(Clone, Debug, Default)]
pub struct Providers {
    /// Values given directly, like `spin up --variable name=value`. They win.
    pub explicit: HashMap<String, String>,
    /// Whether to read `SPIN_VARIABLE_<NAME>` environment variables.
    pub environment: bool,
}

impl Providers {
    fn lookup(&self, name: &str) -> Option<String> {
        if let Some(value) = self.explicit.get(name) {
            return Some(value.clone());
        }
        if self.environment {
            return std::env::var(env_name(name)).ok();
        }
        None
    }
}

/// The environment variable that sets application variable `name`.
pub fn env_name(name: &str) -> String {
    format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase())
}

/// Every application variable's resolved value.
#[derive(Clone, Debug)]
pub struct Resolved {
    values: BTreeMap<String, String>,
}

impl Resolved {
    /// Resolves every declared variable. Like Spin, fails if any required
    /// variable has no value, whether or not a running component uses it.
    pub fn resolve(
        declared: &BTreeMap<String, VariableDecl>,
        providers: &Providers,
    ) -> anyhow::Result<Self> {
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, decl) in declared {
            match providers.lookup(name).or_else(|| decl.default.clone()) {
                Some(value) => {
                    values.insert(name.clone(), value);
                }
                None => missing.push(format!("Key({name:?})")),
            }
        }
        if !missing.is_empty() {
            bail!(
                "provider error: no provider resolved required variable(s): [{}]",
                missing.join(", ")
            );
        }
        Ok(Self { values })
    }

    /// Only the declared defaults: what Spin checks templates in
    /// `allowed_outbound_hosts` with at startup. Expanding a variable with
    /// no default fails.
    pub fn defaults_only(declared: &BTreeMap<String, VariableDecl>) -> Self {
        let values = declared
            .iter()
            .filter_map(|(name, decl)| Some((name.clone(), decl.default.clone()?)))
            .collect();
        Self { values }
    }

    /// Expands `{{ name }}` in `template` with application variables.
    pub fn expand(&self, template: &str) -> anyhow::Result<String> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .context("invalid variable template: unmatched '{{' in template")?;
            let name = after[..end].trim();
            let value = self
                .values
                .get(name)
                .with_context(|| format!("invalid variable template: unknown variable {name:?}"))?;
            out.push_str(value);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Checks every component's variable templates, as Spin does at startup.
    pub fn check_templates(&self, manifest: &Manifest) -> anyhow::Result<()> {
        for (id, component) in &manifest.components {
            for (name, template) in &component.variables {
                self.expand(template)
                    .with_context(|| format!("component {id:?} variable {name:?}"))?;
            }
        }
        Ok(())
    }
}

/// One component's view of the variables, for `fermyon:spin/variables.get`.
#[derive(Clone, Debug)]
pub struct ComponentVariables {
    component_id: String,
    values: BTreeMap<String, String>,
}

/// The `fermyon:spin/variables` error cases.
#[derive(Debug, PartialEq, Eq)]
pub enum GetError {
    /// The name breaks the naming rules.
    InvalidName(String),
    /// The component has no such variable.
    Undefined(String),
}

impl ComponentVariables {
    /// The expanded templates of component `id`.
    pub fn new(
        id: &str,
        templates: &BTreeMap<String, String>,
        resolved: &Resolved,
    ) -> anyhow::Result<Self> {
        let values = templates
            .iter()
            .map(|(name, template)| Ok((name.clone(), resolved.expand(template)?)))
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            component_id: id.to_owned(),
            values,
        })
    }

    /// The value of `name`, with Spin's errors.
    pub fn get(&self, name: &str) -> Result<String, GetError> {
        check_variable_name(name).map_err(|e| GetError::InvalidName(e.to_string()))?;
        self.values.get(name).cloned().ok_or_else(|| {
            GetError::Undefined(format!("no variable for {:?}.{name:?}", self.component_id))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(default: Option<&str>) -> VariableDecl {
        VariableDecl {
            description: None,
            required: default.is_none(),
            default: default.map(str::to_owned),
            secret: false,
        }
    }

    fn declared() -> BTreeMap<String, VariableDecl> {
        BTreeMap::from([
            ("db_host".to_owned(), decl(Some("127.0.0.1:3306"))),
            ("token".to_owned(), decl(None)),
        ])
    }

    fn explicit(pairs: &[(&str, &str)]) -> Providers {
        Providers {
            explicit: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            environment: false,
        }
    }

    #[test]
    fn defaults_apply_when_no_provider_has_a_value() {
        let resolved = Resolved::resolve(&declared(), &explicit(&[("token", "t")])).unwrap();
        assert_eq!(resolved.expand("{{ db_host }}").unwrap(), "127.0.0.1:3306");
    }

    #[test]
    fn a_provider_value_beats_the_default() {
        let resolved = Resolved::resolve(
            &declared(),
            &explicit(&[("token", "t"), ("db_host", "db:1")]),
        )
        .unwrap();
        assert_eq!(
            resolved.expand("mysql://{{db_host}}").unwrap(),
            "mysql://db:1"
        );
    }

    #[test]
    fn a_missing_required_variable_fails_like_spin() {
        let error = Resolved::resolve(&declared(), &explicit(&[])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "provider error: no provider resolved required variable(s): [Key(\"token\")]"
        );
    }

    #[test]
    fn environment_variable_names_are_prefixed_and_upper_case() {
        assert_eq!(env_name("db_url"), "SPIN_VARIABLE_DB_URL");
    }

    #[test]
    fn templates_mix_text_and_variables_and_report_errors() {
        let resolved = Resolved::resolve(&declared(), &explicit(&[("token", "t")])).unwrap();
        assert_eq!(resolved.expand("a{{token}}b{{ token }}c").unwrap(), "atbtc");
        assert_eq!(resolved.expand("no templates").unwrap(), "no templates");
        assert!(
            resolved
                .expand("{{ nope }}")
                .unwrap_err()
                .to_string()
                .contains("unknown variable \"nope\"")
        );
        assert!(
            resolved
                .expand("{{ token")
                .unwrap_err()
                .to_string()
                .contains("unmatched '{{'")
        );
    }

    #[test]
    fn a_component_sees_only_its_own_variables() {
        let resolved = Resolved::resolve(&declared(), &explicit(&[("token", "t")])).unwrap();
        let templates = BTreeMap::from([("token".to_owned(), "{{ token }}".to_owned())]);
        let vars = ComponentVariables::new("web", &templates, &resolved).unwrap();
        assert_eq!(vars.get("token"), Ok("t".into()));
        assert_eq!(
            vars.get("db_host"),
            Err(GetError::Undefined(
                "no variable for \"web\".\"db_host\"".into()
            ))
        );
        assert!(matches!(vars.get("Token"), Err(GetError::InvalidName(_))));
    }
}

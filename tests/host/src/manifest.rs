//! Reading `spin.toml` (manifest version 2): the parts an HTTP app uses.
//!
//! Unknown fields are refused, as Spin refuses them, so a typo in the
//! manifest fails here too rather than being silently ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail, ensure};
use serde::Deserialize;

/// A parsed manifest, with paths resolved against its directory.
#[derive(Debug)]
pub struct Manifest {
    /// The `[application]` name.
    pub name: String,
    /// The `[variables]`.
    pub variables: BTreeMap<String, VariableDecl>,
    /// The `[[trigger.http]]` entries, in manifest order.
    pub triggers: Vec<HttpTrigger>,
    /// The `[component.NAME]` tables.
    pub components: BTreeMap<String, ComponentDecl>,
}

/// An application variable.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Must be given a value (no default).
    #[serde(default)]
    pub required: bool,
    /// The value when no provider has one.
    #[serde(default)]
    pub default: Option<String>,
    /// Never printed by this host.
    #[serde(default)]
    pub secret: bool,
}

/// One `[[trigger.http]]`.
#[derive(Clone, Debug)]
pub struct HttpTrigger {
    /// The route as written.
    pub route: String,
    /// The component it runs.
    pub component: String,
}

/// One `[component.NAME]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentDecl {
    /// The `.wasm` file, resolved against the manifest's directory.
    pub source: PathBuf,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Variable templates, e.g. `db_url = "{{ db_url }}"`.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// Environment variables the component sees.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Outbound permissions, possibly templated.
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// The key-value store labels it may open.
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    /// The SQLite database labels it may open.
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    /// `spin build` settings; this host does not build.
    #[serde(default)]
    pub build: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, ComponentDecl>,
}

#[derive(Deserialize)]
struct RawApplication {
    name: String,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    #[serde(default)]
    id: Option<String>,
    route: RawRoute,
    component: Option<String>,
    #[serde(default)]
    executor: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

impl Manifest {
    /// Reads and checks the manifest at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base).with_context(|| format!("invalid manifest {}", path.display()))
    }

    /// Parses manifest text; relative sources resolve against `base`.
    pub fn parse(text: &str, base: &Path) -> anyhow::Result<Self> {
        let raw: RawManifest = toml::from_str(text)?;
        ensure!(
            raw.spin_manifest_version == toml::Value::Integer(2),
            "only spin_manifest_version = 2 is supported"
        );
        for (name, variable) in &raw.variables {
            check_manifest_variable_name(name).with_context(|| format!("variable {name:?}"))?;
            ensure!(
                variable.required ^ variable.default.is_some(),
                "variable {name:?}: must be `required` OR have a `default`"
            );
        }
        let mut triggers = Vec::new();
        for trigger in raw.trigger.http {
            let id = trigger.id.as_deref().unwrap_or("(unnamed)");
            if trigger.executor.is_some() {
                bail!("trigger {id}: `executor` is not supported by this host");
            }
            let component = trigger.component.with_context(|| {
                format!("trigger {id}: only `component` triggers are supported")
            })?;
            ensure!(
                raw.component.contains_key(&component),
                "trigger for route {:?} names unknown component {component:?}",
                match &trigger.route {
                    RawRoute::Path(p) => p.as_str(),
                    RawRoute::Private { .. } => "(private)",
                }
            );
            match trigger.route {
                RawRoute::Path(route) => triggers.push(HttpTrigger { route, component }),
                // Private routes are reachable only by service chaining,
                // which this host does not offer.
                RawRoute::Private { private: true } => {}
                RawRoute::Private { private: false } => {
                    bail!("route must be a string pattern or '{{ private = true }}'")
                }
            }
        }
        let mut components = raw.component;
        for (id, component) in &mut components {
            for name in component.variables.keys() {
                check_manifest_variable_name(name)
                    .with_context(|| format!("component {id:?} variable {name:?}"))?;
            }
            for label in component
                .key_value_stores
                .iter()
                .chain(&component.sqlite_databases)
            {
                ensure!(
                    is_kebab_or_snake_case(label),
                    "component {id:?}: label {label:?}: expected kebab-case or snake_case"
                );
            }
            if component.source.is_relative() {
                component.source = base.join(&component.source);
            }
        }
        Ok(Self {
            name: raw.application.name,
            variables: raw.variables,
            triggers,
            components,
        })
    }
}

/// Spin's rule for variable names: lower-case letters, digits and single
/// underscores, starting with a letter and not ending with an underscore.
/// The messages are Spin's.
pub fn check_variable_name(name: &str) -> anyhow::Result<()> {
    let reason = if name.is_empty() {
        "must not be empty".to_owned()
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        format!(
            "invalid character {c:?}. Variable names may contain only lower-case letters, numbers, and underscores."
        )
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        "must start with a lowercase ASCII letter".to_owned()
    } else if name.ends_with('_') {
        "must end with a lowercase ASCII letter or digit".to_owned()
    } else if name.contains("__") {
        "must not contain multiple consecutive underscores".to_owned()
    } else {
        return Ok(());
    };
    bail!("{name:?}: {reason}")
}

/// Spin's stricter rule for the variable names a manifest declares (its
/// `LowerSnakeId`): besides the rule above, every `_`-separated word must
/// start with a letter, so `per_15_minutes` stops the manifest from loading
/// although a guest may look such a name up. The messages are Spin's.
pub fn check_manifest_variable_name(name: &str) -> anyhow::Result<()> {
    for word in name.split('_') {
        if let Some(first) = word.chars().next()
            && !first.is_ascii_alphabetic()
        {
            bail!("{name:?}: '_'-separated words must start with an ASCII letter; got {first:?}");
        }
    }
    check_variable_name(name)
}

/// Spin's rule for store and database labels: words of ASCII letters and
/// digits, each starting with a letter and all lower or all upper case,
/// joined by `-` or by `_` (not both).
fn is_kebab_or_snake_case(label: &str) -> bool {
    let words_ok = |delimiter: char| {
        label.split(delimiter).all(|word| {
            let mut chars = word.chars();
            let Some(first) = chars.next() else {
                return false;
            };
            let upper = first.is_ascii_uppercase();
            first.is_ascii_alphabetic()
                && chars.all(|c| {
                    c.is_ascii_digit()
                        || (c.is_ascii_alphabetic() && c.is_ascii_uppercase() == upper)
                })
        })
    };
    (!label.contains('-') && words_ok('_')) || (!label.contains('_') && words_ok('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Manifest> {
        Manifest::parse(text, Path::new("/app"))
    }

    const MINIMAL: &str = r#"
        spin_manifest_version = 2
        [application]
        name = "demo"
        [variables]
        token = { required = true, secret = true }
        greeting = { default = "hi" }
        [[trigger.http]]
        route = "/hello"
        component = "hello"
        [component.hello]
        source = "target/hello.wasm"
        allowed_outbound_hosts = ["mysql://{{ db_host }}"]
        [component.hello.variables]
        token = "{{ token }}"
        [component.hello.build]
        command = "cargo build"
    "#;

    #[test]
    fn a_minimal_manifest_parses() {
        let manifest = parse(MINIMAL).unwrap();
        assert_eq!(manifest.name, "demo");
        assert_eq!(manifest.triggers.len(), 1);
        assert_eq!(manifest.triggers[0].route, "/hello");
        let hello = &manifest.components["hello"];
        assert_eq!(hello.source, Path::new("/app/target/hello.wasm"));
        assert_eq!(hello.variables["token"], "{{ token }}");
        assert!(manifest.variables["token"].secret);
        assert_eq!(
            manifest.variables["greeting"].default.as_deref(),
            Some("hi")
        );
    }

    #[test]
    fn a_variable_must_be_required_or_have_a_default_but_not_both() {
        let both = MINIMAL.replace(
            r#"{ default = "hi" }"#,
            r#"{ default = "hi", required = true }"#,
        );
        assert!(parse(&both).is_err());
        let neither = MINIMAL.replace(r#"{ default = "hi" }"#, "{ secret = false }");
        assert!(parse(&neither).is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let typo = MINIMAL.replace("allowed_outbound_hosts", "allowed_outbound_host");
        assert!(parse(&typo).is_err());
    }

    #[test]
    fn a_trigger_for_an_unknown_component_is_refused() {
        let wrong = MINIMAL.replace(r#"component = "hello""#, r#"component = "nobody""#);
        assert!(parse(&wrong).is_err());
    }

    #[test]
    fn a_declared_variable_name_with_a_word_starting_with_a_digit_is_refused() {
        for bad in ["per_15_minutes", "x_1"] {
            let manifest = MINIMAL.replace("greeting =", &format!("{bad} ="));
            let error = format!("{:#}", parse(&manifest).unwrap_err());
            assert!(
                error.contains("'_'-separated words must start with an ASCII letter; got '1'"),
                "{error}"
            );
            let in_component = MINIMAL.replace(
                "token = \"{{ token }}\"",
                &format!("{bad} = \"{{{{ token }}}}\""),
            );
            assert!(parse(&in_component).is_err(), "{bad}");
        }
        assert!(check_variable_name("per_15_minutes").is_ok());
        assert!(check_manifest_variable_name("per_quarter_hour2").is_ok());
    }

    #[test]
    fn variable_names_follow_spins_rules() {
        for good in ["db_url", "a", "x1", "jwt_ttl_seconds"] {
            assert!(check_variable_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Db", "db-url", "1db", "db_", "db__url", "_db"] {
            assert!(check_variable_name(bad).is_err(), "{bad}");
        }
        let message = check_variable_name("Foo").unwrap_err().to_string();
        assert_eq!(
            message,
            "\"Foo\": invalid character 'F'. Variable names may contain only lower-case letters, numbers, and underscores."
        );
    }

    #[test]
    fn store_and_database_labels_are_kebab_or_snake_case() {
        for good in ["default", "my-store", "my_store", "CACHE", "v2-cache", "a"] {
            assert!(is_kebab_or_snake_case(good), "{good}");
        }
        for bad in [
            "",
            "my-_store",
            "My-store",
            "2cache",
            "a--b",
            "my.store",
            "-a",
        ] {
            assert!(!is_kebab_or_snake_case(bad), "{bad}");
        }
        let with_labels = MINIMAL.replace(
            "[component.hello.variables]",
            "key_value_stores = [\"default\"]\nsqlite_databases = [\"default\", \"Bad Label\"]\n[component.hello.variables]",
        );
        let error = format!("{:#}", parse(&with_labels).unwrap_err());
        assert!(
            error.contains("expected kebab-case or snake_case"),
            "{error}"
        );
        let good = with_labels.replace(", \"Bad Label\"", "");
        let hello = &parse(&good).unwrap().components["hello"];
        assert_eq!(hello.key_value_stores, ["default"]);
        assert_eq!(hello.sqlite_databases, ["default"]);
    }

    #[test]
    fn only_version_2_manifests_are_read() {
        let v1 = MINIMAL.replace("spin_manifest_version = 2", "spin_manifest_version = \"1\"");
        assert!(parse(&v1).is_err());
    }
}

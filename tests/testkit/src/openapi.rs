//! The OpenAPI document as a test oracle: every response an end-to-end test
//! receives is checked against `openapi.yaml`, so the document cannot drift
//! from the code. A response breaks the contract if its status is not
//! documented for the operation, its content type is not the documented
//! one, a required header is missing, or its body does not match the
//! documented schema.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use anyhow::{Context, anyhow, bail};
use jsonschema::{Draft, Validator};
use serde_json::{Value, json};

use crate::workspace_root;

/// The parsed document and compiled schemas.
#[derive(Debug)]
pub struct Contract {
    document: Value,
    validators: Mutex<HashMap<String, std::sync::Arc<Validator>>>,
}

/// What a test received.
#[derive(Debug)]
pub struct Exchange<'a> {
    /// The request method, e.g. `GET`.
    pub method: &'a str,
    /// The request path, without the query.
    pub path: &'a str,
    /// The response status.
    pub status: u16,
    /// The response `content-type`, if any.
    pub content_type: Option<&'a str>,
    /// Response header names present (lower case).
    pub headers: Vec<String>,
    /// The response body.
    pub body: &'a [u8],
}

/// The repository's `openapi.yaml`, loaded once.
pub fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let path = workspace_root().join("openapi.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let document: Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("openapi.yaml: {e}"));
        Contract {
            document,
            validators: Mutex::new(HashMap::new()),
        }
    })
}

/// Escapes a JSON Pointer token, then percent-encodes what a URI fragment
/// cannot hold.
fn pointer_token(token: &str) -> String {
    token
        .replace('~', "~0")
        .replace('/', "~1")
        .replace('{', "%7B")
        .replace('}', "%7D")
}

impl Contract {
    /// The parsed document.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// The documented path template that `path` matches: an exact template
    /// first, else the one with the most literal segments.
    fn template_for(&self, path: &str) -> Option<&str> {
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        self.document["paths"]
            .as_object()?
            .keys()
            .filter_map(|template| {
                let parts: Vec<&str> = template.split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut literals = 0;
                for (part, segment) in parts.iter().zip(&segments) {
                    if part.starts_with('{') && part.ends_with('}') {
                        if segment.is_empty() {
                            return None;
                        }
                    } else if part == segment {
                        literals += 1;
                    } else {
                        return None;
                    }
                }
                Some((literals, template.as_str()))
            })
            .max_by_key(|(literals, _)| *literals)
            .map(|(_, template)| template)
    }

    /// Follows an OpenAPI `$ref` (to the same document), returning the
    /// target and its pointer.
    fn resolve<'a>(
        &'a self,
        value: &'a Value,
        pointer: String,
    ) -> anyhow::Result<(&'a Value, String)> {
        match value.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let target = reference
                    .strip_prefix('#')
                    .context("only local references are supported")?;
                let resolved = self
                    .document
                    .pointer(target)
                    .with_context(|| format!("dangling reference {reference}"))?;
                Ok((resolved, format!("#{target}")))
            }
            None => Ok((value, pointer)),
        }
    }

    fn validator(&self, pointer: &str) -> anyhow::Result<std::sync::Arc<Validator>> {
        let mut cache = self
            .validators
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = cache.get(pointer) {
            return Ok(found.clone());
        }
        // The whole document is the schema resource, so every `#/components`
        // reference resolves; `$ref` picks the schema to apply.
        let mut root = self.document.clone();
        root["$ref"] = json!(pointer);
        let validator = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .build(&root)
            .map_err(|e| anyhow!("the schema at {pointer} does not compile: {e}"))?;
        let validator = std::sync::Arc::new(validator);
        cache.insert(pointer.to_owned(), validator.clone());
        Ok(validator)
    }

    /// Checks one exchange against the document.
    pub fn check(&self, exchange: &Exchange<'_>) -> anyhow::Result<()> {
        let Some(template) = self.template_for(exchange.path) else {
            // Not an API path the document covers (e.g. an unknown /api/ path).
            return Ok(());
        };
        let method = exchange.method.to_ascii_lowercase();
        let path_pointer = format!("#/paths/{}", pointer_token(template));
        let Some(operation) = self.document["paths"][template].get(&method) else {
            // A method the path does not offer: a problem-details 405.
            if exchange.status != 405 {
                bail!(
                    "{} {} is undocumented but answered {}",
                    exchange.method,
                    template,
                    exchange.status
                );
            }
            if !exchange.headers.iter().any(|h| h == "allow") {
                bail!("a 405 without Allow");
            }
            let problem = self
                .document
                .pointer("/components/schemas/Problem")
                .map(|_| "#/components/schemas/Problem");
            return match problem {
                Some(pointer) => self.check_body(pointer, exchange),
                None => bail!("the document has no Problem schema"),
            };
        };
        let status = exchange.status.to_string();
        let responses = &operation["responses"];
        let (key, response) = match responses.get(&status) {
            Some(response) => (status.clone(), response),
            None => match responses.get("default") {
                Some(response) => ("default".to_owned(), response),
                None => bail!(
                    "{} {template} answered {status}, which the document does not list",
                    exchange.method
                ),
            },
        };
        let response_pointer = format!("{path_pointer}/{method}/responses/{key}");
        let (response, response_pointer) = self.resolve(response, response_pointer)?;

        if let Some(headers) = response.get("headers").and_then(Value::as_object) {
            for (name, header) in headers {
                let (header, _) = self.resolve(header, String::new())?;
                if header["required"] == true
                    && !exchange.headers.contains(&name.to_ascii_lowercase())
                {
                    bail!(
                        "{} {template} {status}: required header {name} is missing",
                        exchange.method
                    );
                }
            }
        }

        let Some(content) = response.get("content").and_then(Value::as_object) else {
            if !exchange.body.is_empty() {
                bail!(
                    "{} {template} {status} documents no body but sent one",
                    exchange.method
                );
            }
            return Ok(());
        };
        let media_type = exchange
            .content_type
            .map(|c| c.split(';').next().unwrap_or(c).trim().to_ascii_lowercase())
            .with_context(|| format!("{} {template} {status}: no content type", exchange.method))?;
        let Some(media) = content.get(&media_type) else {
            bail!(
                "{} {template} {status}: content type {media_type} is not documented ({:?})",
                exchange.method,
                content.keys().collect::<Vec<_>>()
            );
        };
        if media.get("schema").is_none() || !media_type.contains("json") {
            return Ok(());
        }
        let schema_pointer = format!(
            "{response_pointer}/content/{}/schema",
            pointer_token(&media_type)
        );
        self.check_body(&schema_pointer, exchange)
    }

    fn check_body(&self, schema_pointer: &str, exchange: &Exchange<'_>) -> anyhow::Result<()> {
        let body: Value = serde_json::from_slice(exchange.body).with_context(|| {
            format!(
                "{} {}: the body is not JSON",
                exchange.method, exchange.path
            )
        })?;
        let validator = self.validator(schema_pointer)?;
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if !errors.is_empty() {
            bail!(
                "{} {} {}: the body does not match {schema_pointer}:\n  {}\nbody: {body}",
                exchange.method,
                exchange.path,
                exchange.status,
                errors.join("\n  ")
            );
        }
        Ok(())
    }
}

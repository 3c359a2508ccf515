//! Omni's shared library. Every component is a thin `#[http_component]`
//! over the API's handlers or the website's pages here; ids, storage, the
//! write path, auth, validation, errors and HTTP plumbing are written once,
//! in this crate. `ARCHITECTURE.md` maps its layers.

#![forbid(unsafe_code)]

pub mod actions;
pub mod auth;
pub mod cache;
pub mod config;
pub mod context;
pub mod db;
pub mod error;
pub mod handlers;
pub mod hex;
pub mod http;
pub mod kv;
pub mod limits;
pub mod log;
pub mod model;
pub mod net;
pub mod paging;
pub mod snowflake;
pub mod store;
pub mod time;
pub mod views;
pub mod web;

pub use context::Context;
pub use error::Error;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    /// The layers, top to bottom, from the block under "## Layers" in
    /// ARCHITECTURE.md: each line names a layer's modules, then (after two
    /// spaces) what they are.
    fn layers() -> Vec<Vec<&'static str>> {
        let document = include_str!("../../ARCHITECTURE.md");
        let section = &document[document.find("\n## Layers").expect("a Layers section")..];
        let block = &section[section.find("```text\n").expect("a text block") + 8..];
        block[..block.find("```").expect("the block's end")]
            .lines()
            .map(|line| {
                line.split("  ")
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect()
            })
            .collect()
    }

    /// The top-level modules that `text` names with `crate::` paths,
    /// grouped (`crate::{a, b::c}`) or not.
    fn crate_paths(text: &str) -> Vec<&str> {
        let ident = |s: &str| {
            let end = s
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(s.len());
            s[..end].len()
        };
        let mut found = Vec::new();
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + 7..];
            if let Some(group) = rest.strip_prefix('{') {
                let (mut depth, mut start) = (0, 0);
                for (i, c) in group.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => {
                            found.push(group[start..i].trim());
                            break;
                        }
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            found.push(group[start..i].trim());
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
            } else {
                found.push(&rest[..ident(rest)]);
            }
        }
        found
            .into_iter()
            .map(|path| &path[..ident(path)])
            .filter(|name| !name.is_empty())
            .collect()
    }

    /// Every source file of the crate but lib.rs and test-only files, by
    /// its top-level module, without its `#[cfg(test)] mod tests`.
    fn sources(dir: &Path, module: Option<&str>, into: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let top = module.map_or_else(|| name.trim_end_matches(".rs").to_owned(), str::to_owned);
            if path.is_dir() {
                sources(&path, Some(&top), into);
            } else if name.ends_with(".rs") && name != "lib.rs" && name != "tests.rs" {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = text
                    .split("#[cfg(test)]\nmod tests")
                    .next()
                    .unwrap()
                    .to_owned();
                into.push((top, code));
            }
        }
    }

    #[test]
    fn every_module_imports_only_from_the_layers_below_its_own() {
        let rank: BTreeMap<&str, usize> = layers()
            .iter()
            .enumerate()
            .flat_map(|(depth, modules)| modules.iter().map(move |m| (*m, depth)))
            .collect();
        let mut files = Vec::new();
        sources(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            None,
            &mut files,
        );
        let mut problems = Vec::new();
        for (module, code) in &files {
            let Some(&own) = rank.get(module.as_str()) else {
                problems.push(format!("{module} is in no layer of ARCHITECTURE.md"));
                continue;
            };
            for target in crate_paths(code) {
                match rank.get(target) {
                    Some(&depth) if depth > own => {}
                    Some(_) if target == module => {}
                    Some(_) => problems.push(format!("{module} imports {target}, not below it")),
                    None => problems.push(format!("{module} imports {target}, in no layer")),
                }
            }
        }
        problems.sort();
        problems.dedup();
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

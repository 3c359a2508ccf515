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
pub mod fetch;
pub mod handlers;
pub mod hex;
pub mod http;
pub mod kv;
pub mod limits;
pub mod log;
pub mod markdown;
pub mod model;
pub mod net;
pub mod paging;
pub mod redis;
pub mod snowflake;
pub mod sources;
pub mod store;
pub mod time;
pub mod views;
pub mod web;

pub use context::Context;
pub use error::Error;

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
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

    /// Each module's crate imports, from its sources.
    fn imports() -> BTreeMap<String, BTreeSet<String>> {
        let mut files = Vec::new();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        sources(&src, None, &mut files);
        let mut imports: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (module, code) in &files {
            let targets = imports.entry(module.clone()).or_default();
            for target in crate_paths(code) {
                if target != module {
                    targets.insert(target.to_owned());
                }
            }
        }
        imports
    }

    /// The table of each module's imports in ARCHITECTURE.md: a row per
    /// module that imports any, the imports comma-separated, each maybe
    /// followed by a remark in parentheses.
    fn documented_imports() -> BTreeMap<String, BTreeSet<String>> {
        let document = include_str!("../../ARCHITECTURE.md");
        let table = &document[document
            .find("What each module imports")
            .expect("the table")..];
        table
            .lines()
            .skip_while(|line| !line.starts_with("| `"))
            .take_while(|line| line.starts_with('|'))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let imports = cells[2]
                    .split(',')
                    .filter_map(|entry| entry.split_whitespace().next())
                    .map(str::to_owned)
                    .collect();
                (cells[1].trim_matches('`').to_owned(), imports)
            })
            .collect()
    }

    #[test]
    fn architecture_md_lists_each_modules_imports_as_they_are() {
        let mut actual = imports();
        actual.retain(|_, targets| !targets.is_empty());
        assert_eq!(documented_imports(), actual);
    }

    #[test]
    fn every_module_imports_only_from_the_layers_below_its_own() {
        let rank: BTreeMap<&str, usize> = layers()
            .iter()
            .enumerate()
            .flat_map(|(depth, modules)| modules.iter().map(move |m| (*m, depth)))
            .collect();
        let mut problems = Vec::new();
        for (module, targets) in &imports() {
            let Some(&own) = rank.get(module.as_str()) else {
                problems.push(format!("{module} is in no layer of ARCHITECTURE.md"));
                continue;
            };
            for target in targets {
                match rank.get(target.as_str()) {
                    Some(&depth) if depth > own => {}
                    Some(_) => problems.push(format!("{module} imports {target}, not below it")),
                    None => problems.push(format!("{module} imports {target}, in no layer")),
                }
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }
}

//! The documentation stays true to the repository: every link in a
//! markdown file leads to a file, and a heading, that exists in it (a
//! reader who clones the repository has nothing else), and the README's
//! configuration table names every Spin variable of `spin.toml`, with its
//! default.

// Test code: a panic is how a helper fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

use omni_test_host::manifest::Manifest;
use omni_testkit::workspace_root;

/// Every markdown file of the tree under `root`, but for build output,
/// dependencies and hidden directories.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !(name.starts_with('.') || name == "target" || name == "node_modules") {
                    dirs.push(path);
                }
            } else if name.ends_with(".md") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The lines of `text` outside fenced code blocks, with their numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        match fence {
            Some(marker) if trimmed.starts_with(marker) => fence = None,
            Some(_) => {}
            None if trimmed.starts_with("```") => fence = Some("```"),
            None if trimmed.starts_with("~~~") => fence = Some("~~~"),
            None => lines.push((index + 1, line)),
        }
    }
    lines
}

/// `line` without its code spans, which hold text, not links.
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].len() - rest[start..].trim_start_matches('`').len();
        let opener = &rest[start..start + ticks];
        let after = &rest[start + ticks..];
        match after.find(opener) {
            Some(end) => rest = &after[end + ticks..],
            // An unmatched backtick is text.
            None => {
                out.push_str(opener);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The destinations of the inline links and images (`[text](dest)`,
/// `![alt](dest "title")`) and of the reference definitions
/// (`[label]: dest`) on a line of prose.
fn link_destinations(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut found = Vec::new();
    let trimmed = line.trim_start();
    if trimmed.starts_with('[')
        && let Some(close) = trimmed.find("]:")
        && let Some(dest) = trimmed[close + 2..].split_whitespace().next()
    {
        found.push(dest.trim_matches(['<', '>']).to_owned());
    }
    let mut rest = line.as_str();
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find([')', ' ']).unwrap_or(after.len());
        found.push(after[..end].trim_matches(['<', '>']).to_owned());
        rest = &after[end..];
    }
    found
}

/// The anchor GitHub gives a heading: its text lowercased, with every
/// character but letters, digits, `-`, `_` and spaces dropped, and each
/// space made a `-`. The caller drops code spans' backticks and emphasis;
/// a link in a heading is not handled, and Omni's headings have none.
fn anchor(heading: &str) -> String {
    heading
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .flat_map(char::to_lowercase)
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a markdown text's headings (a repeated one gets `-1`,
/// `-2`, … as on GitHub) and of its HTML `id`s.
fn anchors(text: &str) -> HashSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut found = HashSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.len() - line.trim_start_matches('#').len();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let title = line[hashes..].trim().trim_end_matches('#').trim();
            let title = title.replace(['`', '*'], "");
            let base = anchor(&title);
            let count = seen.entry(base.clone()).or_insert(0);
            found.insert(if *count == 0 {
                base.clone()
            } else {
                format!("{base}-{count}")
            });
            *count += 1;
        }
        let mut rest = line;
        while let Some(at) = rest.find(" id=\"") {
            let after = &rest[at + 5..];
            let end = after.find('"').unwrap_or(after.len());
            found.insert(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    found
}

/// `%xx` escapes decoded, as a browser does before it looks a path up.
fn percent_decoded(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| path.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `base` joined with the relative `path`, with `.` and `..` resolved by
/// hand (the file may not exist); `None` if it climbs out of `root`.
fn inside(root: &Path, base: &Path, path: &str) -> Option<PathBuf> {
    let mut parts: Vec<Component> = base.strip_prefix(root).ok()?.components().collect();
    for part in Path::new(path).components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Normal(_) => parts.push(part),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(
        parts
            .iter()
            .fold(root.to_path_buf(), |path, part| path.join(part)),
    )
}

/// What is wrong with each link of the markdown files under `root` that
/// does not lead to a file, or a heading, inside `root`.
fn broken_links(root: &Path) -> Vec<String> {
    let mut broken = Vec::new();
    for file in markdown_files(root) {
        let text = std::fs::read_to_string(&file).unwrap();
        let shown = file.strip_prefix(root).unwrap().display().to_string();
        for (number, line) in prose_lines(&text) {
            for dest in link_destinations(line) {
                let has_scheme = dest.split_once(':').is_some_and(|(scheme, _)| {
                    !scheme.is_empty()
                        && scheme
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
                });
                if has_scheme || dest.starts_with("//") {
                    continue;
                }
                let (path, fragment) = dest.split_once('#').unwrap_or((dest.as_str(), ""));
                let target = if path.is_empty() {
                    Some(file.clone())
                } else {
                    inside(root, file.parent().unwrap(), &percent_decoded(path))
                };
                let problem = match target {
                    None => Some("leads outside the repository".to_owned()),
                    Some(target) if !target.exists() => Some("names no file".to_owned()),
                    Some(_) if fragment.is_empty() => None,
                    Some(target) if target.extension().is_none_or(|e| e != "md") => {
                        Some("has an anchor into a file that is not markdown".to_owned())
                    }
                    Some(target) => {
                        let headings = anchors(&std::fs::read_to_string(&target).unwrap());
                        (!headings.contains(fragment)).then(|| {
                            format!(
                                "names no heading of {}",
                                target.strip_prefix(root).unwrap().display()
                            )
                        })
                    }
                };
                if let Some(problem) = problem {
                    broken.push(format!("{shown}:{number}: ({dest}) {problem}"));
                }
            }
        }
    }
    broken
}

#[test]
fn every_link_in_the_documentation_leads_to_a_file_and_heading_of_the_repository() {
    let root = workspace_root();
    assert!(root.join("README.md").exists());
    assert!(markdown_files(&root).contains(&root.join("docs/testing.md")));
    let broken = broken_links(&root);
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_check_reports_missing_files_headings_and_links_out_of_the_repository() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("docs")).unwrap();
    std::fs::write(
        root.join("docs/guide.md"),
        "# The guide: step by step\n\n## Step `one`\n\n## Step `one`\n",
    )
    .unwrap();
    std::fs::write(
        root.join("README.md"),
        "See [the guide](docs/guide.md#the-guide-step-by-step), \
         [step one](docs/guide.md#step-one), [again](docs/guide.md#step-one-1)\n\
         and [Spin](https://spinframework.dev), ![a picture](docs/guide.md \"title\").\n\
         ```sh\n[not a link](nowhere.md)\n```\n\
         `[code](nowhere.md)` is text.\n\
         [gone](docs/gone.md), [no heading](docs/guide.md#step-two),\n\
         [outside](../shared/api.md), [here](#nothing-here).\n\
         [ref]: docs/missing.md\n",
    )
    .unwrap();
    assert_eq!(
        broken_links(root),
        [
            "README.md:7: (docs/gone.md) names no file",
            "README.md:7: (docs/guide.md#step-two) names no heading of docs/guide.md",
            "README.md:8: (../shared/api.md) leads outside the repository",
            "README.md:8: (#nothing-here) names no heading of README.md",
            "README.md:9: (docs/missing.md) names no file",
        ]
    );
}

#[test]
fn anchors_are_githubs() {
    assert_eq!(
        anchor("MariaDB's thread handling"),
        "mariadbs-thread-handling"
    );
    assert_eq!(
        anchor("Spin 3.6.3 behaviours a component should know about"),
        "spin-363-behaviours-a-component-should-know-about"
    );
    assert_eq!(
        anchor("The design: how Omni holds up"),
        "the-design-how-omni-holds-up"
    );
    assert_eq!(
        anchor("snake_case and hyphen-ated"),
        "snake_case-and-hyphen-ated"
    );
}

/// The rows of the README's configuration tables: a variable's name and
/// its default as written.
fn readme_configuration_rows() -> BTreeMap<String, String> {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let section = readme
        .split("\n## Configuration\n")
        .nth(1)
        .expect("the README has a Configuration section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((name.to_owned(), (*cells.get(2)?).to_owned()))
        })
        .collect()
}

#[test]
fn the_readme_configuration_table_lists_every_spin_variable_with_its_default() {
    let manifest = Manifest::load(&workspace_root().join("spin.toml")).unwrap();
    let rows = readme_configuration_rows();
    let documented: Vec<&String> = rows.keys().collect();
    let declared: Vec<&String> = manifest.variables.keys().collect();
    assert_eq!(
        documented, declared,
        "README rows against spin.toml's [variables]"
    );
    for (name, variable) in &manifest.variables {
        let default = variable
            .default
            .as_deref()
            .expect("every variable has a default");
        let cell = &rows[name];
        if default.is_empty() {
            assert!(cell.starts_with("empty"), "{name}: {cell}");
        } else {
            assert!(cell.starts_with(&format!("`{default}`")), "{name}: {cell}");
        }
        assert_eq!(cell.contains("secret"), variable.secret, "{name}: {cell}");
    }
}

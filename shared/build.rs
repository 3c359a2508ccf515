//! Names the website's static assets (`shared/assets/`) after their content:
//! `style.css` is served as `/static/style.<hash>.css`, where `<hash>` is
//! the start of its SHA-256. A changed file gets a new URL, so browsers may
//! cache every URL forever. Writes `$OUT_DIR/assets.rs`, which
//! `src/web/assets.rs` includes.

use std::error::Error;
use std::fmt::Write as _;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

/// Hex digits of the hash in a URL: 64 bits, plenty to tell versions apart.
const HASH_DIGITS: usize = 16;

fn content_type(extension: &str) -> Result<&'static str, String> {
    Ok(match extension {
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        other => return Err(format!("no content type known for .{other} assets")),
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("assets");
    println!("cargo::rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();

    let mut code = String::new();
    let mut names = Vec::new();
    for path in files {
        println!("cargo::rerun-if-changed={}", path.display());
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{} is not a UTF-8 file name", path.display()))?;
        let (stem, extension) = file_name
            .rsplit_once('.')
            .ok_or_else(|| format!("{file_name} has no extension"))?;
        let bytes = std::fs::read(&path)?;
        let hash: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let const_name = file_name.replace(['.', '-'], "_").to_uppercase();
        writeln!(
            code,
            "/// `{file_name}`, content-hashed.\n\
             pub const {const_name}: Asset = Asset {{\n    \
                 path: \"/static/{stem}.{hash}.{extension}\",\n    \
                 content_type: \"{content_type}\",\n    \
                 body: include_bytes!({source:?}),\n\
             }};",
            hash = &hash[..HASH_DIGITS],
            content_type = content_type(extension)?,
            source = path.display().to_string(),
        )?;
        names.push(const_name);
    }
    writeln!(
        code,
        "/// Every asset.\npub const ALL: &[Asset] = &[{}];",
        names.join(", ")
    )?;
    std::fs::write(
        PathBuf::from(std::env::var("OUT_DIR")?).join("assets.rs"),
        code,
    )?;
    Ok(())
}

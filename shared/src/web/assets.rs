//! The website's static files (`shared/assets/`): a stylesheet and an
//! icon, compiled into the component that serves them under content-hashed
//! names (see `build.rs`), so a browser may keep each one forever.

/// A static file.
#[derive(Debug)]
pub struct Asset {
    /// Its URL path, e.g. `/static/style.0123456789abcdef.css`.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// `Cache-Control` for an asset: its URL changes with its content, so it
/// never needs revalidating.
pub const CACHE_FOREVER: &str = "public, max-age=31536000, immutable";

/// The asset at `path`, if any.
pub fn find(path: &str) -> Option<&'static Asset> {
    ALL.iter().find(|asset| asset.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asset_names_carry_a_hash_of_their_content() {
        assert!(ALL.len() >= 2);
        for asset in ALL {
            let name = asset.path.strip_prefix("/static/").unwrap();
            let parts: Vec<&str> = name.split('.').collect();
            assert_eq!(parts.len(), 3, "{name}");
            assert_eq!(parts[1].len(), 16);
            assert!(parts[1].bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!(find(asset.path).map(|a| a.path), Some(asset.path));
        }
        assert!(STYLE_CSS.content_type.starts_with("text/css"));
        assert_eq!(ICON_SVG.content_type, "image/svg+xml");
    }

    #[test]
    fn an_unhashed_or_unknown_name_is_not_an_asset() {
        assert!(find("/static/style.css").is_none());
        assert!(find("/static/").is_none());
        assert!(find(&STYLE_CSS.path.replace("style", "other")).is_none());
    }
}

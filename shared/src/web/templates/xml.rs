//! What the site serves to feed readers and crawlers: Atom feeds (RFC
//! 4287), sitemaps (sitemaps.org 0.9) and robots.txt. Written by hand, not
//! with maud, whose HTML void elements are not well-formed XML; every value
//! goes through [`escape`].

use std::fmt::Write;

use crate::store::posts::Post;
use crate::time::rfc3339_ms;
use crate::web::place::Place;

use super::layout::name_of;

/// `text` as XML character data or an attribute value: markup characters
/// escaped, and characters XML 1.0 forbids (C0 controls but tab and line
/// breaks, lone surrogates cannot occur in a `str`, U+FFFE/U+FFFF) replaced.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if u32::from(c) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// An Atom feed of `posts` (newest first).
#[derive(Debug)]
pub struct Feed<'a> {
    /// The site's origin, `https://host`, that every link starts with.
    pub origin: &'a str,
    /// The feed's title.
    pub title: &'a str,
    /// The feed's own path (its `self` link and its id).
    pub path: String,
    /// The page the feed follows (its `alternate` link).
    pub page: String,
    /// When the feed is empty, the time it was last changed: the site's or
    /// the person's beginning. Otherwise the newest entry's time counts.
    pub since_ms: i64,
    /// The entries.
    pub posts: &'a [Post],
}

impl Feed<'_> {
    /// The feed as an XML document.
    pub fn render(&self) -> String {
        let origin = self.origin;
        let updated = self
            .posts
            .iter()
            .map(|post| post.updated_at)
            .max()
            .unwrap_or(self.since_ms);
        let mut xml = String::with_capacity(1024 + self.posts.len() * 1024);
        xml.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
        xml.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
        let _ = writeln!(xml, "  <title>{}</title>", escape(self.title));
        let _ = writeln!(
            xml,
            "  <id>{}</id>",
            escape(&format!("{origin}{}", self.path))
        );
        let _ = writeln!(
            xml,
            "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{}\"/>",
            escape(&format!("{origin}{}", self.path))
        );
        let _ = writeln!(
            xml,
            "  <link rel=\"alternate\" type=\"text/html\" href=\"{}\"/>",
            escape(&format!("{origin}{}", self.page))
        );
        let _ = writeln!(xml, "  <updated>{}</updated>", rfc3339_ms(updated));
        xml.push_str("  <generator>Omni</generator>\n");
        for post in self.posts {
            let url = escape(&format!("{origin}{}", Place::Post(post.id).href()));
            let author = &post.author;
            xml.push_str("  <entry>\n");
            let _ = writeln!(
                xml,
                "    <title type=\"text\">{}</title>",
                escape(&post.title)
            );
            let _ = writeln!(xml, "    <id>{url}</id>");
            let _ = writeln!(
                xml,
                "    <link rel=\"alternate\" type=\"text/html\" href=\"{url}\"/>"
            );
            let _ = writeln!(
                xml,
                "    <published>{}</published>",
                rfc3339_ms(post.id.unix_ms())
            );
            let _ = writeln!(
                xml,
                "    <updated>{}</updated>",
                rfc3339_ms(post.updated_at)
            );
            let _ = writeln!(
                xml,
                "    <author><name>{}</name><uri>{}</uri></author>",
                escape(&name_of(&author.display_name, &author.username)),
                escape(&format!("{origin}{}", Place::User(author.id).href()))
            );
            if !post.description.trim().is_empty() {
                let _ = writeln!(
                    xml,
                    "    <summary type=\"text\">{}</summary>",
                    escape(&post.description)
                );
            }
            xml.push_str("  </entry>\n");
        }
        xml.push_str("</feed>\n");
        xml
    }
}

/// One page in a sitemap: its absolute URL and, if known, its last change.
#[derive(Debug)]
pub struct Located {
    /// The absolute URL.
    pub loc: String,
    /// Last modified, Unix ms.
    pub lastmod: Option<i64>,
}

/// A `<urlset>` sitemap of `urls`.
pub fn urlset(urls: &[Located]) -> String {
    let mut xml = String::with_capacity(128 + urls.len() * 110);
    xml.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    xml.push_str("<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
    for url in urls {
        let _ = write!(xml, "<url><loc>{}</loc>", escape(&url.loc));
        if let Some(ms) = url.lastmod {
            let _ = write!(xml, "<lastmod>{}</lastmod>", rfc3339_ms(ms));
        }
        xml.push_str("</url>\n");
    }
    xml.push_str("</urlset>\n");
    xml
}

/// A `<sitemapindex>` of the sitemaps at `locs` (absolute URLs).
pub fn sitemap_index(locs: &[String]) -> String {
    let mut xml = String::with_capacity(128 + locs.len() * 120);
    xml.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    xml.push_str("<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n");
    for loc in locs {
        let _ = writeln!(xml, "<sitemap><loc>{}</loc></sitemap>", escape(loc));
    }
    xml.push_str("</sitemapindex>\n");
    xml
}

/// robots.txt: crawl the pages, not the API, the forms or search results;
/// the sitemap is at `origin`/sitemap.xml.
pub fn robots(origin: &str) -> String {
    format!(
        "User-agent: *\n\
         Allow: /\n\
         Disallow: /api/\n\
         Disallow: {search}\n\
         Disallow: {new}\n\
         Disallow: /login\n\
         Disallow: /signup\n\
         Disallow: /logout\n\
         Disallow: /profile/\n\
         \n\
         Sitemap: {origin}{sitemap}\n",
        search = Place::Search.href(),
        new = Place::NewPost.href(),
        sitemap = Place::Sitemap.href(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_nothing_an_xml_parser_would_refuse() {
        assert_eq!(
            escape("a<b>&\"c'\u{1}\u{FFFF}\n"),
            "a&lt;b&gt;&amp;&quot;c&apos;\u{FFFD}\u{FFFD}\n"
        );
    }

    #[test]
    fn robots_points_at_the_sitemap_and_keeps_crawlers_off_the_api_and_forms() {
        let text = robots("https://omni.example.org");
        assert!(text.contains("Sitemap: https://omni.example.org/sitemap.xml\n"));
        for path in ["/api/", "/search", "/new", "/login", "/signup"] {
            assert!(text.contains(&format!("Disallow: {path}\n")), "{path}");
        }
    }
}

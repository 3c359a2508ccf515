//! A write-up's markdown as safe HTML: rendered with pulldown-cmark
//! (CommonMark with GitHub's tables, footnotes, strikethrough and task
//! lists), then sanitised with ammonia, so that nothing in it can run:
//! no script, no event handler, no `javascript:` or `data:` URL, no style,
//! no form, no frame, and no raw HTML that the sanitiser has not rebuilt
//! from its own parse.
//!
//! Relative links resolve against the page the author linked (a forge's
//! rendered view), relative images against the file that was fetched (its
//! raw copy). An image is kept only if the site's Content Security Policy
//! lets browsers load it ([`Render::image_origins`]); a markdown image from
//! anywhere else becomes a link to it, so nothing shows broken.
//!
//! Hostile structure is bounded before the sanitiser sees it: html5ever's
//! tree building slows down with nesting depth (a 100 KB run of `>` took
//! over a minute), so containers nested deeper than [`MAX_NESTING`] lose
//! their tags (their text stays), and raw HTML beyond [`MAX_RAW_TAGS`]
//! tags is shown as text.

use std::borrow::Cow;
use std::collections::HashSet;

use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use url::Url;

/// Containers (lists, quotes, emphasis…) nested deeper than this lose
/// their tags; their content stays.
pub const MAX_NESTING: usize = 32;

/// Raw HTML tags (counted by `<`) a document may carry before the rest of
/// its raw HTML is shown as text.
pub const MAX_RAW_TAGS: usize = 2_000;

/// Prefixed to every `id` in a write-up (and to its in-page links), so that
/// no id in it can clash with or stand in for one of the page's own.
pub const ID_PREFIX: &str = "wu-";

/// How to render one write-up.
#[derive(Clone, Debug)]
pub struct Render {
    /// What relative links resolve against: the page the author linked.
    pub links_base: Url,
    /// What relative images resolve against: the file that was fetched.
    pub images_base: Url,
    /// The origins browsers may load images from (the CSP's `img-src`).
    pub image_origins: Vec<Url>,
}

impl Render {
    /// `markdown` as sanitised HTML.
    pub fn html(&self, markdown: &str) -> String {
        let mut raw = String::with_capacity(markdown.len() * 3 / 2);
        pulldown_cmark::html::push_html(&mut raw, Bounded::new(self, markdown));
        sanitiser(self.clone()).clean(&raw).to_string()
    }

    /// `url` (as written in the document) made absolute against `base`, if
    /// it is a link a browser may follow: http, https or mailto. An in-page
    /// link (`#section`) stays in the page, pointed at the prefixed id.
    fn resolve(base: &Url, url: &str) -> Option<String> {
        if let Some(fragment) = url.strip_prefix('#') {
            return Some(format!("#{ID_PREFIX}{fragment}"));
        }
        let resolved = base.join(url.trim()).ok()?;
        matches!(resolved.scheme(), "http" | "https" | "mailto").then(|| resolved.into())
    }

    /// The absolute URL of an image written as `url`, if browsers may load
    /// it.
    fn image(&self, url: &str) -> Option<String> {
        let resolved = self.images_base.join(url.trim()).ok()?;
        let origin = resolved.origin();
        self.image_origins
            .iter()
            .any(|allowed| allowed.origin() == origin)
            .then(|| resolved.into())
    }
}

/// The sanitiser, which resolves and checks URLs as `render` says.
fn sanitiser(render: Render) -> ammonia::Builder<'static> {
    let mut builder = ammonia::Builder::default();
    builder
        // Landmarks would add to the page's own, and a form, an input or a
        // frame has no business in a write-up; the page's `<h1>` is the
        // project's title.
        .rm_tags(&[
            "nav", "header", "footer", "aside", "article", "map", "area", "h1",
        ])
        .add_generic_attributes(&["id"])
        .id_prefix(Some(ID_PREFIX))
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer nofollow ugc"))
        .strip_comments(true)
        .attribute_filter(
            move |element, attribute, value| match (element, attribute) {
                ("img", "src") => render.image(value).map(Cow::Owned),
                (_, "href") => Render::resolve(&render.links_base, value).map(Cow::Owned),
                (_, "src" | "cite" | "longdesc") => None,
                _ => Some(Cow::Borrowed(value)),
            },
        );
    builder
}

/// The parser's events with hostile structure bounded (see the module
/// docs), headings moved one level down (the page's `<h1>` is the
/// project's title), task-list boxes as text (a form control without a
/// label is an accessibility fault), and markdown images that browsers
/// may not load turned into links.
struct Bounded<'a, 'r> {
    parser: Parser<'a>,
    render: &'r Render,
    /// For each open tag: whether it was passed on.
    open: Vec<Kept>,
    raw_tags: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kept {
    Yes,
    Dropped,
    /// A markdown image shown as a link to it.
    ImageAsLink,
}

impl<'a, 'r> Bounded<'a, 'r> {
    fn new(render: &'r Render, markdown: &'a str) -> Self {
        let options = Options::ENABLE_TABLES
            | Options::ENABLE_FOOTNOTES
            | Options::ENABLE_STRIKETHROUGH
            | Options::ENABLE_TASKLISTS
            | Options::ENABLE_GFM;
        Self {
            parser: Parser::new_ext(markdown, options),
            render,
            open: Vec::new(),
            raw_tags: 0,
        }
    }

    fn start(&mut self, tag: Tag<'a>) -> Option<Event<'a>> {
        // Tables and HTML blocks keep their tags at any depth: the HTML
        // writer needs them paired, and they add at most three levels.
        let structural = matches!(
            tag,
            Tag::Table(_) | Tag::TableHead | Tag::TableRow | Tag::TableCell | Tag::HtmlBlock
        );
        if self.open.len() >= MAX_NESTING && !structural {
            self.open.push(Kept::Dropped);
            return None;
        }
        let (kept, tag) = match tag {
            Tag::Heading {
                level,
                id,
                classes,
                attrs,
            } => (
                Kept::Yes,
                Tag::Heading {
                    level: lower(level),
                    id,
                    classes,
                    attrs,
                },
            ),
            Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            } => match self.render.image(&dest_url) {
                Some(url) => (
                    Kept::Yes,
                    Tag::Image {
                        link_type,
                        dest_url: url.into(),
                        title,
                        id,
                    },
                ),
                None => (
                    Kept::ImageAsLink,
                    Tag::Link {
                        link_type,
                        dest_url,
                        title,
                        id,
                    },
                ),
            },
            other => (Kept::Yes, other),
        };
        self.open.push(kept);
        Some(Event::Start(tag))
    }

    fn end(&mut self, end: TagEnd) -> Option<Event<'a>> {
        match (self.open.pop(), end) {
            (Some(Kept::Dropped), _) => None,
            (Some(Kept::ImageAsLink), TagEnd::Image) => Some(Event::End(TagEnd::Link)),
            (_, TagEnd::Heading(level)) => Some(Event::End(TagEnd::Heading(lower(level)))),
            (_, end) => Some(Event::End(end)),
        }
    }

    /// Raw HTML, or, past the budget, the same as text.
    fn raw(&mut self, html: CowStr<'a>, inline: bool) -> Event<'a> {
        self.raw_tags += html.matches('<').count();
        match (self.raw_tags > MAX_RAW_TAGS, inline) {
            (true, _) => Event::Text(html),
            (false, true) => Event::InlineHtml(html),
            (false, false) => Event::Html(html),
        }
    }
}

impl<'a> Iterator for Bounded<'a, '_> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        loop {
            let event = match self.parser.next()? {
                Event::Start(tag) => self.start(tag),
                Event::End(end) => self.end(end),
                Event::Html(html) => Some(self.raw(html, false)),
                Event::InlineHtml(html) => Some(self.raw(html, true)),
                Event::TaskListMarker(done) => {
                    Some(Event::Text(if done { "☑ " } else { "☐ " }.into()))
                }
                other => Some(other),
            };
            if event.is_some() {
                return event;
            }
        }
    }
}

/// One heading level down, `h6` staying `h6`.
fn lower(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H2,
        HeadingLevel::H2 => HeadingLevel::H3,
        HeadingLevel::H3 => HeadingLevel::H4,
        HeadingLevel::H4 => HeadingLevel::H5,
        HeadingLevel::H5 | HeadingLevel::H6 => HeadingLevel::H6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    /// Renders `markdown` as if fetched from GitHub: links against the
    /// blob view, images against the raw file, images allowed from
    /// raw.githubusercontent.com only.
    fn render(markdown: &str) -> String {
        Render {
            links_base: url("https://github.com/ada/engine/blob/main/docs/README.md"),
            images_base: url("https://raw.githubusercontent.com/ada/engine/main/docs/README.md"),
            image_origins: vec![url("https://raw.githubusercontent.com")],
        }
        .html(markdown)
    }

    #[test]
    fn markdown_renders_with_github_extensions() {
        let html = render(
            "# Engine\n\nSome *emphasis* and ~~gone~~.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n\
             - [x] done\n- [ ] todo\n\nA note[^1].\n\n[^1]: The note.\n\n```rust\nfn main() {}\n```\n",
        );
        assert!(html.contains("<h2>Engine</h2>"), "{html}");
        assert!(html.contains("<em>emphasis</em>"), "{html}");
        assert!(html.contains("<del>gone</del>"), "{html}");
        assert!(
            html.contains("<table>") && html.contains("<td>2</td>"),
            "{html}"
        );
        assert!(html.contains("☑ done") && html.contains("☐ todo"), "{html}");
        assert!(!html.contains("<input"), "{html}");
        assert!(html.contains("<pre><code>fn main() {}"), "{html}");
        // The footnote's link and target agree, both prefixed.
        assert!(html.contains("href=\"#wu-1\""), "{html}");
        assert!(html.contains("id=\"wu-1\""), "{html}");
    }

    #[test]
    fn scripts_event_handlers_and_dangerous_urls_are_removed() {
        let html = render(concat!(
            "<script>alert(1)</script>\n\n",
            "<img src=x onerror=alert(2)>\n\n",
            "<a href=\"javascript:alert(3)\">a</a> <a href=\" JaVaScRiPt:alert(4)\">b</a> ",
            "<a href=\"java\tscript:alert(5)\">c</a>\n\n",
            "[d](javascript:alert(6)) [e](data:text/html;base64,PHNjcmlwdD4=) ",
            "![f](data:image/svg+xml;base64,PHN2Zz4=)\n\n",
            "<iframe src=\"https://evil.example\"></iframe><object data=x></object>",
            "<form action=/logout method=post><button>Go</button></form>",
            "<style>body{display:none}</style><p style=\"color:red\" onclick=\"x()\">styled</p>\n\n",
            "<svg><script>alert(7)</script></svg><math><mi xlink:href=\"javascript:alert(8)\">m</mi></math>\n\n",
            "<details open ontoggle=alert(9)><summary>s</summary>d</details>\n\n",
            "<a href=\"https://ok.example/\" target=\"_top\" name=\"main\">ok</a>",
        ));
        let lower = html.to_ascii_lowercase();
        for forbidden in [
            "<script",
            "onerror",
            "onclick",
            "ontoggle",
            "javascript:",
            "data:",
            "<iframe",
            "<object",
            "<form",
            "<button",
            "<style",
            "style=",
            "<svg",
            "<math",
            "target=",
            "name=",
        ] {
            assert!(!lower.contains(forbidden), "{forbidden} survived in {html}");
        }
        assert!(html.contains("href=\"https://ok.example/\""), "{html}");
        assert!(
            html.contains("rel=\"noopener noreferrer nofollow ugc\""),
            "{html}"
        );
        assert!(html.contains("styled"), "{html}");
    }

    #[test]
    fn html_nested_to_escape_the_sanitiser_stays_inside_it() {
        for attack in [
            "<div><p><table><tr><td><a href=\"javascript:alert(1)\">x</a></td></tr></table></p></div>",
            "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\"></noscript>",
            "<svg><style><img src=x onerror=alert(1)></style></svg>",
            "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
            "<<script>script>alert(1)<</script>/script>",
            "<!--<img src=x onerror=alert(1)>-->",
            "<textarea><img src=x onerror=alert(1)></textarea>",
            "<title><img src=x onerror=alert(1)></title>",
            "`<img src=x onerror=alert(1)>`",
        ] {
            let html = render(attack);
            // Shown as text is fine; inside a tag it is not.
            for tag in tags(&html) {
                let tag = tag.to_ascii_lowercase();
                for bad in ["script", "onerror", "javascript:", "style"] {
                    assert!(!tag.contains(bad), "{attack} -> {html}");
                }
            }
        }
    }

    /// The text of every tag in `html`, between `<` and `>`.
    fn tags(html: &str) -> Vec<&str> {
        html.split('<')
            .skip(1)
            .map(|rest| &rest[..rest.find('>').unwrap_or(rest.len())])
            .collect()
    }

    #[test]
    fn relative_links_resolve_against_the_page_and_images_against_the_file() {
        let html = render(
            "[guide](guide.md) [up](../LICENSE) [top](#usage) [mail](mailto:ada@example.com)\n\n\
             ![diagram](img/arch.png) <img src=\"../logo.png\" alt=\"logo\">",
        );
        assert!(
            html.contains("href=\"https://github.com/ada/engine/blob/main/docs/guide.md\""),
            "{html}"
        );
        assert!(
            html.contains("href=\"https://github.com/ada/engine/blob/main/LICENSE\""),
            "{html}"
        );
        assert!(html.contains("href=\"#wu-usage\""), "{html}");
        assert!(html.contains("href=\"mailto:ada@example.com\""), "{html}");
        assert!(
            html.contains(
                "src=\"https://raw.githubusercontent.com/ada/engine/main/docs/img/arch.png\""
            ),
            "{html}"
        );
        assert!(
            html.contains("src=\"https://raw.githubusercontent.com/ada/engine/main/logo.png\""),
            "{html}"
        );
    }

    #[test]
    fn images_from_hosts_the_csp_refuses_become_links_or_lose_their_source() {
        let html = render(
            "![badge](https://img.shields.io/badge/x-y-green) \
             <img src=\"https://tracker.example/pixel.gif\" alt=\"pixel\">",
        );
        assert!(
            !html.contains("<img src=\"https://img.shields.io"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"https://img.shields.io/badge/x-y-green\""),
            "{html}"
        );
        assert!(html.contains(">badge</a>"), "{html}");
        assert!(!html.contains("tracker.example"), "{html}");
    }

    #[test]
    fn ids_are_prefixed_so_they_cannot_clash_with_the_pages() {
        let html = render("<p id=\"main\">x</p><p id=\"comments\">y</p>");
        assert!(html.contains("id=\"wu-main\""), "{html}");
        assert!(!html.contains("id=\"main\""), "{html}");
        assert!(!html.contains("id=\"comments\""), "{html}");
    }

    #[test]
    fn headings_move_down_a_level_and_raw_h1_loses_its_tag() {
        let html = render("# One\n\n###### Six\n\n<h1 align=\"center\">Raw</h1>");
        assert!(html.contains("<h2>One</h2>"), "{html}");
        assert!(html.contains("<h6>Six</h6>"), "{html}");
        assert!(!html.contains("<h1"), "{html}");
        assert!(html.contains("Raw"), "{html}");
    }

    /// The deepest chain of open elements in `html`.
    fn depth(html: &str) -> usize {
        let (mut depth, mut deepest) = (0_usize, 0);
        let mut rest = html;
        while let Some(at) = rest.find('<') {
            rest = &rest[at + 1..];
            let end = rest.find('>').unwrap_or(rest.len());
            let tag = &rest[..end];
            if tag.starts_with('/') {
                depth = depth.saturating_sub(1);
            } else if !tag.ends_with('/') && !["br", "hr", "img"].iter().any(|v| tag.starts_with(v))
            {
                depth += 1;
                deepest = deepest.max(depth);
            }
        }
        deepest
    }

    #[test]
    fn deeply_nested_markdown_is_flattened_with_its_text_kept() {
        for markdown in [
            format!("{} deep\n", ">".repeat(100_000)),
            (0..300)
                .map(|i| format!("{}- deep\n", "  ".repeat(i)))
                .collect(),
            format!("{}deep{}", "*".repeat(50_000), "*".repeat(50_000)),
            format!("{}deep{}", "[".repeat(10_000), "](x)".repeat(10_000)),
        ] {
            let html = render(&markdown);
            assert!(html.contains("deep"), "the text was lost");
            assert!(depth(&html) <= MAX_NESTING + 4, "nesting {}", depth(&html));
        }
    }

    #[test]
    fn raw_html_past_the_budget_is_shown_as_text() {
        let markdown = format!("{}x{}", "<div>".repeat(100_000), "</div>".repeat(100_000));
        let html = render(&markdown);
        assert!(html.contains("&lt;div&gt;"), "the excess was not escaped");
        assert!(depth(&html) <= MAX_RAW_TAGS + 4);
    }

    #[test]
    fn a_huge_document_renders_whole() {
        let section = "## Part\n\nA paragraph with a [link](x.md), `code` and **bold** text.\n\n\
                       - one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n";
        let markdown = section.repeat(512 * 1024 / section.len());
        let html = render(&markdown);
        assert_eq!(
            html.matches("<h3>Part</h3>").count(),
            markdown.matches("## Part").count()
        );
    }
}

//! Dataset cards: the markdown a version was published with, rendered to HTML that is safe
//! to put in a page. CommonMark (plus tables, strikethrough and task lists) is rendered by
//! `pulldown-cmark`; the result goes through `ammonia`'s allow-list, so raw HTML in the
//! card, `javascript:` links, event handlers and styles never reach the browser.

use maud::{PreEscaped, Render};
use pulldown_cmark::{html, Options, Parser};

/// A card rendered to sanitized HTML.
pub struct Card(String);

impl Card {
    /// Renders `markdown` (any size the config blob allowed). Links get
    /// `rel="noopener noreferrer nofollow"`; headings start at `h3` in the page's outline
    /// (a card's `#` is rendered as `h3`, below the page's `h1` and the section's `h2`).
    pub fn render(markdown: &str) -> Card {
        let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
        let parser = Parser::new_ext(markdown, options).map(|event| match event {
            pulldown_cmark::Event::Start(pulldown_cmark::Tag::Heading {
                level,
                id,
                classes,
                attrs,
            }) => pulldown_cmark::Event::Start(pulldown_cmark::Tag::Heading {
                level: demote(level),
                id,
                classes,
                attrs,
            }),
            pulldown_cmark::Event::End(pulldown_cmark::TagEnd::Heading(level)) => {
                pulldown_cmark::Event::End(pulldown_cmark::TagEnd::Heading(demote(level)))
            }
            other => other,
        });
        let mut raw = String::with_capacity(markdown.len() * 3 / 2);
        html::push_html(&mut raw, parser);
        let clean = ammonia::Builder::default()
            .link_rel(Some("noopener noreferrer nofollow"))
            .url_schemes(["http", "https", "mailto"].into_iter().collect())
            .clean(&raw)
            .to_string();
        Card(clean)
    }
}

fn demote(level: pulldown_cmark::HeadingLevel) -> pulldown_cmark::HeadingLevel {
    use pulldown_cmark::HeadingLevel::*;
    match level {
        H1 => H3,
        H2 => H4,
        H3 => H5,
        _ => H6,
    }
}

impl Render for Card {
    fn render(&self) -> maud::Markup {
        PreEscaped(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown_and_drops_scripts() {
        let md = "# Title\n\nSome **bold** text with [a link](https://example.org) and \
                  [bad](javascript:alert(1)).\n\n<script>alert(1)</script>\n\n\
                  <img src=x onerror=alert(1)>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
        let html = Card::render(md).0;
        assert!(html.contains("<h3>Title</h3>"), "{html}");
        assert!(html.contains("<strong>bold</strong>"), "{html}");
        assert!(
            html.contains(r#"<a href="https://example.org" rel="noopener noreferrer nofollow">a link</a>"#),
            "{html}"
        );
        assert!(html.contains("<td>1</td>"), "{html}");
        for bad in ["<script", "javascript:", "onerror", "alert(1)</script"] {
            assert!(!html.contains(bad), "{bad} survived: {html}");
        }
    }
}

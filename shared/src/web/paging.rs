//! Keyset paging for the website's lists: "Older" and "Newer" links that
//! stay fast and stable however deep a visitor goes and however many items
//! arrive meanwhile.
//!
//! A page is always "the 10 items older than `before`" (or the newest 10),
//! as the API's `?before=` slices are. "Older" links to `?before=<last>`.
//! "Newer" links to `?after=<first>`, which is resolved when followed: the
//! 11th item newer than `<first>` is where that page's `before` starts (one
//! indexed `LIMIT 1 OFFSET 10` query); with fewer, it is the newest page.
//! So a list page costs one query, and following "Newer" one more.

use crate::error::Error;
use crate::http::Request;
use crate::paging::{PAGE_SIZE, query_values};
use crate::snowflake::Id;
use crate::store::Listing;

/// Which page of a list a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cursor {
    /// The newest page.
    Newest,
    /// The page of items older than this id.
    Before(Id),
    /// The page of items just newer than this id.
    After(Id),
}

impl Cursor {
    /// The query parameters a cursor is read from.
    pub const PARAMETERS: &[&str] = &["before", "after"];

    /// Reads `before` or `after` from the query: 400 for a bad id, for both
    /// at once, or for either twice.
    pub fn from_request(request: &Request) -> Result<Self, Error> {
        let pairs = request.query_pairs();
        let values = |name: &str| query_values(&pairs, name);
        let id = |text: &str| {
            text.parse::<Id>()
                .map_err(|_| Error::BadRequest("That page link is broken.".into()))
        };
        match (values("before").as_slice(), values("after").as_slice()) {
            ([], []) => Ok(Self::Newest),
            ([before], []) => Ok(Self::Before(id(before)?)),
            ([], [after]) => Ok(Self::After(id(after)?)),
            _ => Err(Error::BadRequest("That page link is broken.".into())),
        }
    }
}

/// A page's links to its neighbours, if it has them.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pager {
    /// The page of newer items.
    pub newer: Option<String>,
    /// The page of older items.
    pub older: Option<String>,
}

/// One page of a list and its links: `base` is the page's own path (query
/// and fragment are added), `anchor` finds where a newer page starts and
/// `before` lists up to a page and one more items older than an id. A
/// listing's `total` of `None` (no such owner) is passed through for the
/// caller's 404.
pub fn page_of<T>(
    cursor: Cursor,
    base: &str,
    fragment: &str,
    id: impl Fn(&T) -> Id,
    anchor: impl FnOnce(Id) -> Result<Option<Id>, Error>,
    before: impl FnOnce(Id) -> Result<Listing<T>, Error>,
) -> Result<(Listing<T>, Pager), Error> {
    let start = match cursor {
        Cursor::Newest => None,
        Cursor::Before(id) => Some(id),
        Cursor::After(id) => anchor(id)?,
    };
    let mut listing = before(start.unwrap_or(Id::MAX))?;
    let more = listing.items.len() > PAGE_SIZE as usize;
    listing.items.truncate(PAGE_SIZE as usize);
    let link = |query: String| format!("{base}?{query}{fragment}");
    let pager = Pager {
        newer: start.map(|_| match listing.items.first() {
            Some(first) => link(format!("after={}", id(first))),
            None => format!("{base}{fragment}"),
        }),
        older: listing
            .items
            .last()
            .filter(|_| more)
            .map(|last| link(format!("before={}", id(last)))),
    };
    Ok((listing, pager))
}

#[cfg(test)]
mod tests {
    use http::Method;

    use super::*;
    use crate::snowflake::testing::id;

    fn ids(range: std::ops::RangeInclusive<i64>) -> Vec<Id> {
        range.rev().map(id).collect()
    }

    /// Items 1..=25 as the store would list them: up to 11 older than `before`.
    fn store_before(before: Id) -> Result<Listing<Id>, Error> {
        let items = ids(1..=25)
            .into_iter()
            .filter(|id| *id < before)
            .take(11)
            .collect();
        Ok(Listing {
            total: Some(25),
            items,
        })
    }

    /// The store's anchor: the 11th item newer than `after`, if any.
    fn store_anchor(after: Id) -> Result<Option<Id>, Error> {
        let mut newer: Vec<Id> = ids(1..=25).into_iter().filter(|id| *id > after).collect();
        newer.sort();
        Ok(newer.get(10).copied())
    }

    fn page(cursor: Cursor) -> (Vec<i64>, Pager) {
        let (listing, pager) =
            page_of(cursor, "/", "", |id: &Id| *id, store_anchor, store_before).unwrap();
        (listing.items.iter().map(|id| id.as_i64()).collect(), pager)
    }

    #[test]
    fn the_newest_page_links_only_to_older() {
        let (items, pager) = page(Cursor::Newest);
        assert_eq!(items, (16..=25).rev().collect::<Vec<_>>());
        assert_eq!(pager.newer, None);
        assert_eq!(pager.older.as_deref(), Some("/?before=16"));
    }

    #[test]
    fn the_last_page_links_only_to_newer() {
        let (items, pager) = page(Cursor::Before(id(6)));
        assert_eq!(items, vec![5, 4, 3, 2, 1]);
        assert_eq!(pager.older, None);
        assert_eq!(pager.newer.as_deref(), Some("/?after=5"));
    }

    #[test]
    fn newer_goes_back_to_exactly_the_page_before() {
        let (middle, pager) = page(Cursor::Before(id(16)));
        assert_eq!(middle, (6..=15).rev().collect::<Vec<_>>());
        assert_eq!(pager.newer.as_deref(), Some("/?after=15"));
        let (newest, _) = page(Cursor::After(id(15)));
        assert_eq!(newest, (16..=25).rev().collect::<Vec<_>>());
        // From the last page, Newer shows the ten just above it.
        let (above_last, pager) = page(Cursor::After(id(5)));
        assert_eq!(above_last, (6..=15).rev().collect::<Vec<_>>());
        assert_eq!(pager.older.as_deref(), Some("/?before=6"));
    }

    #[test]
    fn an_empty_page_past_the_end_links_to_the_newest() {
        let (items, pager) = page(Cursor::Before(id(1)));
        assert!(items.is_empty());
        assert_eq!(pager.newer.as_deref(), Some("/"));
        assert_eq!(pager.older, None);
    }

    fn cursor(query: &str) -> Result<Cursor, Error> {
        Cursor::from_request(&Request::new(
            Method::GET,
            &format!("/{query}"),
            vec![],
            vec![],
        ))
    }

    #[test]
    fn cursors_parse_from_the_query_and_bad_ones_are_400() {
        assert_eq!(cursor("").unwrap(), Cursor::Newest);
        assert_eq!(cursor("?before=7").unwrap(), Cursor::Before(id(7)));
        assert_eq!(cursor("?after=7").unwrap(), Cursor::After(id(7)));
        for bad in [
            "?before=x",
            "?after=-1",
            "?before=1&after=2",
            "?before=1&before=2",
        ] {
            assert!(matches!(cursor(bad), Err(Error::BadRequest(_))), "{bad}");
        }
    }
}

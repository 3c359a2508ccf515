//! Paging: how many items a page holds, and which part of a list a request
//! asks for, by `?page=N` (with totals) or `?before=<id>` (a keyset slice).

use serde::Serialize;

use crate::error::Error;
use crate::snowflake::Id;

/// Items on one page of a list.
pub const PAGE_SIZE: u32 = 10;
/// The highest `page` accepted.
pub const MAX_PAGE: u32 = 100_000;

/// The values of query parameter `name` among `pairs`, in order.
pub fn query_values<'a>(pairs: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    pairs
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// Which slice of a list to return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paging {
    /// `?page=N`, 1-based.
    Page(u32),
    /// `?before=<id>`: the items older than that id.
    Before(Id),
}

impl Paging {
    /// The query parameters a list's paging reads.
    pub const PARAMETERS: &[&str] = &["page", "before"];

    /// Reads `page` or `before` from a request's query parameters; 400 for
    /// a bad value, for both at once, or for either given twice.
    pub fn from_query(pairs: &[(String, String)]) -> Result<Self, Error> {
        let values = |name: &str| query_values(pairs, name);
        match (values("page").as_slice(), values("before").as_slice()) {
            ([], []) => Ok(Self::Page(1)),
            ([page], []) => page
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .map(Self::Page)
                .ok_or_else(|| {
                    Error::BadRequest(format!(
                        "`page` must be a whole number from 1 to {MAX_PAGE}."
                    ))
                }),
            ([], [before]) => before
                .parse::<Id>()
                .map(Self::Before)
                .map_err(|_| Error::BadRequest("`before` must be an id.".into())),
            ([_], [_]) => Err(Error::BadRequest(
                "Give `page` or `before`, not both.".into(),
            )),
            _ => Err(Error::BadRequest(
                "Give `page` or `before` at most once.".into(),
            )),
        }
    }
}

/// A `?page=N` page of a list, with its totals.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// This page's number.
    pub page: u32,
    /// Items per page.
    pub page_size: u32,
    /// Items in the whole list.
    pub total_items: i64,
    /// Pages in the whole list.
    pub total_pages: i64,
}

impl<T> Page<T> {
    /// A page, with the page count worked out from the total.
    pub fn new(items: Vec<T>, page: u32, total_items: i64) -> Self {
        let size = i64::from(PAGE_SIZE);
        Self {
            items,
            page,
            page_size: PAGE_SIZE,
            total_items,
            total_pages: (total_items + size - 1) / size,
        }
    }
}

/// A `?before=<id>` slice of a list.
#[derive(Debug, Serialize)]
pub struct Slice<T> {
    /// Up to a page of items, newest first.
    pub items: Vec<T>,
    /// Where the next slice starts, or `None` at the end of the list.
    pub next_before: Option<Id>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_query(text: &str) -> Result<Paging, Error> {
        let request = crate::http::Request::for_test(http::Method::GET, text, &[], "");
        Paging::from_query(&request.query_pairs())
    }

    #[test]
    fn paging_defaults_to_the_first_page() {
        assert_eq!(from_query("/").unwrap(), Paging::Page(1));
    }

    #[test]
    fn paging_reads_page_or_before() {
        assert_eq!(from_query("/?page=7").unwrap(), Paging::Page(7));
        assert_eq!(
            from_query("/?before=99").unwrap(),
            Paging::Before(Id::from_i64(99).unwrap())
        );
    }

    #[test]
    fn bad_paging_parameters_are_a_400() {
        for query in [
            "page=0",
            "page=-1",
            "page=abc",
            "page=",
            "page=100001",
            "page=1.5",
            "before=abc",
            "before=-5",
            "before=",
            "page=1&before=5",
            "page=1&page=2",
        ] {
            assert!(
                matches!(from_query(&format!("/?{query}")), Err(Error::BadRequest(_))),
                "{query}"
            );
        }
        assert_eq!(from_query("/?page=100000").unwrap(), Paging::Page(100_000));
    }

    #[test]
    fn page_counts_round_up() {
        assert_eq!(Page::<()>::new(vec![], 1, 0).total_pages, 0);
        assert_eq!(Page::<()>::new(vec![], 1, 10).total_pages, 1);
        assert_eq!(Page::<()>::new(vec![], 1, 11).total_pages, 2);
    }
}

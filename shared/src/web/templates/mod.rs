//! Every page's HTML, written with `maud`: the templates are Rust, checked
//! when the crate compiles, and every value spliced into them is
//! HTML-escaped unless it is explicitly `PreEscaped` (only a write-up is,
//! once `markdown` has sanitised it). They
//! take plain data and decide nothing but how it looks; the page handlers
//! decide what to show, and `actions` who may see which buttons.
//!
//! Accessible names are part of the contract (tests and assistive
//! technology find things by them): the labels, buttons and links below
//! use exactly the texts `docs/website.md` lists, and every page has one `<h1>`.
//!
//! One module per page family, as the components split them
//! ([`projects`], [`people`], [`account`]), plus the frame every page
//! shares ([`layout`]), form fields ([`fields`]) and the error page
//! ([`errors`]). Field sizes (`maxlength`, hints) come from the domain
//! types in `model`, so a form allows exactly what the API does.

mod account;
mod discovery;
mod errors;
mod fields;
mod layout;
mod people;
mod projects;
mod xml;

pub use account::{account, change_password, delete_account, login, signup};
pub use discovery::{Search, search_page};
pub use errors::error_page;
pub use layout::{Header, Viewer, login_href, name_of};
pub use people::{profile, profile_form};
pub use projects::{Writeup, comment_form, home, post_form, post_page};
pub use xml::{Feed, Located, robots, sitemap_index, urlset};

#[cfg(test)]
mod tests;

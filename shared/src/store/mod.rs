//! Persistence: each module holds the SQL for one table next to the typed
//! rows it produces. Row types are not API types; see `views`.

pub mod users;

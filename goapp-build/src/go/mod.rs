//! Go versions: parsing and ordering Go's release tags, listing them from the
//! Go repository (cached), and resolving the version an app builds with.

pub(crate) mod resolve;
pub(crate) mod tags;
pub(crate) mod version;

//! Deserializing values that are parsed from text (`arm64`, `podman`).
//!
//! The parse runs *inside* the serde visitor. A YAML deserializer attaches
//! the position of the node it is reading to an error raised there; an error
//! raised after `String::deserialize` returned would be attributed to the
//! enclosing mapping or list instead (its first line, not the bad value's).

use serde::de::{Deserializer, Error, Visitor};
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

/// Deserializes a string and parses it with `T::from_str`; `expecting` says
/// what was wanted when the value is not a string at all.
pub fn parse_str<'de, D, T>(d: D, expecting: &'static str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    struct Parse<T>(&'static str, PhantomData<T>);
    impl<T: FromStr> Visitor<'_> for Parse<T>
    where
        T::Err: fmt::Display,
    {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: Error>(self, v: &str) -> Result<T, E> {
            v.parse().map_err(E::custom)
        }
    }
    d.deserialize_str(Parse(expecting, PhantomData))
}

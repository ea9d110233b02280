//! Deserializing values that are parsed from text (`arm64`, `podman`).
//!
//! The parse runs *inside* the serde visitor. A YAML deserializer attaches
//! the position of the node it is reading to an error raised there; an error
//! raised after `String::deserialize` returned would be attributed to the
//! enclosing mapping or list instead (its first line, not the bad value's).

use serde::de::{Deserializer, Error, Visitor};
use serde::Deserialize;
use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

/// Deserializes a string and parses it with `T::from_str`; `expecting` says
/// what was wanted when the value is not a string at all.
pub(crate) fn parse_str<'de, D, T>(d: D, expecting: &'static str) -> Result<T, D::Error>
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

/// A list, or one value where a list of one is meant (`arch: amd64` as
/// `arch: [amd64]`). Each element is read by `T`'s own `Deserialize`, inside
/// the visitor, so an error keeps the bad element's position.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct OneOrMany<T>(pub Vec<T>);

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct List<T>(PhantomData<T>);
        impl<'de, T: serde::Deserialize<'de>> Visitor<'de> for List<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value or a list of values")
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Self::Value, E> {
                let one = T::deserialize(serde::de::value::StrDeserializer::<E>::new(v))?;
                Ok(OneOrMany(vec![one]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(one) = seq.next_element()? {
                    out.push(one);
                }
                Ok(OneOrMany(out))
            }
        }
        d.deserialize_any(List(PhantomData))
    }
}

/// `#[serde(default, deserialize_with = "one_or_many")]` for an optional
/// list that may be written as one value.
pub(crate) fn one_or_many<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Option::<OneOrMany<T>>::deserialize(d).map(|o| o.map(|l| l.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct T {
        #[serde(default, deserialize_with = "one_or_many")]
        arch: Option<Vec<crate::core::arch::Arch>>,
    }

    #[test]
    fn a_scalar_is_a_list_of_one_and_errors_keep_their_place() {
        use crate::core::arch::Arch;
        let t: T = serde_yaml_ng::from_str("arch: amd64\n").unwrap();
        assert_eq!(t.arch, Some(vec![Arch::Amd64]));
        let t: T = serde_yaml_ng::from_str("arch: [amd64, arm64]\n").unwrap();
        assert_eq!(t.arch, Some(vec![Arch::Amd64, Arch::Arm64]));
        let t: T = serde_yaml_ng::from_str("{}\n").unwrap();
        assert_eq!(t.arch, None);
        let e = serde_yaml_ng::from_str::<T>("arch: sparc\n").unwrap_err();
        assert!(
            e.to_string().contains("unknown architecture 'sparc'"),
            "{e}"
        );
        assert_eq!(e.location().map(|l| (l.line(), l.column())), Some((1, 7)));
        let e = serde_yaml_ng::from_str::<T>("arch:\n  - amd64\n  - sparc\n").unwrap_err();
        assert_eq!(e.location().map(|l| l.line()), Some(3), "{e}");
    }
}

//! Where a key or value sits in the YAML text, for errors found after the
//! file was parsed (a missing directory, a group naming no host), and
//! duplicate keys, which serde's maps silently collapse.
//!
//! Why this way: `serde_yaml_ng` keeps positions only in its errors — its
//! `Value` has no spans and it has no `Spanned<T>`. But an error raised
//! while a node is being deserialized carries that node's exact line and
//! column. So [`find`] walks the document with a visitor that raises an
//! error on reaching the wanted node, and reads the position off the error.
//! That reuses the real YAML parser (flow and block style, quoting, comments,
//! anchors all handled), adds no dependency, and costs one extra parse, only
//! when there is an error to report. A hand-written text search for the key
//! path would have to re-implement YAML's syntax; a span-keeping YAML crate
//! would be a second YAML parser in the build.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::cell::RefCell;
use std::fmt;

/// One step of a key path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path into the document: `hosts.pi2.port`, `groups.pis[1]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    /// The path of the given keys.
    pub fn of(keys: &[&str]) -> KeyPath {
        KeyPath(keys.iter().map(|k| Seg::Key(k.to_string())).collect())
    }

    /// This path and one more key.
    pub fn key(&self, k: &str) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_string()));
        p
    }

    /// This path and one more index.
    pub fn index(&self, i: usize) -> KeyPath {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Point at a mapping entry's key, or at its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// The key (`pi2:` for a bad host name).
    Key,
    /// The value (`0` in `port: 0`).
    Value,
}

/// A 1-based line and column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

enum Goal<'p> {
    Duplicates,
    Node(&'p KeyPath, At),
}

/// The position of the node at `path` (its key or its value), if it exists.
pub(crate) fn find(text: &str, path: &KeyPath, at: At) -> Option<Pos> {
    let (pos, hit) = walk(text, &Goal::Node(path, at));
    hit.and(pos)
}

/// The first key that repeats a key of the same mapping: its path and the
/// position of the repetition. `None` also when the text does not parse
/// (the typed parse reports that).
pub(crate) fn duplicate_key(text: &str) -> Option<(KeyPath, Pos)> {
    let (pos, hit) = walk(text, &Goal::Duplicates);
    Some((hit?, pos?))
}

/// Walks the document; returns where it stopped and what it stopped for.
fn walk(text: &str, goal: &Goal) -> (Option<Pos>, Option<KeyPath>) {
    let hit = RefCell::new(None);
    let walker = Walk {
        goal,
        path: KeyPath::default(),
        hit: &hit,
    };
    let result = walker.deserialize(serde_yaml_ng::Deserializer::from_str(text));
    let pos = result.err().and_then(|e| e.location()).map(|l| Pos {
        line: l.line(),
        column: l.column(),
    });
    (pos, hit.into_inner())
}

/// Raised to stop the walk; only its position is read.
const STOP: &str = "goapp: stop here";

struct Walk<'a, 'p> {
    goal: &'a Goal<'p>,
    path: KeyPath,
    hit: &'a RefCell<Option<KeyPath>>,
}

impl Walk<'_, '_> {
    fn stop<E: de::Error>(&self, path: KeyPath) -> E {
        *self.hit.borrow_mut() = Some(path);
        E::custom(STOP)
    }

    /// Stops here when this value is the one wanted.
    fn check_value<E: de::Error>(&self) -> Result<(), E> {
        match self.goal {
            Goal::Node(p, At::Value) if **p == self.path => Err(self.stop(self.path.clone())),
            _ => Ok(()),
        }
    }

    fn child(&self, path: KeyPath) -> Walk<'_, '_> {
        Walk {
            goal: self.goal,
            path,
            hit: self.hit,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! scalar {
    ($($name:ident: $ty:ty),*) => {$(
        fn $name<E: de::Error>(self, _: $ty) -> Result<(), E> {
            self.check_value()
        }
    )*};
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML node")
    }

    scalar!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128,
        visit_u128: u128, visit_f64: f64, visit_str: &str);

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.check_value()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.check_value()?;
        let mut i = 0;
        while seq
            .next_element_seed(self.child(self.path.index(i)))?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.check_value()?;
        let mut seen: Vec<String> = Vec::new();
        while let Some(k) = map.next_key_seed(KeySeed {
            walk: &self,
            seen: &seen,
        })? {
            map.next_value_seed(self.child(self.path.key(&k)))?;
            seen.push(k);
        }
        Ok(())
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        // A tagged node (`!tag value`): walk the value under the same path.
        self.check_value()?;
        let (_, variant) = data.variant::<IgnoredAny>()?;
        de::VariantAccess::newtype_variant_seed(variant, self)
    }
}

/// A mapping key: compared as text, so `1` and `"1"` are the same key (they
/// are, once deserialized into our `String`-keyed maps).
struct KeySeed<'w, 'a, 'p> {
    walk: &'w Walk<'a, 'p>,
    seen: &'w [String],
}

impl KeySeed<'_, '_, '_> {
    fn key<E: de::Error>(self, k: String) -> Result<String, E> {
        let path = self.walk.path.key(&k);
        match self.walk.goal {
            Goal::Duplicates if self.seen.contains(&k) => Err(self.walk.stop(path)),
            Goal::Node(p, At::Key) if **p == path => Err(self.walk.stop(path)),
            _ => Ok(k),
        }
    }
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_, '_> {
    type Value = String;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

macro_rules! key_scalar {
    ($($name:ident: $ty:ty),*) => {$(
        fn $name<E: de::Error>(self, v: $ty) -> Result<String, E> {
            self.key(v.to_string())
        }
    )*};
}

impl<'de> Visitor<'de> for KeySeed<'_, '_, '_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping key")
    }

    key_scalar!(visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_i128: i128,
        visit_u128: u128, visit_f64: f64, visit_str: &str);

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        self.key("null".into())
    }

    // Complex keys (a mapping or sequence as a key) never name anything we
    // look for; the typed parse refuses them.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(String::new())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<String, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# a comment
apps:
  joke:
    context: ../example/joke
hosts:
  pi1: {ssh: pi1, arch: arm64}
  pi2:
    host: 10.0.0.2
    port: 0
groups:
  pis: [pi1, 'pi3']
";

    fn at(line: usize, column: usize) -> Option<Pos> {
        Some(Pos { line, column })
    }

    #[test]
    fn finds_keys_and_values_in_block_and_flow_style() {
        let p = |s: &str| {
            KeyPath(
                s.split('.')
                    .map(|k| match k.parse() {
                        Ok(i) => Seg::Index(i),
                        Err(_) => Seg::Key(k.into()),
                    })
                    .collect(),
            )
        };
        assert_eq!(find(TEXT, &p("hosts.pi2.port"), At::Value), at(9, 11));
        assert_eq!(find(TEXT, &p("hosts.pi2.port"), At::Key), at(9, 5));
        assert_eq!(find(TEXT, &p("hosts.pi2"), At::Key), at(7, 3));
        assert_eq!(find(TEXT, &p("hosts.pi1.arch"), At::Value), at(6, 25));
        assert_eq!(find(TEXT, &p("groups.pis.1"), At::Value), at(11, 14));
        assert_eq!(find(TEXT, &p("apps.joke.context"), At::Value), at(4, 14));
        assert_eq!(find(TEXT, &p("apps.nope"), At::Key), None);
        assert_eq!(p("groups.pis.1").to_string(), "groups.pis[1]");
    }

    #[test]
    fn finds_duplicate_keys_at_any_depth() {
        assert_eq!(duplicate_key(TEXT), None);
        let (path, pos) = duplicate_key("apps:\n  a: {}\n  b: {}\n  a: {}\n").unwrap();
        assert_eq!(
            (path.to_string(), pos),
            ("apps.a".into(), Pos { line: 4, column: 3 })
        );
        let (path, pos) = duplicate_key("hosts:\n  pi: {ssh: a, port: 1, port: 2}\n").unwrap();
        assert_eq!(
            (path.to_string(), pos),
            (
                "hosts.pi.port".into(),
                Pos {
                    line: 2,
                    column: 25
                }
            )
        );
        let (path, _) = duplicate_key("groups:\n  g: [a]\ngroups:\n  h: [b]\n").unwrap();
        assert_eq!(path.to_string(), "groups");
        // `1` and "1" collapse into one String key: a duplicate for us.
        assert!(duplicate_key("m:\n  1: a\n  '1': b\n").is_some());
        assert!(
            duplicate_key("m: [{a: 1}, {a: 2}]\n").is_none(),
            "same key, other maps"
        );
        assert!(
            duplicate_key("apps: {\n").is_none(),
            "unparsable: left to the typed parse"
        );
    }
}

//! Line numbers of values inside a YAML text, addressed by a path of mapping keys and sequence
//! indexes (`include[2].method.alpha`): a deserializer walks the document and fails on purpose
//! at the value, and serde_yaml says where it stopped. Run configs (`config::locate_key`) and
//! study files (their include/exclude rules are sequences) both use it.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// One step of a path into a YAML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A mapping key, compared as a whole string (so a grid key `method.alpha` is one step).
    Key(String),
    /// The n-th element (0-based) of a sequence.
    Index(usize),
}

impl Seg {
    pub fn key(k: impl Into<String>) -> Self {
        Seg::Key(k.into())
    }
}

/// A path into the study text; empty = the document itself.
pub type YamlPath = Vec<Seg>;

/// Appends the dotted components of `dotted` (`train.lr` -> `train`, `lr`) to `base`.
pub fn with_dotted(base: &[Seg], dotted: &str) -> YamlPath {
    let mut p = base.to_vec();
    p.extend(dotted.split('.').map(Seg::key));
    p
}

/// The 1-based line where the value at `path` is written, if it exists.
pub fn locate(text: &str, path: &[Seg]) -> Option<usize> {
    let de = serde_yaml::Deserializer::from_str(text);
    match (Locate { path }).deserialize(de) {
        Err(e) if e.to_string().contains(FOUND) => e.location().map(|l| l.line()),
        _ => None,
    }
}

/// The line of the longest prefix of `path` that exists (at least `min` steps long), so that
/// a key missing from the text still points at its nearest written parent.
pub fn locate_nearest(text: &str, path: &[Seg], min: usize) -> Option<usize> {
    (min.max(1)..=path.len())
        .rev()
        .find_map(|n| locate(text, &path[..n]))
}

const FOUND: &str = "ccll-locate: value found";

struct Locate<'a> {
    path: &'a [Seg],
}

impl<'de> DeserializeSeed<'de> for Locate<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.path.is_empty() {
            return d.deserialize_any(Found);
        }
        d.deserialize_any(self)
    }
}

/// Rejects any value, so that the error carries the value's position.
struct Found;

impl<'de> Visitor<'de> for Found {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(FOUND)
    }
}

impl<'de> Visitor<'de> for Locate<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<serde_yaml::Value>()? {
            let hit = match (&self.path[0], &key) {
                (Seg::Key(k), serde_yaml::Value::String(s)) => k == s,
                (Seg::Key(k), other) => scalar_text(other).as_deref() == Some(k.as_str()),
                (Seg::Index(_), _) => false,
            };
            if hit {
                return map.next_value_seed(Locate {
                    path: &self.path[1..],
                });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Seg::Index(want) = self.path[0] else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        let mut i = 0;
        loop {
            if i == want {
                seq.next_element_seed(Locate {
                    path: &self.path[1..],
                })?;
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(());
            }
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

fn scalar_text(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
name: x
grid:
  method.alpha: [1, 2]
  train.seed:
    - 0
    - 1
exclude:
  - {method.name: head_only}
  - method.name: ccll
    method.alpha: 2
defaults:
  train: {lr: 0.1,
          epochs: 2}
";

    #[test]
    fn keys_indexes_and_dotted_keys() {
        assert_eq!(locate(TEXT, &[Seg::key("name")]), Some(1));
        assert_eq!(
            locate(TEXT, &[Seg::key("grid"), Seg::key("method.alpha")]),
            Some(3)
        );
        assert_eq!(
            locate(
                TEXT,
                &[Seg::key("grid"), Seg::key("train.seed"), Seg::Index(1)]
            ),
            Some(6)
        );
        assert_eq!(locate(TEXT, &[Seg::key("exclude"), Seg::Index(0)]), Some(8));
        assert_eq!(
            locate(
                TEXT,
                &[Seg::key("exclude"), Seg::Index(1), Seg::key("method.alpha")]
            ),
            Some(10)
        );
        assert_eq!(
            locate(TEXT, &with_dotted(&[Seg::key("defaults")], "train.epochs")),
            Some(13)
        );
        assert_eq!(locate(TEXT, &[Seg::key("exclude"), Seg::Index(5)]), None);
    }

    #[test]
    fn nearest_parent_when_missing() {
        let p = with_dotted(&[Seg::key("defaults")], "train.momentum");
        assert_eq!(locate(TEXT, &p), None);
        assert_eq!(locate_nearest(TEXT, &p, 1), Some(12));
    }
}

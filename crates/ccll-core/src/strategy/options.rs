//! A method's options as a typed struct read from the `method` section: unknown keys and bad
//! values are errors naming `method.KEY`, found from the struct itself (its serde field names),
//! so an option's name is written once, in its struct.
//!
//! Options are kept as written (`Option` fields, defaults in the method's accessors) where a
//! default filled in would change the run identity of configs that leave it out; the sizes of
//! the calibrated methods are stored filled in, as identities have always counted them.

use crate::error::KeyError;
use serde::de::{self, DeserializeOwned, Visitor};
use serde::Serialize;
use serde_yaml::{Mapping, Value};
use std::cell::Cell;
use std::fmt::Debug;

/// The options of one method.
pub trait MethodOptions:
    Serialize + DeserializeOwned + Default + Clone + PartialEq + Debug + 'static
{
    /// Checks what serde cannot (ranges, combinations), naming the key as `method.KEY`.
    fn check(&self) -> Result<(), KeyError> {
        Ok(())
    }

    /// Channels per group of the spatial calibration, for methods that have it.
    fn alpha(&self) -> Option<i64> {
        None
    }

    /// Channels per group of the channel-wise calibration, for methods that have it.
    fn beta(&self) -> Option<i64> {
        None
    }

    /// The task-inference rule the config names, if any.
    fn task_inference(&self) -> Option<crate::task_inference::Rule> {
        None
    }
}

/// The options of a method that takes none besides `task_inference`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoOptions {
    /// The rule that picks the task without the task id (`task_inference`); unset: the
    /// method's default (see `crate::task_inference::primary_rule`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_inference: Option<crate::task_inference::Rule>,
}

impl MethodOptions for NoOptions {
    fn task_inference(&self) -> Option<crate::task_inference::Rule> {
        self.task_inference
    }
}

/// Keys every method accepts: a study crosses `method.name` with the calibration sizes, and a
/// method without calibration ignores them (they do not enter its identity).
pub const SHARED_KEYS: [&str; 2] = ["alpha", "beta"];

/// Reads `T` from the keys of a `method` section other than `name`.
pub fn parse<T: MethodOptions>(method: &str, section: &Mapping) -> Result<T, KeyError> {
    let fields = field_names::<T>();
    let mut own = Mapping::new();
    for (key, value) in section {
        let name = key_text(key);
        if name == "name" {
            continue;
        }
        if fields.contains(&name.as_str()) {
            own.insert(key.clone(), value.clone());
        } else if !SHARED_KEYS.contains(&name.as_str()) {
            return Err(unknown_option(method, &name, fields));
        }
    }
    // One key at a time first (every field has a default), so that a bad value is reported
    // with its own key rather than serde's position inside the section.
    for (key, value) in &own {
        let one = Mapping::from_iter([(key.clone(), value.clone())]);
        if let Err(e) = serde_yaml::from_value::<T>(Value::Mapping(one)) {
            return Err(KeyError::new(
                format!("method.{}", key_text(key)),
                strip_location(&e.to_string()),
            ));
        }
    }
    let options: T = serde_yaml::from_value(Value::Mapping(own))
        .map_err(|e| KeyError::new("method", strip_location(&e.to_string())))?;
    options.check()?;
    Ok(options)
}

/// `T` as the keys it adds to the `method` section (fields left unset are not written).
pub fn to_mapping<T: MethodOptions>(options: &T) -> Mapping {
    match serde_yaml::to_value(options) {
        Ok(Value::Mapping(m)) => m,
        _ => Mapping::new(),
    }
}

/// The option keys of `T`, in declaration order.
pub fn field_names<T: MethodOptions>() -> &'static [&'static str] {
    let names = Cell::new(&[][..]);
    let _ = T::deserialize(FieldNames(&names));
    names.get()
}

fn unknown_option(method: &str, key: &str, fields: &[&str]) -> KeyError {
    let hint = if fields.is_empty() {
        "it takes no options besides alpha, beta and task_inference".to_string()
    } else {
        format!("its options are: {}", fields.join(", "))
    };
    KeyError::new(
        format!("method.{key}"),
        format!("unknown option for method `{method}`; {hint}"),
    )
}

/// A mapping key as text (numbers and booleans as written).
pub fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// serde_yaml appends "at line L column C" to messages; the caller prints the line itself.
pub fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// A deserializer that only records the field names a struct asks for.
struct FieldNames<'a>(&'a Cell<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(fields);
        Err(de::Error::custom("field names recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

//! One encode/decode API for every body, keyed by the wire format.
//!
//! ```
//! use ipimport::cli::Wire;
//! use ipimport::em::wire::{self, CloudPublicIpAddressCreateSpec};
//! let spec = CloudPublicIpAddressCreateSpec {
//!     backup_server_uid: "urn:veeam:BackupServer:8fff3b8e-c3f1-4ef5-aecc-561f07bf9982".into(),
//!     ip_address_lower_bound: "198.51.100.11".into(),
//!     ip_address_upper_bound: "198.51.100.15".into(),
//! };
//! for format in [Wire::Xml, Wire::Json] {
//!     let bytes = wire::encode(&spec, format);
//!     let back: CloudPublicIpAddressCreateSpec = wire::decode(&bytes, format).unwrap();
//!     assert_eq!(back, spec);
//! }
//! ```
//!
//! XML goes through [`super::xml`] (hand-written, schema order, vendor
//! namespace); JSON through serde with the vendor's PascalCase keys. Readers
//! are lenient where the vendor is vague (lists as an array or wrapped once
//! more, unknown keys and elements ignored) and strict where the schema is
//! exact (`CloudPublicIpAddressCreateSpec`).

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use super::bodies::*;
pub use super::xml::NAMESPACE;
use super::xml::{XElem, XmlWriter};
pub use crate::cli::Wire;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not well-formed XML or JSON at all.
    #[error("{0}")]
    Syntax(String),
    /// Well-formed, but not the body expected (wrong root, missing or
    /// misplaced element, bad value).
    #[error("{0}")]
    Invalid(String),
}

/// A body that travels in XML and in JSON.
pub trait Body: Sized + serde::Serialize + DeserializeOwned {
    /// The XML root element.
    const ROOT: &'static str;
    /// Other root names accepted when reading (e.g. `CloudPublicIp`).
    const ALSO_ROOT: &'static [&'static str] = &[];
    /// Write the whole root element.
    fn write_xml(&self, w: &mut XmlWriter);
    /// Read from the parsed root element (its name already checked).
    fn read_xml(root: &XElem) -> Result<Self, WireError>;
}

/// The `Content-Type` (and `Accept`) value of a wire format.
pub fn content_type(wire: Wire) -> &'static str {
    match wire {
        Wire::Xml => "application/xml",
        Wire::Json => "application/json",
    }
}

/// The wire format a `Content-Type` names (`application/xml`, `text/xml`,
/// `application/json`, parameters such as `charset` ignored).
pub fn wire_of_content_type(value: &str) -> Option<Wire> {
    let mime = value.split(';').next().unwrap_or("").trim();
    if mime.eq_ignore_ascii_case("application/json") {
        Some(Wire::Json)
    } else if mime.eq_ignore_ascii_case("application/xml") || mime.eq_ignore_ascii_case("text/xml")
    {
        Some(Wire::Xml)
    } else {
        None
    }
}

/// Encode a body.
pub fn encode<T: Body>(body: &T, wire: Wire) -> Vec<u8> {
    match wire {
        Wire::Xml => {
            let mut w = XmlWriter::new();
            body.write_xml(&mut w);
            w.finish().into_bytes()
        }
        // Serializing plain structs of strings into a Vec cannot fail.
        Wire::Json => serde_json::to_vec(body).unwrap_or_default(),
    }
}

/// Decode a body.
pub fn decode<T: Body>(bytes: &[u8], wire: Wire) -> Result<T, WireError> {
    match wire {
        Wire::Xml => {
            let root = super::xml::parse(bytes)?;
            if root.name != T::ROOT && !T::ALSO_ROOT.contains(&root.name.as_str()) {
                return Err(WireError::Invalid(format!(
                    "expected a <{}> body, found <{}>",
                    T::ROOT,
                    root.name
                )));
            }
            T::read_xml(&root)
        }
        Wire::Json => decode_json(bytes),
    }
}

/// Decode a JSON body, which must be an object: every vendor body is one,
/// and serde would otherwise read an array positionally into a struct.
pub(crate) fn decode_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if let Some(b) = first.filter(|b| **b != b'{') {
        let found = if *b == b'[' {
            "an array"
        } else {
            "not an object"
        };
        return Err(WireError::Invalid(format!(
            "the JSON body must be an object; found {found}"
        )));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            WireError::Syntax(format!("malformed JSON: {e}"))
        } else {
            WireError::Invalid(format!("unexpected JSON body: {e}"))
        }
    })
}

/// serde helper: a list that may come as an array, wrapped once more in an
/// object (`{"Refs": [...]}`), as `null`, or be absent.
pub(crate) fn lenient_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    let value = Option::<Value>::deserialize(d)?;
    list_items(value.unwrap_or(Value::Null), 1).map_err(serde::de::Error::custom)
}

pub(crate) fn list_items<T: DeserializeOwned>(value: Value, unwrap: u8) -> Result<Vec<T>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|item| serde_json::from_value(item).map_err(|e| e.to_string()))
            .collect(),
        Value::Object(map) if unwrap > 0 && map.len() == 1 => {
            let inner = map
                .into_iter()
                .next()
                .map(|(_, v)| v)
                .unwrap_or(Value::Null);
            if inner.is_array() || inner.is_null() {
                list_items(inner, unwrap - 1)
            } else {
                // A single object wrapped under its name: one item.
                list_items(Value::Array(vec![inner]), 0)
            }
        }
        other @ Value::Object(_) => Ok(vec![
            serde_json::from_value(other).map_err(|e| e.to_string())?,
        ]),
        other => Err(format!("expected a list, found {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_round_trip() {
        for w in [Wire::Xml, Wire::Json] {
            assert_eq!(wire_of_content_type(content_type(w)), Some(w));
        }
        assert_eq!(
            wire_of_content_type("application/json; charset=utf-8"),
            Some(Wire::Json)
        );
        assert_eq!(wire_of_content_type("text/plain"), None);
    }

    #[test]
    fn lists_come_plain_or_wrapped() {
        let plain: Vec<u32> = list_items(serde_json::json!([1, 2]), 1).unwrap();
        let wrapped: Vec<u32> = list_items(serde_json::json!({"X": [1, 2]}), 1).unwrap();
        let none: Vec<u32> = list_items(Value::Null, 1).unwrap();
        assert_eq!(plain, vec![1, 2]);
        assert_eq!(wrapped, vec![1, 2]);
        assert!(none.is_empty());
    }
}

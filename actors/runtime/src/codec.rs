//! The on-disk (and on-wire) encoding of actor state: a version marker, then rmp-serde bytes.
//!
//! Layout: `[MAGIC][schema][msgpack...]`. `MAGIC` says "this is a troupe value, encoding 1"; the
//! schema byte is owned by each actor kind and bumped when its state shape changes, so that an
//! older binary refuses newer state instead of misreading it, and a newer binary can migrate.

use serde::{de::DeserializeOwned, Serialize};

/// The first byte of every stored value: troupe encoding, format 1 (msgpack with field names).
pub const MAGIC: u8 = 0xA1;

/// Why a stored value could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The value is empty or does not start with [`MAGIC`].
    #[error("stored value has no troupe version marker")]
    NoMarker,
    /// The value was written by a schema this binary does not know.
    #[error("stored value has schema {found}, this binary reads schema {expected}")]
    Schema {
        /// The schema byte found in the value.
        found: u8,
        /// The schema this binary reads.
        expected: u8,
    },
    /// The msgpack payload is malformed.
    #[error("malformed msgpack payload: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    /// The value could not be serialised.
    #[error("cannot encode value: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
}

/// Encodes `value` with the version marker for `schema`.
pub fn encode<T: Serialize>(schema: u8, value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    out.push(MAGIC);
    out.push(schema);
    rmp_serde::encode::write_named(&mut out, value)?;
    Ok(out)
}

/// Decodes a value written by [`encode`], checking that its schema is `schema`.
pub fn decode<T: DeserializeOwned>(schema: u8, bytes: &[u8]) -> Result<T, CodecError> {
    match bytes {
        [MAGIC, found, payload @ ..] => {
            if *found != schema {
                return Err(CodecError::Schema {
                    found: *found,
                    expected: schema,
                });
            }
            Ok(rmp_serde::from_slice(payload)?)
        }
        _ => Err(CodecError::NoMarker),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct V {
        a: u32,
        b: String,
    }

    #[test]
    fn a_value_round_trips_with_its_marker() {
        let v = V {
            a: 7,
            b: "x".into(),
        };
        let bytes = encode(3, &v).unwrap();
        assert_eq!(&bytes[..2], &[MAGIC, 3]);
        assert_eq!(decode::<V>(3, &bytes).unwrap(), v);
    }

    #[test]
    fn a_value_from_another_schema_is_refused() {
        let bytes = encode(
            4,
            &V {
                a: 1,
                b: String::new(),
            },
        )
        .unwrap();
        assert!(matches!(
            decode::<V>(3, &bytes),
            Err(CodecError::Schema {
                found: 4,
                expected: 3
            })
        ));
        assert!(matches!(decode::<V>(3, b""), Err(CodecError::NoMarker)));
        assert!(matches!(
            decode::<V>(3, b"\x00\x03"),
            Err(CodecError::NoMarker)
        ));
    }
}

//! Integers in request bodies. JSON Schema counts `40.0` as an integer (a number whose fraction
//! is zero), and so do clients that write every number as a float (Python's `json.dumps(40.0)`);
//! serde's integer types refuse it. Body fields the document calls integers take both, through
//! `#[serde(default, deserialize_with = "integer::option")]` and `integer::list`.

use serde::de::Error;
use serde::{Deserialize, Deserializer};
use serde_json::Number;

fn whole<T: TryFrom<i64>, E: Error>(number: Number) -> Result<T, E> {
    let exact = number.as_i64().or_else(|| {
        // 2^63 is exactly representable, and the first float out of range.
        number
            .as_f64()
            .filter(|float| {
                float.fract() == 0.0 && *float >= -(2f64.powi(63)) && *float < 2f64.powi(63)
            })
            .map(|float| float as i64)
    });
    exact
        .and_then(|value| T::try_from(value).ok())
        .ok_or_else(|| E::custom(format!("{number} is not an integer in range")))
}

/// An optional integer.
pub fn option<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    Option::<Number>::deserialize(deserializer)?
        .map(whole)
        .transpose()
}

/// A list of integers.
pub fn list<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    Vec::<Number>::deserialize(deserializer)?
        .into_iter()
        .map(whole)
        .collect()
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Body {
        #[serde(default, deserialize_with = "super::option")]
        count: Option<u32>,
        #[serde(default, deserialize_with = "super::list")]
        ids: Vec<i64>,
    }

    fn parse(text: &str) -> Result<Body, String> {
        serde_json::from_str(text).map_err(|error| error.to_string())
    }

    #[test]
    fn whole_floats_are_integers_and_nothing_else_is() {
        assert_eq!(
            parse(r#"{"count": 40.0, "ids": [1, 2.0, 9223372036854775807]}"#),
            Ok(Body {
                count: Some(40),
                ids: vec![1, 2, i64::MAX]
            })
        );
        assert_eq!(
            parse("{}"),
            Ok(Body {
                count: None,
                ids: vec![]
            })
        );
        assert_eq!(parse(r#"{"count": null}"#).map(|b| b.count), Ok(None));
        for bad in [
            r#"{"count": 1.5}"#,
            r#"{"count": -1}"#,
            r#"{"count": 4294967296}"#,
            r#"{"count": "1"}"#,
            r#"{"ids": [9223372036854775808]}"#,
            r#"{"ids": [1e300]}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

//! Property tests: the decoders never panic on anything a plugin or a user can write, and
//! encode → decode round-trips every message the types can express.
//!
//! Case counts are kept modest so `cargo test -p plugboard-protocol` stays fast; raise
//! `PROPTEST_CASES` to search longer.

use std::collections::BTreeMap;

use plugboard_protocol::{ErrorObject, Id, Manifest, Message, Notification, Request, Response};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Keys that make a JSON object look like a message, so generated objects get past the first
/// checks often enough to reach the later ones.
const MESSAGE_KEYS: &[&str] = &[
    "jsonrpc", "id", "method", "params", "result", "error", "code", "message", "data",
];

fn json_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        // Quarters are exact in binary, so they survive printing and parsing unchanged.
        (-1_000_000i64..1_000_000).prop_map(|n| Value::from(n as f64 / 4.0)),
    ]
}

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        json_number(),
        Just(Value::from("2.0")),
        any::<String>().prop_map(Value::String),
    ]
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(MESSAGE_KEYS).prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

/// Any JSON value, small.
fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(json_key(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A JSON object that is often almost a message: some of the message keys, with any values.
fn message_like() -> impl Strategy<Value = Value> {
    let member = |key: &'static str| {
        proptest::option::weighted(0.6, json_value()).prop_map(move |value| (key, value))
    };
    (
        prop_oneof![Just(Value::from("2.0")), json_leaf()],
        member("id"),
        member("method"),
        member("params"),
        member("result"),
        member("error"),
    )
        .prop_map(|(jsonrpc, id, method, params, result, error)| {
            let mut object = Map::new();
            object.insert("jsonrpc".to_owned(), jsonrpc);
            for (key, value) in [id, method, params, result, error] {
                if let Some(value) = value {
                    object.insert(key.to_owned(), value);
                }
            }
            Value::Object(object)
        })
}

fn id() -> impl Strategy<Value = Id> {
    prop_oneof![
        any::<i64>().prop_map(Id::Number),
        any::<String>().prop_map(Id::String),
    ]
}

fn params() -> impl Strategy<Value = Option<Value>> {
    proptest::option::of(
        proptest::collection::btree_map(any::<String>(), json_value(), 0..4)
            .prop_map(|map| Value::Object(map.into_iter().collect())),
    )
}

fn error_object() -> impl Strategy<Value = ErrorObject> {
    // `"data": null` reads back as no data, which is the same thing on the wire.
    let data = proptest::option::of(json_value().prop_filter("data is not null", |v| !v.is_null()));
    (any::<i64>(), any::<String>(), data).prop_map(|(code, message, data)| ErrorObject {
        code,
        message,
        data,
    })
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (id(), any::<String>(), params()).prop_map(|(id, method, params)| {
            Message::Request(Request {
                jsonrpc: "2.0".to_owned(),
                id,
                method,
                params,
            })
        }),
        (any::<String>(), params()).prop_map(|(method, params)| {
            Message::Notification(Notification {
                jsonrpc: "2.0".to_owned(),
                method,
                params,
            })
        }),
        (id(), json_value()).prop_map(|(id, result)| Message::Response(Response::ok(id, result))),
        (id(), error_object())
            .prop_map(|(id, error)| Message::Response(Response::error(id, error))),
    ]
}

/// A `plugin.toml`-shaped text: known keys and tables with values of any TOML type, some junk.
fn manifest_like() -> impl Strategy<Value = String> {
    let key = proptest::sample::select(
        &[
            "id",
            "name",
            "version",
            "description",
            "protocol",
            "command",
            "instances",
            "concurrency",
            "network",
            "read",
            "write",
            "env",
            "memory_mb",
            "open_files",
            "processes",
            "cpu_seconds",
            "HTTPS_PROXY",
            "unknown",
        ][..],
    );
    let value = prop_oneof![
        "[a-z0-9./ -]{0,12}".prop_map(|text| format!("{text:?}")),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        proptest::collection::vec("[a-z/.]{0,6}", 0..3).prop_map(|items| format!("{items:?}")),
        Just("\"1.0.0\"".to_owned()),
        Just("1".to_owned()),
        any::<String>(),
    ];
    let line = prop_oneof![
        6 => (key, value).prop_map(|(key, value)| format!("{key} = {value}")),
        1 => proptest::sample::select(&["[permissions]", "[limits]", "[env]", "[[x]]", "[", ""][..])
            .prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    proptest::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decode_never_panics_on_strings(line in any::<String>()) {
        let _ = Message::decode(&line);
    }

    #[test]
    fn decode_never_panics_on_json(value in prop_oneof![json_value(), message_like()]) {
        let line = value.to_string();
        if let Ok(message) = Message::decode(&line) {
            // What decodes once decodes the same after encoding.
            prop_assert_eq!(Message::decode(&message.encode()), Ok(message));
        }
    }

    #[test]
    fn encode_decode_round_trips(message in message()) {
        let line = message.encode();
        prop_assert!(!line.contains('\n'));
        prop_assert_eq!(Message::decode(&line), Ok(message));
    }

    #[test]
    fn manifest_parse_never_panics_on_strings(text in any::<String>()) {
        check_manifest(&text)?;
    }

    #[test]
    fn manifest_parse_never_panics_on_manifest_like_text(text in manifest_like()) {
        check_manifest(&text)?;
    }
}

/// Parses, and when that fails, checks the error points into the text.
fn check_manifest(text: &str) -> Result<(), TestCaseError> {
    if let Err(error) = Manifest::parse(text) {
        let lines = text.split('\n').count();
        if let Some(line) = error.line {
            prop_assert!(
                (1..=lines).contains(&line),
                "line {} of a {}-line text: {}",
                line,
                lines,
                error
            );
        }
        prop_assert!(!error.message.is_empty());
    }
    Ok(())
}

#[test]
fn decode_rejects_what_is_not_a_message() {
    let not_messages: BTreeMap<&str, &str> = [
        ("not JSON", "hello"),
        ("an array", "[1, 2]"),
        ("no version", r#"{"id": 1, "method": "ping"}"#),
        (
            "version 1.0",
            r#"{"jsonrpc": "1.0", "id": 1, "method": "ping"}"#,
        ),
        (
            "a fractional id",
            r#"{"jsonrpc": "2.0", "id": 1.5, "method": "ping"}"#,
        ),
        (
            "scalar params",
            r#"{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": 3}"#,
        ),
        ("neither", r#"{"jsonrpc": "2.0"}"#),
        (
            "result and error",
            r#"{"jsonrpc": "2.0", "id": 1, "result": {}, "error": {"code": 1, "message": "x"}}"#,
        ),
        ("no result", r#"{"jsonrpc": "2.0", "id": 1}"#),
        (
            "method and result",
            r#"{"jsonrpc": "2.0", "id": 1, "method": "x", "result": {}}"#,
        ),
    ]
    .into_iter()
    .collect();
    for (what, line) in not_messages {
        assert!(Message::decode(line).is_err(), "{what}: {line} decoded");
    }
}

#[test]
fn decode_keeps_the_id_of_a_bad_request_to_answer_it() {
    let error = Message::decode(r#"{"jsonrpc": "2.0", "id": 9, "method": 3}"#)
        .expect_err("a numeric method is not a request");
    assert_eq!(error.id, Some(Id::Number(9)));
}

#[test]
fn a_null_result_is_a_result() {
    let line = r#"{"jsonrpc":"2.0","id":1,"result":null}"#;
    let message = Message::decode(line).expect("JSON-RPC allows a null result");
    assert_eq!(
        message,
        Message::Response(Response::ok(Id::Number(1), Value::Null))
    );
    assert_eq!(message.encode(), line);
}

//! Golden JSON: one file per message as it appears on the wire, in `tests/golden/`.
//!
//! Each file is checked against the Rust types: `Message::decode` reads its compact form as the
//! expected kind of message, its params or result read into the method's typed struct and
//! serialise back to the same JSON, and encode → decode round-trips. The Python SDK's tests
//! read the same files, so a change of shape shows up on both sides.
//!
//! File names are `<method>[.<variant>].<kind>.json`, with `/` in the method written as `-`
//! (`kv/get` → `kv-get.request.json`). A file nobody checks, or a method in `methods.rs` without
//! a golden file, fails `every_golden_file_is_checked` or `every_method_has_golden_files`; an
//! example in `docs/protocol.md` that is not a golden file (or the reverse) fails
//! `docs_show_exactly_the_golden_messages`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use plugboard_protocol::methods::{
    self, CancelParams, ConfigParams, ConfigTestResult, ConfigValidateResult, EmitParams,
    EmitResult, HttpParams, HttpResult, InitializeParams, InitializeResult, KvDeleteResult,
    KvGetResult, KvKeyParams, KvListParams, KvListResult, KvSetParams, LogParams, ProgressParams,
    RunParams, RunResult, ToolsCallParams, ToolsCallResult,
};
use plugboard_protocol::{ErrorObject, Message};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a golden file holds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    /// A request; `typed` checks its params.
    Request,
    /// A notification; `typed` checks its params.
    Notification,
    /// A successful response; `typed` checks its result.
    Success,
    /// An error response; `typed` checks the error object, whose `is_retryable` must be this.
    Error { retryable: bool },
}

struct Golden {
    /// The file name without `.json`.
    file: &'static str,
    /// The method the message belongs to (for a response: of the request it answers).
    method: &'static str,
    shape: Shape,
    /// Reads the params, result or error into its type and serialises it back.
    typed: fn(&Value) -> Value,
}

/// The result of `ping`, `shutdown` and `kv/set`, and the params of `ping` and `shutdown`: an
/// empty object. The crate has no type for it, so the test states it here.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Empty {}

fn typed<T: DeserializeOwned + Serialize>(value: &Value) -> Value {
    let parsed: T = serde_json::from_value(value.clone()).unwrap_or_else(|error| {
        panic!(
            "{value} does not read as {}: {error}",
            std::any::type_name::<T>()
        )
    });
    serde_json::to_value(parsed).expect("the protocol's types serialise to JSON")
}

const fn golden(
    file: &'static str,
    method: &'static str,
    shape: Shape,
    typed: fn(&Value) -> Value,
) -> Golden {
    Golden {
        file,
        method,
        shape,
        typed,
    }
}

use Shape::{Notification, Request, Success};

const RETRYABLE: Shape = Shape::Error { retryable: true };
const FINAL: Shape = Shape::Error { retryable: false };

const GOLDEN: &[Golden] = &[
    // Host → plugin.
    golden(
        "initialize.request",
        methods::INITIALIZE,
        Request,
        typed::<InitializeParams>,
    ),
    golden(
        "initialize.response",
        methods::INITIALIZE,
        Success,
        typed::<InitializeResult>,
    ),
    golden(
        "initialize.error-unsupported-version.response",
        methods::INITIALIZE,
        FINAL,
        typed::<ErrorObject>,
    ),
    golden("run.request", methods::RUN, Request, typed::<RunParams>),
    golden(
        "run.schedule.request",
        methods::RUN,
        Request,
        typed::<RunParams>,
    ),
    golden(
        "run.manual.request",
        methods::RUN,
        Request,
        typed::<RunParams>,
    ),
    golden("run.response", methods::RUN, Success, typed::<RunResult>),
    golden(
        "run.error-retryable.response",
        methods::RUN,
        RETRYABLE,
        typed::<ErrorObject>,
    ),
    golden(
        "run.error-not-retryable.response",
        methods::RUN,
        FINAL,
        typed::<ErrorObject>,
    ),
    // A run the plugin says was cancelled is final; a cancelled job ends `cancelled` either way.
    golden(
        "run.error-cancelled.response",
        methods::RUN,
        FINAL,
        typed::<ErrorObject>,
    ),
    golden(
        "cancel.notification",
        methods::CANCEL,
        Notification,
        typed::<CancelParams>,
    ),
    golden(
        "config-validate.request",
        methods::CONFIG_VALIDATE,
        Request,
        typed::<ConfigParams>,
    ),
    golden(
        "config-validate.response",
        methods::CONFIG_VALIDATE,
        Success,
        typed::<ConfigValidateResult>,
    ),
    golden(
        "config-validate.invalid.response",
        methods::CONFIG_VALIDATE,
        Success,
        typed::<ConfigValidateResult>,
    ),
    golden(
        "config-test.request",
        methods::CONFIG_TEST,
        Request,
        typed::<ConfigParams>,
    ),
    golden(
        "config-test.response",
        methods::CONFIG_TEST,
        Success,
        typed::<ConfigTestResult>,
    ),
    golden(
        "config-test.error-method-not-found.response",
        methods::CONFIG_TEST,
        FINAL,
        typed::<ErrorObject>,
    ),
    golden("http.request", methods::HTTP, Request, typed::<HttpParams>),
    golden("http.response", methods::HTTP, Success, typed::<HttpResult>),
    golden(
        "tools-call.request",
        methods::TOOLS_CALL,
        Request,
        typed::<ToolsCallParams>,
    ),
    golden(
        "tools-call.response",
        methods::TOOLS_CALL,
        Success,
        typed::<ToolsCallResult>,
    ),
    golden(
        "tools-call.structured.response",
        methods::TOOLS_CALL,
        Success,
        typed::<ToolsCallResult>,
    ),
    golden(
        "tools-call.error-tool.response",
        methods::TOOLS_CALL,
        Success,
        typed::<ToolsCallResult>,
    ),
    golden("ping.request", methods::PING, Request, typed::<Empty>),
    golden("ping.response", methods::PING, Success, typed::<Empty>),
    golden(
        "shutdown.request",
        methods::SHUTDOWN,
        Request,
        typed::<Empty>,
    ),
    golden(
        "shutdown.response",
        methods::SHUTDOWN,
        Success,
        typed::<Empty>,
    ),
    // Plugin → host.
    golden(
        "log.notification",
        methods::LOG,
        Notification,
        typed::<LogParams>,
    ),
    golden(
        "log.plugin.notification",
        methods::LOG,
        Notification,
        typed::<LogParams>,
    ),
    golden(
        "progress.notification",
        methods::PROGRESS,
        Notification,
        typed::<ProgressParams>,
    ),
    golden(
        "kv-get.request",
        methods::KV_GET,
        Request,
        typed::<KvKeyParams>,
    ),
    golden(
        "kv-get.response",
        methods::KV_GET,
        Success,
        typed::<KvGetResult>,
    ),
    golden(
        "kv-get.missing.response",
        methods::KV_GET,
        Success,
        typed::<KvGetResult>,
    ),
    golden(
        "kv-get.error-host.response",
        methods::KV_GET,
        RETRYABLE,
        typed::<ErrorObject>,
    ),
    golden(
        "kv-set.request",
        methods::KV_SET,
        Request,
        typed::<KvSetParams>,
    ),
    golden("kv-set.response", methods::KV_SET, Success, typed::<Empty>),
    golden(
        "kv-set.error-too-large.response",
        methods::KV_SET,
        FINAL,
        typed::<ErrorObject>,
    ),
    golden(
        "kv-delete.request",
        methods::KV_DELETE,
        Request,
        typed::<KvKeyParams>,
    ),
    golden(
        "kv-delete.response",
        methods::KV_DELETE,
        Success,
        typed::<KvDeleteResult>,
    ),
    golden(
        "kv-list.request",
        methods::KV_LIST,
        Request,
        typed::<KvListParams>,
    ),
    golden(
        "kv-list.response",
        methods::KV_LIST,
        Success,
        typed::<KvListResult>,
    ),
    golden("emit.request", methods::EMIT, Request, typed::<EmitParams>),
    golden("emit.response", methods::EMIT, Success, typed::<EmitResult>),
    golden(
        "emit.error-permission-denied.response",
        methods::EMIT,
        FINAL,
        typed::<ErrorObject>,
    ),
];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn read_golden(file: &str) -> Value {
    let path = golden_dir().join(format!("{file}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let value: Value = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()));
    assert!(value.is_object(), "{file}.json must hold one JSON object");
    value
}

/// Every `pub const NAME: &str = "method";` in `methods.rs`.
fn method_constants() -> Vec<String> {
    include_str!("../src/methods.rs")
        .lines()
        .filter_map(|line| {
            let rest = line.trim().strip_prefix("pub const ")?;
            let (_, value) = rest.split_once(": &str = \"")?;
            Some(value.split('"').next()?.to_owned())
        })
        .collect()
}

#[test]
fn every_golden_file_is_checked() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .map(|entry| entry.expect("a readable directory entry").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    let checked: BTreeSet<String> = GOLDEN
        .iter()
        .map(|golden| format!("{}.json", golden.file))
        .collect();
    let unchecked: Vec<_> = on_disk.difference(&checked).collect();
    let missing: Vec<_> = checked.difference(&on_disk).collect();
    assert!(
        unchecked.is_empty(),
        "golden files nobody checks: {unchecked:?}; add them to GOLDEN in tests/golden.rs"
    );
    assert!(
        missing.is_empty(),
        "GOLDEN names files that do not exist: {missing:?}"
    );
    assert_eq!(GOLDEN.len(), checked.len(), "GOLDEN names a file twice");
}

#[test]
fn every_method_has_golden_files() {
    let constants = method_constants();
    assert!(
        constants.len() >= 16,
        "found only {constants:?} in methods.rs; did its constants change form?"
    );
    for method in &constants {
        let files: Vec<&Golden> = GOLDEN.iter().filter(|g| g.method == method).collect();
        assert!(
            !files.is_empty(),
            "method `{method}` has no golden file; add one to tests/golden/ and GOLDEN"
        );
        let is_request = files.iter().any(|g| g.shape == Request);
        let has_result = files.iter().any(|g| g.shape == Success);
        assert_eq!(
            is_request, has_result,
            "method `{method}` needs both a request and a successful response golden file"
        );
    }
    for golden in GOLDEN {
        assert!(
            constants.iter().any(|method| method == golden.method),
            "{}: `{}` is not a method in methods.rs",
            golden.file,
            golden.method
        );
    }
}

#[test]
fn golden_files_are_named_after_their_method_and_kind() {
    for golden in GOLDEN {
        let prefix = format!("{}.", golden.method.replace('/', "-"));
        let suffix = match golden.shape {
            Request => ".request",
            Notification => ".notification",
            Success | Shape::Error { .. } => ".response",
        };
        assert!(
            golden.file.starts_with(&prefix) && golden.file.ends_with(suffix),
            "{}.json should be named {prefix}…{suffix}.json",
            golden.file
        );
    }
}

#[test]
fn golden_messages_decode_into_their_types() {
    for golden in GOLDEN {
        let file = golden.file;
        let value = read_golden(file);
        let compact = serde_json::to_string(&value).expect("a JSON value serialises");
        let message = Message::decode(&compact)
            .unwrap_or_else(|error| panic!("{file}.json does not decode: {error}"));
        let body = match (&message, golden.shape) {
            (Message::Request(request), Request) => {
                assert_eq!(request.method, golden.method, "{file}: method");
                request.params.clone()
            }
            (Message::Notification(notification), Notification) => {
                assert_eq!(notification.method, golden.method, "{file}: method");
                notification.params.clone()
            }
            (Message::Response(response), Success) => {
                assert!(response.error.is_none(), "{file}: unexpected error");
                response.result.clone()
            }
            (Message::Response(response), Shape::Error { retryable }) => {
                let error = response.error.clone().expect("an error response");
                assert_eq!(error.is_retryable(), retryable, "{file}: is_retryable");
                Some(serde_json::to_value(&error).expect("an error object serialises"))
            }
            (message, shape) => panic!("{file}.json decodes as {message:?}, expected {shape:?}"),
        };
        let body = body.unwrap_or_else(|| panic!("{file}.json has no params or result"));
        assert_eq!(
            (golden.typed)(&body),
            body,
            "{file}.json: the typed struct does not serialise back to the same JSON"
        );
        let encoded = message.encode();
        assert!(!encoded.contains('\n'), "{file}: encoded on one line");
        assert_eq!(
            serde_json::from_str::<Value>(&encoded).expect("encode writes JSON"),
            value,
            "{file}.json: encode changes the message"
        );
        assert_eq!(
            Message::decode(&encoded).as_ref(),
            Ok(&message),
            "{file}.json: encode → decode does not round-trip"
        );
    }
}

#[test]
fn responses_answer_the_id_of_their_request() {
    for golden in GOLDEN.iter().filter(|g| g.shape != Request) {
        let Some(request) = GOLDEN
            .iter()
            .find(|r| r.method == golden.method && r.shape == Request)
        else {
            continue;
        };
        if golden.shape == Notification {
            continue;
        }
        assert_eq!(
            read_golden(golden.file)["id"],
            read_golden(request.file)["id"],
            "{}.json should answer {}.json",
            golden.file,
            request.file
        );
    }
}

/// Every example line in `docs/protocol.md` (`→ {…}` or `← {…}`) is a golden message, and every
/// golden message is shown there, so the document cannot drift from the types.
#[test]
fn docs_show_exactly_the_golden_messages() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/protocol.md");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let goldens: Vec<(&str, Value)> = GOLDEN
        .iter()
        .map(|golden| (golden.file, read_golden(golden.file)))
        .collect();
    let mut shown = BTreeSet::new();
    for line in text.lines() {
        let Some(json) = line.strip_prefix("→ ").or_else(|| line.strip_prefix("← ")) else {
            continue;
        };
        let value: Value = serde_json::from_str(json)
            .unwrap_or_else(|error| panic!("docs/protocol.md: not JSON ({error}): {line}"));
        let Some((file, _)) = goldens.iter().find(|(_, golden)| *golden == value) else {
            panic!("docs/protocol.md shows a message that is no golden file: {line}");
        };
        shown.insert(*file);
    }
    let missing: Vec<&str> = GOLDEN
        .iter()
        .map(|golden| golden.file)
        .filter(|file| !shown.contains(file))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/protocol.md does not show {missing:?}"
    );
}

//! The OpenAPI document of `/api/v1`: what the handlers' annotations generate, plus what
//! annotations cannot say: rules between fields of one body, query parameters that carry JSON,
//! and the links from an operation that makes a resource to the operations that use it (which
//! generated clients document and stateful testers such as schemathesis follow).
//!
//! `docs/openapi.json` is this document as the server serves it before any plugin adds its
//! routes; a test fails when they differ, so every change of the API shows up in review.

use serde_json::{json, Map, Value};

/// The API's OpenAPI 3.1 document.
pub fn document() -> Value {
    let (_, document) = super::protected_routes().split_for_parts();
    let mut document =
        serde_json::to_value(&document).expect("the OpenAPI document serialises to JSON");
    refine(&mut document);
    document
}

fn refine(document: &mut Value) {
    problems_every_operation_answers(document);
    parameters_hold_text(document);
    bodies_hold_text(document);
    json_query_parameters(document);
    body_rules(document);
    links(document);
}

/// A path, a query string or a header holds text: an optional parameter is absent or has a
/// value, never JSON's `null` (which the `Option` of its Rust type adds to its schema), and text
/// without a pattern of its own is said to hold no NUL, which the server refuses there.
fn parameters_hold_text(document: &mut Value) {
    for operation in operations_mut(document) {
        // `get_mut`: indexing a missing key would add it as `null`.
        let parameters = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut);
        for parameter in parameters.into_iter().flatten() {
            let Some(schema) = parameter.get_mut("schema") else {
                continue;
            };
            text_without_nul(schema);
            let Some(schema_type) = schema.get_mut("type") else {
                continue;
            };
            if let Some(types) = schema_type.as_array() {
                let kept: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                *schema_type = match kept.as_slice() {
                    [one] => one.clone(),
                    _ => Value::Array(kept),
                };
            }
        }
    }
}

/// Every operation of the document.
fn operations_mut(document: &mut Value) -> impl Iterator<Item = &mut Value> {
    document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
}

/// A problem document answer.
fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    })
}

/// The problems every operation can answer, declared here once rather than on each handler:
/// `401` (no valid token) and `429` (a rate limit, `api/ratelimit.rs`) before any handler runs,
/// and for an operation with a body, `400` (not JSON), `413` (over `api_body_limit_kb`), `415`
/// (not `application/json`) and `422` (JSON of the wrong shape). An operation that says more
/// about one of them (a stream's own `429`) keeps its own.
fn problems_every_operation_answers(document: &mut Value) {
    let mut rate_limited = problem(
        "A rate limit of this token or client address is spent; retry after `Retry-After` seconds",
    );
    rate_limited["headers"] = json!({"Retry-After": {
        "description": "Seconds to wait",
        "schema": {"type": "integer", "minimum": 1},
    }});
    let declared = [
        (
            "Unauthorized",
            problem("No valid token: missing, unknown, expired or revoked"),
        ),
        ("RateLimited", rate_limited),
        ("NotJson", problem("The body is not JSON")),
        (
            "TooLarge",
            problem("The body is larger than the server takes"),
        ),
        (
            "NotJsonMediaType",
            problem("The body is not `application/json`"),
        ),
        (
            "WrongShape",
            problem("The body does not have the shape the operation takes"),
        ),
    ];
    let reference = |name: &str| json!({"$ref": format!("#/components/responses/{name}")});
    let every = [
        ("401", reference("Unauthorized")),
        ("429", reference("RateLimited")),
    ];
    let with_body = [
        ("400", reference("NotJson")),
        ("413", reference("TooLarge")),
        ("415", reference("NotJsonMediaType")),
        ("422", reference("WrongShape")),
    ];
    let components = &mut document["components"]["responses"];
    for (name, answer) in declared {
        components[name] = answer;
    }
    for operation in operations_mut(document) {
        let has_body = operation.get("requestBody").is_some();
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let body_problems = with_body.iter().filter(|_| has_body);
        for (status, answer) in every.iter().chain(body_problems) {
            responses.entry(*status).or_insert_with(|| answer.clone());
        }
    }
}

/// Text without NUL: a string schema with no pattern, enum or constant of its own says it
/// holds no NUL character, which the server refuses (`problem::QueryParams`,
/// `problem::PathParams`, and `problem::nul_in` for bodies).
fn text_without_nul(schema: &mut Value) {
    let text = schema["type"] == "string" || schema["type"] == json!(["string", "null"]);
    let shaped = ["pattern", "enum", "const", "contentMediaType"]
        .iter()
        .any(|keyword| schema.get(keyword).is_some());
    if text && !shaped && schema.get("format") != Some(&json!("binary")) {
        schema["pattern"] = json!("^[^\\u0000]*$");
    }
}

/// Every string a request body holds says it holds no NUL, like parameters do: the bodies'
/// own schemas, inline or among the components, and the components they reach.
fn bodies_hold_text(document: &mut Value) {
    fn refs(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(object) => {
                if let Some(Value::String(reference)) = object.get("$ref") {
                    if let Some(name) = reference.strip_prefix("#/components/schemas/") {
                        found.push(name.to_owned());
                    }
                }
                object.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }
    fn strings(value: &mut Value) {
        match value {
            Value::Object(_) => {
                text_without_nul(value);
                if let Value::Object(object) = value {
                    object.values_mut().for_each(strings);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(strings),
            _ => {}
        }
    }
    let mut pending = Vec::new();
    for operation in operations_mut(document) {
        if let Some(body) = operation.get_mut("requestBody") {
            refs(body, &mut pending);
            strings(body);
        }
    }
    let mut seen = std::collections::HashSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let schema = &mut document["components"]["schemas"][&name];
        refs(schema, &mut pending);
        strings(schema);
    }
}

/// A payload filter (`GET /api/v1/jobs?payload=`): objects nested at most three deep, each
/// with 1 to 8 keys, whose leaves are strings, numbers, booleans or null. The server holds
/// filters to exactly this (`jobs::payload_matches`).
fn payload_filter_schema() -> Value {
    let key = json!({
        "minLength": 1,
        "pattern": "^[^\"\\u0000-\\u001f\\u007f-\\u009f]+$",
    });
    let leaf = json!({"type": ["string", "number", "boolean", "null"]});
    let object = |values: Value| {
        json!({
            "type": "object",
            "minProperties": 1,
            "maxProperties": 8,
            "propertyNames": key,
            "additionalProperties": values,
        })
    };
    let third = object(leaf.clone());
    let second = object(json!({"anyOf": [leaf.clone(), third]}));
    let mut first = object(json!({"anyOf": [leaf, second]}));
    first["description"] = json!(
        "Jobs whose payload holds each of these values at the same place, e.g. \
         {\"customer\":{\"id\":42}}: objects nested at most three deep, each with 1 to 8 keys, \
         whose leaves are strings, numbers, booleans or null."
    );
    first
}

/// Query parameters whose value is JSON: described by the schema of that JSON (`content`),
/// so that clients serialise them and testers generate them as JSON.
fn json_query_parameters(document: &mut Value) {
    let permissions = json!({"$ref": "#/components/schemas/PermissionsView"});
    let parameters = [
        ("/api/v1/jobs", "get", "payload", payload_filter_schema()),
        (
            "/api/v1/plugins",
            "post",
            "grant_permissions",
            permissions.clone(),
        ),
        (
            "/api/v1/plugins/{id}/update",
            "post",
            "grant_permissions",
            permissions,
        ),
    ];
    for (path, method, name, schema) in parameters {
        let parameter = document["paths"][path][method]["parameters"]
            .as_array_mut()
            .and_then(|list| list.iter_mut().find(|p| p["name"] == name))
            .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"));
        let object = parameter.as_object_mut().expect("a parameter is an object");
        object.remove("schema");
        object.insert(
            "content".to_owned(),
            json!({"application/json": {"schema": schema}}),
        );
    }
}

/// A value that is given: present and not null.
fn given(property: &str, schema: Value) -> Value {
    json!({"required": [property], "properties": {property: schema}})
}

/// Rules between the fields of one body, which field annotations cannot state.
fn body_rules(document: &mut Value) {
    let schemas = &mut document["components"]["schemas"];
    let mut add = |schema: &str, keyword: &str, rule: Value| {
        let object = schemas[schema]
            .as_object_mut()
            .unwrap_or_else(|| panic!("no component schema {schema}"));
        object.insert(keyword.to_owned(), rule);
    };
    add(
        "CreateToken",
        "not",
        json!({"allOf": [
            given("expires_at", json!({"type": "string"})),
            given("expires_in_seconds", json!({"type": "integer"})),
        ]}),
    );
    add(
        "PutLimit",
        "anyOf",
        json!([
            given("max_running", json!({"type": "integer"})),
            given("rate_per_second", json!({"type": "number"})),
        ]),
    );
    // `burst` shapes a rate.
    add("PutLimit", "if", given("burst", json!({"type": "integer"})));
    add(
        "PutLimit",
        "then",
        given("rate_per_second", json!({"type": "number"})),
    );
    // `config` names the config of a `plugin.run` job; other kinds have none.
    add(
        "CreateJob",
        "if",
        json!({"not": {"properties": {"kind": {"const": "plugin.run"}}}}),
    );
    add(
        "CreateJob",
        "then",
        json!({"properties": {"config": {"type": "null"}}}),
    );
    let ids = &mut schemas["BulkIds"]["properties"]["ids"]["items"];
    ids["minimum"] = json!(1);
}

/// `$response.body#/…` of the operation a link starts from.
fn from_body(pointer: &str) -> String {
    format!("$response.body#{pointer}")
}

/// A link of an answer: its name, the operation it leads to, and where that operation's
/// parameters come from.
struct Link {
    name: &'static str,
    to: &'static str,
    parameters: Value,
}

/// Links whose target takes one parameter from the answer's body.
fn links_with(
    parameter: &str,
    pointer: &str,
    targets: &[(&'static str, &'static str)],
) -> Vec<Link> {
    targets
        .iter()
        .map(|(name, to)| Link {
            name,
            to,
            parameters: json!({parameter: from_body(pointer)}),
        })
        .collect()
}

/// The links from operations that make or show a resource to the operations that use it.
fn links(document: &mut Value) {
    let job = || {
        links_with(
            "id",
            "/id",
            &[
                ("GetJob", "get_job"),
                ("GetJobLogs", "get_job_logs"),
                ("GetJobChanges", "get_job_changes"),
                ("CancelJob", "cancel_job"),
                ("RetryJob", "retry_job"),
            ],
        )
    };
    // Every operation that answers with a job links to what a client does with it.
    let mut table: Vec<(&str, &str, Vec<Link>)> = [
        ("create_job", "201"),
        ("create_job", "200"),
        ("run_config", "202"),
        ("install_plugin", "202"),
        ("update_plugin", "202"),
        ("uninstall_plugin", "202"),
        ("enable_plugin", "202"),
        ("disable_plugin", "202"),
        ("rollback_plugin", "202"),
    ]
    .into_iter()
    .map(|(operation, status)| (operation, status, job()))
    .collect();
    table.push((
        "create_jobs",
        "200",
        links_with("id", "/jobs/0/id", &[("GetFirstJob", "get_job")]),
    ));
    table.push((
        "create_tenant",
        "201",
        links_with(
            "tenant",
            "/id",
            &[
                ("GetTenant", "get_tenant"),
                ("ListConfigs", "list_configs"),
                ("CreateConfig", "create_config"),
                ("ValidateNewConfig", "validate_new_config"),
                ("DeleteTenant", "delete_tenant"),
            ],
        ),
    ));
    table.push((
        "create_config",
        "201",
        links_with(
            "id",
            "/id",
            &[
                ("GetConfig", "get_config"),
                ("ReplaceConfig", "replace_config"),
                ("RunConfig", "run_config"),
                ("TestConfig", "test_config"),
                ("ValidateConfig", "validate_config"),
                ("GetConfigNextFires", "get_config_next_fires"),
                ("CreateConfigWebhook", "create_config_webhook"),
                ("DeleteConfigWebhook", "delete_config_webhook"),
                ("DeleteConfig", "delete_config"),
            ],
        ),
    ));
    table.push((
        "create_token",
        "201",
        links_with("id", "/id", &[("RevokeToken", "revoke_token")]),
    ));
    table.push((
        "list_plugins",
        "200",
        links_with("id", "/plugins/0/id", &[("GetPlugin", "get_plugin")]),
    ));
    table.push((
        "post_event",
        "202",
        links_with("id", "/event_id", &[("GetEvent", "get_event")]),
    ));
    table.push((
        "put_limit",
        "200",
        vec![Link {
            name: "DeleteLimit",
            to: "delete_limit",
            parameters: json!({"scope": from_body("/scope"), "name": from_body("/name")}),
        }],
    ));
    let operations = operations_by_id(document);
    for (from, status, links) in table {
        let (path, method) = operations
            .get(from)
            .unwrap_or_else(|| panic!("no operation {from}"))
            .clone();
        let response = &mut document["paths"][&path][&method]["responses"][status];
        assert!(
            response.is_object(),
            "{from} does not answer {status}, which a link starts from"
        );
        let mut map = Map::new();
        for link in links {
            assert!(operations.contains_key(link.to), "no operation {}", link.to);
            map.insert(
                link.name.to_owned(),
                json!({"operationId": link.to, "parameters": link.parameters}),
            );
        }
        response["links"] = Value::Object(map);
    }
}

/// Every operation id with its path and method.
fn operations_by_id(document: &Value) -> std::collections::HashMap<String, (String, String)> {
    let mut operations = std::collections::HashMap::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            if let Some(id) = operation["operationId"].as_str() {
                operations.insert(id.to_owned(), (path.clone(), method.clone()));
            }
        }
    }
    operations
}

//! The API document tells the whole truth: every operation lists the problems the server's
//! shared machinery can answer for it, besides those its handler documents.
//!
//! | when the operation… | it can also answer |
//! |---|---|
//! | is a tus request (not `OPTIONS`) | the `Tus-Resumable` header, 412 `unsupported_tus_version` |
//! | takes a JSON body | 400 `malformed_json`, 413 `payload_too_large`, 415 `unsupported_media_type`, 422 `invalid_body` |
//! | takes query parameters | 400 `invalid_query` |
//! | takes path parameters | 404 |
//! | accepts a bearer token | 401 (`missing_token` where it is required, `invalid_token`), 403 `account_suspended` |
//! | is rate limited (all but health, metrics and HLS) | 429 `rate_limited` |
//! | reaches an actor or a store (every `/api/v1` route) | 503, with `Retry-After` |
//!
//! A handler's own, more precise description of a status always wins.

use serde_json::{json, Map, Value};

const METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

/// Adds the shared problems to every operation of an OpenAPI document (as JSON), and makes
/// operation ids unique as OpenAPI requires (a handler serving GET and HEAD, or two resources'
/// `create`, would otherwise share one).
pub fn document(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for item in paths.values() {
        for method in METHODS {
            if let Some(id) = item[method]["operationId"].as_str() {
                *seen.entry(id.to_owned()).or_default() += 1;
            }
        }
    }
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        let methods: Vec<&str> = METHODS
            .into_iter()
            .filter(|m| item.contains_key(*m))
            .collect();
        let shared_here = methods.len() > 1
            && methods
                .iter()
                .map(|m| item[*m]["operationId"].as_str())
                .collect::<std::collections::HashSet<_>>()
                .len()
                < methods.len();
        for method in &methods {
            let op = &mut item[*method];
            let Some(id) = op["operationId"].as_str().map(str::to_owned) else {
                continue;
            };
            if seen.get(&id).copied().unwrap_or(0) < 2 {
                continue;
            }
            let tag = op["tags"][0].as_str().unwrap_or("api").to_owned();
            op["operationId"] = Value::String(if shared_here {
                format!("{id}_{method}")
            } else {
                format!("{tag}_{id}")
            });
        }
    }
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for method in METHODS {
            if let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) {
                complete(path, method, op);
            }
        }
        // A POST to an upload stands for a PATCH, DELETE or HEAD: it answers what they do.
        if path == "/api/v1/uploads/{id}" {
            let mut stood_for = Map::new();
            for m in ["patch", "delete", "head"] {
                if let Some(r) = item[m]["responses"].as_object() {
                    for (status, response) in r {
                        stood_for.entry(status.clone()).or_insert(response.clone());
                    }
                }
            }
            if let Some(r) = item
                .get_mut("post")
                .and_then(|p| p.get_mut("responses"))
                .and_then(Value::as_object_mut)
            {
                for (status, response) in stood_for {
                    r.entry(status).or_insert(response);
                }
            }
        }
    }
}

fn complete(path: &str, method: &str, op: &mut Map<String, Value>) {
    let json_body = op
        .get("requestBody")
        .and_then(|b| b.get("content"))
        .and_then(Value::as_object)
        .is_some_and(|c| c.contains_key("application/json"));
    let params = op
        .get("parameters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has_in = |place: &str| params.iter().any(|p| p["in"] == place);
    let security = op.get("security").and_then(Value::as_array).cloned();
    let bearer = security
        .as_ref()
        .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
    let optional = security
        .as_ref()
        .is_some_and(|s| s.iter().any(|r| r.as_object().is_some_and(Map::is_empty)));
    let api = path.starts_with("/api/v1/");
    let limited =
        !(matches!(path, "/healthz" | "/readyz" | "/metrics") || path.starts_with("/hls/"));

    // tus requests (all but the OPTIONS discovery) must say which tus version they speak.
    if path.starts_with("/api/v1/uploads") && method != "options" {
        let params = op.entry("parameters").or_insert_with(|| json!([]));
        if let Some(list) = params.as_array_mut() {
            if !list.iter().any(|p| p["name"] == "Tus-Resumable") {
                list.push(json!({
                    "name": "Tus-Resumable",
                    "in": "header",
                    "required": true,
                    "description": "The tus version the client speaks: `1.0.0`",
                    "schema": {"type": "string", "enum": ["1.0.0"]}
                }));
            }
        }
    }
    // A POST to an upload is a PATCH, DELETE or HEAD in disguise, for clients that can only POST.
    if path == "/api/v1/uploads/{id}" && method == "post" {
        if let Some(list) = op.get_mut("parameters").and_then(Value::as_array_mut) {
            if !list.iter().any(|p| p["name"] == "X-HTTP-Method-Override") {
                list.push(json!({
                    "name": "X-HTTP-Method-Override",
                    "in": "header",
                    "required": true,
                    "description": "The tus method this POST stands for",
                    "schema": {"type": "string", "enum": ["PATCH", "DELETE", "HEAD"]}
                }));
            }
        }
    }
    let tus = path.starts_with("/api/v1/uploads") && method != "options";
    let mut bad_request = Vec::new();
    if json_body {
        bad_request.push("`malformed_json`: the body is not JSON");
    }
    if has_in("query") {
        bad_request.push("`invalid_query`: a query parameter is malformed");
    }
    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    let mut add = |status: &str, description: String| {
        responses.entry(status.to_owned()).or_insert_with(|| {
            json!({
                "description": description,
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
            })
        });
    };
    if !bad_request.is_empty() {
        add("400", bad_request.join("; "));
    }
    if bearer {
        add(
            "401",
            if optional {
                "`invalid_token`: a token was sent and is not valid".into()
            } else {
                "`missing_token` or `invalid_token`".into()
            },
        );
    }
    if has_in("path") {
        add("404", "`not_found`: nothing at this path".into());
    }
    if tus {
        add(
            "412",
            "`unsupported_tus_version`: `Tus-Resumable` is missing or not `1.0.0`".into(),
        );
    }
    if json_body {
        add(
            "413",
            "`payload_too_large`: the body is over the limit".into(),
        );
        add(
            "415",
            "`unsupported_media_type`: the body must be sent as application/json".into(),
        );
        add(
            "422",
            "`invalid_body`: the JSON does not match the schema".into(),
        );
    }
    if limited && method != "options" {
        add(
            "429",
            "`rate_limited`: retry after `Retry-After` seconds (`RateLimit-*` headers)".into(),
        );
    }
    if api {
        add(
            "503",
            "An actor, the store or a cluster member is unavailable (`unavailable`, `no_quorum`, `node_unreachable`...): retry after `Retry-After`".into(),
        );
    }
    if bearer {
        // Any signed-in caller may be a suspended account's (see `guard`).
        let suspended = "`account_suspended`: the caller's account is suspended";
        match responses.get_mut("403") {
            Some(r) => {
                if let Some(d) = r["description"].as_str().map(str::to_owned) {
                    if !d.contains("account_suspended") {
                        r["description"] = Value::String(format!("{d}; {suspended}"));
                    }
                }
            }
            None => {
                responses.insert(
                    "403".into(),
                    json!({
                        "description": suspended,
                        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
                    }),
                );
            }
        }
    }
}

//! Request handling. One handler routes by hand, so every refusal (bad id, bad JSON, unknown path)
//! gets DigitalOcean's error body rather than a framework's.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use crate::data::{region_object, Category, Image, DISTRIBUTIONS, REGIONS};
use crate::{ActionOutcome, LoggedRequest, Shared};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let shared = shared.clone();
            async move { handle(shared, method, uri, headers, body).await }
        },
    )
}

struct Reply {
    status: StatusCode,
    body: Option<Box<Value>>,
    /// A body already serialized (list pages are assembled from cached JSON text).
    raw: Option<String>,
    headers: Vec<(&'static str, String)>,
}

fn ok(status: u16, body: Value) -> Reply {
    Reply {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        body: Some(Box::new(body)),
        raw: None,
        headers: Vec::new(),
    }
}

/// Errors carry a request id like DigitalOcean's; numbered per server, so runs repeat.
static ERRORS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn error(status: u16, id: &str, message: &str) -> Reply {
    let n = ERRORS.fetch_add(1, Ordering::Relaxed);
    let request_id = format!("mock-{status}-{n:04}");
    ok(
        status,
        json!({"id": id, "message": message, "request_id": request_id}),
    )
}

fn not_found() -> Reply {
    error(
        404,
        "not_found",
        "The resource you were accessing could not be found.",
    )
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(
    shared: Arc<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _guard = InFlight(&shared);
    let n = shared.requests.fetch_add(1, Ordering::SeqCst);
    if let Ok(mut log) = shared.log.lock() {
        log.push(LoggedRequest {
            method: method.to_string(),
            uri: uri
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default(),
        });
    }
    if !shared.config.latency.is_zero() {
        tokio::time::sleep(shared.config.latency).await;
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let reply = route(&shared, &method, &uri, &headers, &body, &host, n);
    let mut resp = match (reply.raw, reply.body) {
        (Some(text), _) => {
            (reply.status, [("content-type", "application/json")], text).into_response()
        }
        (None, Some(b)) => (reply.status, axum::Json(*b)).into_response(),
        (None, None) => reply.status.into_response(),
    };
    let h = resp.headers_mut();
    let remaining = 5000u64.saturating_sub(n + 1);
    h.insert("ratelimit-limit", HeaderValue::from(5000u64));
    h.insert("ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("ratelimit-reset", HeaderValue::from(now_secs() + 60));
    for (k, v) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
    resp
}

/// One request answered without a socket, as the server answers it: (status, body as JSON text).
pub(crate) fn answer_offline(
    shared: &Shared,
    method: &str,
    path_and_query: &str,
    bearer: Option<&str>,
    body: &[u8],
) -> (u16, Option<String>) {
    let refused = |r: Reply| (r.status.as_u16(), r.body.map(|b| b.to_string()));
    let Ok(method) = Method::from_bytes(method.as_bytes()) else {
        return refused(error(405, "method_not_allowed", "not an HTTP method"));
    };
    let Ok(uri) = path_and_query.parse::<Uri>() else {
        return refused(error(
            400,
            "bad_request",
            "the request's path is not a URI path",
        ));
    };
    let mut headers = HeaderMap::new();
    if let Some(t) = bearer.and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok()) {
        headers.insert("authorization", t);
    }
    let n = shared.requests.fetch_add(1, Ordering::SeqCst);
    let reply = route(
        shared,
        &method,
        &uri,
        &headers,
        &Bytes::copy_from_slice(body),
        "127.0.0.1",
        n,
    );
    let text = match (reply.raw, reply.body) {
        (Some(text), _) => Some(text),
        (None, Some(b)) => Some(b.to_string()),
        (None, None) => None,
    };
    (reply.status.as_u16(), text)
}

fn route(
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    host: &str,
    n: u64,
) -> Reply {
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| {
            !t.trim().is_empty() && shared.config.token.as_deref().is_none_or(|want| want == t)
        });
    if !authorized {
        return error(401, "unauthorized", "Unable to authenticate you.");
    }
    // Injected failures, decided by a seeded draw per request number so runs repeat.
    let mut draw =
        crate::data::Rng::new(shared.config.seed ^ n.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let roll = draw.unit();
    if roll < shared.config.rate_limit_rate {
        let mut r = error(429, "too_many_requests", "API Rate limit exceeded.");
        r.headers
            .push(("retry-after", shared.config.retry_after_secs.to_string()));
        return r;
    }
    if roll < shared.config.rate_limit_rate + shared.config.error_rate {
        return error(500, "server_error", "Unexpected server-side error");
    }
    let query: BTreeMap<String, String> = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (decode(k), decode(v)))
                .collect()
        })
        .unwrap_or_default();
    let segments: Vec<String> = uri
        .path()
        .trim_matches('/')
        .split('/')
        .map(decode)
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    let json_body = || -> Result<Value, Reply> {
        if body.is_empty() {
            return Ok(json!({}));
        }
        serde_json::from_slice(body).map_err(|e| {
            error(
                400,
                "bad_request",
                &format!("request body is not valid JSON: {e}"),
            )
        })
    };
    let Ok(mut state) = shared.state.lock() else {
        return error(500, "server_error", "mock state poisoned");
    };
    match (method.as_str(), segs.as_slice()) {
        ("GET", ["v2", "images"]) => list_images(&state.images, &query, host),
        ("POST", ["v2", "images"]) => match json_body() {
            Ok(b) => create_image(&mut state, b),
            Err(r) => r,
        },
        ("GET", ["v2", "images", key]) => {
            let found = match key.parse::<i64>() {
                Ok(id) => state.images.iter_mut().find(|i| i.id() == id),
                Err(_) => state.images.iter_mut().find(|i| {
                    i.body["public"] == json!(true) && i.body["slug"].as_str() == Some(key)
                }),
            };
            match found {
                Some(img) => {
                    advance_import(img);
                    ok(200, json!({"image": img.body}))
                }
                None => not_found(),
            }
        }
        ("PUT", ["v2", "images", key]) => {
            let Some(id) = integer_id(key) else {
                return error(422, "unprocessable_entity", "image_id must be an integer");
            };
            let b = match json_body() {
                Ok(b) => b,
                Err(r) => return r,
            };
            let Some(img) = state.images.iter_mut().find(|i| i.id() == id) else {
                return not_found();
            };
            for field in ["name", "description"] {
                if let Some(v) = b.get(field).and_then(Value::as_str) {
                    img.body[field] = json!(v);
                }
            }
            if let Some(d) = b.get("distribution").and_then(Value::as_str) {
                let d = if DISTRIBUTIONS.contains(&d) {
                    d
                } else {
                    "Unknown"
                };
                img.body["distribution"] = json!(d);
            }
            img.touch();
            ok(200, json!({"image": img.body}))
        }
        ("DELETE", ["v2", "images", key]) => {
            let Some(id) = integer_id(key) else {
                return error(422, "unprocessable_entity", "image_id must be an integer");
            };
            let before = state.images.len();
            state.images.retain(|i| i.id() != id);
            if state.images.len() == before {
                return not_found();
            }
            Reply {
                status: StatusCode::NO_CONTENT,
                body: None,
                raw: None,
                headers: Vec::new(),
            }
        }
        ("GET", ["v2", "images", key, "actions"]) => {
            let Some(id) = integer_id(key) else {
                return error(422, "unprocessable_entity", "image_id must be an integer");
            };
            if !state.images.iter().any(|i| i.id() == id) {
                return not_found();
            }
            let texts: Vec<String> = state
                .actions
                .iter()
                .filter(|(i, _, _)| *i == id)
                .map(|(_, a, _)| a.to_string())
                .collect();
            let items: Vec<&str> = texts.iter().map(String::as_str).collect();
            paginate(
                "actions",
                &items,
                &query,
                host,
                &format!("/v2/images/{id}/actions"),
            )
        }
        ("POST", ["v2", "images", key, "actions"]) => {
            let Some(id) = integer_id(key) else {
                return error(422, "unprocessable_entity", "image_id must be an integer");
            };
            let b = match json_body() {
                Ok(b) => b,
                Err(r) => return r,
            };
            start_action(&mut state, id, &b)
        }
        ("GET", ["v2", "images", key, "actions", action]) => {
            let (Some(id), Some(action_id)) = (integer_id(key), integer_id(action)) else {
                return error(
                    422,
                    "unprocessable_entity",
                    "image_id and action_id must be integers",
                );
            };
            let (polls_needed, outcome) =
                (shared.config.action_polls, shared.config.action_outcome);
            let Some((_, action, polls)) = state
                .actions
                .iter_mut()
                .find(|(i, a, _)| *i == id && a["id"].as_i64() == Some(action_id))
            else {
                return not_found();
            };
            if action["status"] == json!("in-progress") {
                *polls += 1;
                if *polls >= polls_needed && outcome != ActionOutcome::Never {
                    let status = if outcome == ActionOutcome::Completed {
                        "completed"
                    } else {
                        "errored"
                    };
                    action["status"] = json!(status);
                    action["completed_at"] = json!("2026-01-01T00:00:00Z");
                }
            }
            ok(200, json!({"action": action}))
        }
        (verb, ["v2", "images", ..]) => error(
            405,
            "method_not_allowed",
            &format!("{verb} is not supported on {}", uri.path()),
        ),
        (verb, ["v2", ..]) => {
            let b = match json_body() {
                Ok(b) => b,
                Err(r) => return r,
            };
            let state = &mut *state;
            let account = crate::spec::Account {
                seed: shared.config.seed,
                images: &state.images,
            };
            let rule = crate::spec::ActionRule {
                polls: shared.config.action_polls,
                outcome: shared.config.action_outcome,
            };
            let request = crate::spec::Request {
                verb,
                path: &segs,
                query: &query,
                body: &b,
            };
            match state.spec.answer(&account, rule, request) {
                Some(Ok(a)) => match (a.list_key, a.body) {
                    (Some(key), Some(body)) => {
                        let texts: Vec<String> = body[&key]
                            .as_array()
                            .map(|items| items.iter().map(Value::to_string).collect())
                            .unwrap_or_default();
                        let items: Vec<&str> = texts.iter().map(String::as_str).collect();
                        paginate(&key, &items, &query, host, uri.path())
                    }
                    (_, Some(body)) => ok(a.status, body),
                    (_, None) => Reply {
                        status: StatusCode::from_u16(a.status).unwrap_or(StatusCode::NO_CONTENT),
                        body: None,
                        raw: None,
                        headers: Vec::new(),
                    },
                },
                Some(Err((status, id, message))) => error(status, id, &message),
                None => not_in_sandbox(verb, uri.path()),
            }
        }
        (verb, _) => not_in_sandbox(verb, uri.path()),
    }
}

/// A path under `/v2` that no operation of DigitalOcean's API has (a method on another server,
/// such as the inference API, or no method at all): DigitalOcean's 404, saying why.
fn not_in_sandbox(verb: &str, path: &str) -> Reply {
    error(
        404,
        "not_found",
        &format!(
            "{verb} {path} is no operation of DigitalOcean's API that the sandbox answers (it answers every operation of the bundled documents on api.digitalocean.com; the inference API's are on a server of their own)"
        ),
    )
}

fn integer_id(s: &str) -> Option<i64> {
    s.parse::<i64>().ok().filter(|n| *n > 0)
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn list_images(images: &[Image], query: &BTreeMap<String, String>, host: &str) -> Reply {
    let category = match query.get("type").map(String::as_str) {
        None => None,
        Some("distribution") => Some(Category::Distribution),
        Some("application") => Some(Category::Application),
        Some(other) => {
            return error(
                422,
                "unprocessable_entity",
                &format!("type must be 'application' or 'distribution', not '{other}'"),
            );
        }
    };
    let private = match query.get("private").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return error(
                422,
                "unprocessable_entity",
                &format!("private must be true or false, not '{other}'"),
            )
        }
    };
    let tag = query.get("tag_name");
    let items: Vec<&str> = images
        .iter()
        .filter(|i| category.is_none_or(|c| i.category == c))
        .filter(|i| !private || i.category == Category::User)
        .filter(|i| {
            tag.is_none_or(|t| {
                i.body["tags"]
                    .as_array()
                    .is_some_and(|tags| tags.iter().any(|x| x.as_str() == Some(t)))
            })
        })
        .map(Image::json)
        .collect();
    paginate("images", &items, query, host, "/v2/images")
}

/// One page of `items` (only that page is copied), with DigitalOcean's `links` and `meta`.
fn paginate(
    key: &str,
    items: &[&str],
    query: &BTreeMap<String, String>,
    host: &str,
    path: &str,
) -> Reply {
    let number = |name: &str, default: u64| -> Result<u64, Reply> {
        match query.get(name) {
            None => Ok(default),
            Some(v) => v.parse::<u64>().map_err(|_| {
                error(
                    422,
                    "unprocessable_entity",
                    &format!("{name} must be an integer"),
                )
            }),
        }
    };
    let per_page = match number("per_page", 20) {
        Ok(n) if (1..=200).contains(&n) => n,
        Ok(_) => {
            return error(
                422,
                "unprocessable_entity",
                "per_page must be between 1 and 200",
            )
        }
        Err(r) => return r,
    };
    let page = match number("page", 1) {
        Ok(n) if n >= 1 => n,
        Ok(_) => return error(422, "unprocessable_entity", "page must be 1 or more"),
        Err(r) => return r,
    };
    let total = items.len() as u64;
    let last = total.div_ceil(per_page).max(1);
    let start = ((page - 1) * per_page).min(total) as usize;
    let end = (page * per_page).min(total) as usize;
    let page_items = items[start..end].join(",");
    let link = |p: u64| {
        let mut q: Vec<String> = query
            .iter()
            .filter(|(k, _)| k.as_str() != "page" && k.as_str() != "per_page")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        q.push(format!("page={p}"));
        q.push(format!("per_page={per_page}"));
        format!("http://{host}{path}?{}", q.join("&"))
    };
    let mut pages = serde_json::Map::new();
    if last > 1 {
        if page > 1 {
            pages.insert("first".into(), json!(link(1)));
            pages.insert("prev".into(), json!(link(page - 1)));
        }
        if page < last {
            pages.insert("next".into(), json!(link(page + 1)));
            pages.insert("last".into(), json!(link(last)));
        }
    }
    let links = if pages.is_empty() {
        json!({})
    } else {
        json!({"pages": pages})
    };
    Reply {
        status: StatusCode::OK,
        body: None,
        raw: Some(format!(
            "{{\"{key}\":[{page_items}],\"links\":{links},\"meta\":{{\"total\":{total}}}}}"
        )),
        headers: Vec::new(),
    }
}

fn advance_import(img: &mut Image) {
    if img.body["status"] == json!("NEW") || img.body["status"] == json!("pending") {
        img.touch();
        img.polls += 1;
        if img.polls >= 2 {
            if img
                .source_url
                .as_deref()
                .is_some_and(|u| u.contains("broken"))
            {
                img.body["status"] = json!("deleted");
                img.body["error_message"] =
                    json!("Image could not be imported: unsupported format");
            } else {
                img.body["status"] = json!("available");
            }
        } else {
            img.body["status"] = json!("pending");
        }
    }
}

fn create_image(state: &mut crate::State, b: Value) -> Reply {
    for field in ["name", "url", "region"] {
        if b.get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return error(422, "unprocessable_entity", &format!("{field} is required"));
        }
    }
    let region = b["region"].as_str().unwrap_or_default();
    if !REGIONS.contains(&region) {
        return error(
            422,
            "unprocessable_entity",
            &format!("region '{region}' is not a valid region"),
        );
    }
    let id = state.next_image_id;
    state.next_image_id += 7;
    let distribution = b
        .get("distribution")
        .and_then(Value::as_str)
        .filter(|d| DISTRIBUTIONS.contains(d))
        .unwrap_or("Unknown");
    let url = b["url"].as_str().unwrap_or_default();
    let body = json!({
        "id": id,
        "name": b["name"],
        "type": "custom",
        "distribution": distribution,
        "slug": null,
        "public": false,
        "regions": [],
        "created_at": "2026-01-01T00:00:00Z",
        "min_disk_size": null,
        "size_gigabytes": null,
        "description": b.get("description").cloned().unwrap_or(json!("")),
        "tags": b.get("tags").cloned().unwrap_or(json!([])),
        "status": "NEW",
        "error_message": "",
    });
    let mut image = Image::new(Category::User, body.clone());
    image.source_url = Some(url.to_string());
    state.images.push(image);
    ok(202, json!({"image": body}))
}

fn start_action(state: &mut crate::State, image_id: i64, b: &Value) -> Reply {
    let kind = b.get("type").and_then(Value::as_str).unwrap_or_default();
    let region = match kind {
        "convert" => None,
        "transfer" => match b.get("region").and_then(Value::as_str) {
            Some(r) if REGIONS.contains(&r) => Some(r.to_string()),
            Some(r) => {
                return error(
                    422,
                    "unprocessable_entity",
                    &format!("region '{r}' is not a valid region"),
                )
            }
            None => {
                return error(
                    422,
                    "unprocessable_entity",
                    "region is required for a transfer",
                )
            }
        },
        _ => {
            return error(
                422,
                "unprocessable_entity",
                "type must be 'convert' or 'transfer'",
            )
        }
    };
    let Some(img) = state.images.iter().find(|i| i.id() == image_id) else {
        return not_found();
    };
    let region = region.unwrap_or_else(|| {
        img.body["regions"][0]
            .as_str()
            .unwrap_or("nyc3")
            .to_string()
    });
    let id = state.next_action_id;
    state.next_action_id += 1;
    let _ = state.rng.next_u64();
    let action = json!({
        "id": id,
        "status": "in-progress",
        "type": kind,
        "started_at": "2026-01-01T00:00:00Z",
        "completed_at": null,
        "resource_id": image_id,
        "resource_type": "image",
        "region": region_object(&region),
        "region_slug": region,
    });
    state.actions.push((image_id, action.clone(), 0));
    ok(201, json!({"action": action}))
}

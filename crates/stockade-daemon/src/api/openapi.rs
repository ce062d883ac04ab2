//! `GET /api/openapi.json`: the API as an OpenAPI 3.1 document, generated
//! from the Rust types. Every body schema comes from `schemars` derives on
//! the `stockade_proto` wire types (JSON Schema 2020-12, the dialect OpenAPI
//! 3.1 uses), so a renamed field changes the document; the route table below
//! names each route's parameters, bodies, streams and errors. The committed
//! copy, `schema/openapi.json`, is compared with [`document`] by a test.

use super::Failure;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::{JsonSchema, Schema};
use serde_json::{Map, Value, json};
use stockade_proto::{
    ApiError, Event, FiringAlerts, Isolated, JobRequest, JobView, Page, PostMortem, QueueStatus,
    ReloadPlan, ReplicaView, ScaledService, ScheduleView, StatusView, Submitted, Unwalled,
};

/// `GET /api/openapi.json`. The document is built and encoded once (tens
/// of ms of schema generation and encoding in a debug build), on the
/// blocking pool, and its bytes kept.
pub async fn serve() -> Result<axum::response::Response, Failure> {
    use axum::response::IntoResponse;
    static ENCODED: std::sync::OnceLock<axum::body::Bytes> = std::sync::OnceLock::new();
    let bytes = match ENCODED.get() {
        Some(bytes) => bytes.clone(),
        None => {
            let built = tokio::task::spawn_blocking(|| {
                axum::body::Bytes::from(serde_json::to_vec(&document()).unwrap_or_default())
            })
            .await
            .map_err(|e| {
                Failure::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "openapi_failed",
                    format!("could not build the OpenAPI document: {e}"),
                    "this is a bug in stockade; the rest of the API is unaffected",
                )
            })?;
            ENCODED.get_or_init(|| built).clone()
        }
    };
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], bytes).into_response())
}

/// Error statuses every operation may answer (`{"code","message","hint"}`).
const COMMON_ERRORS: [(&str, &str); 6] = [
    ("400", "A bad query parameter, filter value, cursor or path segment."),
    ("403", "A TCP request from a foreign Host or Origin."),
    ("405", "The path does not take this method."),
    ("429", "Too many requests on this connection or listener; see Retry-After."),
    ("500", "A store or internal failure."),
    ("503", "The daemon is shutting down or not ready."),
];

struct Doc {
    generator: SchemaGenerator,
    paths: Map<String, Value>,
}

/// The whole document.
pub fn document() -> Value {
    let settings = SchemaSettings::draft2020_12().for_serialize().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    });
    let mut doc = Doc { generator: settings.into_generator(), paths: Map::new() };
    doc.routes();
    let mut schemas = doc.generator.take_definitions(true);
    schemas.insert("ApiError".into(), doc_schema::<ApiError>());
    let mut paths = doc.paths;
    paths.sort_keys();
    schemas.sort_keys();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "stockade",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The stockade daemon's HTTP API, on its Unix socket (and TCP with a bearer token). \
                Every field is snake_case except two shapes kept for existing scripts: the `queue` of a submit \
                reply (`position`, `running`, `maxConcurrency`) and the top level of `GET /api/queue/status` \
                (`running`, `queued`, `maxConcurrency`, `utilizationPercent`). Every error is \
                `{\"code\",\"message\",\"hint\"}`. Every list is `{\"items\",\"next\",\"total\"}` and takes \
                `?limit=` and `?cursor=`.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    })
}

/// A root schema of `T` on its own (for `ApiError`, which every error names).
fn doc_schema<T: JsonSchema>() -> Value {
    let mut schema = SchemaSettings::draft2020_12()
        .with(|s| s.meta_schema = None)
        .into_generator()
        .into_root_schema_for::<T>();
    schema.remove("title");
    schema.to_value()
}

fn error_ref() -> Value {
    json!({"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}})
}

/// `{"in": "query", ...}` for one parameter.
fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
}

fn path_param(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": schema, "description": description})
}

fn id_param(name: &str, what: &str) -> Value {
    path_param(name, json!({"type": "string", "pattern": "^[0-9]+$"}), &format!("The {what} id."))
}

fn paging() -> [Value; 2] {
    [
        query(
            "limit",
            json!({"type": "integer", "minimum": 1, "maximum": 10000, "default": 100}),
            "Page size.",
        ),
        query(
            "cursor",
            json!({"type": "string", "pattern": "^[0-9]+$"}),
            "The `next` of the previous page.",
        ),
    ]
}

/// `allOf` of a view and the `isolation` field the daemon adds to it.
fn isolated(view: Schema, isolated: Schema) -> Value {
    json!({"allOf": [view, isolated]})
}

impl Doc {
    fn schema<T: JsonSchema>(&mut self) -> Value {
        self.generator.subschema_for::<T>().to_value()
    }

    /// One operation: its id, summary, parameters, request body and the
    /// successful responses; the errors are added here.
    #[allow(clippy::too_many_arguments)]
    fn op(
        &mut self,
        method: &str,
        path: &str,
        id: &str,
        summary: &str,
        parameters: Vec<Value>,
        body: Option<Value>,
        mut responses: Map<String, Value>,
        errors: &[(&str, &str)],
    ) {
        for (code, why) in COMMON_ERRORS.iter().chain(errors) {
            responses.insert((*code).into(), json!({"description": why, "content": error_ref()}));
        }
        let mut op = json!({
            "operationId": id,
            "summary": summary,
            "parameters": parameters,
            "responses": responses,
        });
        if let Some(body) = body {
            op["requestBody"] = body;
        }
        let entry = self.paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        entry[method] = op;
    }

    fn routes(&mut self) {
        self.health();
        self.status();
        self.jobs();
        self.services();
        self.streams();
        self.postmortems();
        self.reload();
        self.cluster();
    }

    fn cluster(&mut self) {
        let view = self.schema::<stockade_proto::ClusterView>();
        let not_member =
            [("404", "This daemon is not a cluster member (no [cluster] in its spec).")];
        self.op(
            "get",
            "/api/cluster",
            "cluster",
            "The cluster's members: epoch, lease age, room, running jobs, state, the leader, and why this member is degraded.",
            vec![],
            None,
            responses([("200", "The cluster.", json_body(view.clone()))]),
            &not_member,
        );
        let body = json!({"required": false, "content": {"application/json": {"schema": {
            "type": "object", "properties": {"draining": {"type": "boolean"}}, "required": ["draining"],
        }}}});
        self.op(
            "post",
            "/api/cluster/drain",
            "cluster_drain",
            "Stop (`draining: true`, or an empty body) or resume claiming on this member; what it runs goes on.",
            vec![],
            Some(body),
            responses([("200", "The cluster, after the change.", json_body(view))]),
            &[not_member[0], ("422", "The body has no boolean `draining`.")],
        );
    }

    fn health(&mut self) {
        let status = json!({"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]});
        self.op(
            "get",
            "/health/live",
            "health_live",
            "200 while the engine loop answers.",
            vec![],
            None,
            responses([("200", "Alive.", json_body(status.clone()))]),
            &[],
        );
        let ready = json!({"type": "object", "properties": {
            "status": {"type": "string"},
            "laggards": {"type": "array", "items": {"type": "string"}},
        }, "required": ["status"]});
        self.op(
            "get",
            "/health/ready",
            "health_ready",
            "200 when every service with a readiness probe is ready; 503 with the laggards.",
            vec![],
            None,
            responses([("200", "Ready.", json_body(ready))]),
            &[],
        );
        self.op(
            "get",
            "/metrics",
            "metrics",
            "Prometheus text 0.0.4; OpenMetrics 1.0 when Accept names application/openmetrics-text.",
            vec![],
            None,
            responses([(
                "200",
                "The exposition.",
                json!({"text/plain": {"schema": {"type": "string"}},
                       "application/openmetrics-text": {"schema": {"type": "string"}}}),
            )]),
            &[],
        );
        self.op(
            "get",
            "/api/openapi.json",
            "openapi",
            "This document.",
            vec![],
            None,
            responses([("200", "OpenAPI 3.1.", json_body(json!({"type": "object"})))]),
            &[],
        );
    }

    fn status(&mut self) {
        let view = self.generator.subschema_for::<StatusView>();
        let unwalled = self.generator.subschema_for::<Unwalled>();
        let alerts = self.generator.subschema_for::<FiringAlerts>();
        self.op(
            "get",
            "/api/status",
            "status",
            "The daemon, every replica (with its isolation), every pool, the unwalled units, the alerts firing now.",
            vec![],
            None,
            responses([(
                "200",
                "Status.",
                json_body(json!({"allOf": [view, unwalled, alerts]})),
            )]),
            &[],
        );
        let queue = self.schema::<QueueStatus>();
        self.op(
            "get",
            "/api/queue/status",
            "queue_status",
            "Totals in the field reports' camelCase shape, and every pool (snake_case).",
            vec![],
            None,
            responses([("200", "Queue status.", json_body(queue))]),
            &[],
        );
        let schedule = self.schema::<ScheduleView>();
        self.op(
            "get",
            "/api/schedules",
            "schedules",
            "Every job template with `every` or `cron`: its rule, overlap and catch_up, the next and the last slot, its live jobs.",
            vec![],
            None,
            responses([(
                "200",
                "Schedules.",
                json_body(json!({"type": "array", "items": schedule})),
            )]),
            &[],
        );
    }

    fn jobs(&mut self) {
        let request = self.schema::<JobRequest>();
        let submitted = self.schema::<Submitted>();
        let body = json!({"required": true, "content": {"application/json": {"schema": {
            "oneOf": [request.clone(), {"type": "array", "items": request, "minItems": 1}],
        }}}});
        let answer = json!({"oneOf": [submitted.clone(), {"type": "array", "items": submitted}]});
        let key = json!({"name": "Idempotency-Key", "in": "header", "required": false,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            "description": "A retried submission with the same key answers the first job (200) instead of queuing a second."});
        let location = json!({"Location": {"schema": {"type": "string"}, "description": "/api/jobs/{id} (single submissions)."}});
        let mut created = responses([("201", "Queued (durable).", json_body(answer.clone()))]);
        created["201"]["headers"] = location.clone();
        created.insert(
            "200".into(),
            json!({"description": "Every job of the request was submitted before with its key; the first jobs.",
                   "headers": location, "content": json_body(answer)}),
        );
        self.op(
            "post",
            "/api/jobs",
            "submit_jobs",
            "Submit one job (an object) or a batch (an array, committed atomically).",
            vec![key],
            Some(body),
            created,
            &[
                ("404", "Unknown template."),
                ("413", "The body is over 2 MiB."),
                ("415", "The body is not application/json."),
                ("422", "The body does not fit JobRequest (NUL in args/env, `=` in an env key, unknown fields)."),
                ("507", "The store's disk is full."),
            ],
        );
        let view = self.generator.subschema_for::<JobView>();
        let mark = self.generator.subschema_for::<Isolated>();
        let item = isolated(view, mark);
        let page = self.schema::<Page<JobView>>();
        let states = json!({"type": "string", "pattern": "^((queued|running|succeeded|failed|cancelled|expired|rejected),?)*$"});
        let mut params = vec![
            query("state", states, "Comma-separated job states."),
            query("template", json!({"type": "string"}), "Only this template."),
            query("pool", json!({"type": "string"}), "Only this pool."),
        ];
        params.extend(paging());
        self.op(
            "get",
            "/api/jobs",
            "list_jobs",
            "A page of jobs, newest first.",
            params,
            None,
            responses([(
                "200",
                "A page.",
                json_body(
                    json!({"allOf": [page, {"properties": {"items": {"items": item.clone()}}}]}),
                ),
            )]),
            &[],
        );
        self.op(
            "get",
            "/api/jobs/{id}",
            "get_job",
            "One job with every run so far.",
            vec![id_param("id", "job")],
            None,
            responses([("200", "The job.", json_body(item.clone()))]),
            &[("404", "No such job.")],
        );
        let mut cancel =
            responses([("200", "The job has ended; its final view.", json_body(item.clone()))]);
        cancel.insert(
            "202".into(),
            json!({"description": "Its run is being stopped; poll Location or follow the Link (an event stream of its job_state events).",
                   "headers": {"Location": {"schema": {"type": "string"}}, "Link": {"schema": {"type": "string"}}},
                   "content": json_body(item)}),
        );
        self.op(
            "delete",
            "/api/jobs/{id}",
            "cancel_job",
            "Cancel a job.",
            vec![id_param("id", "job")],
            None,
            cancel,
            &[("404", "No such job."), ("409", "It had already finished.")],
        );
        let params = log_params(vec![id_param("id", "job")]);
        let body = self.log_responses();
        self.op(
            "get",
            "/api/jobs/{id}/logs",
            "job_logs",
            LOGS_SUMMARY,
            params,
            None,
            body,
            &[("400", "A bad filter or position."), ("404", "No such job.")],
        );
    }

    fn services(&mut self) {
        let view = self.generator.subschema_for::<ReplicaView>();
        let mark = self.generator.subschema_for::<Isolated>();
        let item = isolated(view, mark);
        let page = self.schema::<Page<ReplicaView>>();
        let scaled = self.schema::<Vec<ScaledService>>();
        self.op(
            "get",
            "/api/services",
            "list_services",
            "A page of every replica of every service, in spec order.",
            paging().to_vec(),
            None,
            responses([(
                "200",
                "A page.",
                json_body(json!({"allOf": [page, {"properties": {"items": {"items": item}, "scaled": scaled}}]})),
            )]),
            &[],
        );
        let replicas = self.schema::<Vec<ReplicaView>>();
        self.op(
            "post",
            "/api/services/{name}/{action}",
            "control_service",
            "Start, stop or restart a service; its replicas afterwards.",
            vec![
                path_param("name", json!({"type": "string"}), "The service."),
                path_param("action", json!({"enum": ["start", "stop", "restart"]}), "What to do."),
                query("replica", json!({"type": "integer", "minimum": 0}), "Only this replica (`name[3]`); a stop is kept across daemon restarts until a start."),
            ],
            None,
            responses([("200", "The replicas acted on.", json_body(replicas.clone()))]),
            &[("400", "No such replica."), ("404", "No such service or action."), ("409", "Not a legal move now.")],
        );
        self.op(
            "post",
            "/api/services/{name}/scale",
            "scale_service",
            "Run N replicas from now on, across daemon restarts, until the spec's `replicas` changes; retired replicas stop.",
            vec![path_param("name", json!({"type": "string"}), "The service.")],
            Some(json!({"required": true, "content": json_body(json!({"type": "object", "required": ["replicas"], "additionalProperties": false, "properties": {"replicas": {"type": "integer", "minimum": 1}}}))})),
            responses([("200", "Its replicas.", json_body(replicas))]),
            &[("400", "Zero replicas."), ("404", "No such service."), ("422", "Not {\"replicas\": N}.")],
        );
        let params = log_params(vec![
            path_param("name", json!({"type": "string"}), "The service."),
            query("replica", json!({"type": "integer", "minimum": 0}), "The replica index (0)."),
        ]);
        let body = self.log_responses();
        self.op(
            "get",
            "/api/services/{name}/logs",
            "service_logs",
            LOGS_SUMMARY,
            params,
            None,
            body,
            &[("400", "A bad filter or position."), ("404", "No such service.")],
        );
    }

    /// The two answers of a log endpoint: a page, or (follow) an SSE stream.
    fn log_responses(&mut self) -> Map<String, Value> {
        let page = self.schema::<super::logs::LogPage>();
        let line = self.schema::<super::logs::LogLine>();
        let end = self.schema::<super::logs::LogEnd>();
        responses([(
            "200",
            "Without follow: the records (application/json). With follow=true: Server-Sent Events, \
             `event: line` (id: the record's position, data: a LogLine) until one `event: end` \
             (data: a LogEnd saying why).",
            json!({
                "application/json": {"schema": page},
                "text/event-stream": {"schema": {"type": "string"}, "itemSchema": {"oneOf": [line, end]}}
            }),
        )])
    }

    fn streams(&mut self) {
        let event = self.schema::<Event>();
        let types = json!({"type": "string", "pattern": "^((service_state|job_state|run_started|run_exited|oom_kill|alert|daemon),?)*$"});
        self.op(
            "get",
            "/api/events",
            "events",
            "Server-Sent Events: each `id:` is the event's seq, `event:` its type, `data:` the Event JSON, \
             `retry:` the reconnect delay. Resume with Last-Event-ID or ?since; past the newest stored \
             event is 400 resume_past_end.",
            vec![
                query("since", json!({"type": "integer", "minimum": 0}), "Replay events after this seq."),
                query("tail", json!({"type": "integer", "minimum": 0}), "Start this many events before the newest."),
                query("unit", json!({"type": "string"}), "Only events of this service or template."),
                query("job", json!({"type": "integer", "minimum": 0}), "Only job_state events of this job."),
                query("type", types, "Comma-separated event types."),
                json!({"name": "Last-Event-ID", "in": "header", "required": false, "schema": {"type": "string"}}),
            ],
            None,
            responses([(
                "200",
                "The stream; each data line is one Event.",
                json!({"text/event-stream": {"schema": {"type": "string"}, "itemSchema": event}}),
            )]),
            &[],
        );
        self.op(
            "post",
            "/api/exec",
            "exec",
            "Run a command in a box: 101 Switching Protocols (Upgrade: stockade-exec), then frames.",
            vec![],
            Some(json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}})),
            responses([("101", "Upgraded to the exec framing.", json!({}))]),
            &[("404", "No such target."), ("415", "Not application/json."), ("422", "A bad request.")],
        );
    }

    fn postmortems(&mut self) {
        let pm = self.schema::<PostMortem>();
        self.op(
            "get",
            "/api/postmortems",
            "find_postmortem",
            "The latest post-mortem of a job (?job=ID), a unit (?unit=NAME) or one replica of a service (?unit=NAME&replica=N).",
            vec![
                query("job", json!({"type": "integer", "minimum": 0}), "A job id."),
                query("unit", json!({"type": "string"}), "A service or template."),
                query(
                    "replica",
                    json!({"type": "integer", "minimum": 0}),
                    "With unit: one replica of that service.",
                ),
            ],
            None,
            responses([("200", "The post-mortem.", json_body(pm.clone()))]),
            &[("400", "No such replica (the message names the ones there are)."), ("404", "None kept, or no such service.")],
        );
        self.op(
            "get",
            "/api/postmortems/{run}",
            "get_postmortem",
            "The post-mortem of one run.",
            vec![id_param("run", "run")],
            None,
            responses([("200", "The post-mortem.", json_body(pm))]),
            &[("404", "None kept.")],
        );
    }
}

impl Doc {
    fn reload(&mut self) {
        let plan = self.schema::<ReloadPlan>();
        self.op(
            "post",
            "/api/daemon/reload",
            "reload",
            "Re-read the spec file, plan the move to it and (unless dry_run) apply it; the plan.",
            vec![query("dry_run", json!({"type": "boolean", "default": false}), "Only plan.")],
            None,
            responses([("200", "The plan (`applied`: carried out).", json_body(plan))]),
            &[
                ("409", "Refused: it would strand queued or running jobs (`reload_refused`)."),
                ("422", "The spec is invalid (`invalid_spec`, each problem at file:line:col) or unreadable; nothing changed."),
            ],
        );
    }
}

/// What both log endpoints say they do.
const LOGS_SUMMARY: &str = "A run's output as records with their time (`ts`, when the box read the line) and \
     stream (stdout|stderr), across rotated files. ?follow=true streams Server-Sent Events whose ids \
     (`<inode>-<offset>`) resume exactly with Last-Event-ID or ?after, across daemon restarts.";

/// The log endpoints' parameters after `first`.
fn log_params(mut first: Vec<Value>) -> Vec<Value> {
    let time = json!({"type": "string"});
    first.extend([
        query("follow", json!({"type": "boolean"}), "Keep the response open as an SSE stream."),
        query("tail", json!({"type": "integer", "minimum": 0}), "Only the last N records."),
        query("since", time.clone(), "Only records at or after this time: RFC 3339, or Unix ms."),
        query("until", time, "Only records before this time: RFC 3339, or Unix ms."),
        query("stream", json!({"enum": ["stdout", "stderr"]}), "Only one stream."),
        query("after", json!({"type": "string"}), "Resume after this position (an event id, or `next`)."),
        json!({"name": "Last-Event-ID", "in": "header", "required": false, "schema": {"type": "string"}}),
    ]);
    first
}

fn json_body(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn responses<const N: usize>(entries: [(&str, &str, Value); N]) -> Map<String, Value> {
    entries
        .into_iter()
        .map(|(code, description, content)| {
            (code.to_owned(), json!({"description": description, "content": content}))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regenerate with `STOCKADE_BLESS=1 cargo test -p stockade-daemon openapi`.
    #[test]
    fn the_committed_openapi_document_is_current() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schema/openapi.json");
        let fresh = serde_json::to_string_pretty(&document()).expect("serialize") + "\n";
        if std::env::var_os("STOCKADE_BLESS").is_some() {
            std::fs::write(&path, &fresh).expect("write schema/openapi.json");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "schema/openapi.json is stale (the Rust types or routes changed); regenerate it with \
             `STOCKADE_BLESS=1 cargo test -p stockade-daemon openapi` and commit it"
        );
    }

    #[test]
    fn every_reference_resolves_and_every_route_is_described() {
        let doc = document();
        let text = doc.to_string();
        for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = piece.split('"').next().unwrap_or_default();
            assert!(doc["components"]["schemas"].get(name).is_some(), "unresolved $ref {name}");
        }
        for path in [
            "/api/jobs",
            "/api/jobs/{id}",
            "/api/jobs/{id}/logs",
            "/api/services",
            "/api/services/{name}/{action}",
            "/api/services/{name}/scale",
            "/api/services/{name}/logs",
            "/api/events",
            "/api/exec",
            "/api/postmortems",
            "/api/postmortems/{run}",
            "/api/status",
            "/api/queue/status",
            "/api/openapi.json",
            "/api/daemon/reload",
            "/api/cluster",
            "/api/cluster/drain",
            "/health/live",
            "/health/ready",
            "/metrics",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} is not in the document");
        }
        assert_eq!(doc["openapi"], "3.1.0");
    }
}

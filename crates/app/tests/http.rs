//! `crm serve` end to end: the binary started on a free loopback port against a fresh
//! PostgreSQL database, driven by a real HTTP client through a customer's journey, the
//! permission matrix of every route with every role and a foreign tenant, bad input of every
//! kind (never a 5xx), the rate limit, and a graceful stop on SIGTERM.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crm_app::http::{ROUTES, Role, TokenEntry};
use crm_eventstore::TenantId;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use uuid::Uuid;

/// A running `crm serve`, killed when dropped.
struct Server {
    child: Child,
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An answer.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: hyper::HeaderMap,
    body: Value,
}

/// Where a server keeps its data.
enum Keep<'a> {
    /// The PostgreSQL database at this URL.
    Postgres(&'a str),
    /// This SQLite file (no `DATABASE_URL`: the embedded default).
    Sqlite(&'a std::path::Path),
}

/// The data dictionary the servers run under: the company domain belongs to the integration
/// (its token is named `Integration`), the national id waits for review when another source
/// disagrees, the date of birth goes to the latest source time; a deal's amount belongs to
/// the integration too (billing), so it may send deals the commands that change amounts.
const DICTIONARY: &str = r#"{"fields": [
    {"entity": "contact", "field": "company_domain", "type": "domain", "policy": "owner_only",
     "system_of_record": "Integration", "definition_owner": "revops"},
    {"entity": "opportunity", "field": "amount", "type": "money", "policy": "owner_only",
     "system_of_record": "Integration", "definition_owner": "finance"},
    {"entity": "contact", "field": "national_id", "type": "text", "policy": "manual_review",
     "definition_owner": "compliance"},
    {"entity": "contact", "field": "date_of_birth", "type": "date",
     "policy": "last_write_wins", "definition_owner": "compliance"}
]}"#;

impl Server {
    fn start(keep: &Keep<'_>, tokens: &std::path::Path) -> Self {
        let dictionary =
            std::env::temp_dir().join(format!("crm-dictionary-{}.json", Uuid::now_v7()));
        std::fs::write(&dictionary, DICTIONARY).expect("the dictionary file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_crm"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--pool-size", "4"])
            .arg("--tokens")
            .arg(tokens)
            .arg("--data-dictionary")
            .arg(&dictionary);
        match keep {
            Keep::Postgres(url) => command.env("DATABASE_URL", url),
            Keep::Sqlite(file) => command
                .env_remove("DATABASE_URL")
                .arg("--database-file")
                .arg(file),
        };
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("crm serve starts");
        let stdout = child.stdout.take().expect("its stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("crm serve says where it listens");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self {
            child,
            base,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let has_body = body.is_some();
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if has_body
            && !headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("content-type", "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("a request");
        let response = self
            .client
            .request(request)
            .await
            .expect("the server answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("the body arrives")
            .to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        assert!(
            !status.is_server_error(),
            "{path} answered {status}: {body}"
        );
        if !status.is_success() && status != StatusCode::NOT_MODIFIED {
            assert_eq!(
                headers
                    .get("content-type")
                    .and_then(|value| value.to_str().ok()),
                Some("application/problem+json"),
                "{path}: an error is a problem document: {body}"
            );
            assert!(
                body["type"]
                    .as_str()
                    .is_some_and(|kind| kind.starts_with("/problems/"))
            );
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(Method::GET, path, Some(token), &[], None).await
    }

    /// Posts `body` and asserts the answer's status.
    async fn post_expecting(
        &self,
        (path, token): (&str, &str),
        headers: &[(&str, &str)],
        body: &Value,
        status: StatusCode,
    ) -> Answer {
        let answer = self.post(path, token, headers, body).await;
        assert_eq!(answer.status, status, "{path}: {:?}", answer.body);
        answer
    }

    async fn post(
        &self,
        path: &str,
        token: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> Answer {
        self.send(
            Method::POST,
            path,
            Some(token),
            headers,
            Some(body.to_string().into_bytes()),
        )
        .await
    }
}

fn etag(answer: &Answer) -> String {
    answer
        .headers
        .get("etag")
        .and_then(|value| value.to_str().ok())
        .expect("an ETag")
        .to_owned()
}

/// One token per role for `acme`, an admin of `globex`, and a slow sales token.
struct Tokens {
    acme: Vec<(Role, String)>,
    /// The user each role's token acts as.
    users: Vec<(Role, Option<Uuid>)>,
    globex_admin: String,
    slow: String,
}

impl Tokens {
    fn of(&self, role: Role) -> &str {
        self.acme
            .iter()
            .find(|(held, _)| *held == role)
            .map(|(_, token)| token.as_str())
            .expect("a token of every role")
    }

    fn user_of(&self, role: Role) -> Uuid {
        self.users
            .iter()
            .find(|(held, _)| *held == role)
            .and_then(|(_, user)| *user)
            .expect("a user behind the role's token")
    }
}

fn write_tokens() -> (Tokens, std::path::PathBuf) {
    let acme = TenantId::new("acme").expect("a tenant");
    let globex = TenantId::new("globex").expect("a tenant");
    let mut entries = Vec::new();
    let mut tokens = Vec::new();
    let mut users = Vec::new();
    for role in Role::ALL {
        let (token, entry) =
            TokenEntry::generate(&format!("{role:?}"), &acme, role).expect("a token");
        users.push((role, entry.user));
        entries.push(entry);
        tokens.push((role, token));
    }
    let (globex_admin, entry) =
        TokenEntry::generate("globex-admin", &globex, Role::Admin).expect("a token");
    entries.push(entry);
    let (slow, mut entry) = TokenEntry::generate("slow", &acme, Role::Sales).expect("a token");
    entry.rate_per_second = Some(1);
    entries.push(entry);
    let path = std::env::temp_dir().join(format!("crm-tokens-{}.json", Uuid::now_v7()));
    std::fs::write(&path, serde_json::to_vec(&entries).expect("json")).expect("the tokens file");
    (
        Tokens {
            acme: tokens,
            users,
            globex_admin,
            slow,
        },
        path,
    )
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not happen within 20 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_serve_end_to_end() {
    let database = crm_testkit::postgres::TestDatabase::create().await;
    end_to_end(&Keep::Postgres(&database.url)).await;
}

/// The same journey on the embedded default: one SQLite file, no server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_serve_end_to_end_on_the_sqlite_default() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let file = directory.path().join("crm.db");
    end_to_end(&Keep::Sqlite(&file)).await;
    // Everything it acknowledged is in the file, chains intact, after the graceful stop.
    let verified = Command::new(env!("CARGO_BIN_EXE_crm"))
        .args(["audit", "verify", "--tenant", "acme", "--database-file"])
        .arg(&file)
        .env_remove("DATABASE_URL")
        .output()
        .expect("crm audit verify runs");
    let printed = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{printed}");
    assert!(printed.contains("intact"), "{printed}");
}

/// A second process on the server's SQLite file (`crm demo`, loading leads, customers, deals
/// and tickets) is served in turn, and the server's projectors pick up what it wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_sqlite_file_writes_in_turn_and_is_projected() {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let file = directory.path().join("crm.db");
    let (tokens, tokens_path) = write_tokens();
    let server = Server::start(&Keep::Sqlite(&file), &tokens_path);
    let demo = Command::new(env!("CARGO_BIN_EXE_crm"))
        .args([
            "demo",
            "--tenant",
            "acme",
            "--leads",
            "120",
            "--customers",
            "12",
            "--database-file",
        ])
        .arg(&file)
        .env_remove("DATABASE_URL")
        .output()
        .expect("crm demo runs");
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let report: Value = serde_json::from_slice(&demo.stdout).expect("the demo's report");
    assert!(report.to_string().contains("deliveries"), "{report}");
    let admin = tokens.of(Role::Admin);
    eventually(
        "the server's pipeline shows the other process's deals",
        || async {
            let pipeline = server.get("/v1/pipeline", admin).await;
            pipeline.status == StatusCode::OK
                && pipeline
                    .body
                    .as_array()
                    .is_some_and(|rows| !rows.is_empty())
        },
    )
    .await;
    drop(server);
    let _ = std::fs::remove_file(tokens_path);
}

/// The whole HTTP journey against a server keeping its data as `keep` says, ending with a
/// graceful stop.
async fn end_to_end(keep: &Keep<'_>) {
    let (tokens, tokens_path) = write_tokens();
    let server = Server::start(keep, &tokens_path);
    let sales = tokens.of(Role::Sales);
    let support = tokens.of(Role::Support);
    let auditor = tokens.of(Role::Auditor);
    let integration = tokens.of(Role::Integration);

    journey(
        &server,
        sales,
        support,
        auditor,
        integration,
        &tokens.globex_admin,
    )
    .await;
    roster_and_forecast(&server, tokens.of(Role::Admin), sales, support).await;
    availability(
        &server,
        tokens.of(Role::Admin),
        sales,
        tokens.user_of(Role::Sales),
    )
    .await;
    accounts(&server, sales, support).await;
    tasks(&server, sales, auditor).await;
    custom_fields(&server, tokens.of(Role::Admin), sales, auditor).await;
    merges(&server, sales, support, integration).await;
    outreach(&server, sales, support, integration).await;
    field_sync(&server, sales, auditor, integration).await;
    erasure(&server, tokens.of(Role::Admin), sales, auditor).await;
    permission_matrix(&server, &tokens).await;
    bad_input(&server, sales, integration).await;
    rate_limit(&server, &tokens.slow).await;
    operations(&server).await;
    sync_status(&server, auditor).await;

    // The event feed names what is recorded; a feed held open does not hold the stop open.
    let feed = event_feed(&server, sales).await;

    // SIGTERM: stops accepting, finishes, exits cleanly.
    let mut server = server;
    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let mut exited = None;
    for _ in 0..100 {
        if let Some(status) = server.child.try_wait().expect("the child") {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = exited.expect("crm serve exits within 10 s of SIGTERM, a feed open");
    assert!(status.success(), "a graceful stop exits 0: {status:?}");
    drop(feed);
    let _ = std::fs::remove_file(tokens_path);
}

async fn journey(
    server: &Server,
    sales: &str,
    support: &str,
    auditor: &str,
    integration: &str,
    foreign: &str,
) {
    let contact = Uuid::now_v7();
    let created = server
        .post(
            &format!("/v1/contacts/{contact}/commands"),
            sales,
            &[],
            &json!({
                "command": "create",
                "given_name": "Ada",
                "family_name": "Lovelace",
                "primary_email": "Ada.Lovelace@Example.com",
                "country": "GB",
                "add_phones": ["020 7946 0958"],
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let version = created.body["version"].as_u64().expect("a version");
    assert_eq!(etag(&created), format!("\"{version}\""));
    assert_eq!(created.body["events"][0], "ContactCreated");

    let read = server
        .get(&format!("/v1/contacts/{contact}"), support)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    assert_eq!(etag(&read), format!("\"{version}\""));
    assert_eq!(read.body["version"], version);

    // A call logged on her: 201, then 200 for the same activity sent again; a record of no
    // known kind is a 422 problem; the auditor may not log.
    let call = json!({
        "kind": "call", "direction": "outbound", "outcome": "connected",
        "records": [{ "kind": "contact", "id": contact }],
        "occurred_at": "2026-03-02T09:00:00Z", "duration_seconds": 120,
        "participants": [{ "contact": contact, "name": "Ada Lovelace" }],
        "subject": "Pricing questions",
    });
    let activity = format!("/v1/activities/{}", Uuid::now_v7());
    let logged = server.post(&activity, sales, &[], &call).await;
    assert_eq!(logged.status, StatusCode::CREATED, "{:?}", logged.body);
    assert_eq!(logged.body["recorded"], json!(true));
    let again = server.post(&activity, sales, &[], &call).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(again.body["recorded"], json!(false));
    // An Idempotency-Key is its token's own: two tokens sending the same key log two notes.
    for token in [sales, support] {
        let note = json!({
            "kind": "note", "occurred_at": "2026-03-02T09:00:00Z",
            "records": [{ "kind": "account", "id": Uuid::now_v7() }],
        });
        let logged = server
            .post(
                &format!("/v1/activities/{}", Uuid::now_v7()),
                token,
                &[("Idempotency-Key", "the-same-key")],
                &note,
            )
            .await;
        assert_eq!(logged.status, StatusCode::CREATED, "{:?}", logged.body);
    }
    // Read back: the activity (no personal fields), and the contact's activities, paged.
    let on_her = format!("/v1/activities?record={contact}&limit=1");
    eventually("the call is on her activity timeline", || async {
        let page = server.get(&on_her, support).await;
        page.status == StatusCode::OK
            && page.body["items"]
                .as_array()
                .is_some_and(|items| items.len() == 1)
    })
    .await;
    // Her customer timeline shows the call among the steps of her records, once.
    let her_timeline = format!("/v1/customers/{contact}/timeline?limit=50");
    eventually("the call is on her customer timeline", || async {
        let page = server.get(&her_timeline, support).await;
        page.status == StatusCode::OK
            && page.body["items"].as_array().is_some_and(|items| {
                items
                    .iter()
                    .filter(|item| item["activity"]["kind"] == "call")
                    .count()
                    == 1
                    && items.iter().any(|item| item["entry"].is_object())
            })
    })
    .await;
    let logged_call = server.get(&activity, auditor).await;
    assert_eq!(logged_call.status, StatusCode::OK, "{:?}", logged_call.body);
    assert_eq!(logged_call.body["kind"], "call");
    assert!(
        logged_call.body.get("subject").is_none(),
        "{:?}",
        logged_call.body
    );
    let bad_cursor = server
        .get(
            &format!("/v1/activities?record={contact}&cursor=x"),
            support,
        )
        .await;
    assert_eq!(
        bad_cursor.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        bad_cursor.body
    );
    // Amended (If-Match names its version) and cancelled by the rep who logged it; another
    // user's token may not; cancelled, it leaves her timeline.
    let commands = format!("{activity}/commands");
    let later =
        json!({ "command": "amend", "changes": [{ "field": "duration_seconds", "value": 300 }] });
    assert_eq!(
        server.post(&commands, sales, &[], &later).await.status,
        StatusCode::PRECONDITION_REQUIRED
    );
    let amended = server
        .post(&commands, sales, &[("if-match", "\"1\"")], &later)
        .await;
    assert_eq!(amended.status, StatusCode::OK, "{:?}", amended.body);
    let cancel = json!({ "command": "cancel", "reason": "logged_in_error" });
    assert_eq!(
        server.post(&commands, support, &[], &cancel).await.status,
        StatusCode::FORBIDDEN
    );
    let cancelled = server.post(&commands, sales, &[], &cancel).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{:?}", cancelled.body);
    eventually("the cancelled call leaves her timeline", || async {
        let page = server.get(&on_her, support).await;
        page.status == StatusCode::OK && page.body["items"] == json!([])
    })
    .await;
    let call_read = server.get(&activity, support).await;
    assert_eq!(
        call_read.body["cancelled"], "logged_in_error",
        "{:?}",
        call_read.body
    );
    assert_eq!(
        call_read.body["duration_seconds"], 300,
        "{:?}",
        call_read.body
    );
    let mut odd = call.clone();
    odd["records"] = json!([{ "kind": "planet", "id": contact }]);
    let refused = server
        .post(
            &format!("/v1/activities/{}", Uuid::now_v7()),
            sales,
            &[],
            &odd,
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        refused.body
    );
    assert_eq!(
        server.post(&activity, auditor, &[], &call).await.status,
        StatusCode::FORBIDDEN
    );
    // A rep logs only their own activities: a touch in someone else's name is refused.
    let mut on_behalf = call.clone();
    on_behalf["performed_by"] = json!(Uuid::now_v7());
    let impersonated = server
        .post(
            &format!("/v1/activities/{}", Uuid::now_v7()),
            sales,
            &[],
            &on_behalf,
        )
        .await;
    assert_eq!(
        impersonated.status,
        StatusCode::FORBIDDEN,
        "{:?}",
        impersonated.body
    );

    // A change needs If-Match; a stale one is 412 naming the current version.
    let change = json!({ "command": "change_details", "job_title": "Analyst" });
    let path = format!("/v1/contacts/{contact}/commands");
    let missing = server.post(&path, sales, &[], &change).await;
    assert_eq!(missing.status, StatusCode::PRECONDITION_REQUIRED);
    let stale_tag = format!("\"{}\"", version - 1);
    let stale = server
        .post(&path, sales, &[("if-match", &stale_tag)], &change)
        .await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(stale.body["current_version"], version);
    assert_eq!(stale.body["type"], "/problems/version-mismatch");
    let changed = server
        .post(&path, sales, &[("if-match", &etag(&read))], &change)
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    assert_eq!(etag(&changed), format!("\"{}\"", version + 1));

    // A refusal is a problem naming the rule.
    let again = server
        .post(
            &path,
            sales,
            &[],
            &json!({ "command": "create", "given_name": "Ada" }),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.body["type"], "/problems/command-rejected");
    assert!(again.body["code"].is_string());

    // A ticket, opened under an idempotency key: the retry answers the first response.
    let ticket = Uuid::now_v7();
    let open = json!({
        "command": "open",
        "contact": contact,
        "subject": "Cannot log in",
        "channel": "email",
        "priority": "high",
    });
    let ticket_path = format!("/v1/tickets/{ticket}/commands");
    let first = server
        .post(
            &ticket_path,
            support,
            &[("idempotency-key", "open-1")],
            &open,
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let retry = server
        .post(
            &ticket_path,
            support,
            &[("idempotency-key", "open-1")],
            &open,
        )
        .await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.body["replayed"], true);
    assert_eq!(retry.body["version"], first.body["version"]);
    let other = json!({ "command": "open", "contact": contact, "subject": "Other", "channel": "email", "priority": "low" });
    let reused = server
        .post(
            &ticket_path,
            support,
            &[("idempotency-key", "open-1")],
            &other,
        )
        .await;
    assert_eq!(reused.status, StatusCode::CONFLICT);
    assert_eq!(reused.body["type"], "/problems/idempotency-conflict");

    // A deal on the default pipeline.
    let deal = Uuid::now_v7();
    let opened = server
        .post(
            &format!("/v1/opportunities/{deal}/commands"),
            sales,
            &[],
            &json!({
                "command": "open",
                "name": "Analytical Engine",
                "contact": contact,
                "owner": Uuid::now_v7(),
                "amount": { "minor": 120_000, "currency": "EUR" },
                "expected_close": "2027-03-01",
            }),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{:?}", opened.body);

    // Intake: a redelivery is kept once; a batch all at once.
    let delivery = json!({ "external_id": "evt-1", "payload": { "email": "grace@example.com" } });
    let kept = server
        .post("/v1/intake/web-form/leads", integration, &[], &delivery)
        .await;
    assert_eq!(kept.status, StatusCode::ACCEPTED, "{:?}", kept.body);
    assert_eq!(kept.body["outcome"], "accepted");
    let redelivered = server
        .post("/v1/intake/web-form/leads", integration, &[], &delivery)
        .await;
    assert_eq!(redelivered.body["outcome"], "duplicate");
    assert_eq!(redelivered.body["lead"], kept.body["lead"]);
    let batch = json!({ "deliveries": (0..3).map(|n| json!({ "external_id": format!("b-{n}"), "payload": { "n": n } })).collect::<Vec<_>>() });
    let batched = server
        .post("/v1/intake/web-form/leads/batch", integration, &[], &batch)
        .await;
    assert_eq!(batched.status, StatusCode::ACCEPTED);
    assert_eq!(batched.body.as_array().map(Vec::len), Some(3));

    // The read models catch up: the Customer 360 holds the ticket and the deal, the search
    // finds Ada by her email however it is typed.
    let customer = format!("/v1/customers/{contact}");
    eventually("the Customer 360 shows the ticket and the deal", || async {
        let view = server.get(&customer, sales).await;
        view.status == StatusCode::OK
            && view.body["tickets"].as_array().map(Vec::len) == Some(1)
            && view.body["opportunities"].as_array().map(Vec::len) == Some(1)
    })
    .await;
    eventually("the search finds Ada", || async {
        let hits = server
            .get("/v1/customers?email=ada.lovelace%40example.com", sales)
            .await;
        hits.body[0]["contact"] == json!(contact)
    })
    .await;
    let page = server
        .get(&format!("{customer}/timeline?limit=2"), sales)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(2));
    let next = page.body["next"].as_str().expect("a next page");
    let rest = server
        .get(
            &format!("{customer}/timeline?limit=50&cursor={next}"),
            sales,
        )
        .await;
    assert_eq!(rest.status, StatusCode::OK);
    assert!(rest.body["next"].is_null());
    // The ticket's own timeline, from its rows: opened first, every entry the ticket's.
    let ticket_timeline = server
        .get(&format!("/v1/tickets/{ticket}/timeline?limit=50"), sales)
        .await;
    assert_eq!(ticket_timeline.status, StatusCode::OK);
    let entries = ticket_timeline.body["items"].as_array().expect("items");
    assert!(
        entries
            .iter()
            .all(|item| item["record"] == json!(ticket) && item["record_kind"] == "ticket"),
        "{entries:?}"
    );
    assert_eq!(
        entries.last().map(|item| &item["entry"]["kind"]),
        Some(&json!("ticket_opened")),
        "{entries:?}"
    );

    // The auditor reads the history with its metadata; a foreign tenant finds nothing.
    let history = server
        .get(&format!("/v1/contacts/{contact}/history"), auditor)
        .await;
    assert_eq!(history.status, StatusCode::OK);
    assert_eq!(
        history.body.as_array().map(Vec::len),
        usize::try_from(version + 1).ok()
    );
    assert!(history.body[0]["metadata"]["actor"].is_object());
    for path in [
        format!("/v1/contacts/{contact}"),
        format!("/v1/contacts/{contact}/history"),
        format!("/v1/customers/{contact}"),
    ] {
        assert_eq!(
            server.get(&path, foreign).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}

/// Accounts and their hierarchy: three opened, chained, and the move that would close the
/// ring refused as a cycle (409, code `cycle`); a rename needs `If-Match`; a bad domain is a
/// 422 problem.
async fn accounts(server: &Server, sales: &str, support: &str) {
    let owner = Uuid::now_v7();
    let [group, region, office] = [Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7()];
    for (account, name) in [
        (group, "Analytical Engines Group plc"),
        (region, "Analytical Engines UK Ltd"),
        (office, "Analytical Engines London"),
    ] {
        let opened = server
            .post(
                &format!("/v1/accounts/{account}/commands"),
                sales,
                &[],
                &json!({
                    "command": "open", "name": name, "owner": owner,
                    "domains": ["https://www.analytical-engines.example/about"],
                    "addresses": [{ "kind": "headquarters", "locality": "London", "country": "GB" }],
                }),
            )
            .await;
        assert_eq!(opened.status, StatusCode::CREATED, "{:?}", opened.body);
    }
    // Nothing suggested yet (the linker runs in `crm work`): an empty review queue, and a
    // dismissal of a contact never suggested is refused by rule.
    let queue = server.get("/v1/account-reviews?limit=5", support).await;
    assert_eq!(queue.status, StatusCode::OK, "{:?}", queue.body);
    assert_eq!(queue.body, json!({"items": [], "next": null}));
    assert_eq!(
        server
            .get("/v1/account-reviews?cursor=not-a-cursor", support)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let dismissed = server
        .post(
            &format!("/v1/accounts/{group}/commands"),
            sales,
            &[],
            &json!({"command": "dismiss_suggestion", "contact": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(
        dismissed.status,
        StatusCode::CONFLICT,
        "{:?}",
        dismissed.body
    );
    assert_eq!(dismissed.body["code"], "not-suggested");
    let set_parent = |account: Uuid, parent: Uuid| async move {
        server
            .post(
                &format!("/v1/accounts/{account}/commands"),
                sales,
                &[],
                &json!({ "command": "set_parent", "parent": parent }),
            )
            .await
    };
    for (account, parent) in [(region, group), (office, region)] {
        let placed = set_parent(account, parent).await;
        assert!(placed.status.is_success(), "{:?}", placed.body);
    }
    let ring = set_parent(group, office).await;
    assert_eq!(ring.status, StatusCode::CONFLICT, "{:?}", ring.body);
    assert_eq!(ring.body["code"], "cycle", "{:?}", ring.body);
    let nowhere = set_parent(office, Uuid::now_v7()).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND, "{:?}", nowhere.body);

    let path = format!("/v1/accounts/{office}/commands");
    let rename = json!({ "command": "rename", "name": "Analytical Engines City" });
    assert_eq!(
        server.post(&path, sales, &[], &rename).await.status,
        StatusCode::PRECONDITION_REQUIRED
    );
    let bad = server
        .post(
            &path,
            sales,
            &[],
            &json!({ "command": "add_domain", "domain": "not a domain" }),
        )
        .await;
    assert_eq!(
        bad.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        bad.body
    );
    assert_eq!(
        server
            .post(&path, support, &[], &json!({ "command": "reopen" }))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // The account 360: a ticket for the office and a note on the group roll up to the top.
    let ticket = server
        .post(
            &format!("/v1/tickets/{}/commands", Uuid::now_v7()),
            support,
            &[],
            &json!({
                "command": "open", "contact": Uuid::now_v7(), "subject": "Invoice address",
                "channel": "email", "priority": "normal", "account": office,
            }),
        )
        .await;
    assert_eq!(ticket.status, StatusCode::CREATED, "{:?}", ticket.body);
    let note = server
        .post(
            &format!("/v1/activities/{}", Uuid::now_v7()),
            sales,
            &[],
            &json!({
                "kind": "note", "records": [{ "kind": "account", "id": group }],
                "occurred_at": "2026-03-02T09:00:00Z",
            }),
        )
        .await;
    assert_eq!(note.status, StatusCode::CREATED, "{:?}", note.body);
    let top = format!("/v1/accounts/{group}");
    eventually("the group's account 360 rolls up its offices", || async {
        let view = server.get(&top, support).await;
        view.status == StatusCode::OK
            && view.body["rollup"]["accounts"] == json!(3)
            && view.body["rollup"]["open_tickets"] == json!(1)
            && view.body["rollup"]["activities"] == json!(1)
            && view.body["own"]["open_tickets"] == json!(0)
    })
    .await;
    let view = server.get(&format!("/v1/accounts/{office}"), sales).await;
    assert_eq!(view.status, StatusCode::OK, "{:?}", view.body);
    assert_eq!(view.body["account"]["name"], "Analytical Engines London");
    assert_eq!(
        view.body["ancestors"],
        json!([
            { "id": region, "name": "Analytical Engines UK Ltd", "status": "active",
              "owner": owner, "parent": group, "depth": 1 },
            { "id": group, "name": "Analytical Engines Group plc", "status": "active",
              "owner": owner, "parent": null, "depth": 2 },
        ])
    );
    assert_eq!(view.body["open_tickets"][0]["status"], "new");
    let missing = server
        .get(&format!("/v1/accounts/{}", Uuid::now_v7()), sales)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{:?}", missing.body);

    // Which account does a person work for: by work address (a subdomain counts), by name.
    let found = server
        .get(
            "/v1/accounts?email=ada%40uk.analytical-engines.example",
            sales,
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{:?}", found.body);
    let ids: Vec<&str> = found
        .body
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|hit| hit["account"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(ids.len(), 3, "all three list the domain: {:?}", found.body);
    assert_eq!(found.body[0]["verdict"], "auto_link");
    let by_name = server
        .get(
            "/v1/accounts?company=Analytical%20Engines%20London%20Ltd",
            sales,
        )
        .await;
    assert_eq!(
        by_name.body[0]["account"],
        json!(office),
        "{:?}",
        by_name.body
    );
    let nothing = server
        .get("/v1/accounts?email=ada%40gmail.com", sales)
        .await;
    assert_eq!(
        nothing.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        nothing.body
    );
}

/// A task's life: created on a record with a due time, rescheduled, done, reopened,
/// cancelled for good; a retitle needs `If-Match`; the auditor changes nothing.
async fn tasks(server: &Server, sales: &str, auditor: &str) {
    let task = Uuid::now_v7();
    let path = format!("/v1/tasks/{task}/commands");
    let created = server
        .post(
            &path,
            sales,
            &[],
            &json!({
                "command": "create", "title": "Send the quote", "owner": Uuid::now_v7(),
                "concerns": { "kind": "contact", "id": Uuid::now_v7() },
                "due_at": "2026-03-03T12:00:00Z", "priority": "high",
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    for command in [
        json!({ "command": "reschedule", "due_at": "2026-03-04T12:00:00Z" }),
        json!({ "command": "complete" }),
        json!({ "command": "reopen" }),
        json!({ "command": "cancel" }),
    ] {
        let done = server.post(&path, sales, &[], &command).await;
        assert_eq!(done.status, StatusCode::OK, "{command}: {:?}", done.body);
    }
    let after_cancel = server
        .post(&path, sales, &[], &json!({ "command": "complete" }))
        .await;
    assert_eq!(
        after_cancel.status,
        StatusCode::CONFLICT,
        "{:?}",
        after_cancel.body
    );
    assert_eq!(
        server
            .post(
                &path,
                sales,
                &[],
                &json!({ "command": "retitle", "title": "Quote" })
            )
            .await
            .status,
        StatusCode::PRECONDITION_REQUIRED
    );
    assert_eq!(
        server
            .post(&path, auditor, &[], &json!({ "command": "reopen" }))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // A task on a deal is about the deal's contact: the server finds her (her key encrypts
    // the text; `tests/erasure.rs` reads the stored bytes).
    let (deal, contact) = (Uuid::now_v7(), Uuid::now_v7());
    server
        .post_expecting(
            (&format!("/v1/opportunities/{deal}/commands"), sales),
            &[],
            &json!({
                "command": "open", "name": "Pilot", "contact": contact, "owner": Uuid::now_v7(),
                "amount": { "minor": 1_000, "currency": "EUR" }, "expected_close": "2027-01-01",
            }),
            StatusCode::CREATED,
        )
        .await;
    let on_deal = Uuid::now_v7();
    server
        .post_expecting(
            (&format!("/v1/tasks/{on_deal}/commands"), sales),
            &[],
            &json!({
                "command": "create", "title": "Send her the pilot terms", "owner": Uuid::now_v7(),
                "concerns": { "kind": "opportunity", "id": deal }, "priority": "normal",
            }),
            StatusCode::CREATED,
        )
        .await;
    eventually("the task on the deal names her", || async {
        let answer = server.get(&format!("/v1/tasks/{on_deal}"), auditor).await;
        answer.status == StatusCode::OK
            && answer.body["person"] == json!({ "kind": "contact", "id": contact })
            && answer.body["title"] == "Send her the pilot terms"
    })
    .await;

    // Read back from the engagements read model: the task, and the owner's task list.
    let read = format!("/v1/tasks/{task}");
    eventually("the cancelled task is read back", || async {
        let answer = server.get(&read, auditor).await;
        answer.status == StatusCode::OK && answer.body["status"] == "cancelled"
    })
    .await;
    let answer = server.get(&read, sales).await;
    assert_eq!(answer.body["title"], "Send the quote");
    assert_eq!(answer.body["due_at"], "2026-03-04T12:00:00Z");
    let owner_id = answer.body["owner"].as_str().unwrap_or_default().to_owned();
    let list = server
        .get(
            &format!("/v1/tasks?owner={owner_id}&status=cancelled&limit=5"),
            sales,
        )
        .await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    assert_eq!(
        list.body["items"].as_array().map(Vec::len),
        Some(1),
        "{:?}",
        list.body
    );
    assert!(list.body["next"].is_null(), "{:?}", list.body);
    let none_open = server
        .get(&format!("/v1/tasks?owner={owner_id}&status=open"), sales)
        .await;
    assert_eq!(none_open.body, json!({"items": [], "next": null}));
    assert_eq!(
        server.get("/v1/tasks?cursor=soon", sales).await.status,
        StatusCode::BAD_REQUEST
    );
    let bad_status = server.get("/v1/tasks?status=someday", sales).await;
    assert_eq!(
        bad_status.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        bad_status.body
    );
    assert_eq!(
        server
            .get(&format!("/v1/tasks/{}", Uuid::now_v7()), sales)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// Custom fields on tasks: a schema published and evolved by an admin, values checked by its
/// rules on create and change (every problem named by field, nothing recorded), read back and
/// found by filter.
async fn custom_fields(server: &Server, admin: &str, sales: &str, auditor: &str) {
    let schema_path = "/v1/custom-fields/task";
    let none = server.get(schema_path, auditor).await;
    assert_eq!(none.status, StatusCode::OK, "{:?}", none.body);
    assert_eq!(none.body["version"], 0);
    let schema = |version: u32, bronze_retired: bool, po_deprecated: bool| {
        json!({
            "version": version,
            "fields": [
                {"key": "tier", "label": "Tier", "type": {"kind": "single_pick", "options": [
                    {"key": "gold", "label": "Gold"}, {"key": "silver", "label": "Silver"},
                    {"key": "bronze", "label": "Bronze", "retired": bronze_retired}]}},
                {"key": "seats", "label": "Seats",
                 "type": {"kind": "number", "decimal_places": 0, "min": "1", "max": "500"}},
                {"key": "po", "label": "PO number", "deprecated": po_deprecated,
                 "type": {"kind": "text", "max_length": 20}}
            ],
            "rules": [{"rule": "required_when", "field": "seats", "when": "tier",
                       "equals": {"type": "choice", "value": "gold"}}]
        })
    };
    let refused = server
        .post(schema_path, sales, &[], &schema(1, false, false))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    let published = server
        .post(schema_path, admin, &[], &schema(1, false, false))
        .await;
    assert_eq!(
        published.status,
        StatusCode::CREATED,
        "{:?}",
        published.body
    );
    assert_eq!(
        published.body["events"],
        json!(["CustomFieldSchemaPublished"])
    );
    let read = server.get(schema_path, sales).await;
    assert_eq!(read.body["version"], 1, "{:?}", read.body);
    assert_eq!(etag(&read), "\"1\"");

    // A create breaking a rule creates nothing; every problem is named by its field.
    let task = Uuid::now_v7();
    let path = format!("/v1/tasks/{task}/commands");
    let create = |custom: Value| {
        json!({"command": "create", "title": "Renewal call", "owner": Uuid::now_v7(),
               "priority": "normal", "custom_fields": custom})
    };
    let invalid = server
        .post(
            &path,
            sales,
            &[],
            &create(json!({"tier": "gold", "colour": "red"})),
        )
        .await;
    assert_eq!(
        invalid.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        invalid.body
    );
    assert_eq!(invalid.body["code"], "custom-fields");
    let fields: Vec<&str> = invalid.body["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["colour", "seats"], "{:?}", invalid.body);
    let nothing = server
        .post(&path, sales, &[], &json!({"command": "complete"}))
        .await;
    assert_eq!(
        nothing.status,
        StatusCode::CONFLICT,
        "no task was made: {:?}",
        nothing.body
    );

    let created = server
        .post(
            &path,
            sales,
            &[],
            &create(json!({"tier": "gold", "seats": 12})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    assert_eq!(
        created.body["events"],
        json!(["TaskCreated", "TaskCustomFieldsSet"])
    );
    let too_few = server
        .post(
            &path,
            sales,
            &[],
            &json!({"command": "set_custom_fields", "values": {"seats": 0}}),
        )
        .await;
    assert_eq!(
        too_few.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        too_few.body
    );
    assert_eq!(too_few.body["errors"][0]["field"], "seats");
    assert_eq!(too_few.body["errors"][0]["rule"], "value");
    let po = server
        .post(
            &path,
            sales,
            &[],
            &json!({"command": "set_custom_fields", "values": {"po": "PO-7"}}),
        )
        .await;
    assert_eq!(po.status, StatusCode::OK, "{:?}", po.body);
    assert_eq!(po.body["events"], json!(["TaskCustomFieldsSet"]));

    // A version removing an option is refused; one retiring it (and deprecating a field) is
    // published, and the values recorded under the first stay, shown as what they now are.
    let removed = json!({"version": 2, "fields": [
        {"key": "tier", "label": "Tier", "type": {"kind": "single_pick", "options": [
            {"key": "gold", "label": "Gold"}]}}]});
    let not_evolution = server.post(schema_path, admin, &[], &removed).await;
    assert_eq!(
        not_evolution.status,
        StatusCode::CONFLICT,
        "{:?}",
        not_evolution.body
    );
    assert_eq!(not_evolution.body["code"], "not-an-evolution");
    let second = server
        .post(schema_path, admin, &[], &schema(2, true, true))
        .await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.body);
    let deprecated = server
        .post(
            &path,
            sales,
            &[],
            &json!({"command": "set_custom_fields", "values": {"po": "PO-8"}}),
        )
        .await;
    assert_eq!(
        deprecated.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        deprecated.body
    );

    let values = format!("/v1/custom-fields/task/records/{task}");
    eventually("the task's values are read back", || async {
        let answer = server.get(&values, auditor).await;
        answer.status == StatusCode::OK && answer.body["values"].as_array().map(Vec::len) == Some(3)
    })
    .await;
    let answer = server.get(&values, sales).await;
    let shown = &answer.body["values"];
    assert_eq!(shown[0]["key"], "tier");
    assert_eq!(shown[0]["text"], "Gold");
    assert_eq!(shown[2]["key"], "po");
    assert_eq!(
        shown[2]["status"]["status"], "deprecated_field",
        "{answer:?}"
    );
    assert_eq!(answer.body["changed_under"], 1);

    let gold = r#"[{"op":"equals","field":"tier","value":"gold"}]"#;
    let found = server
        .get(
            &format!(
                "/v1/custom-fields/task/records?filter={}&limit=10",
                urlencode(gold)
            ),
            sales,
        )
        .await;
    assert_eq!(found.status, StatusCode::OK, "{:?}", found.body);
    let ids: Vec<&str> = found.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item["id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(ids, [task.to_string()]);
    let unknown = r#"[{"op":"equals","field":"colour","value":"red"}]"#;
    let bad = server
        .get(
            &format!(
                "/v1/custom-fields/task/records?filter={}",
                urlencode(unknown)
            ),
            sales,
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{:?}", bad.body);
    let widget = server.get("/v1/custom-fields/widget", sales).await;
    assert_eq!(widget.status, StatusCode::BAD_REQUEST, "{:?}", widget.body);
}

/// `text` percent-encoded for a query string.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// A rep sets their own availability with their own token; not anyone else's.
async fn availability(server: &Server, admin: &str, sales: &str, sales_user: Uuid) {
    let register = |display_name: &str, email: &str| json!({ "command": "register", "display_name": display_name, "email": email, "capacity": 10, "weight": 1 });
    let colleague = Uuid::now_v7();
    for (rep, body) in [
        (sales_user, register("Sally", "sally@acme.test")),
        (colleague, register("Colin", "colin@acme.test")),
    ] {
        let registered = server
            .post(&format!("/v1/reps/{rep}/commands"), admin, &[], &body)
            .await;
        assert_eq!(
            registered.status,
            StatusCode::CREATED,
            "{:?}",
            registered.body
        );
    }
    let own = format!("/v1/reps/{sales_user}/availability");
    for body in [
        json!({ "command": "go_online" }),
        json!({ "command": "set_out_of_office", "until": "2030-01-01T00:00:00Z" }),
        json!({ "command": "return_to_office" }),
        json!({ "command": "go_offline" }),
    ] {
        let answered = server.post(&own, sales, &[], &body).await;
        assert_eq!(
            answered.status,
            StatusCode::OK,
            "{body}: {:?}",
            answered.body
        );
        assert_eq!(answered.body["events"].as_array().map(Vec::len), Some(1));
    }
    let someone_else = format!("/v1/reps/{colleague}/availability");
    let refused = server
        .post(
            &someone_else,
            sales,
            &[],
            &json!({ "command": "go_online" }),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);
    let by_admin = server
        .post(
            &someone_else,
            admin,
            &[],
            &json!({ "command": "go_online" }),
        )
        .await;
    assert_eq!(by_admin.status, StatusCode::OK, "{:?}", by_admin.body);
    // Only availability: the rest of the roster stays the admin's.
    let capacity = server
        .post(
            &own,
            sales,
            &[],
            &json!({ "command": "change_capacity", "capacity": 99 }),
        )
        .await;
    assert_eq!(
        capacity.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        capacity.body
    );
}

async fn roster_and_forecast(server: &Server, admin: &str, sales: &str, support: &str) {
    let rep = Uuid::now_v7();
    let rep_path = format!("/v1/reps/{rep}/commands");
    let registered = server
        .post(
            &rep_path,
            admin,
            &[],
            &json!({ "command": "register", "display_name": "Grace", "email": "grace@acme.test", "capacity": 10, "weight": 1 }),
        )
        .await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{:?}",
        registered.body
    );
    let online = server
        .post(&rep_path, admin, &[], &json!({ "command": "go_online" }))
        .await;
    assert_eq!(online.status, StatusCode::OK, "{:?}", online.body);
    let capacity = json!({ "command": "change_capacity", "capacity": 20 });
    assert_eq!(
        server.post(&rep_path, admin, &[], &capacity).await.status,
        StatusCode::PRECONDITION_REQUIRED
    );
    let changed = server
        .post(&rep_path, admin, &[("if-match", &etag(&online))], &capacity)
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{:?}", changed.body);
    // The roster is the admin's: a sales token may not touch it.
    assert_eq!(
        server
            .post(&rep_path, sales, &[], &json!({ "command": "go_offline" }))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    let team = Uuid::now_v7();
    let team_path = format!("/v1/teams/{team}/commands");
    let created = server
        .post(
            &team_path,
            admin,
            &[],
            &json!({ "command": "create", "name": "EMEA", "strategy": "weighted_round_robin" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let added = server
        .post(
            &team_path,
            admin,
            &[],
            &json!({ "command": "add_member", "rep": rep }),
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{:?}", added.body);
    let map = Uuid::now_v7();
    let defined = server
        .post(
            &format!("/v1/territories/{map}/commands"),
            admin,
            &[],
            &json!({ "command": "define", "rules": [], "fallback_team": team }),
        )
        .await;
    assert_eq!(defined.status, StatusCode::CREATED, "{:?}", defined.body);

    let forecast = Uuid::now_v7();
    let opened = server
        .post(
            &format!("/v1/forecasts/{forecast}/commands"),
            sales,
            &[],
            &json!({
                "command": "open",
                "owner": rep,
                "period": { "start": "2027-01-01", "kind": "quarter" },
                "currency": "EUR",
            }),
        )
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{:?}", opened.body);
    let rows = server
        .get("/v1/forecast?from=2027-01-01&to=2027-04-01", sales)
        .await;
    assert_eq!(rows.status, StatusCode::OK, "{:?}", rows.body);
    let backwards = server
        .get("/v1/forecast?from=2027-04-01&to=2027-01-01", sales)
        .await;
    assert_eq!(backwards.status, StatusCode::BAD_REQUEST);
    let attainment = server
        .get(
            "/v1/sla/attainment?from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z&by=priority",
            support,
        )
        .await;
    assert_eq!(attainment.status, StatusCode::OK, "{:?}", attainment.body);
    let at_risk = server.get("/v1/sla/at-risk?limit=5", support).await;
    assert_eq!(at_risk.status, StatusCode::OK, "{:?}", at_risk.body);
    assert!(at_risk.body["items"].is_array(), "{:?}", at_risk.body);
    let breaches = server
        .get("/v1/sla/breaches?cursor=not-one-we-gave", support)
        .await;
    assert_eq!(
        breaches.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        breaches.body
    );
}

/// A message to a contact goes only where consent allows: refused without a grant (409
/// `consent-never-given`), sent once with one (201, then 200 for the retry), refused for
/// another purpose, and not open to support.
async fn outreach(server: &Server, sales: &str, support: &str, integration: &str) {
    let contact = Uuid::now_v7();
    let created = server
        .post(
            &format!("/v1/contacts/{contact}/commands"),
            sales,
            &[],
            &json!({ "command": "create", "given_name": "Ada", "family_name": "Byron", "primary_email": "ada.byron@example.com" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let path = format!("/v1/contacts/{contact}/outreach");
    let campaign = json!({ "activity": Uuid::now_v7(), "channel": "email", "campaign": "spring" });
    let refused = server.post(&path, integration, &[], &campaign).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{:?}", refused.body);
    assert_eq!(
        refused.body["code"],
        json!("consent-never-given"),
        "{:?}",
        refused.body
    );
    let granted = server
        .post(
            &format!("/v1/contacts/{contact}/commands"),
            sales,
            &[("if-match", etag(&created).as_str())],
            &json!({ "command": "grant_consent", "channel": "email", "proof": { "form_id": "newsletter-v3" } }),
        )
        .await;
    assert_eq!(granted.status, StatusCode::OK, "{:?}", granted.body);
    let asked = server
        .get(
            &format!("/v1/contacts/{contact}/consent?channel=email"),
            support,
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{:?}", asked.body);
    assert_eq!(asked.body["allowed"], json!(true), "{:?}", asked.body);
    assert_eq!(asked.body["scope"], json!("email"));
    let survey_asked = server
        .get(
            &format!("/v1/contacts/{contact}/consent?channel=email&purpose=research"),
            integration,
        )
        .await;
    assert_eq!(
        survey_asked.body["allowed"],
        json!(false),
        "{:?}",
        survey_asked.body
    );
    assert_eq!(survey_asked.body["refusal"], json!("consent-never-given"));
    assert_eq!(
        server
            .get(
                &format!("/v1/contacts/{contact}/consent?channel=fax"),
                sales
            )
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let sent = server.post(&path, integration, &[], &campaign).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{:?}", sent.body);
    assert_eq!(sent.body["sent"], json!(true));
    let again = server.post(&path, integration, &[], &campaign).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(again.body["sent"], json!(false));
    let survey = json!({ "activity": Uuid::now_v7(), "channel": "email", "purpose": "research" });
    let other_purpose = server.post(&path, sales, &[], &survey).await;
    assert_eq!(
        other_purpose.status,
        StatusCode::CONFLICT,
        "{:?}",
        other_purpose.body
    );
    assert_eq!(
        server.post(&path, support, &[], &survey).await.status,
        StatusCode::FORBIDDEN
    );
    let unknown = json!({ "activity": Uuid::now_v7(), "channel": "fax" });
    assert_eq!(
        server.post(&path, sales, &[], &unknown).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

/// Field-level sync under the servers' [`DICTIONARY`].
async fn field_sync(server: &Server, sales: &str, auditor: &str, integration: &str) {
    let contact = Uuid::now_v7();
    let commands = format!("/v1/contacts/{contact}/commands");
    let sync = format!("/v1/contacts/{contact}/sync");

    // The company domain is the integration's: a sales user may not set it, even at creation.
    let refused = server
        .post_expecting(
            (&commands, sales),
            &[],
            &json!({ "command": "create", "given_name": "Grace", "company_domain": "navy.example" }),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(refused.body["code"], json!("sync-refused"));
    assert_eq!(refused.body["errors"][0]["field"], json!("company_domain"));
    assert_eq!(refused.body["errors"][0]["rule"], json!("not-owner"));
    let created = server
        .post_expecting(
            (&commands, sales),
            &[],
            &json!({ "command": "create", "given_name": "Grace", "national_id": "AB123",
                     "date_of_birth": "1906-12-09", "source_time": "2026-03-01T00:00:00Z" }),
            StatusCode::CREATED,
        )
        .await;

    // Nobody but the integration speaks for it.
    let spoofed = server
        .post_expecting(
            (&commands, sales),
            &[("if-match", etag(&created).as_str())],
            &json!({ "command": "change_details", "company_domain": "navy.example",
                     "source_system": "Integration" }),
            StatusCode::FORBIDDEN,
        )
        .await;
    assert_eq!(spoofed.body["code"], json!("source-not-yours"));
    let elsewhere = server
        .post(
            &sync,
            integration,
            &[],
            &json!({ "company_domain": "navy.example", "source_system": "billing",
                     "source_time": "2026-03-02T00:00:00Z" }),
        )
        .await;
    assert_eq!(
        elsewhere.status,
        StatusCode::FORBIDDEN,
        "{:?}",
        elsewhere.body
    );
    let untimed = server
        .post(
            &sync,
            integration,
            &[],
            &json!({ "company_domain": "navy.example" }),
        )
        .await;
    assert_eq!(
        untimed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        untimed.body
    );
    assert_eq!(untimed.body["code"], json!("source_time"));

    // The integration's update: its own field applied, an older birth date kept out (in the
    // history), a different national id held for review.
    let synced = server
        .post_expecting(
            (&sync, integration),
            &[("Idempotency-Key", "sync-grace-1")],
            &json!({ "company_domain": "navy.example", "date_of_birth": "1906-12-10",
                     "national_id": "ZZ999", "source_time": "2026-02-01T00:00:00Z" }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        synced.body["events"],
        json!([
            "ContactDetailChanged",
            "ContactSyncOutranked",
            "ContactFieldConflictRaised"
        ])
    );
    let again = server
        .post(
            &sync,
            integration,
            &[("Idempotency-Key", "sync-grace-1")],
            &json!({ "company_domain": "navy.example", "date_of_birth": "1906-12-10",
                     "national_id": "ZZ999", "source_time": "2026-02-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(again.body["replayed"], json!(true), "{:?}", again.body);
    let changed = server
        .post_expecting(
            (&commands, sales),
            &[("if-match", etag(&synced).as_str())],
            &json!({ "command": "change_details", "company_domain": "army.example" }),
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(changed.body["code"], json!("sync-refused"));

    // The value waits in the queue until a person takes it.
    eventually("the national id waits for review", || async {
        let page = server.get("/v1/sync/conflicts?limit=1000", sales).await;
        page.status == StatusCode::OK
            && page.body["items"].as_array().is_some_and(|items| {
                items.iter().any(|item| {
                    item["contact"] == json!(contact)
                        && item["fields"][0]["proposed"]
                            == json!({ "field": "national_id", "value": "ZZ999" })
                        && item["fields"][0]["source"]["system"] == json!("Integration")
                })
            })
    })
    .await;
    let metrics = server.send(Method::GET, "/metrics", None, &[], None).await;
    let text = metrics.body.as_str().unwrap_or_default().to_owned();
    assert!(
        text.contains("crm_sync_conflicts_waiting{tenant=\"acme\",source=\"Integration\"} 1"),
        "{text}"
    );
    let taken = server
        .post_expecting(
            (&commands, sales),
            &[],
            &json!({ "command": "resolve_field_conflict", "field": "national_id", "accept": true }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(
        taken.body["events"],
        json!(["ContactDetailChanged", "ContactFieldConflictResolved"])
    );
    let none_left = server
        .post(
            &commands,
            sales,
            &[],
            &json!({ "command": "resolve_field_conflict", "field": "national_id", "accept": true }),
        )
        .await;
    assert_eq!(
        none_left.status,
        StatusCode::CONFLICT,
        "{:?}",
        none_left.body
    );
    assert_eq!(none_left.body["code"], json!("no-conflict"));
    eventually("the queue lets go of her", || async {
        let page = server.get("/v1/sync/conflicts?limit=1000", sales).await;
        page.status == StatusCode::OK
            && page.body["items"]
                .as_array()
                .is_some_and(|items| items.iter().all(|item| item["contact"] != json!(contact)))
    })
    .await;
    let read = server.get(&format!("/v1/contacts/{contact}"), sales).await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    let text = read.body.to_string();
    assert!(
        text.contains("ZZ999") && text.contains("navy.example"),
        "{text}"
    );
    assert!(
        text.contains("1906-12-09"),
        "the older birth date lost: {text}"
    );

    // The integration records its own id for her and finds her by it; ids only.
    let linked = server
        .post_expecting(
            (&commands, integration),
            &[],
            &json!({ "command": "link_external_id", "system": "erp", "id": "C-1906" }),
            StatusCode::OK,
        )
        .await;
    assert_eq!(linked.body["events"], json!(["ContactExternalIdLinked"]));
    eventually("her erp id finds her", || async {
        let found = server
            .get("/v1/external-ids?system=erp&id=C-1906", integration)
            .await;
        found.status == StatusCode::OK
            && found.body["contacts"] == json!([{ "contact": contact, "merged_into": null }])
    })
    .await;
    let nobody = server
        .get("/v1/external-ids?system=erp&id=C-0000", auditor)
        .await;
    assert_eq!(nobody.body["contacts"], json!([]), "{:?}", nobody.body);
    let blank = server
        .get("/v1/external-ids?system=erp&id=%20", auditor)
        .await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST, "{:?}", blank.body);

    // Everyone may read the rules.
    let rules = server.get("/v1/sync/dictionary", auditor).await;
    assert_eq!(rules.status, StatusCode::OK, "{:?}", rules.body);
    assert_eq!(rules.body["fields"].as_array().map(Vec::len), Some(4));

    owned_deal_fields(server, sales, integration).await;
}

/// A deal's amount belongs to the integration (billing): a sales user opens the deal (the
/// values it must open with are not a change) but may not change the amount; the
/// integration, which has no write permission on deals, may change the amount and nothing
/// else.
async fn owned_deal_fields(server: &Server, sales: &str, integration: &str) {
    let deal = Uuid::now_v7();
    let path = format!("/v1/opportunities/{deal}/commands");
    let opened = server
        .post_expecting(
            (&path, sales),
            &[],
            &json!({
                "command": "open", "name": "Difference Engine", "contact": Uuid::now_v7(),
                "owner": Uuid::now_v7(), "amount": { "minor": 50_000, "currency": "EUR" },
                "expected_close": "2027-06-01",
            }),
            StatusCode::CREATED,
        )
        .await;
    let amount =
        json!({ "command": "change_amount", "amount": { "minor": 65_000, "currency": "EUR" } });
    let refused = server
        .post_expecting(
            (&path, sales),
            &[("if-match", etag(&opened).as_str())],
            &amount,
            StatusCode::CONFLICT,
        )
        .await;
    assert_eq!(refused.body["code"], json!("sync-refused"));
    assert_eq!(refused.body["errors"][0]["field"], json!("amount"));
    let billed = server
        .post_expecting(
            (&path, integration),
            &[("if-match", etag(&opened).as_str())],
            &amount,
            StatusCode::OK,
        )
        .await;
    assert_eq!(billed.body["events"], json!(["OpportunityAmountChanged"]));
    let not_its = server
        .post_expecting(
            (&path, integration),
            &[("if-match", etag(&billed).as_str())],
            &json!({ "command": "change_close_date", "expected_close": "2027-07-01" }),
            StatusCode::FORBIDDEN,
        )
        .await;
    assert_eq!(not_its.body["code"], json!("not-its-field"));
    // Tickets: the dictionary gives it nothing there, so the route itself is closed to it.
    assert_eq!(
        server
            .post(
                &format!("/v1/tickets/{}/commands", Uuid::now_v7()),
                integration,
                &[],
                &json!({ "command": "change_priority", "priority": "high" }),
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

/// A data steward merges two contacts of one person, the Customer 360 follows, and gives one
/// back: `If-Match` on the survivor, a retry under the same key answers the same, a refusal
/// is 409, an integration may not merge.
async fn merges(server: &Server, sales: &str, support: &str, integration: &str) {
    let (survivor, absorbed) = (Uuid::now_v7(), Uuid::now_v7());
    let mut version = String::new();
    for (contact, email) in [
        (survivor, "grace.hopper@example.com"),
        (absorbed, "grace@navy.example"),
    ] {
        let created = server
            .post(
                &format!("/v1/contacts/{contact}/commands"),
                sales,
                &[],
                &json!({ "command": "create", "given_name": "Grace", "family_name": "Hopper", "primary_email": email }),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        if contact == survivor {
            version = etag(&created);
        }
    }
    // The review queue a steward works from: a page and its cursor; a forged cursor is 400.
    let queue = server.get("/v1/duplicates?limit=5", support).await;
    assert_eq!(queue.status, StatusCode::OK, "{:?}", queue.body);
    assert!(queue.body["items"].is_array(), "{:?}", queue.body);
    assert!(queue.body.get("next").is_some(), "{:?}", queue.body);
    assert_eq!(
        server.get("/v1/duplicates?cursor=x", support).await.status,
        StatusCode::BAD_REQUEST
    );
    let merge = format!("/v1/contacts/{survivor}/merge");
    let body = json!({ "absorbed": absorbed, "policy": "survivor_first" });
    assert_eq!(
        server.post(&merge, support, &[], &body).await.status,
        StatusCode::PRECONDITION_REQUIRED
    );
    assert_eq!(
        server
            .post(
                &merge,
                integration,
                &[("if-match", version.as_str())],
                &body
            )
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let headers = [
        ("if-match", version.as_str()),
        ("idempotency-key", "merge-grace"),
    ];
    let merged = server.post(&merge, support, &headers, &body).await;
    assert_eq!(merged.status, StatusCode::OK, "{:?}", merged.body);
    assert_eq!(merged.body["changed"], json!(true));
    let again = server.post(&merge, support, &headers, &body).await;
    assert_eq!(again.status, StatusCode::OK, "{:?}", again.body);
    assert_eq!(again.body["changed"], json!(false));
    assert_eq!(again.body["version"], merged.body["version"]);
    // Merging into itself is refused with the aggregate's reason.
    let itself = server
        .post(
            &merge,
            support,
            &[("if-match", etag(&merged).as_str())],
            &json!({ "absorbed": survivor }),
        )
        .await;
    assert_eq!(itself.status, StatusCode::CONFLICT, "{:?}", itself.body);
    let customer_of = |contact: Uuid| async move {
        let view = server.get(&format!("/v1/customers/{contact}"), sales).await;
        (view.status == StatusCode::OK).then(|| view.body["customer"].clone())
    };
    eventually("the absorbed contact's 360 is the survivor's", || async {
        customer_of(absorbed).await == Some(json!(survivor))
    })
    .await;

    let unmerge = format!("/v1/contacts/{survivor}/unmerge");
    let given_back = server
        .post(
            &unmerge,
            sales,
            &[("if-match", etag(&merged).as_str())],
            &json!({ "absorbed": absorbed }),
        )
        .await;
    assert_eq!(given_back.status, StatusCode::OK, "{:?}", given_back.body);
    eventually("the two are separate customers again", || async {
        customer_of(absorbed).await == Some(json!(absorbed))
    })
    .await;
}

async fn erasure(server: &Server, admin: &str, sales: &str, auditor: &str) {
    let contact = Uuid::now_v7();
    let created = server
        .post(
            &format!("/v1/contacts/{contact}/commands"),
            sales,
            &[],
            &json!({ "command": "create", "given_name": "Hedy", "family_name": "Kiesler", "primary_email": "hedy@example.com" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    // Subject access: the admin's alone; everything about her, in clear.
    let access = format!("/v1/contacts/{contact}/subject-access");
    for token in [sales, auditor] {
        assert_eq!(
            server.get(&access, token).await.status,
            StatusCode::FORBIDDEN
        );
    }
    let held = server.get(&access, admin).await;
    assert_eq!(held.status, StatusCode::OK, "{:?}", held.body);
    assert_eq!(held.body["contacts"], json!([contact]));
    assert_eq!(held.body["erased"], json!(false));
    assert!(held.body.to_string().contains("hedy@example.com"));
    let path = format!("/v1/contacts/{contact}/erasure");
    let request = json!({ "requested_by": "data_subject", "legal_basis": "consent_withdrawn" });
    assert_eq!(
        server.post(&path, sales, &[], &request).await.status,
        StatusCode::FORBIDDEN
    );
    let erased = server
        .post(&path, admin, &[("idempotency-key", "erase-hedy")], &request)
        .await;
    assert_eq!(erased.status, StatusCode::OK, "{:?}", erased.body);
    assert_eq!(erased.body["contacts"], json!([contact]));
    assert!(erased.body["keys_shredded"].as_u64() >= Some(1));
    let again = server
        .post(&path, admin, &[("idempotency-key", "erase-hedy")], &request)
        .await;
    assert_eq!(
        again.status,
        StatusCode::OK,
        "a retry finishes nothing new: {:?}",
        again.body
    );
    for (read, token) in [
        (format!("/v1/contacts/{contact}"), sales),
        (format!("/v1/contacts/{contact}/history"), auditor),
    ] {
        let answer = server.get(&read, token).await;
        assert_eq!(answer.status, StatusCode::OK, "{read}");
        let text = answer.body.to_string();
        assert!(
            !text.contains("Kiesler") && !text.contains("hedy@"),
            "{read}: {text}"
        );
    }
    let held = server.get(&access, admin).await;
    assert_eq!(held.status, StatusCode::OK, "{:?}", held.body);
    assert_eq!(held.body["erased"], json!(true));
    let text = held.body.to_string();
    assert!(
        !text.contains("Kiesler") && !text.contains("hedy@"),
        "held after the erasure: {text}"
    );
    let nobody = server
        .get(
            &format!("/v1/contacts/{}/subject-access", Uuid::now_v7()),
            admin,
        )
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND, "{:?}", nobody.body);
    let nobody = server
        .post(
            &format!("/v1/contacts/{}/erasure", Uuid::now_v7()),
            admin,
            &[],
            &request,
        )
        .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND, "{:?}", nobody.body);
}

/// Opens the event feed from the start of the history, reads until a contact's creation has
/// come by, and returns the still open response body.
async fn event_feed(server: &Server, token: &str) -> hyper::body::Incoming {
    let missing = server.get("/v1/events", token).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let request = Request::builder()
        .uri(format!("{}/v1/events?after=0/0", server.base))
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .expect("a request");
    let response = server
        .client
        .request(request)
        .await
        .expect("the feed answers");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|value| value.to_str().ok()),
        Some("text/event-stream")
    );
    let mut body = response.into_body();
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !(text.contains("\"type\":\"ContactCreated\"") && text.contains("id: ")) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("the feed delivers within 20 s")
            .expect("the feed goes on")
            .expect("a frame");
        if let Ok(data) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
        }
    }
    assert!(text.contains("event: recorded"), "{text}");
    assert!(
        !text.contains("Lovelace"),
        "the feed carries no content: {text}"
    );
    body
}

/// Sends a request announcing a 2 MiB body and only its first kilobyte; the status answered.
async fn oversized(server: &Server, path: &str, token: &str) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let address = server.base.trim_start_matches("http://");
    let mut connection = tokio::net::TcpStream::connect(address)
        .await
        .expect("a connection");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        2 * 1024 * 1024
    );
    connection
        .write_all(head.as_bytes())
        .await
        .expect("the head is sent");
    connection
        .write_all(&[b' '; 1024])
        .await
        .expect("the start of the body is sent");
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 1024];
    while !answer.windows(4).any(|window| window == b"\r\n\r\n") {
        let read = tokio::time::timeout(Duration::from_secs(10), connection.read(&mut buffer))
            .await
            .expect("the server answers before the body is sent")
            .expect("the answer reads");
        assert!(
            read > 0,
            "the server answered: {}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {text}"))
}

/// A path of `spec` with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{id}", &Uuid::now_v7().to_string())
        .replace("{source}", "web-form")
        .replace("{entity}", "task")
}

async fn permission_matrix(server: &Server, tokens: &Tokens) {
    for spec in ROUTES {
        let path = concrete(spec.path);
        let body = (spec.method == Method::POST).then(|| b"{}".to_vec());
        let Some(permission) = spec.permission else {
            let answer = server
                .send(spec.method.clone(), &path, None, &[], body)
                .await;
            assert!(
                answer.status.is_success() || answer.status == StatusCode::SERVICE_UNAVAILABLE,
                "{path}: {}",
                answer.status
            );
            continue;
        };
        let anonymous = server
            .send(spec.method.clone(), &path, None, &[], body.clone())
            .await;
        assert_eq!(
            anonymous.status,
            StatusCode::UNAUTHORIZED,
            "{} {path}",
            spec.method
        );
        let unknown = server
            .send(
                spec.method.clone(),
                &path,
                Some("crm_not-a-token"),
                &[],
                body.clone(),
            )
            .await;
        assert_eq!(
            unknown.status,
            StatusCode::UNAUTHORIZED,
            "{} {path}",
            spec.method
        );
        for role in Role::ALL {
            let answer = server
                .send(
                    spec.method.clone(),
                    &path,
                    Some(tokens.of(role)),
                    &[],
                    body.clone(),
                )
                .await;
            // The dictionary gives the integration a deal's amount: it may send deals the
            // commands that set it (the handler refuses the rest).
            let syncs = role == Role::Integration && spec.path == "/v1/opportunities/{id}/commands";
            if role.allows(permission) || syncs {
                assert!(
                    answer.status != StatusCode::FORBIDDEN
                        && answer.status != StatusCode::UNAUTHORIZED,
                    "{role:?} may {} {path}: {}",
                    spec.method,
                    answer.status
                );
            } else {
                assert_eq!(
                    answer.status,
                    StatusCode::FORBIDDEN,
                    "{role:?} may not {} {path}",
                    spec.method
                );
            }
        }
    }
}

/// A bad request: what it is, its body, its headers, and the status it must get.
type Case<'a> = (
    &'a str,
    Option<Vec<u8>>,
    &'a [(&'a str, &'a str)],
    StatusCode,
);

async fn bad_input(server: &Server, sales: &str, integration: &str) {
    let path = format!("/v1/contacts/{}/commands", Uuid::now_v7());
    let raw = |body: &[u8]| Some(body.to_vec());
    let cases: Vec<Case> = vec![
        (
            "malformed JSON",
            raw(b"{\"command\": "),
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "not an object",
            raw(b"[1, 2]"),
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown command",
            raw(br#"{"command": "explode"}"#),
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "unknown field",
            raw(br#"{"command": "create", "shoe_size": 44}"#),
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "wrong type",
            raw(br#"{"command": "create", "given_name": 7}"#),
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "bad email",
            raw(br#"{"command": "create", "primary_email": "not an email"}"#),
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "bad country",
            raw(br#"{"command": "create", "country": "XX1"}"#),
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "no content type",
            raw(br#"{"command": "create"}"#),
            &[("content-type", "text/plain")],
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "bad If-Match",
            raw(br#"{"command": "create"}"#),
            &[("if-match", "yesterday")],
            StatusCode::BAD_REQUEST,
        ),
        (
            "empty body",
            raw(b""),
            &[],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (what, body, headers, expected) in cases {
        let answer = server
            .send(Method::POST, &path, Some(sales), headers, body)
            .await;
        assert_eq!(answer.status, expected, "{what}: {:?}", answer.body);
    }
    // Too large: refused on its Content-Length, before the body is read (the test sends only
    // the start of it, over a raw connection, as a client that stops on an early answer would).
    assert_eq!(oversized(server, &path, sales).await, 413);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let delivery = format!("{{\"external_id\": \"deep\", \"payload\": {deep}}}");
    let answer = server
        .send(
            Method::POST,
            "/v1/intake/web-form/leads",
            Some(integration),
            &[],
            Some(delivery.into_bytes()),
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
    let nested = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let delivery = format!("{{\"external_id\": \"nested\", \"payload\": {nested}}}");
    let answer = server
        .send(
            Method::POST,
            "/v1/intake/web-form/leads",
            Some(integration),
            &[],
            Some(delivery.into_bytes()),
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "deeper than the domain keeps: {:?}",
        answer.body
    );
    assert_eq!(answer.body["type"], "/problems/delivery-refused");
    for bad in [
        "/v1/contacts/not-a-uuid",
        "/v1/customers/42/timeline",
        "/v1/customers/x",
    ] {
        assert_eq!(
            server.get(bad, sales).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    let contact = Uuid::now_v7();
    for bad in [
        format!("/v1/customers/{contact}/timeline?limit=0"),
        format!("/v1/customers/{contact}/timeline?cursor=nonsense"),
        format!("/v1/customers/{contact}/timeline?color=blue"),
        format!("/v1/tickets/{contact}/timeline?cursor=nonsense"),
        "/v1/leads/42/timeline".to_owned(),
        "/v1/customers".to_owned(),
        "/v1/customers?phone=not-a-phone".to_owned(),
    ] {
        assert_eq!(
            server.get(&bad, sales).await.status,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    assert_eq!(
        server.get("/v1/nothing-here", sales).await.status,
        StatusCode::NOT_FOUND
    );
    let answer = server
        .send(Method::DELETE, "/v1/pipeline", Some(sales), &[], None)
        .await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
}

async fn rate_limit(server: &Server, slow: &str) {
    // One request a second, bursts of two.
    let mut limited = None;
    for _ in 0..5 {
        let answer = server.get("/v1/pipeline", slow).await;
        if answer.status == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(answer);
            break;
        }
    }
    let limited = limited.expect("the budget runs out");
    let retry_after: u64 = limited
        .headers
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry_after));
}

async fn operations(server: &Server) {
    let document = server
        .send(Method::GET, "/openapi.json", None, &[], None)
        .await;
    assert_eq!(document.body["openapi"], "3.1.0");
    eventually("the server is ready", || async {
        server
            .send(Method::GET, "/readyz", None, &[], None)
            .await
            .status
            == StatusCode::OK
    })
    .await;
    let metrics = server.send(Method::GET, "/metrics", None, &[], None).await;
    let text = metrics.body.as_str().expect("Prometheus text");
    assert!(text.contains("crm_http_requests_total{method=\"POST\",route=\"/v1/contacts/{id}/commands\",status=\"201\"}"), "{text}");
    assert!(
        text.contains("crm_inbox_depth{tenant=\"acme\"} 4"),
        "{text}"
    );
    assert!(text.contains("crm_events_appended_total"));
    assert!(
        text.contains("crm_projection_events_behind{model=\"customer360\",tenant=\"acme\"}"),
        "{text}"
    );
    assert!(
        text.contains("crm_scheduler_backlog{tenant=\"acme\",kind=\"response_deadline\"}"),
        "{text}"
    );
    assert!(
        text.contains("crm_projection_halted{model=\"customer360\",tenant=\"acme\"} 0"),
        "{text}"
    );
    // The outreach sent earlier waits for `crm work` to deliver it: one pending message to
    // the outreach destination, nothing delivered yet.
    assert!(
        text.contains("crm_sync_pending{tenant=\"acme\",destination=\"outreach\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("crm_sync_delivery_rate{tenant=\"acme\",destination=\"outreach\"} 0"),
        "{text}"
    );
    // The national id held for review in the sync journey was taken: nothing waits.
    assert!(!text.contains("crm_sync_conflicts_waiting{"), "{text}");
}

/// Sync monitoring over HTTP: the outreach sent in the journey waits for `crm work`.
async fn sync_status(server: &Server, auditor: &str) {
    let status = server.get("/v1/operations/sync", auditor).await;
    assert_eq!(status.status, StatusCode::OK, "{:?}", status.body);
    assert_eq!(
        status.body["destinations"][0]["destination"],
        json!("outreach"),
        "{:?}",
        status.body
    );
    assert_eq!(status.body["destinations"][0]["pending"], json!(1));
    assert_eq!(status.body["destinations"][0]["parked"], json!(0));
    assert_eq!(
        status.body["destinations"][0]["last_delivered_at"],
        json!(null)
    );
}

/// The README's HTTP session, run as written in a fresh directory (so on the embedded
/// default, `./crm.db`) on a free port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readmes_http_session_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("the README");
    let block = readme
        .split("<!-- http-session -->")
        .nth(1)
        .and_then(|rest| rest.split("```sh\n").nth(1))
        .and_then(|rest| rest.split("\n```").next())
        .expect("the README holds the HTTP session");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let script = block.replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"));
    let directory = std::env::temp_dir().join(format!("crm-readme-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&directory).expect("a directory");
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_crm"));
    let path = format!(
        "{}:{}",
        binary.parent().expect("the binary's directory").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("timeout")
        .args(["120", "bash", "-euo", "pipefail", "-c", &script])
        .current_dir(&directory)
        .env("PATH", path)
        // As on a new user's machine: no database named, so the embedded default.
        .env_remove("DATABASE_URL")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("\n412\n"), "{stdout}");
    assert!(
        stdout.contains("\"lifetime_value\""),
        "the Customer 360 printed: {stdout}"
    );
    assert!(
        directory.join("crm.db").is_file(),
        "crm serve kept its data in ./crm.db: {stderr}"
    );
    assert!(stderr.contains("crm.db"), "crm serve says where: {stderr}");
    let _ = std::fs::remove_dir_all(directory);
}

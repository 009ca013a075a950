//! Two replicas, as a highly available install runs them: two `slipway serve` processes on
//! one database, one Git remote and one cluster, requests submitted through both. The
//! replica holding the Git writer's lease is killed (`kill -9`) in the middle of a drain, and
//! later the one holding the recorder's lease while claims change; the other takes over when
//! the lease lapses. Every request ends with exactly one commit and one ledger event per
//! stage, a browser on a replica without the writer's lease sees the commit made by another
//! replica without a reload, and a browser whose stream was on the dead replica gets a
//! `reset` from the other.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::TestApp;
use common::replica::{Replica, kill_pid};
use common::repo::Repo;
use common::requests::{draft_in, event_kinds, request};
use kube_double::{Kind, KubeDouble};
use serde_json::{Value, json};

const CLAIM_API: &str = "database.example.org/v1alpha1";

/// A browser at one replica: a cookie jar, signed in through the development login.
struct Browser {
    client: reqwest::Client,
    origin: String,
}

impl Browser {
    async fn sign_in(replica: &Replica, handle: &str) -> Self {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let res = client
            .post(format!("{}/auth/dev-login", replica.origin))
            .header("origin", &replica.origin)
            .form(&[("handle", handle)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "dev login at {}", replica.name);
        Browser {
            client,
            origin: replica.origin.clone(),
        }
    }

    async fn submit(&self, name: &str) -> String {
        let res = self
            .client
            .post(format!("{}/api/requests/submit", self.origin))
            .header("origin", &self.origin)
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .body(draft_in("dev", "team-a", name, 20).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        serde_json::from_slice::<Value>(&res.bytes().await.unwrap()).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Opens the status stream (with `Last-Event-ID` when given).
    async fn stream(&self, last_event_id: Option<&str>) -> Stream {
        let mut request = self
            .client
            .get(format!("{}/api/status/events", self.origin));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        Stream {
            response,
            text: String::new(),
        }
    }

    /// Opens the status stream and returns the first event it delivers: (id, event name).
    async fn first_event(&self, last_event_id: Option<&str>) -> (Option<String>, String) {
        let (id, event, _) = self.stream(last_event_id).await.next().await;
        (id, event)
    }
}

/// A browser's open status stream.
struct Stream {
    response: reqwest::Response,
    text: String,
}

impl Stream {
    /// The next event: (id, event name, data); at most 30 s away.
    async fn next(&mut self) -> (Option<String>, String, String) {
        self.next_within(Duration::from_secs(30))
            .await
            .expect("an event within the deadline")
    }

    /// Reads until the server ends the stream; `false` when it is still open after `wait`.
    async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.response.chunk()).await {
                Err(_) => return false,
                Ok(Ok(None) | Err(_)) => return true,
                Ok(Ok(Some(_))) => {}
            }
        }
    }

    /// The next event within `wait`, or `None`.
    async fn next_within(&mut self, wait: Duration) -> Option<(Option<String>, String, String)> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(&format!("{name}:")))
                        .map(|v| v.trim().to_owned())
                };
                if let Some(event) = field("event") {
                    return Some((field("id"), event, field("data").unwrap_or_default()));
                }
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.response.chunk())
                .await
                .ok()?
                .unwrap()
                .expect("the stream stays open");
            self.text.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// Who holds lease `name` now (the holder names start with the replica's `HOSTNAME`).
async fn holder(app: &TestApp, name: &str) -> Option<String> {
    sqlx::query_as::<_, (String,)>("SELECT holder FROM leases WHERE name = $1 AND expires_at > $2")
        .bind(name)
        .bind(slipway::db::now_ms())
        .fetch_optional(app.db().pool())
        .await
        .unwrap()
        .map(|(h,)| h)
}

async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The cluster double with the sample claim kind, and a kubeconfig naming it `cp`.
async fn cluster(repo: &Repo) -> (KubeDouble, std::path::PathBuf) {
    let double = KubeDouble::start().await.unwrap();
    double.register(Kind::new(
        "database.example.org",
        "v1alpha1",
        "PostgreSQLInstance",
        true,
    ));
    let kubeconfig = repo.dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, double.kubeconfig("cp")).unwrap();
    (double, kubeconfig)
}

/// The applier creates claim `db-NN` of each request, stamped with its id.
fn claims_appear(double: &KubeDouble, ids: &[String]) {
    for (i, id) in ids.iter().enumerate() {
        double
            .apply(json!({
                "apiVersion": CLAIM_API, "kind": "PostgreSQLInstance",
                "metadata": {"name": format!("db-{i:02}"), "namespace": "team-a",
                    "labels": {"slipway.dev/team": "team-a", "slipway.dev/environment": "dev"},
                    "annotations": {"slipway.dev/request-id": id}},
                "spec": {"parameters": {"storageGB": 20}},
            }))
            .unwrap();
    }
}

/// Claims `db-00` … turn Synced and Ready.
fn claims_turn_ready(double: &KubeDouble, count: usize) {
    let ready = json!({"conditions": [
        {"type": "Synced", "status": "True", "reason": "ReconcileSuccess", "lastTransitionTime": "2026-11-30T10:00:00Z"},
        {"type": "Ready", "status": "True", "reason": "Available", "lastTransitionTime": "2026-11-30T10:00:00Z"}]});
    for i in 0..count {
        double
            .patch_status(
                CLAIM_API,
                "PostgreSQLInstance",
                "team-a",
                &format!("db-{i:02}"),
                ready.clone(),
            )
            .unwrap();
    }
}

/// Every request's ledger ends `ready`, starts with `first`, and (two seconds later, when a
/// second recorder's copy would have come) holds no event twice in a row.
async fn each_ready_with_no_event_twice(
    app: &TestApp,
    cookie: &str,
    ids: &[String],
    first: &[&str],
) {
    for id in ids {
        eventually(&format!("request {id} ready"), async || {
            let (_, detail) = request(app, cookie, id).await;
            (event_kinds(&detail).last().map(String::as_str) == Some("ready")).then_some(())
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for id in ids {
        let (_, detail) = request(app, cookie, id).await;
        let kinds = event_kinds(&detail);
        let mut unique = kinds.clone();
        unique.dedup();
        assert_eq!(unique, kinds, "request {id}: no event twice");
        assert!(
            kinds.starts_with(&first.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>()),
            "request {id}: {kinds:?}"
        );
    }
}

#[tokio::test]
async fn two_replicas_on_one_database_survive_the_kill_of_either_lease_holder() {
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let (double, kubeconfig) = cluster(&repo).await;
    // Every push is held a moment by the remote, so a drain takes several pushes and time.
    let pushes = repo.dir.path().join("pushes");
    repo.hook(
        "pre-receive",
        &format!(
            "#!/bin/sh\ncat > /dev/null\necho $$ >> '{}'\nsleep 1\n",
            pushes.display()
        ),
    );
    let url = format!("file://{}", repo.bare.display());
    let args = [
        "--dev-login",
        "--git-url",
        &url,
        "--lease-ttl-secs",
        "2",
        "--git-retry-max-secs",
        "1",
        "--clusters",
        "cp=cp",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--kube-rediscover-secs",
        "1",
    ];
    let dir = repo.dir.path();
    let database = &app.test_db.url;
    let mut replicas: HashMap<&str, Replica> = HashMap::new();
    for name in ["replica-a", "replica-b"] {
        replicas.insert(name, Replica::start(dir, name, database, &args).await);
    }

    // Twenty requests, through both replicas.
    let mut ids = Vec::new();
    for (i, name) in ["replica-a", "replica-b"]
        .iter()
        .cycle()
        .take(20)
        .enumerate()
    {
        let browser = Browser::sign_in(&replicas[name], "alice").await;
        ids.push(browser.submit(&format!("db-{i:02}")).await);
    }

    // The writer's holder is killed while a push is held, mid-drain.
    let writer_lease = format!("git-writer:{url}#main");
    eventually("a first push", async || {
        std::fs::read_to_string(&pushes)
            .ok()
            .filter(|t| !t.is_empty())
    })
    .await;
    let writing = holder(&app, &writer_lease)
        .await
        .expect("a writer holds the lease");
    let killed = if writing.starts_with("replica-a") {
        "replica-a"
    } else {
        "replica-b"
    };
    let survivor = if killed == "replica-a" {
        "replica-b"
    } else {
        "replica-a"
    };
    replicas.get_mut(killed).unwrap().kill();
    assert!(
        app.count("git_jobs WHERE status = 'pending'").await > 0,
        "the writer was killed mid-drain"
    );
    for pid in std::fs::read_to_string(&pushes).unwrap().lines() {
        kill_pid(pid);
    }
    let killed_at = Instant::now();
    eventually("the other replica takes the writer's lease", async || {
        holder(&app, &writer_lease)
            .await
            .filter(|h| h.starts_with(survivor))
    })
    .await;
    eprintln!("writer lease taken over after {:?}", killed_at.elapsed());
    eventually("every job written", async || {
        (app.count("git_jobs WHERE status = 'pending'").await == 0).then_some(())
    })
    .await;
    let history = repo.history();
    for id in &ids {
        let commits = history
            .iter()
            .filter(|c| c.trailer("Slipway-Request-Id") == Some(id.as_str()))
            .count();
        assert_eq!(commits, 1, "request {id}: exactly one commit");
        let (_, detail) = request(&app, &alice, id).await;
        assert_eq!(
            event_kinds(&detail),
            ["submitted", "committed"],
            "request {id}"
        );
    }

    // A replacement replica joins; the claims appear and change while the recorder's holder
    // is killed.
    let replacement = if killed == "replica-a" {
        "replica-c"
    } else {
        "replica-d"
    };
    replicas.insert(
        replacement,
        Replica::start(dir, replacement, database, &args).await,
    );
    // A browser on the replacement, which holds no writer's lease, sees a request it submits
    // committed by the survivor's writer without a reload: the replicas relay their ledger
    // events to each other's browsers.
    // The writing replica's own browsers get it once: the relay skips what it announced.
    let bystander = Browser::sign_in(&replicas[replacement], "alice").await;
    let mut stream = bystander.stream(None).await;
    let mut at_writer = Browser::sign_in(&replicas[survivor], "alice")
        .await
        .stream(None)
        .await;
    let relayed = bystander.submit("db-relayed").await;
    let committed = |event: &str, data: &str| {
        event == "ledger" && data.contains(&relayed) && data.contains("committed")
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let (_, event, data) = stream.next().await;
            if committed(&event, &data) {
                break;
            }
        }
    })
    .await
    .expect("the commit relayed to the other replica's browser");
    let mut seen_at_writer = 0;
    // Three relay rounds after the commit: a second copy would have come by then.
    let until = Instant::now() + Duration::from_secs(3);
    while let Some((_, event, data)) = at_writer
        .next_within(until.saturating_duration_since(Instant::now()))
        .await
    {
        seen_at_writer += usize::from(committed(&event, &data));
    }
    assert_eq!(
        seen_at_writer, 1,
        "the writer's replica announced the commit once"
    );
    assert!(
        holder(&app, &writer_lease)
            .await
            .is_some_and(|h| h.starts_with(survivor)),
        "committed by the other replica"
    );

    let recording = eventually("a recorder holds its lease", async || {
        holder(&app, "status-ledger").await
    })
    .await;
    let recorder = replicas
        .keys()
        .copied()
        .filter(|name| *name != killed)
        .find(|name| recording.starts_with(name))
        .expect("the holder is a running replica");
    let other = replicas
        .keys()
        .copied()
        .find(|name| *name != killed && *name != recorder)
        .unwrap();
    // A browser follows the status on the recorder's replica.
    let watcher = Browser::sign_in(&replicas[recorder], "alice").await;
    claims_appear(&double, &ids);
    let (seen, _) = watcher.first_event(None).await;
    let seen = seen.expect("a numbered event");
    replicas.get_mut(recorder).unwrap().kill();
    claims_turn_ready(&double, ids.len());
    each_ready_with_no_event_twice(&app, &alice, &ids, &["submitted", "committed", "synced"]).await;

    // The browser reconnects to the surviving replica with the dead one's last event id:
    // that replica cannot replay another's history, and says so.
    let reconnected = Browser::sign_in(&replicas[other], "alice").await;
    let (_, event) = reconnected.first_event(Some(&seen)).await;
    assert_eq!(event, "reset");
}

/// The timings the `ha` overlay of `deploy/kubernetes` gives the portal, as rendered by
/// `kubectl kustomize`: the lease lifetime and the shutdown delay and grace, as flags.
fn ha_timings() -> Vec<String> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/kubernetes/overlays/ha"
    );
    let output = std::process::Command::new("kubectl")
        .args(["kustomize", dir])
        .output()
        .expect("kubectl renders the ha overlay");
    assert!(output.status.success(), "kubectl kustomize {dir}");
    let objects: Vec<Value> =
        serde_saphyr::from_multiple(&String::from_utf8(output.stdout).unwrap()).unwrap();
    let mut settings: HashMap<String, String> = HashMap::new();
    for object in &objects {
        if object["kind"] == "ConfigMap" {
            for (k, v) in object["data"].as_object().unwrap() {
                settings.insert(k.clone(), v.as_str().unwrap().to_owned());
            }
        }
        if object["kind"] == "Deployment" {
            for entry in object["spec"]["template"]["spec"]["containers"][0]["env"]
                .as_array()
                .unwrap()
            {
                if let Some(value) = entry["value"].as_str() {
                    settings.insert(entry["name"].as_str().unwrap().to_owned(), value.to_owned());
                }
            }
        }
    }
    [
        ("SLIPWAY_LEASE_TTL_SECS", "--lease-ttl-secs"),
        ("SLIPWAY_SHUTDOWN_DELAY_SECS", "--shutdown-delay-secs"),
        ("SLIPWAY_SHUTDOWN_GRACE_SECS", "--shutdown-grace-secs"),
    ]
    .into_iter()
    .flat_map(|(variable, flag)| {
        let value = settings
            .get(variable)
            .unwrap_or_else(|| panic!("the ha overlay sets {variable}"));
        [flag.to_owned(), value.clone()]
    })
    .collect()
}

/// SIGTERM — how Kubernetes stops a pod — to the replica holding both leases, with the `ha`
/// overlay's timings (a 30 s lease, a 5 s shutdown delay): `/readyz` answers 503 at once while
/// the replica still serves; the other replica holds the Git writer's and the recorder's
/// leases before the old ones could have expired (they were released, not waited out); the
/// push in hand completes, the stopping replica exits 0, every request is committed once and
/// no ledger event is recorded twice.
#[tokio::test]
async fn sigterm_to_the_lease_holder_hands_the_writer_and_the_recorder_over_at_once() {
    let repo = Repo::new();
    let app = repo.app().await;
    let alice = app.login_as("alice").await;
    let (double, kubeconfig) = cluster(&repo).await;
    let pushes = repo.dir.path().join("pushes");
    repo.hook(
        "pre-receive",
        &format!(
            "#!/bin/sh\ncat > /dev/null\necho $$ >> '{}'\nsleep 1\n",
            pushes.display()
        ),
    );
    let url = format!("file://{}", repo.bare.display());
    let timings = ha_timings();
    let mut args = vec![
        "--dev-login",
        "--git-url",
        &url,
        "--clusters",
        "cp=cp",
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--kube-rediscover-secs",
        "1",
    ];
    args.extend(timings.iter().map(String::as_str));
    let dir = repo.dir.path();
    let database = &app.test_db.url;
    let writer_lease = format!("git-writer:{url}#main");
    let mut first = Replica::start(dir, "replica-a", database, &args).await;
    for lease in [writer_lease.as_str(), "status-ledger"] {
        eventually(&format!("replica-a holds {lease}"), async || {
            holder(&app, lease)
                .await
                .filter(|h| h.starts_with("replica-a"))
        })
        .await;
    }
    let second = Replica::start(dir, "replica-b", database, &args).await;

    let mut ids = Vec::new();
    for (i, replica) in [&first, &second].iter().cycle().take(8).enumerate() {
        let browser = Browser::sign_in(replica, "alice").await;
        ids.push(browser.submit(&format!("db-{i:02}")).await);
    }
    // Mid-drain: a push is held by the remote.
    eventually("a first push", async || {
        std::fs::read_to_string(&pushes)
            .ok()
            .filter(|t| !t.is_empty())
    })
    .await;
    let expiry = async |lease: &str| -> i64 {
        sqlx::query_as::<_, (i64,)>("SELECT expires_at FROM leases WHERE name = $1")
            .bind(lease)
            .fetch_one(app.db().pool())
            .await
            .unwrap()
            .0
    };
    let writer_expiry = expiry(&writer_lease).await;
    let recorder_expiry = expiry("status-ledger").await;

    // A browser following the status on the replica about to stop.
    let mut open_stream = Browser::sign_in(&first, "alice").await.stream(None).await;

    let signalled = Instant::now();
    first.terminate();
    let client = reqwest::Client::new();
    eventually("replica-a not ready while it stops", async || {
        let ready = client
            .get(format!("{}/readyz", first.origin))
            .send()
            .await
            .ok()?;
        (ready.status() == 503).then_some(())
    })
    .await;
    let alive = client
        .get(format!("{}/healthz", first.origin))
        .send()
        .await
        .expect("still accepting connections during the shutdown delay");
    assert_eq!(alive.status(), 200);
    // Its stream ends at once, not at the end of the grace period: the browser reconnects
    // to a replica that serves.
    assert!(
        open_stream.ends_within(Duration::from_secs(3)).await,
        "the stopping replica ends its status streams"
    );

    for (lease, old_expiry) in [
        (writer_lease.as_str(), writer_expiry),
        ("status-ledger", recorder_expiry),
    ] {
        eventually(&format!("replica-b takes {lease}"), async || {
            holder(&app, lease)
                .await
                .filter(|h| h.starts_with("replica-b"))
        })
        .await;
        eprintln!(
            "{lease} handed over {:?} after SIGTERM",
            signalled.elapsed()
        );
        assert!(
            slipway::db::now_ms() < old_expiry,
            "{lease} taken over before the old lease expired: it was released"
        );
    }
    let status = first
        .exited(Duration::from_secs(30))
        .await
        .expect("replica-a exits after its SIGTERM");
    assert!(
        status.success(),
        "an orderly exit: {status}\n{}",
        first.log()
    );
    let log = first.log();
    assert!(log.contains("git writer lease released"), "{log}");
    assert!(log.contains("status recorder lease released"), "{log}");

    eventually("every job written", async || {
        (app.count("git_jobs WHERE status = 'pending'").await == 0).then_some(())
    })
    .await;
    let history = repo.history();
    for id in &ids {
        let commits = history
            .iter()
            .filter(|c| c.trailer("Slipway-Request-Id") == Some(id.as_str()))
            .count();
        assert_eq!(commits, 1, "request {id}: exactly one commit");
    }
    // The claims turn Ready: replica-b records it, once per request.
    claims_appear(&double, &ids);
    claims_turn_ready(&double, ids.len());
    each_ready_with_no_event_twice(&app, &alice, &ids, &["submitted", "committed"]).await;
}

/// Four replicas started at the same moment on an empty database: every one becomes ready
/// and each migration is applied once (PostgreSQL: sqlx's advisory lock; SQLite: a lock file
/// beside the database).
#[tokio::test]
async fn replicas_starting_at_once_on_an_empty_database_apply_the_migrations_once() {
    let repo = Repo::new();
    let empty = common::TestDb::unmigrated().await;
    let url = format!("file://{}", repo.bare.display());
    let args = ["--git-url", url.as_str()];
    let dir = repo.dir.path();
    let replicas = futures_util::future::join_all(
        ["m-1", "m-2", "m-3", "m-4"].map(|name| Replica::start(dir, name, &empty.url, &args)),
    )
    .await;
    assert_eq!(replicas.len(), 4);
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(empty.db.pool())
        .await
        .unwrap();
    let known = i64::try_from(empty.db.migrations_known()).unwrap();
    assert_eq!(rows, known, "one row per migration");
    assert_eq!(
        empty.db.migrations_applied().await.unwrap(),
        known,
        "every one applied"
    );
}

//! kube-rs's real client and watcher against the double: the protocol parts Slipway's
//! watchers rely on. If one of these fails, the double is lying about Kubernetes.

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Client, Config};
use kube_double::KubeDouble;
use serde_json::{Value, json};

const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.org
spec:
  group: example.org
  scope: Namespaced
  names: {kind: Widget, plural: widgets, singular: widget, shortNames: [wd], categories: [all]}
  versions:
  - name: v1alpha1
    served: true
    storage: false
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"#;

async fn client(double: &KubeDouble) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(&double.kubeconfig("double")).expect("kubeconfig");
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

fn widgets(client: &Client, namespace: Option<&str>) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.org", "v1", "Widget"),
        "widgets",
    );
    match namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

fn widget(name: &str, size: i64) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "example.org/v1",
        "kind": "Widget",
        "metadata": {"name": name, "labels": {"tier": if size > 2 { "big" } else { "small" }}},
        "spec": {"size": size},
    }))
    .expect("widget")
}

async fn started() -> (KubeDouble, Client) {
    let double = KubeDouble::start().await.expect("double");
    double.seed_yaml(WIDGET_CRD).expect("CRD");
    let client = client(&double).await;
    (double, client)
}

type Events = tokio::sync::mpsc::UnboundedReceiver<Result<Event<DynamicObject>, watcher::Error>>;

/// Polls a watcher stream in the background (watchers are lazy: nothing is requested unless
/// the stream is polled) and hands its items over.
fn spawn_watch<S>(mut stream: S) -> Events
where
    S: futures_util::Stream<Item = Result<Event<DynamicObject>, watcher::Error>>
        + Unpin
        + Send
        + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(item) = stream.next().await {
            if tx.send(item).is_err() {
                return;
            }
        }
    });
    rx
}

/// The next watcher event that is not an Init marker, within 5 s.
async fn next_change(events: &mut Events) -> Event<DynamicObject> {
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match events.recv().await.expect("stream ended") {
                Ok(Event::Init | Event::InitDone) | Err(_) => continue,
                Ok(event) => return event,
            }
        }
    })
    .await
    .expect("no watch event within 5 s")
}

fn name_of(event: &Event<DynamicObject>) -> (&'static str, String) {
    match event {
        Event::Apply(o) => ("apply", o.metadata.name.clone().unwrap_or_default()),
        Event::InitApply(o) => ("init", o.metadata.name.clone().unwrap_or_default()),
        Event::Delete(o) => ("delete", o.metadata.name.clone().unwrap_or_default()),
        Event::Init | Event::InitDone => ("marker", String::new()),
    }
}

#[tokio::test]
async fn a_created_crd_is_discoverable_with_its_preferred_version() {
    let (_double, client) = started().await;
    let groups = client.list_api_groups().await.expect("groups");
    let group = groups
        .groups
        .iter()
        .find(|g| g.name == "example.org")
        .expect("group listed");
    assert_eq!(
        group.preferred_version.as_ref().map(|v| v.version.as_str()),
        Some("v1"),
        "GA outranks alpha"
    );
    let resources = client
        .list_api_group_resources("example.org/v1")
        .await
        .expect("resources");
    let names: Vec<&str> = resources
        .resources
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["widgets", "widgets/status"]);
    assert!(resources.resources[0].namespaced);
    assert_eq!(
        resources.resources[0].short_names.as_deref(),
        Some(&["wd".to_owned()][..])
    );
}

#[tokio::test]
async fn an_uninstalled_group_is_404_not_an_empty_list() {
    let (_double, client) = started().await;
    let error = client
        .list_api_group_resources("apiextensions.crossplane.io/v1")
        .await
        .expect_err("not installed");
    assert!(
        matches!(&error, kube::Error::Api(status) if status.code == 404),
        "{error:?}"
    );
}

#[tokio::test]
async fn create_get_conflict_and_served_at_every_version() {
    let (double, client) = started().await;
    let api = widgets(&client, Some("team-a"));
    let created = api
        .create(&PostParams::default(), &widget("one", 1))
        .await
        .expect("create");
    assert_eq!(created.metadata.namespace.as_deref(), Some("team-a"));
    assert_eq!(created.metadata.generation, Some(1));
    let again = api.create(&PostParams::default(), &widget("one", 1)).await;
    assert!(
        matches!(again, Err(kube::Error::Api(s)) if s.code == 409 && s.reason == "AlreadyExists")
    );

    let mut stale = created.clone();
    api.patch(
        "one",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"size": 2}})),
    )
    .await
    .expect("patch");
    stale.data["spec"]["size"] = json!(3);
    let conflict = api.replace("one", &PostParams::default(), &stale).await;
    assert!(
        matches!(&conflict, Err(kube::Error::Api(s)) if s.code == 409 && s.reason == "Conflict"),
        "a stale resourceVersion is refused: {conflict:?}"
    );
    let now = api.get("one").await.expect("get");
    assert_eq!(now.data["spec"]["size"], 2);
    assert_eq!(
        now.metadata.generation,
        Some(2),
        "a spec change bumps generation"
    );

    let alpha = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.org", "v1alpha1", "Widget"),
        "widgets",
    );
    let old: Api<DynamicObject> = Api::namespaced_with(client.clone(), "team-a", &alpha);
    let seen = old.get("one").await.expect("get at v1alpha1");
    assert_eq!(
        seen.types.map(|t| t.api_version).as_deref(),
        Some("example.org/v1alpha1")
    );
    assert!(
        double
            .get("example.org/v1", "Widget", "team-a", "one")
            .is_some()
    );
}

#[tokio::test]
async fn status_is_a_subresource() {
    let (_double, client) = started().await;
    let api = widgets(&client, Some("team-a"));
    api.create(&PostParams::default(), &widget("one", 1))
        .await
        .expect("create");
    let ignored = api
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}})),
        )
        .await
        .expect("patch");
    assert!(
        ignored.data.get("status").is_none(),
        "status ignored on the main resource"
    );
    let patched = api
        .patch_status(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}, "spec": {"size": 9}})),
        )
        .await
        .expect("patch status");
    assert_eq!(patched.data["status"]["ready"], true);
    assert_eq!(patched.data["spec"]["size"], 1, "spec ignored on /status");
}

#[tokio::test]
async fn paged_lists_continue_consistently_and_expire() {
    let (double, client) = started().await;
    let api = widgets(&client, Some("team-a"));
    for i in 0..5 {
        api.create(&PostParams::default(), &widget(&format!("w{i}"), i))
            .await
            .expect("create");
    }
    let first = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("page 1");
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let token = first.metadata.continue_.clone().expect("continue token");
    // A change after the first page does not show up in the rest of this list.
    api.create(&PostParams::default(), &widget("w9", 9))
        .await
        .expect("create");
    let second = api
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .expect("page 2");
    let names: Vec<String> = second
        .items
        .iter()
        .filter_map(|o| o.metadata.name.clone())
        .collect();
    assert_eq!(names, ["w2", "w3", "w4"]);
    assert_eq!(
        second.metadata.resource_version,
        first.metadata.resource_version
    );

    let first = api
        .list(&ListParams::default().limit(2))
        .await
        .expect("page 1");
    double.compact();
    let expired = api
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(first.metadata.continue_.as_deref().unwrap_or_default()),
        )
        .await;
    assert!(
        matches!(expired, Err(kube::Error::Api(s)) if s.code == 410),
        "410 after compaction"
    );

    let small = api
        .list(&ListParams::default().labels("tier=small"))
        .await
        .expect("selector");
    assert_eq!(small.items.len(), 3);
    let set_based = api
        .list(&ListParams::default().labels("tier in (small)"))
        .await;
    assert!(
        matches!(set_based, Err(kube::Error::Api(s)) if s.code == 400),
        "unsupported selectors are refused, not ignored"
    );
}

#[tokio::test]
async fn the_watcher_sees_adds_changes_and_deletes_in_order() {
    let (double, client) = started().await;
    let api = widgets(&client, None);
    let team = widgets(&client, Some("team-a"));
    team.create(&PostParams::default(), &widget("before", 1))
        .await
        .expect("create");
    let mut stream = spawn_watch(watcher::watcher(api, watcher::Config::default()).boxed());
    let first = next_change(&mut stream).await;
    assert_eq!(name_of(&first), ("init", "before".into()));
    team.create(&PostParams::default(), &widget("after", 1))
        .await
        .expect("create");
    assert_eq!(
        name_of(&next_change(&mut stream).await),
        ("apply", "after".into())
    );
    double
        .patch_status(
            "example.org/v1",
            "Widget",
            "team-a",
            "after",
            json!({"phase": "Ready"}),
        )
        .expect("status");
    match next_change(&mut stream).await {
        Event::Apply(o) => assert_eq!(o.data["status"]["phase"], "Ready"),
        other => panic!("expected the status change, got {:?}", name_of(&other)),
    }
    team.delete("before", &Default::default())
        .await
        .expect("delete");
    assert_eq!(
        name_of(&next_change(&mut stream).await),
        ("delete", "before".into())
    );
    let asked: Vec<String> = double
        .requests()
        .into_iter()
        .filter(|r| r.contains("watch=true"))
        .collect();
    assert!(
        asked
            .iter()
            .any(|r| r.contains("allowWatchBookmarks=true") && r.contains("resourceVersion=")),
        "kube-rs resumes from the list's resourceVersion: {asked:?}"
    );
}

#[tokio::test]
async fn after_410_the_watcher_relists_and_misses_nothing() {
    let (double, client) = started().await;
    let team = widgets(&client, Some("team-a"));
    team.create(&PostParams::default(), &widget("one", 1))
        .await
        .expect("create");
    let mut stream =
        spawn_watch(watcher::watcher(widgets(&client, None), watcher::Config::default()).boxed());
    assert_eq!(
        name_of(&next_change(&mut stream).await),
        ("init", "one".into())
    );
    tokio::time::timeout(Duration::from_secs(5), async {
        while double.open_watches() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("watch open");
    double.expire_watches();
    // Changed while the watcher is re-listing: the re-list must show it.
    double
        .patch_status(
            "example.org/v1",
            "Widget",
            "team-a",
            "one",
            json!({"phase": "Failed"}),
        )
        .expect("status");
    let mut relisted = None;
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.recv().await.expect("stream") {
                Ok(Event::InitApply(o)) => {
                    relisted = Some(o);
                    break;
                }
                _ => continue,
            }
        }
    })
    .await
    .expect("re-list within 10 s");
    assert_eq!(relisted.expect("object").data["status"]["phase"], "Failed");
    let lists = double
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET /apis/example.org/v1/widgets?") && !r.contains("watch=true"))
        .count();
    assert_eq!(lists, 2, "one list at start, one after 410");
}

#[tokio::test]
async fn a_dropped_watch_resumes_from_its_resource_version() {
    let (double, client) = started().await;
    let team = widgets(&client, Some("team-a"));
    team.create(&PostParams::default(), &widget("one", 1))
        .await
        .expect("create");
    let config = watcher::Config::default();
    let mut stream = spawn_watch(
        watcher::watcher(widgets(&client, None), config)
            .default_backoff()
            .boxed(),
    );
    assert_eq!(
        name_of(&next_change(&mut stream).await),
        ("init", "one".into())
    );
    tokio::time::timeout(Duration::from_secs(5), async {
        while double.open_watches() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("watch open");
    double.drop_watches();
    team.create(&PostParams::default(), &widget("two", 2))
        .await
        .expect("create");
    assert_eq!(
        name_of(&next_change(&mut stream).await),
        ("apply", "two".into())
    );
    let lists = double
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET /apis/example.org/v1/widgets?") && !r.contains("watch=true"))
        .count();
    assert_eq!(
        lists, 1,
        "a cut connection resumes the watch without a re-list"
    );
}

#[tokio::test]
async fn raw_watch_streams_bookmarks_and_initial_events() {
    let (double, client) = started().await;
    double.set_bookmark_interval(Duration::from_millis(50));
    let team = widgets(&client, Some("team-a"));
    team.create(&PostParams::default(), &widget("one", 1))
        .await
        .expect("create");
    let api = widgets(&client, None);
    let params = WatchParams::default().initial_events();
    let mut events = api.watch(&params, "0").await.expect("watch").boxed();
    let mut kinds = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        while kinds.len() < 3 {
            match events.try_next().await.expect("event").expect("open") {
                WatchEvent::Added(o) => {
                    kinds.push(format!("added {}", o.metadata.name.unwrap_or_default()))
                }
                WatchEvent::Bookmark(b) => {
                    let end = b
                        .metadata
                        .annotations
                        .contains_key("k8s.io/initial-events-end");
                    kinds.push(if end {
                        "initial-events-end".into()
                    } else {
                        "bookmark".into()
                    });
                }
                other => kinds.push(format!("{other:?}")),
            }
        }
    })
    .await
    .expect("three events within 5 s");
    assert_eq!(kinds, ["added one", "initial-events-end", "bookmark"]);
}

#[tokio::test]
async fn requests_without_the_token_or_while_unreachable_fail_clearly() {
    let (double, client) = started().await;
    let anonymous = reqwest_free_get(&double.url()).await;
    assert_eq!(anonymous, 401);
    double.set_reachable(false);
    let error = tokio::time::timeout(
        Duration::from_secs(5),
        widgets(&client, None).list(&ListParams::default()),
    )
    .await
    .expect("fails at once, not after retries")
    .expect_err("unreachable");
    assert!(
        !matches!(&error, kube::Error::Api(_)),
        "a connection error, not an API answer: {error:?}"
    );
    double.set_reachable(true);
    widgets(&client, None)
        .list(&ListParams::default())
        .await
        .expect("back");
}

/// A GET without credentials over a plain TCP connection (no HTTP client dependency).
async fn reqwest_free_get(url: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            format!("GET /apis HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn deleting_a_crd_removes_its_kind_and_objects() {
    let (double, client) = started().await;
    widgets(&client, Some("team-a"))
        .create(&PostParams::default(), &widget("one", 1))
        .await
        .expect("create");
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd = crds.get("widgets.example.org").await.expect("crd");
    let established = crd.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Established" && c["status"] == "True");
    assert!(established);
    crds.delete("widgets.example.org", &Default::default())
        .await
        .expect("delete");
    let gone = widgets(&client, None).list(&ListParams::default()).await;
    assert!(matches!(gone, Err(kube::Error::Api(s)) if s.code == 404));
    assert!(
        double
            .get("example.org/v1", "Widget", "team-a", "one")
            .is_none()
    );
    let _: Value = json!(null);
}

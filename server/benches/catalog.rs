//! Catalog paging with thousands of offerings: how long one page query takes on the server
//! (the in-memory index every catalog page reads), and what the offerings cost in memory.
//!
//! Run: `cargo bench -p server --bench catalog` (release profile; prints a table). Offerings
//! are generated XRDs with a realistic schema (a dozen fields, nested objects, enums), tags
//! from a pool of 40, titles from a word list, a fifth restricted to one team.

use std::time::Instant;

use app::catalog::CatalogFilter;
use serde_json::{Value, json};
use slipway::catalog::{Catalog, Feed, xrd};

const WORDS: [&str; 16] = [
    "postgres",
    "redis",
    "bucket",
    "queue",
    "cluster",
    "cache",
    "search",
    "vault",
    "kafka",
    "mysql",
    "dns",
    "certificate",
    "network",
    "registry",
    "gateway",
    "function",
];

fn synthetic(i: usize) -> Value {
    let word = WORDS[i % WORDS.len()];
    let tags: Vec<String> = (0..3)
        .map(|k| format!("tag{}", (i * 7 + k * 13) % 40))
        .collect();
    let mut annotations = json!({"slipway.dev/title": format!("{word} {i:05}")});
    if i.is_multiple_of(5) {
        annotations["slipway.dev/teams"] = json!("team-a");
    }
    json!({
        "apiVersion": "apiextensions.crossplane.io/v2",
        "kind": "CompositeResourceDefinition",
        "metadata": {"name": format!("x{word}{i}.bench.example.org"), "annotations": annotations},
        "spec": {
            "group": "bench.example.org",
            "scope": "Namespaced",
            "names": {"kind": format!("X{word}{i}"), "plural": format!("x{word}{i}s"), "categories": tags},
            "versions": [{
                "name": "v1alpha1", "served": true, "referenceable": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {
                    "type": "object",
                    "description": format!("A {word} for benchmarks, number {i}."),
                    "required": ["size"],
                    "properties": {
                        "size": {"type": "string", "enum": ["small", "medium", "large"]},
                        "storageGB": {"type": "integer", "minimum": 10, "maximum": 1000, "default": 20},
                        "version": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"},
                        "highAvailability": {"type": "boolean"},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                        "network": {"type": "object", "properties": {
                            "vpc": {"type": "string"}, "subnets": {"type": "array", "items": {"type": "string"}},
                            "public": {"type": "boolean", "default": false}
                        }},
                        "backup": {"type": "object", "properties": {
                            "window": {"type": "string"}, "retentionDays": {"type": "integer", "minimum": 1}
                        }},
                        "users": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
                            "name": {"type": "string", "maxLength": 63}, "admin": {"type": "boolean"}
                        }}}
                    }
                }}}}
            }]
        }
    })
}

// Counts heap bytes, so the table shows what the offerings keep, not what building them
// touched on the way (RSS would include freed memory the allocator keeps).
#[global_allocator]
static HEAP: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

fn heap_kept(region: &stats_alloc::Region<'_, std::alloc::System>) -> f64 {
    let change = region.change();
    (change.bytes_allocated as f64 - change.bytes_deallocated as f64
        + change.bytes_reallocated as f64)
        / 1_048_576.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[allow(clippy::print_stdout)]
fn main() {
    let environments = vec!["dev".to_owned(), "staging".to_owned(), "prod".to_owned()];
    println!(
        "| offerings | build (ms) | heap kept (MiB) | query | median (µs) | p99 (µs) | matches |"
    );
    println!("|---:|---:|---:|---|---:|---:|---:|");
    for n in [1_000usize, 5_000, 20_000] {
        let region = stats_alloc::Region::new(HEAP);
        let started = Instant::now();
        let offerings: Vec<_> = (0..n)
            .map(|i| xrd::from_object(&synthetic(i), &environments).expect("offering"))
            .collect();
        let catalog = Catalog::new();
        catalog.replace(Feed::Cluster, offerings, Vec::new());
        let build_ms = started.elapsed().as_secs_f64() * 1000.0;
        let added_mib = heap_kept(&region);
        let snapshot = catalog.snapshot();
        let queries: [(&str, CatalogFilter); 5] = [
            ("first page", CatalogFilter::default()),
            (
                "last page",
                CatalogFilter {
                    page: (n / 24) as u32,
                    ..Default::default()
                },
            ),
            (
                "search one word",
                CatalogFilter {
                    q: "redis".into(),
                    ..Default::default()
                },
            ),
            (
                "word + tag + environment",
                CatalogFilter {
                    q: "postgres".into(),
                    tag: "tag5".into(),
                    environment: "prod".into(),
                    ..Default::default()
                },
            ),
            (
                "no match",
                CatalogFilter {
                    q: "nothing-matches-this".into(),
                    ..Default::default()
                },
            ),
        ];
        let member = |o: &slipway::catalog::Offering| o.allows_team("team-b");
        for (label, filter) in queries {
            let mut times = Vec::with_capacity(300);
            let mut total = 0;
            for _ in 0..300 {
                let t = Instant::now();
                let page = snapshot.search(&filter, &environments, member);
                times.push(t.elapsed().as_secs_f64() * 1e6);
                total = page.total;
                std::hint::black_box(page);
            }
            times.sort_by(f64::total_cmp);
            println!(
                "| {n} | {build_ms:.0} | {added_mib:.1} | {label} | {:.0} | {:.0} | {total} |",
                percentile(&times, 0.5),
                percentile(&times, 0.99)
            );
        }
    }
}

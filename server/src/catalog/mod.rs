//! The catalog: offerings from offering files and from the cluster's XRDs, kept in memory as
//! one sorted index that every page query reads without locking for long.
//!
//! ```text
//!  catalog dir / Git tree ──load──▶ file offerings ─┐
//!                                                   ├─▶ Index (sorted by title, ids unique)
//!  cluster XRDs/Promises ──watch──▶ cluster offerings┘        │
//!                                                   search / get (read lock, Arc clone)
//! ```
//! An offering that fails to load is left out and reported as a problem (admins see the list);
//! it never takes the rest of the catalog down. When two sources use the same id, the file
//! wins and the other is reported.

pub mod cel;
pub mod cel_kubernetes;
pub mod offering;
pub mod promotion;
pub mod render;
pub mod schema;
pub mod secrets;
pub mod source;
pub mod xrd;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use app::catalog::{CatalogFilter, CatalogPage, OfferingSource};

pub use offering::Offering;

/// Offerings per catalog page.
pub const PAGE_SIZE: u32 = 24;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An offering source is malformed.
    #[error("{source_name}: {problem}")]
    Invalid {
        /// File or object name.
        source_name: String,
        /// What is wrong.
        problem: String,
    },
    /// Reading the source failed.
    #[error("reading the catalog: {0}")]
    Io(String),
}

/// This module's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which feed an offering came from (each replaces its own part of the index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Feed {
    /// The catalog directory or Git tree.
    Files,
    /// The cluster's XRDs and Promises.
    Cluster,
}

/// One feed's offerings and load problems.
type FeedContent = (Vec<Offering>, Vec<String>);

/// The catalog: a snapshot index, replaced whole when a feed changes.
#[derive(Default)]
pub struct Catalog {
    feeds: RwLock<HashMap<Feed, FeedContent>>,
    index: RwLock<Arc<Index>>,
}

/// An immutable snapshot of every offering.
#[derive(Default)]
pub struct Index {
    offerings: Vec<Offering>,
    by_id: HashMap<String, usize>,
    problems: Vec<String>,
}

impl Catalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces one feed's offerings (and its load problems) and rebuilds the index.
    pub fn replace(&self, feed: Feed, offerings: Vec<Offering>, problems: Vec<String>) {
        let mut feeds = self.feeds.write().expect("catalog lock");
        feeds.insert(feed, (offerings, problems));
        let mut all: Vec<Offering> = Vec::new();
        let mut problems: Vec<String> = Vec::new();
        let mut seen: HashMap<String, Feed> = HashMap::new();
        for feed in [Feed::Files, Feed::Cluster] {
            let Some((list, feed_problems)) = feeds.get(&feed) else {
                continue;
            };
            problems.extend(feed_problems.iter().cloned());
            for offering in list {
                if let Some(first) = seen.get(&offering.summary.id) {
                    problems.push(format!(
                        "{}: the id is already used by an offering from {:?}; this one is left out",
                        offering.summary.id, first
                    ));
                    continue;
                }
                seen.insert(offering.summary.id.clone(), feed);
                all.push(offering.clone());
            }
        }
        all.sort_by(|a, b| {
            a.summary
                .title
                .to_lowercase()
                .cmp(&b.summary.title.to_lowercase())
                .then_with(|| a.summary.id.cmp(&b.summary.id))
        });
        let by_id = all
            .iter()
            .enumerate()
            .map(|(i, o)| (o.summary.id.clone(), i))
            .collect();
        *self.index.write().expect("catalog lock") = Arc::new(Index {
            offerings: all,
            by_id,
            problems,
        });
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Index> {
        self.index.read().expect("catalog lock").clone()
    }
}

impl Index {
    /// One offering by id.
    pub fn get(&self, id: &str) -> Option<&Offering> {
        self.by_id.get(id).map(|&i| &self.offerings[i])
    }

    /// Every offering, sorted by title.
    pub fn all(&self) -> &[Offering] {
        &self.offerings
    }

    /// Load problems (files that failed, duplicate ids).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// One page of the offerings `visible` lets through that match `filter`.
    pub fn search(
        &self,
        filter: &CatalogFilter,
        environments: &[String],
        visible: impl Fn(&Offering) -> bool,
    ) -> CatalogPage {
        let words: Vec<String> = filter.q.split_whitespace().map(str::to_lowercase).collect();
        let tag = filter.tag.trim().to_lowercase();
        let source = OfferingSource::parse(filter.source.trim());
        let env = filter.environment.trim();
        let page = filter.page.max(1);
        let skip = (page as usize - 1) * PAGE_SIZE as usize;
        let mut total = 0usize;
        let mut items = Vec::new();
        let mut tags: BTreeSet<&str> = BTreeSet::new();
        for offering in self.offerings.iter().filter(|o| visible(o)) {
            let s = &offering.summary;
            tags.extend(s.tags.iter().map(String::as_str));
            let matches = words.iter().all(|w| offering.haystack.contains(w.as_str()))
                && (tag.is_empty() || s.tags.contains(&tag))
                && source.is_none_or(|src| s.source == src)
                && (env.is_empty() || s.environments.iter().any(|e| e == env));
            if !matches {
                continue;
            }
            if total >= skip && items.len() < PAGE_SIZE as usize {
                items.push(s.clone());
            }
            total += 1;
        }
        CatalogPage {
            items,
            total,
            page,
            page_size: PAGE_SIZE,
            tags: tags.into_iter().map(str::to_owned).collect(),
            environments: environments.to_vec(),
            problems: Vec::new(),
        }
    }
}

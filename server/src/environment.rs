//! Environments: each configured environment resolved once, at start-up, into the one object
//! everything else asks — where its claims are committed (the remote's shared clone, branch,
//! path prefix, write mode, the writer that commits there) and where they reconcile (its
//! cluster).
//!
//! ```text
//!  Settings.environments ──build──▶ Environments
//!                                     ├─ clones:  one SharedClone per remote URL (catalog's too)
//!                                     ├─ writers: one Writer per (remote, branch)
//!                                     └─ Environment { name, cluster, clone, branch, prefix,
//!                                                      mode, writer } in display order
//!  asked by: catalog and request services (previews, routes), recorder (ancestry), metrics
//!            (history), webhooks (writers), status watchers (clusters)
//! ```

use std::sync::Arc;
use std::time::Duration;

use app::requests::WriteMode;

use crate::config::Settings;
use crate::db::Db;
use crate::git::clone::SharedClone;
use crate::git::forge;
use crate::git::pulls::Pulls;
use crate::git::writer::{Writer, WriterParts};
use crate::ledger::Ledger;
use crate::metrics::prom::Telemetry;

/// One environment.
pub struct Environment {
    /// Its name.
    pub name: String,
    /// Its place in the display order.
    pub order: usize,
    /// The cluster its claims reconcile in, when one is configured.
    pub cluster: Option<String>,
    /// The shared clone of its repository.
    pub clone: Arc<SharedClone>,
    /// The branch its claims are committed to.
    pub branch: String,
    /// The folder its files go under (`""`: the repository's root).
    pub prefix: String,
    /// Direct commits or pull requests.
    pub mode: WriteMode,
    /// The writer committing to its branch.
    pub writer: Arc<Writer>,
    /// The environment its claims are promoted from (its stage's predecessor), if any.
    pub promote_from: Option<String>,
    /// What a promotion into it must show of the source first.
    pub gates: crate::config::Gates,
}

impl Environment {
    /// The key its jobs are filed under (its writer's).
    pub fn repository(&self) -> &str {
        self.writer.key()
    }

    /// Where a path the layout produced goes in this environment's repository.
    pub fn place(&self, path: &str) -> String {
        if self.prefix.is_empty() {
            path.to_owned()
        } else {
            format!("{}/{path}", self.prefix)
        }
    }

    /// The cluster its claims reconcile in, for names that are one per cluster: the
    /// configured cluster (several environments may share one), else the environment itself.
    pub fn cluster_key(&self) -> &str {
        self.cluster.as_deref().unwrap_or(&self.name)
    }

    /// The folder a team's files of this environment go under: `<env>/<team>` as the
    /// default layout has it, below the prefix. Every offering's path must render inside it.
    pub fn team_folder(&self, team: &str) -> String {
        self.place(&format!("{}/{team}", self.name))
    }

    /// The GitOps folder it lives in: its path prefix, or else the folder named after it
    /// (the default layout).
    pub fn folder(&self) -> &str {
        if self.prefix.is_empty() {
            &self.name
        } else {
            &self.prefix
        }
    }
}

/// Every environment, with the clones and writers they share.
pub struct Environments {
    list: Vec<Arc<Environment>>,
    clones: Vec<Arc<SharedClone>>,
    writers: Vec<Arc<Writer>>,
    catalog: Arc<SharedClone>,
    refresh: Duration,
}

/// What building needs besides the settings.
pub struct Wiring {
    /// The database.
    pub db: Db,
    /// Names this process in the writers' leases.
    pub holder: String,
    /// Where ledger appends are announced.
    pub ledger: Ledger,
    /// Prometheus.
    pub telemetry: Arc<Telemetry>,
}

impl Environments {
    /// Resolves the configured environments: one shared clone per remote, one writer per
    /// remote and branch (with the pull-request forge when one is configured).
    pub fn build(settings: &Settings, wiring: &Wiring) -> Self {
        let git = &settings.git;
        let mut clones: Vec<Arc<SharedClone>> = Vec::new();
        let mut clone_of = |remote: &crate::config::Remote| {
            let url = remote.display_url();
            if let Some(found) = clones.iter().find(|c| c.display_url() == url) {
                return found.clone();
            }
            let clone = Arc::new(SharedClone::new(
                remote.clone(),
                &git.clone_dir,
                git.deadlines,
            ));
            clones.push(clone.clone());
            clone
        };
        let catalog = clone_of(&settings.catalog.remote);
        let mut writers: Vec<Arc<Writer>> = Vec::new();
        let mut list = Vec::new();
        for (order, environment) in settings.environments.iter().enumerate() {
            let clone = clone_of(&environment.remote);
            let existing = writers
                .iter()
                .find(|w| {
                    w.clone_of().display_url() == clone.display_url()
                        && w.branch() == environment.branch
                })
                .cloned();
            let writer = existing.unwrap_or_else(|| {
                let sharing = || {
                    settings.environments.iter().filter(|e| {
                        e.remote.display_url() == clone.display_url()
                            && e.branch == environment.branch
                    })
                };
                let pulls = settings.forge.as_ref().map(|forge| {
                    let mut forge = forge.clone();
                    if let Some(project) = sharing().find_map(|e| e.forge_project.clone()) {
                        forge.project = project;
                    }
                    Pulls {
                        poll: forge.poll,
                        forge: forge::client(forge, git.deadlines),
                        public_origin: settings.public_origin.clone(),
                    }
                });
                let writer = Arc::new(Writer::new(WriterParts {
                    db: wiring.db.clone(),
                    clone: clone.clone(),
                    branch: environment.branch.clone(),
                    settings: git.clone(),
                    holder: wiring.holder.clone(),
                    roots: sharing()
                        .filter(|e| !e.prefix.is_empty())
                        .map(|e| e.prefix.clone())
                        .collect(),
                    pulls,
                    ledger: wiring.ledger.clone(),
                    telemetry: wiring.telemetry.clone(),
                }));
                writers.push(writer.clone());
                writer
            });
            list.push(Arc::new(Environment {
                name: environment.name.clone(),
                order,
                cluster: environment.cluster.clone(),
                clone,
                branch: environment.branch.clone(),
                prefix: environment.prefix.clone(),
                mode: environment.mode,
                writer,
                promote_from: environment.promote_from.clone(),
                gates: environment.gates,
            }));
        }
        Environments {
            list,
            clones,
            writers,
            catalog,
            refresh: settings.catalog.refresh,
        }
    }

    /// The environment called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Environment>> {
        self.list.iter().find(|e| e.name == name)
    }

    /// Every environment, in display order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Environment>> {
        self.list.iter()
    }

    /// Their names, in display order.
    pub fn names(&self) -> Vec<String> {
        self.list.iter().map(|e| e.name.clone()).collect()
    }

    /// The environments claims of `name` are promoted to (those promoted from it), in
    /// display order.
    pub fn promotes_to(&self, name: &str) -> Vec<&Arc<Environment>> {
        self.list
            .iter()
            .filter(|e| e.promote_from.as_deref() == Some(name))
            .collect()
    }

    /// The environments reconciling in `cluster`, in display order.
    pub fn in_cluster(&self, cluster: &str) -> Vec<String> {
        self.list
            .iter()
            .filter(|e| e.cluster.as_deref() == Some(cluster))
            .map(|e| e.name.clone())
            .collect()
    }

    /// Every writer (one per remote and branch).
    pub fn writers(&self) -> &[Arc<Writer>] {
        &self.writers
    }

    /// The writer whose jobs are filed under `key`.
    pub fn writer(&self, key: &str) -> Option<&Arc<Writer>> {
        self.writers.iter().find(|w| w.key() == key)
    }

    /// Each writer with the folders of the environments it writes (for history counts).
    pub fn folders_by_writer(&self) -> Vec<(Arc<Writer>, Vec<String>)> {
        self.writers
            .iter()
            .map(|writer| {
                let mut folders: Vec<String> = self
                    .list
                    .iter()
                    .filter(|e| e.writer.key() == writer.key())
                    .map(|e| e.folder().to_owned())
                    .collect();
                folders.sort();
                folders.dedup();
                (writer.clone(), folders)
            })
            .collect()
    }

    /// The clone of the repository holding the catalog.
    pub fn catalog_clone(&self) -> &Arc<SharedClone> {
        &self.catalog
    }

    /// Keeps every clone fresh for previews and edits: each is fetched every refresh interval
    /// unless something else fetched it meanwhile. Runs until the task is dropped.
    pub fn spawn_refresh(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.refresh);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                for clone in &this.clones {
                    if let Err(error) = clone
                        .refresh(this.refresh / 2, Duration::from_secs(3600))
                        .await
                    {
                        tracing::warn!(repository = %clone.display_url(), %error, "fetching the GitOps repository failed; reads use the last fetch");
                    }
                }
            }
        })
    }
}

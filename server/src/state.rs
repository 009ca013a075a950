//! The application state handed to every route and, as context, to Leptos, and how it is
//! built from checked settings: the one place where the parts are wired together.
//!
//! ```text
//!  Settings ──▶ Environments (clones, writers) ──▶ services (ports) ──▶ AppState
//!                     ▲                               ▲
//!       Hub + Telemetry ──▶ Ledger (announces appends) ┘   StatusWatch (watchers' read model)
//! ```

use std::sync::Arc;

use anyhow::Context as _;
use app::ports::Ports;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::auth::AuthState;
use crate::auth::oidc::Oidc;
use crate::catalog::Catalog;
use crate::config::Settings;
use crate::db::{self, Db};
use crate::environment::{Environments, Wiring};
use crate::hub::Hub;
use crate::kube::watch::StatusWatch;
use crate::ledger::Ledger;
use crate::metrics::prom::Telemetry;
use crate::services::{self, catalog::CatalogService};

/// How many status messages the hub keeps for reconnecting browsers.
const HUB_RING: usize = 4096;

/// Everything a request may need. Cheap to clone (all fields are handles).
#[derive(Clone, FromRef)]
pub struct AppState {
    /// Leptos rendering options (site root, output name).
    pub leptos_options: LeptosOptions,
    /// The database.
    pub db: Db,
    /// Checked configuration.
    pub settings: Arc<Settings>,
    /// Service implementations of app's ports.
    pub ports: Ports,
    /// Sessions, sign-in and request protection.
    pub auth: AuthState,
    /// The environments, their clones and writers.
    pub environments: Arc<Environments>,
    /// The catalog service (its refresh loop is started by `serve`).
    pub catalog: Arc<CatalogService>,
    /// Live status: watchers' read model and the hub SSE streams read.
    pub status: Arc<StatusWatch>,
    /// Announces ledger appends.
    pub ledger: Ledger,
    /// Prometheus metrics of this process.
    pub telemetry: Arc<Telemetry>,
    /// Rate limits per client address and user.
    pub limits: Arc<crate::http::limits::Limits>,
    /// Open status streams and their caps.
    pub streams: Arc<crate::http::stream::Streams>,
    /// Names this process in leases.
    #[from_ref(skip)]
    pub holder: String,
    /// Whether the process is stopping (readiness, streams and lease holders read it).
    pub stopping: crate::shutdown::Stopping,
}

impl AppState {
    /// Builds the state from its parts (used by `serve` and by tests). Contacts nothing:
    /// clones, writers and watchers start working when [`crate::http::serve::start_background`]
    /// spawns them.
    pub fn build(
        leptos_options: LeptosOptions,
        db: Db,
        settings: Settings,
    ) -> anyhow::Result<AppState> {
        let oidc = match &settings.oidc {
            Some(oidc) => Some(Arc::new(
                Oidc::new(oidc.clone(), &settings.public_origin)
                    .context("setting up single sign-on")?,
            )),
            None => None,
        };
        let settings = Arc::new(settings);
        let telemetry = Arc::new(Telemetry::new());
        let hub = Hub::new(HUB_RING);
        let ledger = Ledger::new(hub.clone(), telemetry.clone());
        // Names this process in leases; a restart is a new holder.
        let holder = format!("{}-{}", hostname(), db::new_id());
        let environments = Arc::new(Environments::build(
            &settings,
            &Wiring {
                db: db.clone(),
                holder: holder.clone(),
                ledger: ledger.clone(),
                telemetry: telemetry.clone(),
            },
        ));
        let index = Arc::new(Catalog::new());
        let catalog = Arc::new(CatalogService::new(
            db.clone(),
            index.clone(),
            settings.catalog.clone(),
            settings.namespaces.clone(),
            environments.clone(),
        ));
        let status = StatusWatch::new(
            index,
            environments.clone(),
            settings.control_plane.clone(),
            hub,
            telemetry.clone(),
        );
        let ports = services::ports(services::Parts {
            db: &db,
            settings: &settings,
            catalog: &catalog,
            environments: &environments,
            status: &status,
            ledger: &ledger,
            telemetry: &telemetry,
        });
        let limits = Arc::new(crate::http::limits::Limits::new(
            &settings.limits,
            telemetry.clone(),
        ));
        let streams = Arc::new(crate::http::stream::Streams::new(
            settings.streams.per_user,
            settings.streams.total,
            settings.streams.check_every,
            telemetry.clone(),
        ));
        Ok(AppState {
            limits,
            streams,
            auth: AuthState {
                db: db.clone(),
                settings: settings.clone(),
                oidc,
            },
            status,
            holder,
            stopping: crate::shutdown::Stopping::new(),
            environments,
            catalog,
            ledger,
            telemetry,
            leptos_options,
            db,
            settings,
            ports,
        })
    }
}

/// This machine's name (pod name in Kubernetes), for leases; `unknown` when unset.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

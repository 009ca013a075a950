//! The application state handed to every route and, as context, to Leptos.

use std::sync::Arc;

use app::ports::Ports;
use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::auth::oidc::Oidc;
use crate::config::Settings;
use crate::db::Db;

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
    /// The catalog service (its refresh loop is started by `serve`; tests call it directly).
    pub catalog: Arc<crate::services::catalog::CatalogService>,
    /// The Git writer of the catalog's repository (started by `start_background`).
    pub writer: Arc<crate::git::writer::Writer>,
    /// Every Git writer: the catalog repository's first, then each other environment
    /// repository's.
    pub writers: Vec<Arc<crate::git::writer::Writer>>,
    /// Live status: watchers' read model and the hub SSE streams read (the watchers are
    /// started by `start_background`).
    pub status: Arc<crate::kube::watch::StatusWatch>,
    /// Names this process in leases.
    pub holder: String,
    /// The OIDC relying party, when single sign-on is configured.
    pub oidc: Option<Arc<Oidc>>,
}

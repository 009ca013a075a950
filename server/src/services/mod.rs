//! Services: the server's implementations of app's ports. Authorization is decided here,
//! with the actor passed in explicitly.

pub mod audit;
pub mod catalog;
pub mod metrics;
pub mod promotions;
pub mod requests;
pub mod status;
pub mod system;
pub mod tokens;
pub mod users;

use std::sync::Arc;

use app::ports::Ports;

use crate::config::Settings;
use crate::db::Db;
use crate::environment::Environments;
use crate::kube::watch::StatusWatch;
use crate::ledger::Ledger;

/// What the services are built from.
pub struct Parts<'a> {
    /// The database.
    pub db: &'a Db,
    /// Checked configuration.
    pub settings: &'a Arc<Settings>,
    /// The catalog service (also refreshed by `serve`).
    pub catalog: &'a Arc<catalog::CatalogService>,
    /// The environments.
    pub environments: &'a Arc<Environments>,
    /// The status watchers' read model.
    pub status: &'a Arc<StatusWatch>,
    /// Announces ledger appends.
    pub ledger: &'a Ledger,
    /// Prometheus.
    pub telemetry: &'a Arc<crate::metrics::prom::Telemetry>,
}

/// Builds every port from the shared parts.
pub fn ports(parts: Parts<'_>) -> Ports {
    let db = parts.db.clone();
    let requests = Arc::new(requests::RequestService::new(
        db.clone(),
        parts.catalog.clone(),
        parts.environments.clone(),
        parts.ledger.clone(),
        parts.settings.git.commit_url.clone(),
    ));
    Ports {
        promotions: Arc::new(promotions::PromotionService::new(
            db.clone(),
            requests.clone(),
            parts.catalog.clone(),
            parts.environments.clone(),
            parts.status.clone(),
            parts.telemetry.clone(),
        )),
        requests,
        status: Arc::new(status::StatusService::new(
            db.clone(),
            parts.status.clone(),
            parts.environments.clone(),
        )),
        metrics: Arc::new(
            metrics::MetricsService::new(db.clone(), parts.environments.clone())
                .with_titles(parts.catalog.clone()),
        ),
        catalog: parts.catalog.clone(),
        system: Arc::new(system::SystemService::new(
            db.clone(),
            parts.settings.clone(),
        )),
        audit: Arc::new(audit::AuditService::new(db.clone())),
        tokens: Arc::new(tokens::TokenService::new(db.clone())),
        users: Arc::new(users::UserService::new(db)),
    }
}

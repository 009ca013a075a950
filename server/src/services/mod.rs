//! Services: the server's implementations of app's ports. Authorization is decided here,
//! with the actor passed in explicitly.

pub mod audit;
pub mod catalog;
pub mod metrics;
pub mod requests;
pub mod status;
pub mod system;
pub mod tokens;

use std::sync::Arc;

use app::ports::Ports;

use crate::config::Settings;
use crate::db::Db;

/// Builds every port from the shared parts.
pub fn ports(
    db: &Db,
    settings: &Arc<Settings>,
    catalog: &Arc<catalog::CatalogService>,
    requests: Arc<requests::RequestService>,
    status: Arc<status::StatusService>,
    metrics: Arc<metrics::MetricsService>,
) -> Ports {
    Ports {
        requests,
        status,
        metrics,
        catalog: catalog.clone(),
        system: Arc::new(system::SystemService::new(db.clone(), settings.clone())),
        audit: Arc::new(audit::AuditService::new(db.clone())),
        tokens: Arc::new(tokens::TokenService::new(db.clone())),
    }
}

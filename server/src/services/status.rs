//! The status service: live status from the watchers, scoped to the actor's teams.

use std::sync::Arc;

use app::domain::CurrentUser;
use app::error::AppError;
use app::ports::StatusPort;
use app::status::{ClaimRow, ClusterView, RequestStatus};
use async_trait::async_trait;

use crate::db::Db;
use crate::db::requests as store;
use crate::environment::Environments;
use crate::kube::watch::StatusWatch;

/// Implements [`StatusPort`].
pub struct StatusService {
    db: Db,
    watch: Arc<StatusWatch>,
    environments: Arc<Environments>,
}

impl StatusService {
    /// A service reading `watch`; claims are offered for promotion along `environments`' paths.
    pub fn new(db: Db, watch: Arc<StatusWatch>, environments: Arc<Environments>) -> Self {
        StatusService {
            db,
            watch,
            environments,
        }
    }
}

#[async_trait]
impl StatusPort for StatusService {
    async fn request_status(
        &self,
        actor: &CurrentUser,
        id: &str,
    ) -> Result<RequestStatus, AppError> {
        let row = store::get(&self.db, id)
            .await?
            .filter(|row| actor.is_admin || actor.teams.contains(&row.team))
            .ok_or_else(|| AppError::NotFound(format!("The request {id:?}")))?;
        Ok(self.watch.request_status(&row.environment, &row.id))
    }

    async fn claims(&self, actor: &CurrentUser) -> Result<Vec<ClaimRow>, AppError> {
        let mut rows = if actor.is_admin {
            self.watch.claims(None)
        } else {
            self.watch.claims(Some(&actor.teams))
        };
        for row in &mut rows {
            row.promotes_to = self
                .environments
                .promotes_to(&row.environment)
                .iter()
                .map(|e| e.name.clone())
                .collect();
        }
        Ok(rows)
    }

    async fn clusters(&self, _actor: &CurrentUser) -> Result<Vec<ClusterView>, AppError> {
        // Kinds, counts and reachability say nothing about any team's claims.
        Ok(self.watch.clusters())
    }
}

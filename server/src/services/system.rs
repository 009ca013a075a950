//! Facts about the running portal and its sign-in options.

use std::sync::Arc;

use app::domain::{CurrentUser, LoginOptions, SystemInfo};
use app::error::AppError;
use app::ports::SystemPort;
use async_trait::async_trait;

use crate::auth::dev;
use crate::config::Settings;
use crate::db::Db;

/// Implements [`SystemPort`].
pub struct SystemService {
    db: Db,
    settings: Arc<Settings>,
}

impl SystemService {
    /// A service over this database and configuration.
    pub fn new(db: Db, settings: Arc<Settings>) -> Self {
        Self { db, settings }
    }
}

#[async_trait]
impl SystemPort for SystemService {
    async fn system_info(&self, actor: &CurrentUser) -> Result<SystemInfo, AppError> {
        if !actor.is_admin {
            return Err(AppError::Forbidden(
                "view the portal's system settings".into(),
            ));
        }
        let migrations_applied = self.db.migrations_applied().await?;
        Ok(SystemInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            database_backend: self.db.backend().name().to_owned(),
            migrations_applied,
            gitops_repository: self.settings.catalog.remote.display_url(),
            dev_login: self.settings.dev_login,
        })
    }

    fn dev_login_enabled(&self) -> bool {
        self.settings.dev_login
    }

    async fn login_options(&self) -> Result<LoginOptions, AppError> {
        Ok(LoginOptions {
            dev_personas: if self.settings.dev_login {
                dev::personas()
            } else {
                Vec::new()
            },
            sso_enabled: self.settings.oidc.is_some(),
        })
    }
}

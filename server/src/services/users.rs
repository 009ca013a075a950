//! Users as administrators manage them: listed, deactivated (sessions ended and tokens
//! revoked in one transaction) and reactivated, every change audited.

use app::domain::{CurrentUser, UserSummary};
use app::error::AppError;
use app::ports::UserPort;
use async_trait::async_trait;

use crate::db::{self, Db, audit};
use crate::time::rfc3339;

/// Implements [`UserPort`].
pub struct UserService {
    db: Db,
}

impl UserService {
    /// A service over this database.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// The user `id` as an audit target (who, not an opaque id), if they exist.
    async fn target(&self, id: &str) -> Result<String, AppError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT display_name, email FROM users WHERE id = $1")
                .bind(id)
                .fetch_optional(self.db.pool())
                .await
                .map_err(db::Error::from)?;
        let (name, email) = row.ok_or_else(|| AppError::NotFound("That user".into()))?;
        Ok(if email.is_empty() {
            format!("{name} ({id})")
        } else {
            format!("{name} <{email}> ({id})")
        })
    }

    async fn audit(
        &self,
        actor: &CurrentUser,
        action: &str,
        target: &str,
        detail: Option<&str>,
    ) -> Result<(), AppError> {
        let entry = audit::NewAuditEntry {
            actor: Some(actor),
            action,
            target: Some(target),
            request_id: None,
            outcome: audit::AuditOutcome::Ok,
            detail,
        };
        audit::record(&self.db, entry).await.map_err(AppError::from)
    }
}

fn admin_only(actor: &CurrentUser, what: &str) -> Result<(), AppError> {
    if actor.is_admin {
        Ok(())
    } else {
        Err(AppError::Forbidden(what.into()))
    }
}

fn plural(n: u64, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

#[async_trait]
impl UserPort for UserService {
    async fn list(&self, actor: &CurrentUser) -> Result<Vec<UserSummary>, AppError> {
        admin_only(actor, "list the portal's users")?;
        let rows = db::users::list(&self.db).await?;
        Ok(rows
            .into_iter()
            .map(|row| UserSummary {
                source: if row.subject.starts_with("dev|") {
                    "dev".into()
                } else {
                    "sso".into()
                },
                id: row.id,
                name: row.display_name,
                email: row.email,
                teams: row.teams,
                is_admin: row.is_admin,
                last_login_at: rfc3339(row.last_login_at),
                deactivated_at: row.deactivated_at.map(rfc3339),
                sessions: row.sessions,
                tokens: row.tokens,
            })
            .collect())
    }

    async fn deactivate(&self, actor: &CurrentUser, id: &str) -> Result<(), AppError> {
        admin_only(actor, "deactivate users")?;
        if actor.id == id {
            return Err(AppError::Invalid(
                "You cannot deactivate yourself; ask another administrator.".into(),
            ));
        }
        let target = self.target(id).await?;
        let Some(done) = db::users::deactivate(&self.db, id).await? else {
            return Err(AppError::Invalid(
                "That user is already deactivated.".into(),
            ));
        };
        let detail = format!(
            "{} ended, {} revoked",
            plural(done.sessions, "session"),
            plural(done.tokens, "token")
        );
        self.audit(actor, "user.deactivate", &target, Some(&detail))
            .await
    }

    async fn reactivate(&self, actor: &CurrentUser, id: &str) -> Result<(), AppError> {
        admin_only(actor, "reactivate users")?;
        let target = self.target(id).await?;
        if !db::users::reactivate(&self.db, id).await? {
            return Err(AppError::Invalid("That user is not deactivated.".into()));
        }
        self.audit(actor, "user.reactivate", &target, None).await
    }
}

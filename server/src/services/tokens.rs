//! Personal API tokens: created and revoked by their owners (administrators may revoke any),
//! every change audited. Tokens authenticate the REST API (`/api/v1/…`) only.

use app::domain::{ApiToken, CreatedApiToken, CurrentUser, NewApiToken, TokenScope};
use app::error::AppError;
use app::ports::TokenPort;
use async_trait::async_trait;

use crate::auth::session::{hash_token, new_token};
use crate::db::{self, Db, audit, tokens::TokenRow};
use crate::time::rfc3339;

/// What every Slipway token starts with.
pub const TOKEN_PREFIX: &str = "slp_";

/// Implements [`TokenPort`].
pub struct TokenService {
    db: Db,
}

impl TokenService {
    /// A service over this database.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    async fn audit(&self, actor: &CurrentUser, action: &str, target: &str) -> Result<(), AppError> {
        let entry = audit::NewAuditEntry {
            actor: Some(actor),
            action,
            target: Some(target),
            request_id: None,
            outcome: audit::AuditOutcome::Ok,
            detail: None,
        };
        audit::record(&self.db, entry).await.map_err(AppError::from)
    }
}

fn to_api_token(row: TokenRow) -> ApiToken {
    let now = db::now_ms();
    ApiToken {
        active: row.revoked_at.is_none() && row.expires_at > now,
        scopes: TokenScope::parse_list(&row.scopes).unwrap_or_default(),
        created_at: rfc3339(row.created_at),
        expires_at: rfc3339(row.expires_at),
        last_used_at: row.last_used_at.map(rfc3339),
        id: row.id,
        name: row.name,
        prefix: row.prefix,
    }
}

#[async_trait]
impl TokenPort for TokenService {
    async fn list(&self, actor: &CurrentUser) -> Result<Vec<ApiToken>, AppError> {
        let rows = db::tokens::list_for_user(&self.db, &actor.id).await?;
        Ok(rows.into_iter().map(to_api_token).collect())
    }

    async fn create(
        &self,
        actor: &CurrentUser,
        new: NewApiToken,
    ) -> Result<CreatedApiToken, AppError> {
        let token = format!("{TOKEN_PREFIX}{}", new_token());
        let prefix: String = token.chars().take(TOKEN_PREFIX.len() + 6).collect();
        let expires_at = db::now_ms() + i64::from(new.expires_in_days) * 86_400_000;
        let row = db::tokens::create(
            &self.db,
            &actor.id,
            &new.name,
            &hash_token(&token),
            &prefix,
            &new.scopes,
            expires_at,
        )
        .await?;
        self.audit(actor, "token.create", &format!("{} ({})", new.name, prefix))
            .await?;
        Ok(CreatedApiToken {
            token,
            info: to_api_token(row),
        })
    }

    async fn revoke(&self, actor: &CurrentUser, id: &str) -> Result<(), AppError> {
        let owner = if actor.is_admin {
            None
        } else {
            Some(actor.id.as_str())
        };
        let revoked = db::tokens::revoke(&self.db, id, owner).await?;
        if !revoked {
            // Someone else's token and an unknown id look the same: nothing to learn.
            return Err(AppError::NotFound("That active token".into()));
        }
        self.audit(actor, "token.revoke", id).await
    }
}

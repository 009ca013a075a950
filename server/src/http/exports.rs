//! CSV downloads: the audit log (administrators) and each metrics table (scoped like the
//! dashboard). The same service calls as the pages; errors in the one JSON shape.

use app::domain::{AuditFilter, CurrentUser};
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::services;
use crate::state::AppState;

/// `GET /admin/audit.csv`: the audit entries matching the page's filters, as CSV.
pub async fn audit_csv(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    Query(filter): Query<AuditFilter>,
) -> Result<Response, ApiError> {
    let Some(Extension(user)) = user else {
        return Err(ApiError::unauthenticated());
    };
    let entries = state.ports.audit.export(&user, &filter).await?;
    let mut body = Vec::new();
    services::audit::to_csv(&entries, &mut body)
        .map_err(|error| crate::error::internal("writing CSV", &error))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"slipway-audit.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

/// `GET /api/metrics/export/{table}?days=&team=&offering=`: one dashboard table as CSV,
/// scoped like the dashboard, every row of it.
pub async fn metrics_csv(
    State(state): State<AppState>,
    user: Option<Extension<CurrentUser>>,
    Path(table): Path<String>,
    Query(mut query): Query<app::metrics::MetricsQuery>,
) -> Result<Response, ApiError> {
    // A table's CSV is the whole table, whatever the page showed of it.
    query.rows = None;
    let Some(Extension(user)) = user else {
        return Err(ApiError::unauthenticated());
    };
    if !app::metrics::TABLES.contains(&table.as_str()) {
        return Err(ApiError::not_found("The table"));
    }
    let dashboard = state.ports.metrics.dashboard(&user, &query).await?;
    let body = services::metrics::to_csv(&dashboard, &table)
        .ok_or_else(|| ApiError::not_found("The table"))?
        .map_err(|error| crate::error::internal("writing CSV", &error))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"slipway-{table}-{}d.csv\"",
                    dashboard.days
                ),
            ),
        ],
        body,
    )
        .into_response())
}

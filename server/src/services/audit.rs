//! The audit log for administrators: filtered pages for the UI, and every matching entry as
//! CSV for export.

use crate::time::rfc3339;
use app::domain::{AuditEntry, AuditFilter, AuditPage, CurrentUser};
use app::error::AppError;
use app::ports::AuditPort;
use async_trait::async_trait;

use crate::db::{self, Db};

/// Entries per page in the UI.
pub const PAGE_SIZE: i64 = 50;
/// Entries read per query while exporting.
const EXPORT_BATCH: i64 = 1000;
/// Most entries one export holds (narrow the filter for more).
pub const MAX_EXPORT: usize = 100_000;

/// Implements [`AuditPort`].
pub struct AuditService {
    db: Db,
}

impl AuditService {
    /// A service over this database.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// Up to `limit` entries matching `filter`, after the same authorization as the UI.
    pub async fn page(
        &self,
        actor: &CurrentUser,
        filter: &AuditFilter,
        limit: i64,
    ) -> Result<AuditPage, AppError> {
        if !actor.is_admin {
            return Err(AppError::Forbidden("read the audit log".into()));
        }
        let rows = db::audit::list(&self.db, filter, limit).await?;
        let next_before = (i64::try_from(rows.len()).unwrap_or(i64::MAX) == limit)
            .then(|| rows.last().map(|r| r.id.clone()))
            .flatten();
        let entries = rows
            .into_iter()
            .map(|row| AuditEntry {
                at: rfc3339(row.at),
                id: row.id,
                actor: row.actor_name,
                action: row.action,
                target: row.target,
                request_id: row.request_id,
                outcome: row.outcome,
                detail: row.detail,
            })
            .collect();
        Ok(AuditPage {
            entries,
            next_before,
        })
    }
}

#[async_trait]
impl AuditPort for AuditService {
    async fn list(&self, actor: &CurrentUser, filter: &AuditFilter) -> Result<AuditPage, AppError> {
        self.page(actor, filter, PAGE_SIZE).await
    }

    async fn export(
        &self,
        actor: &CurrentUser,
        filter: &AuditFilter,
    ) -> Result<Vec<AuditEntry>, AppError> {
        let mut entries = Vec::new();
        let mut filter = filter.clone();
        loop {
            let page = self.page(actor, &filter, EXPORT_BATCH).await?;
            entries.extend(page.entries);
            match page.next_before {
                Some(before) if entries.len() < MAX_EXPORT => filter.before = Some(before),
                _ => break,
            }
        }
        entries.truncate(MAX_EXPORT);
        let detail = format!("{} entries", entries.len());
        let entry = db::audit::NewAuditEntry {
            actor: Some(actor),
            action: "audit.export",
            target: None,
            request_id: None,
            outcome: db::audit::AuditOutcome::Ok,
            detail: Some(&detail),
        };
        db::audit::record(&self.db, entry).await?;
        Ok(entries)
    }
}

/// A CSV cell a spreadsheet will not run as a formula: a value starting with `=`, `+`, `-`,
/// `@`, tab or carriage return gets a leading `'`.
pub fn csv_cell(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

/// Writes entries as CSV. Cells that a spreadsheet would run as a formula (starting with
/// `=`, `+`, `-`, `@`, tab or carriage return) get a leading `'`.
pub fn to_csv(entries: &[AuditEntry], out: &mut Vec<u8>) -> csv::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record([
        "time",
        "actor",
        "action",
        "target",
        "request_id",
        "outcome",
        "detail",
        "id",
    ])?;
    let cell = csv_cell;
    for e in entries {
        writer.write_record([
            cell(&e.at),
            cell(&e.actor),
            cell(&e.action),
            cell(e.target.as_deref().unwrap_or_default()),
            cell(e.request_id.as_deref().unwrap_or_default()),
            cell(&e.outcome),
            cell(e.detail.as_deref().unwrap_or_default()),
            cell(&e.id),
        ])?;
    }
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let entry = AuditEntry {
            id: "01".into(),
            at: "2023-11-14T22:13:20.123Z".into(),
            actor: "=HYPERLINK(\"http://x\")".into(),
            action: "login".into(),
            target: Some("a,b".into()),
            request_id: None,
            outcome: "ok".into(),
            detail: Some("line\nbreak".into()),
        };
        let mut out = Vec::new();
        to_csv(&[entry], &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "time,actor,action,target,request_id,outcome,detail,id\n\
             2023-11-14T22:13:20.123Z,\"'=HYPERLINK(\"\"http://x\"\")\",login,\"a,b\",,ok,\"line\nbreak\",01\n"
        );
    }
}

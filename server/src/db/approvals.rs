//! Approvals: requests a policy holds, and the approvers' decisions.
//!
//! ```text
//!  submit (policy asks) ──▶ requests(awaiting_approval, approvals = needs) + git_jobs(held)
//!  decide ──one transaction──▶ approvals row + ledger(approved | rejected) + audit
//!            ├─ every need met by distinct approvers ──▶ git_jobs(pending), stage submitted
//!            └─ rejected ──▶ job removed, stage rejected (nothing reaches Git)
//! ```
//! The request's row is locked first, so two approvers deciding at once are counted one
//! after the other: the second sees the first's approval.

use app::domain::CurrentUser;
use app::requests::EventKind;
use sqlx::Row as _;

use super::audit::{AuditOutcome, NewAuditEntry, insert_entry};
use super::ledger::{self, Appended, Detail};
use super::requests::{REQUEST_COLUMNS, RequestRow};
use super::{Db, Error, Result, now_ms};
use crate::policy::Approval;

/// A request waiting for approval, with what it needs.
#[derive(Clone, Debug)]
pub struct Awaiting {
    /// The request.
    pub request: RequestRow,
    /// One entry per policy asking.
    pub needs: Vec<Approval>,
}

/// One decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The approver's user id.
    pub approver: String,
    /// Their display name.
    pub approver_name: String,
    /// Approved (or rejected).
    pub approved: bool,
    /// Their words.
    pub comment: String,
    /// Policies it counts for.
    pub counts_for: Vec<String>,
    /// Unix ms.
    pub at: i64,
}

fn needs_of(json: Option<String>) -> Vec<Approval> {
    json.and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default()
}

/// The requests awaiting approval, oldest first, at most `limit`.
pub async fn awaiting(db: &Db, limit: i64) -> Result<Vec<Awaiting>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS}, r.approvals FROM requests r
         WHERE r.state = 'awaiting_approval' ORDER BY r.created_at, r.id LIMIT $1"
    )))
    .bind(limit)
    .fetch_all(db.pool())
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Awaiting {
                request: <RequestRow as sqlx::FromRow<'_, _>>::from_row(row)?,
                needs: needs_of(row.try_get("approvals")?),
            })
        })
        .collect()
}

/// The approvals request `id` needs (empty: none, or no such request).
pub async fn needs(db: &Db, id: &str) -> Result<Vec<Approval>> {
    let json: Option<Option<String>> =
        sqlx::query_scalar("SELECT approvals FROM requests WHERE id = $1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
    Ok(needs_of(json.flatten()))
}

/// The decisions on request `id`, oldest first.
pub async fn decisions(db: &Db, id: &str) -> Result<Vec<Decision>> {
    decisions_in(db.pool(), id).await
}

async fn decisions_in<'e, E>(executor: E, id: &str) -> Result<Vec<Decision>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows: Vec<(String, String, String, String, String, i64)> = sqlx::query_as(
        "SELECT a.approver, u.display_name, a.decision, a.comment, a.counts_for, a.at
         FROM approvals a JOIN users u ON u.id = a.approver
         WHERE a.request_id = $1 ORDER BY a.at, a.approver",
    )
    .bind(id)
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(approver, approver_name, decision, comment, counts_for, at)| Decision {
                approver,
                approver_name,
                approved: decision == "approve",
                comment,
                counts_for: serde_json::from_str(&counts_for).unwrap_or_default(),
                at,
            },
        )
        .collect())
}

/// Whether `decisions` meet every need: each policy approved by at least its number of
/// distinct approvers who could approve for it.
pub fn met(needs: &[Approval], decisions: &[Decision]) -> bool {
    needs.iter().all(|need| {
        let approvers = decisions
            .iter()
            .filter(|d| d.approved && d.counts_for.contains(&need.policy))
            .count();
        approvers >= need.required as usize
    })
}

/// What a decision did.
#[derive(Debug)]
pub struct Decided {
    /// Ledger events to announce.
    pub appended: Vec<Appended>,
    /// The request went on to the Git writer.
    pub released: bool,
}

/// Records `approver`'s decision on request `id`, which must be awaiting approval and not
/// decided by them before; `counts_for` are the policies they may approve for. The last
/// approval needed releases the held Git job; a rejection ends the request.
pub async fn decide(
    db: &Db,
    id: &str,
    approver: &CurrentUser,
    approve: bool,
    comment: &str,
    counts_for: &[String],
) -> Result<Decided> {
    let now = now_ms();
    let mut tx = db.pool().begin().await?;
    let locked = sqlx::query(
        "UPDATE requests SET updated_at = $2 WHERE id = $1 AND state = 'awaiting_approval'",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if locked.rows_affected() == 0 {
        return Err(Error::Refused(
            "This request is no longer awaiting approval.".into(),
        ));
    }
    let inserted = sqlx::query(
        "INSERT INTO approvals (request_id, approver, decision, comment, counts_for, at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(&approver.id)
    .bind(if approve { "approve" } else { "reject" })
    .bind(comment)
    .bind(serde_json::to_string(counts_for).unwrap_or_else(|_| "[]".into()))
    .bind(now)
    .execute(&mut *tx)
    .await;
    if let Err(sqlx::Error::Database(error)) = &inserted
        && error.is_unique_violation()
    {
        return Err(Error::Refused(
            "You have already decided on this request.".into(),
        ));
    }
    inserted?;
    let appended: Vec<Appended> = ledger::append(
        &mut tx,
        id,
        if approve {
            EventKind::Approved
        } else {
            EventKind::Rejected
        },
        now,
        Detail {
            actor: Some(&approver.id),
            message: (!comment.is_empty()).then_some(comment),
            ..Detail::default()
        },
    )
    .await?
    .into_iter()
    .collect();
    let needs: Option<String> = sqlx::query_scalar("SELECT approvals FROM requests WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    let released = approve && met(&needs_of(needs), &decisions_in(&mut *tx, id).await?);
    if !approve {
        sqlx::query("DELETE FROM git_jobs WHERE request_id = $1 AND status = 'held'")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE requests SET state = 'rejected' WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    } else if released {
        sqlx::query(
            "UPDATE git_jobs SET status = 'pending', next_attempt_at = $2
             WHERE request_id = $1 AND status = 'held'",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE requests SET state = 'submitted' WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    let target: Option<String> =
        sqlx::query_scalar("SELECT team || '/' || kind || '/' || name FROM requests WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    insert_entry(
        &mut *tx,
        NewAuditEntry {
            actor: Some(approver),
            action: if approve {
                "request.approve"
            } else {
                "request.reject"
            },
            target: target.as_deref(),
            request_id: Some(id),
            outcome: AuditOutcome::Ok,
            detail: Some(comment),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Decided { appended, released })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn need(policy: &str, required: u32) -> Approval {
        Approval {
            policy: policy.into(),
            required,
            approvers: vec!["platform".into()],
        }
    }

    fn approval(approver: &str, approved: bool, counts_for: &[&str]) -> Decision {
        Decision {
            approver: approver.into(),
            approver_name: approver.into(),
            approved,
            comment: String::new(),
            counts_for: counts_for.iter().map(|p| (*p).to_owned()).collect(),
            at: 0,
        }
    }

    #[test]
    fn every_policy_needs_its_own_number_of_approvers() {
        let needs = [need("prod", 2), need("money", 1)];
        assert!(!met(&needs, &[approval("a", true, &["prod", "money"])]));
        assert!(met(
            &needs,
            &[
                approval("a", true, &["prod", "money"]),
                approval("b", true, &["prod"])
            ]
        ));
        assert!(
            !met(
                &needs,
                &[
                    approval("a", true, &["prod"]),
                    approval("b", true, &["prod"])
                ]
            ),
            "nobody could approve for money"
        );
        assert!(
            !met(&needs, &[approval("a", false, &["prod", "money"])]),
            "a rejection is no approval"
        );
    }
}

//! Leases that hold: renewed while their holder works, lost to nobody while renewed, taken
//! over once they lapse, and fencing the old holder's writes once another holder has them.

mod common;

use std::time::Duration;

use common::TestDb;
use slipway::db::outbox::{self, Settled};
use slipway::lease::Lease;

#[tokio::test]
async fn a_renewed_lease_outlives_its_ttl_and_another_holder_gets_it_only_once_it_lapses() {
    let test = TestDb::new().await;
    let ttl = Duration::from_millis(600);
    let first = Lease::new(test.db.clone(), "writer", "replica-a", ttl);
    let second = Lease::new(test.db.clone(), "writer", "replica-b", ttl);
    let held = first.hold().await.unwrap().expect("free");
    // Three lifetimes later the renewals have kept it.
    tokio::time::sleep(ttl * 3).await;
    assert!(!held.is_lost());
    assert!(
        second.hold().await.unwrap().is_none(),
        "still held by the first"
    );

    // The first holder stops renewing (a paused or dead process): the lease lapses.
    let fence = held.fence().clone();
    drop(held);
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    let taken = second.hold().await.unwrap().expect("lapsed, so free");
    assert!(
        taken.fence().generation > fence.generation,
        "a new generation: {:?} after {fence:?}",
        taken.fence()
    );
}

#[tokio::test]
async fn a_holder_that_lost_its_lease_learns_it_and_its_writes_are_refused() {
    let test = TestDb::new().await;
    let ttl = Duration::from_millis(600);
    let a = Lease::new(test.db.clone(), "git-writer:x", "replica-a", ttl);
    let b = Lease::new(test.db.clone(), "git-writer:x", "replica-b", ttl);
    let held = a.hold().await.unwrap().expect("free");
    // Replica A stalls past its lease's end (here: its renewals cannot reach the database,
    // which is as good as the expiry forced below), and B takes over.
    sqlx::query("UPDATE leases SET expires_at = 0 WHERE name = 'git-writer:x'")
        .execute(test.db.pool())
        .await
        .unwrap();
    let taken = b.hold().await.unwrap().expect("expired, so B takes it");
    tokio::time::timeout(ttl * 2, held.lost())
        .await
        .expect("A learns at its next renewal that it lost the lease");
    assert!(held.is_lost());

    // Whatever A still tries to record is refused; B's writes go through.
    let stale = outbox::settle_all(
        &test.db,
        held.fence(),
        &[(
            "no-such".into(),
            Settled::Failed {
                message: "x".into(),
            },
        )],
    )
    .await;
    assert!(
        matches!(stale, Err(slipway::db::Error::Fenced(_))),
        "{stale:?}"
    );
    let current = outbox::settle_all(&test.db, taken.fence(), &[]).await;
    assert!(current.is_ok(), "{current:?}");
    assert!(
        outbox::postpone(
            &test.db,
            held.fence(),
            &["no-such".into()],
            "x",
            0,
            outbox::Setback::Outage
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn releasing_a_lease_hands_it_over_at_once() {
    let test = TestDb::new().await;
    let ttl = Duration::from_secs(30);
    let a = Lease::new(test.db.clone(), "status-ledger", "replica-a", ttl);
    let b = Lease::new(test.db.clone(), "status-ledger", "replica-b", ttl);
    let held = a.hold().await.unwrap().expect("free");
    let first = held.fence().generation;
    assert!(b.hold().await.unwrap().is_none());
    held.release().await;
    let taken = b
        .hold()
        .await
        .unwrap()
        .expect("no wait for the 30 s expiry");
    // The generation keeps growing across a release, as fencing expects.
    assert_eq!(taken.fence().generation, first + 1);
    taken.release().await;
    let again = a.hold().await.unwrap().expect("released again");
    assert_eq!(again.fence().generation, first + 2);
}

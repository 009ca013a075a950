//! The control plane: connections to the clusters, the one follower of a kind every watcher
//! runs, offerings discovered from the clusters, pure mappers from Kubernetes objects to
//! Slipway's health model, the status watchers with their read side, and the recorder that
//! turns status changes into ledger events.

pub mod cluster;
pub mod follow;
pub mod health;
pub mod offerings;
pub mod recorder;
pub mod status;
pub mod views;
pub mod watch;

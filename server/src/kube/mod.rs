//! The control plane: connections to the clusters, offerings discovered from them, pure
//! mappers from Kubernetes objects to Slipway's health model, the status watchers and hub,
//! and the recorder that turns status changes into ledger events.

pub mod cluster;
pub mod health;
pub mod hub;
pub mod offerings;
pub mod recorder;
pub mod status;
pub mod watch;

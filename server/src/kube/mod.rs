//! The control plane: connections to the clusters, offerings discovered from them, and pure
//! mappers from Kubernetes objects to Slipway's health model. The status watchers, the join
//! to requests and the status hub build on these.

pub mod cluster;
pub mod health;
pub mod offerings;

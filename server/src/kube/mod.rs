//! The control plane: pure mappers from Kubernetes objects to Slipway's health model. The
//! watchers, the join to requests and the status hub build on these.

pub mod health;

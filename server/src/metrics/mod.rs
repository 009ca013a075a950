//! Adoption metrics: the ledger folded into per-request facts ([`ledger`]), the measures of a
//! period computed from them ([`measures`]), and the Prometheus exporter ([`prom`]).
//!
//! ```text
//!  request_events ──append──▶ db::metrics::refresh ──fold──▶ request_facts, request_incidents
//!                                       └──▶ prom: counters and stage histograms
//!  dashboard ──▶ db::metrics::inputs(scope, period) ──▶ measures::compute ──▶ app::metrics::Dashboard
//! ```

pub mod ledger;
pub mod measures;
pub mod prom;

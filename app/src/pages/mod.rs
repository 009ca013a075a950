//! One module per route.

pub mod admin;
pub mod approvals;
pub mod audit;
pub mod catalog;
pub mod login;
pub mod metrics;
pub mod not_found;
pub mod offering;
pub mod promotion;
pub mod requests;
pub mod status;
pub mod tokens;

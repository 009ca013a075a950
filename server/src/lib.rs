//! Slipway's server: everything that does IO. `main.rs` only parses the command line and
//! calls [`cli::run`].
//!
//! ```text
//!  config ─▶ cli ─┬─ serve ─▶ http::router(state) ─▶ auth middleware ─▶ Leptos (app crate)
//!                 │                                                       │ server fns
//!                 │                                   services (ports) ◀──┘
//!                 │                                        │
//!                 ├─ migrate                               ▼
//!                 └─ init ─▶ devdata                      db (sqlx Any: SQLite | PostgreSQL)
//! ```

pub mod api;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod db;
pub mod devdata;
pub mod error;
pub mod git;
pub mod http;
pub mod kube;
pub mod metrics;
pub mod services;
pub mod state;
pub mod stream;
pub mod telemetry;

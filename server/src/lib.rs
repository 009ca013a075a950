//! Slipway's server: everything that does IO. `main.rs` only parses the command line and
//! calls [`cli::run`]. The two flows through it are described in `docs/architecture.md`.
//!
//! ```text
//!  config ─▶ cli ─┬─ serve ─▶ state (wiring) ─▶ http::router ─▶ auth middleware ─▶ Leptos (app)
//!                 │                                                                 │ server fns
//!                 │                       services (ports) ◀────────────────────────┘
//!                 │                          │        │
//!                 │      catalog ◀───────────┘        ▼
//!                 │      environment ─▶ git (clones, writers) ─▶ db ─▶ ledger ─▶ hub ─▶ SSE
//!                 │      kube (follow, offerings, watch, recorder) ──────┘
//!                 ├─ migrate
//!                 ├─ import-ledger ─▶ devdata
//!                 └─ init ─▶ devdata
//! ```

pub mod auth;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod config;
pub mod db;
pub mod devdata;
pub mod environment;
pub mod error;
pub mod git;
pub mod http;
pub mod hub;
pub mod kube;
pub mod lease;
pub mod ledger;
pub mod metrics;
pub mod policy;
pub mod services;
pub mod shutdown;
pub mod state;
pub mod teams;
pub mod telemetry;
pub mod time;

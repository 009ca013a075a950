//! Authentication and request protection.
//!
//! ```text
//!  request ─▶ same_origin_writes ─▶ load_user ─▶ require_login ─▶ routes / Leptos
//!             (CSRF: unsafe methods    (session cookie    (anonymous page views
//!              must come from the       → CurrentUser in   → 303 /login)
//!              portal's own origin)     extensions)
//! ```
//! Sign-in methods: single sign-on ([`oidc`], teams from the groups claim via
//! [`crate::teams`]) and
//! the development login ([`dev`]). Every method ends in [`session::start`], which rotates
//! the session and writes the audit entry; [`session::logout`] ends it for both.

pub mod csrf;
pub mod dev;
pub mod guard;
pub mod oidc;
pub mod session;

use std::sync::Arc;

use crate::config::Settings;
use crate::db::Db;

/// What sign-in, sessions and request protection work with: the part of the application
/// state the auth routes and middleware take.
#[derive(Clone)]
pub struct AuthState {
    /// The database (users, sessions, tokens, pending sign-ins, audit).
    pub db: Db,
    /// Cookie policy, origin, session lifetimes, development login.
    pub settings: Arc<Settings>,
    /// The OIDC relying party, when single sign-on is configured.
    pub oidc: Option<Arc<oidc::Oidc>>,
}

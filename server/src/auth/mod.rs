//! Authentication and request protection.
//!
//! ```text
//!  request ─▶ same_origin_writes ─▶ load_user ─▶ require_login ─▶ routes / Leptos
//!             (CSRF: unsafe methods    (session cookie    (anonymous page views
//!              must come from the       → CurrentUser in   → 303 /login)
//!              portal's own origin)     extensions)
//! ```
//! Sign-in methods: single sign-on ([`oidc`], teams from the groups claim via [`teams`]) and
//! the development login ([`dev`]). Every method ends in [`session::start`], which rotates
//! the session and writes the audit entry; [`session::logout`] ends it for both.

pub mod csrf;
pub mod dev;
pub mod guard;
pub mod oidc;
pub mod session;
pub mod teams;

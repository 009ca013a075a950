//! The development login: sign in as a sample persona without a password. Exists only when
//! the server runs with `--dev-login`, which configuration refuses off loopback; the routes
//! answer 404 otherwise, and every page shows a banner while it is on.

use app::domain::DevPersona;
use std::net::SocketAddr;

use axum::Extension;
use axum::Form;
use axum::extract::ConnectInfo;
use axum::extract::State;
use axum::http::header;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::auth::AuthState;
use crate::auth::session::{self, SessionToken};
use crate::db::{self, users::NewLogin};

/// The personas offered: two single-team members, one member of both teams, an admin.
pub fn personas() -> Vec<DevPersona> {
    let p = |handle: &str, name: &str, teams: &[&str], is_admin| DevPersona {
        handle: handle.into(),
        name: name.into(),
        teams: teams.iter().map(|t| (*t).to_owned()).collect(),
        is_admin,
    };
    vec![
        p("alice", "Alice Archer", &["team-a"], false),
        p("bob", "Bob Builder", &["team-b"], false),
        p("carol", "Carol Chen", &["team-a", "team-b"], false),
        p("pat", "Pat Platform", &["platform"], true),
    ]
}

/// The dev-login form.
#[derive(Debug, Deserialize)]
pub struct DevLoginForm {
    handle: String,
    next: Option<String>,
}

/// Headers a proxy adds when it forwards a request: their presence means the browser is
/// not where the connection comes from.
const FORWARDING: [&str; 5] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-real-ip",
    "via",
];

/// Whether a request comes straight from this machine: a loopback peer, no proxy's headers.
/// Configuration already keeps the dev login to a loopback address; this keeps a sidecar or
/// proxy in the same pod (which reaches loopback for others) from using it.
fn from_this_machine(peer: Option<&ConnectInfo<SocketAddr>>, headers: &HeaderMap) -> bool {
    peer.is_some_and(|ConnectInfo(address)| address.ip().is_loopback())
        && FORWARDING.iter().all(|name| !headers.contains_key(*name))
}

/// `POST /auth/dev-login`: signs in as a persona and goes to the catalog.
pub async fn login(
    State(state): State<AuthState>,
    previous: Option<Extension<SessionToken>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<DevLoginForm>,
) -> Response {
    if !state.settings.dev_login {
        return crate::error::ApiError::not_found("The development login").into_response();
    }
    if !from_this_machine(peer.as_deref(), &headers) {
        tracing::warn!("development login refused: not a direct connection from this machine");
        return crate::error::ApiError::new(
            StatusCode::FORBIDDEN,
            "dev_login_remote",
            "The development login answers only to a browser on this machine, not through a proxy.",
        )
        .into_response();
    }
    let Some(persona) = personas().into_iter().find(|p| p.handle == form.handle) else {
        return Redirect::to("/login?error=unknown-persona").into_response();
    };
    let login = NewLogin {
        subject: format!("dev|{}", persona.handle),
        display_name: persona.name,
        email: format!("{}@dev.slipway.invalid", persona.handle),
        is_admin: persona.is_admin,
        teams: persona.teams,
    };
    let started = async {
        let Some(user) = db::users::upsert_login(&state.db, &login).await? else {
            return Ok(None);
        };
        session::start(
            &state.db,
            &state.settings,
            previous.as_deref(),
            &user,
            "dev-login",
            false,
        )
        .await
        .map(Some)
    };
    match started.await {
        Ok(None) => Redirect::to("/login?error=deactivated").into_response(),
        Ok(Some(cookie)) => (
            [(header::SET_COOKIE, cookie)],
            Redirect::to(&crate::auth::oidc::safe_next(
                &state.settings.public_origin,
                form.next.as_deref(),
            )),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "development login failed");
            Redirect::to("/login?error=storage").into_response()
        }
    }
}

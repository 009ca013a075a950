//! What the load benches share: the release binary as a separate process ([`served`]).

pub mod served;

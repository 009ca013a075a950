#!/usr/bin/env bash
# Installs every tool Slipway's build and tests need, idempotently, from the registries this
# machine reaches (Debian, crates.io, npm). Each step checks for its result first and is
# skipped when it is already there, so a warm machine passes through in seconds.
#
#   apt (rustc-web 1.96 + std source, lld, chromium, postgresql, openssh-server for Git over SSH,
#        buildah for the image)
#     └─ rustup link "debian-web" → /usr          (rust-toolchain.toml pins it)
#         └─ wasm32 std built once into Debian's sysroot (stamped with rustc's commit)
#             ├─ wasm-bindgen-cli  (= the wasm-bindgen version in Cargo.lock)
#             └─ cargo-leptos      (no_downloads: never fetches binaries)
#   npm install (tailwindcss v4, binaryen's wasm-opt, @playwright/test, axe-core, oidc-provider)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
WASM_BINDGEN_VERSION=0.2.130
CARGO_LEPTOS_VERSION=0.3.11
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\033[1;34m==> %s\033[0m\n' "$*"; }
skip() { printf '    %s (already there)\n' "$*"; }

# --- 1. Debian packages -------------------------------------------------------------------
APT_PACKAGES=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22 rust-web-clippy rustfmt-web
              chromium postgresql git pkg-config openssh-server openssh-client
              buildah jq curl binutils)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  step "apt-get install ${missing[*]}"
  # One dpkg lock per machine: wait for it rather than fail when another install runs.
  apt-get -o DPkg::Lock::Timeout=900 update -q
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q "${missing[@]}"
else
  skip "Debian packages"
fi

# --- 2. Name Debian's compiler for rustup --------------------------------------------------
if ! rustup toolchain list | grep -q '^debian-web'; then
  step "rustup toolchain link debian-web /usr"
  rustup toolchain link debian-web /usr
else
  skip "rustup toolchain debian-web"
fi
# From here on plain `cargo` inside the repo is Debian's 1.96 (rust-toolchain.toml).
export RUSTC=/usr/bin/rustc

# --- 3. The wasm32 standard library, built once from rust-web-src --------------------------
SYSROOT_WASM=/usr/lib/rustlib/wasm32-unknown-unknown/lib
RUSTC_COMMIT=$(/usr/bin/rustc -vV | sed -n 's/^commit-hash: //p')
if [ "$(cat "$SYSROOT_WASM/.slipway-std-stamp" 2>/dev/null)" != "$RUSTC_COMMIT" ]; then
  step "building the wasm32-unknown-unknown std from Debian's rust-web-src (once)"
  scratch=$(mktemp -d)
  mkdir -p "$scratch/src"
  cat >"$scratch/Cargo.toml" <<'TOML'
[package]
name = "wasm-std-scratch"
version = "0.0.0"
edition = "2021"
[lib]
crate-type = ["rlib"]
[profile.release]
panic = "abort"
TOML
  echo '#![no_std]' >"$scratch/src/lib.rs"
  (cd "$scratch" && RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Cembed-bitcode=yes" \
     /usr/bin/cargo build -q --release --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort)
  mkdir -p "$SYSROOT_WASM"
  rm -f "$SYSROOT_WASM"/*.rlib
  find "$scratch/target/wasm32-unknown-unknown/release/deps" -name '*.rlib' \
       ! -name 'libwasm_std_scratch-*' -exec cp {} "$SYSROOT_WASM/" \;
  echo "$RUSTC_COMMIT" >"$SYSROOT_WASM/.slipway-std-stamp"
  rm -rf "$scratch"
else
  skip "wasm32 std for rustc $RUSTC_COMMIT"
fi

# --- 4. cargo-installed tools ---------------------------------------------------------------
# Their own release profiles use fat LTO (an hour on two cores); these overrides make the
# install several times faster and the tools stay more than fast enough for a build driver.
fast_install() {
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false \
    /usr/bin/cargo install --quiet "$@"
}
if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  step "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (~15 min on a fresh machine)"
  # Not --locked: its lockfile wants a webpki-roots version crates.io no longer serves.
  fast_install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
else
  skip "wasm-bindgen $WASM_BINDGEN_VERSION"
fi
if [ "$(cargo-leptos --version 2>/dev/null)" != "cargo-leptos $CARGO_LEPTOS_VERSION" ]; then
  step "cargo install cargo-leptos $CARGO_LEPTOS_VERSION (~20 min on a fresh machine)"
  fast_install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads --force
else
  skip "cargo-leptos $CARGO_LEPTOS_VERSION"
fi

# --- 5. npm tools -------------------------------------------------------------------------
stamp=node_modules/.slipway-stamp
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  step "npm install (tailwindcss, binaryen, @playwright/test, @axe-core/playwright, oidc-provider)"
  # `npm install`, not `npm ci`: the registry here lacks the non-Linux optional
  # @tailwindcss/oxide-* packages, so the lockfile omits them and `npm ci` would refuse it.
  npm install --no-audit --no-fund --loglevel=error
  touch "$stamp"
else
  skip "node_modules"
fi
step "tools ready"

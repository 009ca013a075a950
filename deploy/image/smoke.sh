#!/usr/bin/env bash
# The image smoke test: mounts the built image's root filesystem and runs the portal in it as
# a container runtime would — as the image's user, with its environment and command, the root
# filesystem read-only, /proc, /dev and a writable /tmp and data folder — so a library, a file
# or a setting missing from the image fails here, not in a user's rollout.
#
#   deploy/image/smoke.sh ARCHIVE      (root: buildah, unshare, chroot)
set -euo pipefail

archive=$(realpath "$1")
export BUILDAH_ISOLATION=chroot STORAGE_DRIVER=vfs
fail() { printf '\033[1;31mimage smoke test: %s\033[0m\n' "$*" >&2; exit 1; }
pass() { printf '    ok  %s\n' "$*"; }

ctr=$(buildah from --quiet "oci-archive:$archive")
image=
cleanup() {
  buildah rm "$ctr" >/dev/null 2>&1 || true
  [ -z "$image" ] || buildah rmi -f "$image" >/dev/null 2>&1 || true
}
trap cleanup EXIT
image=$(buildah inspect --type container "$ctr" | jq -r '.FromImageID')
root=$(buildah mount "$ctr")
config=$(buildah inspect --type container "$ctr" | jq '.OCIv1.config')
user=$(jq -r '.User' <<<"$config")
mapfile -t image_env < <(jq -r '.Env[]' <<<"$config")
mapfile -t entrypoint < <(jq -r '.Entrypoint[]' <<<"$config")
mapfile -t command < <(jq -r '.Cmd[]' <<<"$config")
[ "${command[*]}" = serve ] || fail "the image command is ${command[*]}, not serve"
[ "${user%%:*}" != 0 ] && [ "${user%%:*}" != root ] || fail "the image runs as root ($user)"
pass "runs as $user"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# Everything below runs in a mount namespace of its own: its mounts vanish with it.
unshare --mount --fork env ROOT="$root" USERSPEC="$user" PORT="$port" \
  IMAGE_ENV_COUNT=${#image_env[@]} ENTRY_COUNT=${#entrypoint[@]} bash -euo pipefail -c '
  fail() { printf "\033[1;31mimage smoke test: %s\033[0m\n" "$*" >&2; exit 1; }
  pass() { printf "    ok  %s\n" "$*"; }
  mount --make-rprivate /
  mount --bind "$ROOT" "$ROOT"
  mount -o remount,bind,ro "$ROOT"
  mount -t proc proc "$ROOT/proc"
  mount --rbind /dev "$ROOT/dev"
  mount -t tmpfs -o mode=1777 tmpfs "$ROOT/tmp"
  mount -t tmpfs -o uid=${USERSPEC%%:*},gid=${USERSPEC##*:},mode=0755 tmpfs "$ROOT/var/lib/slipway"
  image_env=("${@:1:$IMAGE_ENV_COUNT}")
  shift "$IMAGE_ENV_COUNT"
  entry=("${@:1:$ENTRY_COUNT}")
  shift "$ENTRY_COUNT"
  # The image command with the image environment, as its user, in its root.
  chroot=$(command -v chroot)
  in_image() { env -i "${image_env[@]}" "$chroot" --userspec="$USERSPEC" "$ROOT" "$@"; }

  version=$(in_image "${entry[@]}" --version) || fail "slipway --version"
  [[ $version == slipway* ]] || fail "slipway --version said: $version"
  pass "$version"
  in_image "${entry[@]}" migrate >/dev/null 2>&1 || fail "slipway migrate on SQLite"
  pass "slipway migrate (SQLite in the data folder)"
  in_image "${entry[@]}" init >/dev/null 2>&1 || fail "slipway init (git in the image)"
  pass "slipway init: a bare Git repository made by the image'"'"'s git"
  certificates=$(grep -c "BEGIN CERTIFICATE" "$ROOT/etc/ssl/certs/ca-certificates.crt" 2>/dev/null || true)
  [ "${certificates:-0}" -ge 100 ] || fail "the CA bundle holds ${certificates:-no} certificates"
  pass "CA bundle: $certificates certificates"
  said=$(in_image /usr/bin/git ls-remote https://127.0.0.1:1/none.git 2>&1 || true)
  [[ $said == *"Failed to connect"* || $said == *"Could not connect"* ]] \
    || fail "git over HTTPS: $said"
  pass "git over HTTPS reaches the network (remote-https and its libraries load)"
  said=$(in_image /usr/bin/ssh -o BatchMode=yes -p 1 127.0.0.1 true 2>&1 || true)
  [[ $said == *"Connection refused"* ]] || fail "ssh: $said"
  pass "ssh runs as the image user"

  log=$(mktemp)
  # Started as a process of its own (not a function in a subshell), so SIGTERM reaches it.
  env -i "${image_env[@]}" "$chroot" --userspec="$USERSPEC" "$ROOT" "${entry[@]}" \
    serve --dev-login --listen "127.0.0.1:$PORT" >"$log" 2>&1 &
  server=$!
  # A failed check stops the server too, not only a passing run.
  trap "kill -9 $server 2>/dev/null || true" EXIT
  origin="http://127.0.0.1:$PORT"
  for _ in $(seq 1 300); do
    curl -fsS "$origin/readyz" >/dev/null 2>&1 && break
    kill -0 "$server" 2>/dev/null || { cat "$log" >&2; fail "slipway serve exited"; }
    sleep 0.1
  done
  curl -fsS "$origin/healthz" >/dev/null || fail "/healthz"
  curl -fsS "$origin/readyz" >/dev/null || { cat "$log" >&2; fail "/readyz"; }
  pass "slipway serve answers /healthz and /readyz"
  page=$(curl -fsS "$origin/login") || fail "the sign-in page"
  assets=$(grep -oE "/pkg/[A-Za-z0-9._-]+\.(js|wasm|css)" <<<"$page" | sort -u || true)
  for kind in js wasm css; do
    grep -q "\.$kind$" <<<"$assets" || fail "the page names no .$kind file: $assets"
  done
  for asset in $assets; do
    [[ $asset =~ \.[A-Za-z0-9_-]{22}\.(js|wasm|css)$ ]] || fail "$asset: no content hash (hash.txt)"
    encoding=$(curl -fsS -o /dev/null -D - -H "accept-encoding: br, gzip" "$origin$asset" \
      | tr -d "\r" | sed -n "s/^content-encoding: //Ip") || fail "$asset: not served"
    # A release front end (make release --precompress) has brotli copies; then they are sent.
    if [ -e "$ROOT/opt/slipway/site$asset.br" ]; then
      [ "$encoding" = br ] || fail "$asset: served ${encoding:-as is}, not its brotli copy"
    fi
  done
  pass "the front end it hydrates with: $(tr "\n" " " <<<"$assets")"
  kill -TERM "$server"
  for _ in $(seq 1 300); do kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$server" 2>/dev/null && { cat "$log" >&2; fail "slipway serve still running 30 s after SIGTERM"; }
  wait "$server" || { cat "$log" >&2; fail "slipway serve did not stop in order on SIGTERM"; }
  trap - EXIT
  pass "SIGTERM: stopped in order"
' smoke "${image_env[@]}" "${entrypoint[@]}"
echo "==> image smoke test passed: $archive"

#!/usr/bin/env bash
# Builds Slipway's OCI image from this repository, without any registry: the release binary
# and front end on a root filesystem assembled from Debian packages (glibc, CA certificates,
# git and the ssh client the Git writer runs, and dash, which git needs to run
# GIT_SSH_COMMAND — nothing else), non-root, `slipway serve` as its command.
#
#   deploy/image/build.sh BIN HASH_TXT SITE OUT
#
# BIN, HASH_TXT, SITE: what `make release` built (target/release/slipway, …/hash.txt,
# target/site). OUT: the OCI archive to write. Needs root (buildah, dpkg-deb, ldconfig -r).
set -euo pipefail

bin=$(realpath "$1") hash=$(realpath "$2") site=$(realpath "$3") out=$(realpath -m "$4")
cd "$(dirname "$0")/../.."
work=target/image
rootfs=$work/rootfs
debs=$work/debs
field() { sed -n "s/^$1 = \"\(.*\)\"/\1/p" Cargo.toml | head -1; }
version=$(field version) license=$(field license) source=$(field repository)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || revision="$revision-dirty"
export BUILDAH_ISOLATION=chroot STORAGE_DRIVER=vfs

# --- 1. The packages: the roots, and the packages of every shared library their programs and
# the binary load (as the loader resolves them on this Debian, which the image is).
roots=(libc6 libgcc-s1 ca-certificates git openssh-client dash)
programs=("$bin" /usr/bin/git /usr/lib/git-core/git-remote-http /usr/bin/ssh /bin/dash)
packages=("${roots[@]}")
for program in "${programs[@]}"; do
  for lib in $(ldd "$program" | awk '/=> \// {print $3} /^\s*\/lib/ {print $1}'); do
    owner=$(dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null \
      || dpkg -S "/usr$lib" 2>/dev/null) || { echo "no package owns $lib ($program)" >&2; exit 1; }
    packages+=("${owner%%:*}")
  done
done
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
echo "==> image packages: ${packages[*]}"
mkdir -p "$debs"
# Debian's current version of each (a security update since this machine's install included).
# Package lists older than the archive name files it no longer has: refresh them once, then.
download() { apt-get -o APT::Sandbox::User=root download -q "$1"; }
# A cached file is reused only while it is the candidate version (its epoch's colon is
# written %3a in the file name).
(cd "$debs" && for p in "${packages[@]}"; do
   candidate=$(apt-cache policy "$p" | awk '/Candidate:/ {print $2}')
   ls "${p}_${candidate//:/%3a}_"*.deb >/dev/null 2>&1 && continue
   rm -f "${p}_"*.deb
   download "$p" || { apt-get -o DPkg::Lock::Timeout=900 update -q && download "$p"; }
 done)

# --- 2. The root filesystem.
rm -rf "$rootfs"
mkdir -p "$rootfs"
for p in "${packages[@]}"; do dpkg-deb -x "$(ls "$debs/${p}_"*.deb | head -1)" "$rootfs"; done
# What a package's scripts would have made: the shell link, the CA bundle, the loader cache.
[ -e "$rootfs/bin/sh" ] || ln -s dash "$rootfs/bin/sh"
mkdir -p "$rootfs/etc/ssl/certs"
cat "$rootfs"/usr/share/ca-certificates/mozilla/*.crt > "$rootfs/etc/ssl/certs/ca-certificates.crt"
echo 'include /etc/ld.so.conf.d/*.conf' > "$rootfs/etc/ld.so.conf"
ldconfig -r "$rootfs"
# Nothing that only people read.
rm -rf "$rootfs"/usr/share/{doc,man,info,locale,lintian,bug,bash-completion,perl5} \
       "$rootfs"/usr/share/gitweb "$rootfs"/usr/share/git-core/contrib
# The portal.
install -D -m 0755 "$bin" "$rootfs/opt/slipway/slipway"
strip --strip-debug "$rootfs/opt/slipway/slipway"
install -m 0644 "$hash" "$rootfs/opt/slipway/hash.txt"
mkdir -p "$rootfs/opt/slipway/site"
cp -r "$site"/. "$rootfs/opt/slipway/site/"
# Its user (ssh refuses to run for a uid without a passwd entry), its folders, and the mount
# points a container runtime fills in.
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nslipway:x:10001:10001:Slipway:/var/lib/slipway:/usr/sbin/nologin\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nslipway:x:10001:\n' > "$rootfs/etc/group"
mkdir -p "$rootfs"/{proc,sys,dev,tmp,root,var/lib/slipway}
chmod 1777 "$rootfs/tmp"
chown 10001:10001 "$rootfs/var/lib/slipway"

# --- 3. The image: one layer, its configuration, written as an OCI archive.
ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null 2>&1 || true' EXIT
mnt=$(buildah mount "$ctr")
cp -a "$rootfs"/. "$mnt"/
buildah unmount "$ctr" >/dev/null
# MIMALLOC_PURGE_DELAY=10: the allocator gives freed memory back to the system after 10 ms, not
# after a second of further allocation on the same thread (which idle threads never do): with
# 50,000 watched objects 149 MiB resident instead of 194, and most of what 10,000 closed status
# streams held returned. Not 0: giving back at once made every large page's buffers fresh pages
# again (madvise, TLB shootdowns, page faults: about a sixth of the CPU of the platform's year
# dashboard, 427 against 565 pages/s; docs/performance.md).
buildah config \
  --user 10001:10001 \
  --workingdir /var/lib/slipway \
  --entrypoint '["/opt/slipway/slipway"]' \
  --cmd serve \
  --port 3000 \
  --env PATH=/usr/bin:/bin \
  --env HOME=/var/lib/slipway \
  --env SLIPWAY_LISTEN=0.0.0.0:3000 \
  --env SLIPWAY_SITE_ROOT=/opt/slipway/site \
  --env SLIPWAY_DATA_DIR=/var/lib/slipway \
  --env DATABASE_URL=sqlite:///var/lib/slipway/slipway.db \
  --env MIMALLOC_PURGE_DELAY=10 \
  --label org.opencontainers.image.title=Slipway \
  --label org.opencontainers.image.source="$source" \
  --label org.opencontainers.image.version="$version" \
  --label org.opencontainers.image.revision="$revision" \
  --label org.opencontainers.image.licenses="$license" \
  "$ctr"
mkdir -p "$(dirname "$out")"
rm -f "$out"
buildah commit --quiet --format oci --disable-compression=false --rm "$ctr" "oci-archive:$out:slipway:$version" >/dev/null
trap - EXIT
echo "==> $out: $(du -m "$out" | cut -f1) MB (slipway:$version, revision $revision)"

#!/usr/bin/env bash
# Builds the runbook image from the Containerfile with podman (else docker) and prints the image reference as its
# last line.
#
#   scripts/image.sh [--tag REF] [--base IMAGE | --debian-base]
#
# --base IMAGE    the base image (default: the Containerfile's, python slim from Docker Hub).
# --debian-base   make the base from Debian packages instead (mmdebstrap + podman import; podman only), for machines
#                 that cannot pull from a registry; also used when the default base cannot be pulled. The base is
#                 made once per recipe and reused (localhost/kubectl-rollouts-profile-base:bookworm-<digest>).
# podman builds with --isolation chroot, which needs no container runtime (works inside a container or sandbox).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[image] %s\n' "$*" >&2; }

version=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' kubectl_rollouts_profile/__init__.py)
tag="localhost/kubectl-rollouts-profile:v$version"
base=""
debian_base=0
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=$2; shift 2 ;;
    --base) base=$2; shift 2 ;;
    --debian-base) debian_base=1; shift ;;
    *) echo "usage: scripts/image.sh [--tag REF] [--base IMAGE | --debian-base]" >&2; exit 2 ;;
  esac
done

if command -v podman >/dev/null 2>&1; then
  engine=podman
elif command -v docker >/dev/null 2>&1; then
  engine=docker
else
  echo "error: neither podman nor docker is installed" >&2
  echo "hint: apt-get install podman (or install docker)" >&2
  exit 3
fi

# What the plugin needs to run: Python with its venv module, the C++ runtime numpy links against, the CA roots. The
# base is tagged with a digest of this recipe, so a changed recipe makes a new base and an unchanged one is reused.
debian_suite=bookworm
debian_packages=python3,python3-venv,libstdc++6,ca-certificates
recipe_digest=$(printf '%s %s' "$debian_suite" "$debian_packages" | sha256sum | cut -c1-12)
debian_base_image=localhost/kubectl-rollouts-profile-base:$debian_suite-$recipe_digest
make_debian_base() {
  if [ "$engine" != podman ]; then
    echo "error: the Debian base is imported with podman; pass --base IMAGE to build with docker" >&2
    exit 3
  fi
  if podman image exists "$debian_base_image"; then
    log "reusing the Debian base $debian_base_image"
    return
  fi
  command -v mmdebstrap >/dev/null 2>&1 || { echo "error: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 3; }
  local rootfs
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' RETURN
  log "making the Debian base $debian_base_image from packages ($debian_suite: essential + $debian_packages)"
  # The essential set (no apt) plus the packages above; caches, docs and manuals removed.
  mmdebstrap --quiet --variant=essential --include="$debian_packages" \
    --customize-hook='rm -rf "$1"/var/cache/* "$1"/var/lib/apt/lists/* "$1"/usr/share/doc/* "$1"/usr/share/man/*' \
    "$debian_suite" "$rootfs/base.tar" >&2
  podman import --quiet "$rootfs/base.tar" "$debian_base_image" >/dev/null
}

if [ -z "$base" ] && [ $debian_base = 0 ]; then
  default_base=$(sed -n 's/^ARG BASE=//p' Containerfile)
  if $engine pull --quiet "$default_base" >/dev/null 2>&1; then
    base=$default_base
  else
    log "cannot pull $default_base: making the base from Debian packages instead"
    debian_base=1
  fi
fi
if [ $debian_base = 1 ]; then
  make_debian_base
  base=$debian_base_image
fi

# The CA bundle this host's pip trusts (PIP_CERT, SSL_CERT_FILE, else the system's, where a TLS-inspecting proxy's CA
# is installed), handed to the build's pip step as a secret: it is not copied into the image.
build_args=(--build-arg "BASE=$base" --tag "$tag" --file Containerfile)
ca_bundle=${PIP_CERT:-${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}}
if [ -n "$ca_bundle" ] && [ -s "$ca_bundle" ]; then
  build_args+=(--secret "id=pip-ca,src=$ca_bundle")
fi
log "building $tag on $base with $engine"
if [ "$engine" = podman ]; then
  podman build --quiet --isolation chroot "${build_args[@]}" . >/dev/null
else
  DOCKER_BUILDKIT=1 docker build --quiet "${build_args[@]}" . >/dev/null
fi
echo "$tag"

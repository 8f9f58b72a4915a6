# Shared by scripts/serve and scripts/test: install what is missing, start
# what is down. Sourced, not run.

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Runs a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else
    echo "need root to run: $*  (install sudo or run as root)" >&2
    return 1
  fi
}

APT_UPDATED=
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "missing: $* — install it with your system's package manager" >&2
    return 1
  fi
  if [ -z "$APT_UPDATED" ]; then
    as_root apt-get update -qq
    APT_UPDATED=1
  fi
  say "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# The directory with initdb/pg_ctl/postgres, as the server looks for it.
pg_bin_dir() {
  local dir
  for dir in $(printf '%s' "$PATH" | tr ':' ' ') $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
      echo "$dir"
      return 0
    fi
  done
  return 1
}

ensure_postgres_binaries() {
  pg_bin_dir >/dev/null || apt_install postgresql postgresql-client
  pg_bin_dir >/dev/null
}

# The SAML sign-in (samael) builds against libxmlsec1 and libxml2 through
# bindgen, which needs libclang: whatever builds the server needs them.
ensure_saml_build_deps() {
  local missing=()
  if ! command -v pkg-config >/dev/null 2>&1; then
    missing+=(pkg-config libxmlsec1-dev libxml2-dev libssl-dev)
  else
    pkg-config --exists xmlsec1 || missing+=(libxmlsec1-dev)
    pkg-config --exists libxml-2.0 || missing+=(libxml2-dev)
    pkg-config --exists openssl || missing+=(libssl-dev)
  fi
  # bindgen needs libclang itself; libclang-cpp (often installed alone) is not it.
  ls /usr/lib/llvm-*/lib/libclang*.so* /usr/lib/*/libclang*.so* 2>/dev/null | grep -qv 'libclang-cpp' \
    || missing+=(libclang-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
}

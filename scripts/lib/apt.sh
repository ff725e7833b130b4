# shellcheck shell=bash
# Shared by the scripts that install Debian packages. Source it, then
# `apt_ensure <who> <package>...`.
#
# Installs only what is missing, as root or through passwordless sudo
# (`sudo -n`: never a password prompt). The package lists are refreshed before
# every install: a new machine's lists are stale and would give old versions
# (rustc-web 1.85 instead of 1.96 on bookworm). Without root, or without apt,
# it prints one line saying what to install and returns 1.

# Prints the packages among the arguments that are not installed.
apt_missing() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$pkg"
  done
}

# True when this process may run commands as root without a password.
can_be_root() {
  [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }
}

# Runs a command as root: directly, or through passwordless sudo.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

apt_ensure() {
  local who=$1
  shift
  if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
    echo "$who: needs the Debian packages $* (or this system's equivalents); there is no apt-get here: install them, then run this again" >&2
    return 1
  fi
  local missing
  mapfile -t missing < <(apt_missing "$@")
  [ ${#missing[@]} -gt 0 ] || return 0
  if ! can_be_root; then
    echo "$who: missing ${missing[*]}: run 'sudo apt-get update && sudo apt-get install ${missing[*]}' (not root, and sudo needs a password)" >&2
    return 1
  fi
  echo "$who: installing ${missing[*]} (apt-get update, then apt-get install)" >&2
  local log
  log=$(mktemp)
  if ! as_root apt-get update -q >"$log" 2>&1 ||
    ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
    tail -n 20 "$log" >&2
    rm -f "$log"
    echo "$who: apt-get could not install ${missing[*]} (its last lines are above)" >&2
    return 1
  fi
  rm -f "$log"
  mapfile -t missing < <(apt_missing "${missing[@]}")
  if [ ${#missing[@]} -gt 0 ]; then
    echo "$who: ${missing[*]} still not installed after apt-get install" >&2
    return 1
  fi
}

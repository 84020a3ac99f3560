#!/usr/bin/env bash
# tests/fresh/test_fresh.sh — the README's two commands on a truly fresh
# Debian 12 (make test-fresh).
#
# Builds a minimal Debian 12 root (debootstrap --variant=minbase bookworm)
# under .run/fresh/root, installs only git and make in it (and
# ca-certificates, which carries this machine's own CA over), clones this
# repository's HEAD into it and runs `make demo` and then `make test` there,
# as root, with CI=true and no input. Nothing of the project is installed
# beforehand: deploy/deps.sh inside the root has to install everything.
#
# What is carried over from this machine is only what its package clients
# need to reach the registries: apt's sources and apt.conf.d, the locally
# added CA certificates (/usr/local/share/ca-certificates), npm's and Maven's
# configuration files, /etc/resolv.conf, and the proxy variables if set.
#
# Isolation: the root runs in its own mount and PID namespaces (unshare), so
# /proc, /dev and /sys are mounted only there and vanish with it on every
# exit path, and its processes cannot see or signal the machine's. The
# network is shared (the registries must be reachable), so the inner broker
# and PostgreSQL use their own ports: the broker KOMEK_FRESH_KAFKA_PORT
# (default 39092, controller +1), and PostgreSQL a private cluster (pg.sh's
# path for a machine with no server: the inner pg.sh is pointed at a port
# where nothing listens, as on a fresh machine where the Debian package's
# own cluster is not started — daemons never start inside the root, via
# policy-rc.d, as in any Debian chroot).
#
# Passes when both commands exit 0, the demo printed its report, and the
# suite's last line says 0 failed. Prints "N passed, N failed" last.
# Environment: KOMEK_FRESH_MIRROR (default: the first Debian URI of
# this machine's apt sources), KOMEK_FRESH_TIMEOUT (minutes, default 50),
# KOMEK_FRESH_KEEP=1 keeps the root afterwards (for a look inside).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$(pwd -P)
FRESH="$ROOT/.run/fresh"
TARGET="$FRESH/root"
CACHE="$FRESH/cache"
LOG="$FRESH/log"
KPORT=${KOMEK_FRESH_KAFKA_PORT:-39092}
TIMEOUT_MIN=${KOMEK_FRESH_TIMEOUT:-50}

pass=0 fail=0
ok() { echo "ok   $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }
finish() {
  echo "$pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
}
say() { echo "fresh: $*"; }

[ "$(id -u)" -eq 0 ] || { bad "needs root (debootstrap, chroot, unshare)"; finish; }
for t in debootstrap unshare chroot git findmnt; do
  command -v "$t" >/dev/null || { bad "$t missing (make deps installs it)"; finish; }
done

# Nothing may stay mounted under the root: every mount is made inside a
# private mount namespace, so this only finds leftovers of a foreign tool.
mounted_under() { findmnt -rn -o TARGET | awk -v t="$TARGET" 'index($0, t) == 1'; }
clean_root() {
  local m
  for m in $(mounted_under | sort -r); do umount -l "$m" 2>/dev/null || true; done
  if [ -n "$(mounted_under)" ]; then
    echo "fresh: still mounted under $TARGET; not removing it" >&2
    return 1
  fi
  [ -e "$TARGET" ] || return 0
  # A root is ~3 GB in ~100k files: removing it can take minutes on a busy
  # disk, so it is moved aside and removed in the background (the next run
  # removes what is left). --one-file-system: never descend into a mount.
  local trash="$FRESH/trash.$$.$RANDOM"
  mv "$TARGET" "$trash" || return 1
  setsid nohup rm -rf --one-file-system "$FRESH"/trash.* </dev/null >/dev/null 2>&1 &
}

mirror=${KOMEK_FRESH_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '/^URIs:/ && $2 ~ /\/debian\/?$/ { print $2; exit }')
fi
if [ -z "$mirror" ]; then
  mirror=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
fi
mirror=${mirror:-http://deb.debian.org/debian}

mkdir -p "$FRESH" "$CACHE"
: >"$LOG"
clean_root || { bad "an old root under $TARGET cannot be removed"; finish; }
trap '[ "${KOMEK_FRESH_KEEP:-}" = 1 ] || clean_root' EXIT

# ---- 1. a minimal Debian 12 root ------------------------------------------
t0=$(date +%s)
say "debootstrap --variant=minbase bookworm from $mirror (log: $LOG)"
if unshare --mount --propagation private \
  debootstrap --variant=minbase --cache-dir="$CACHE" bookworm "$TARGET" "$mirror" >>"$LOG" 2>&1; then
  ok "debootstrap minbase bookworm ($(($(date +%s) - t0)) s)"
else
  bad "debootstrap failed; last lines of $LOG:"
  tail -5 "$LOG"
  finish
fi

# ---- 2. this machine's package-client setup, nothing of the project -------
copy() { # copy FILE... into the root at the same path, when it exists
  local f
  for f in "$@"; do
    [ -e "$f" ] || continue
    mkdir -p "$TARGET$(dirname "$f")"
    cp -a "$f" "$TARGET$f"
  done
}
# the machine's apt sources replace the one debootstrap wrote
rm -f "$TARGET/etc/apt/sources.list"
copy /etc/resolv.conf /etc/apt/sources.list
copy /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources
copy /etc/apt/apt.conf.d/* /etc/apt/trusted.gpg.d/*
copy /usr/local/share/ca-certificates/*
copy /etc/npmrc /usr/etc/npmrc /root/.npmrc /root/.m2/settings.xml /etc/maven/settings.xml
# Sources whose keyrings the minimal root does not have would break apt.
for f in "$TARGET"/etc/apt/sources.list.d/*; do
  [ -e "$f" ] || continue
  for k in $(awk '/Signed-By:/ { print $2 }' "$f") $(grep -o 'signed-by=[^] ]*' "$f" | cut -d= -f2); do
    [ -e "$k" ] && copy "$k"
  done
done
printf '#!/bin/sh\n# no daemons start inside the test root\nexit 101\n' >"$TARGET/usr/sbin/policy-rc.d"
chmod 755 "$TARGET/usr/sbin/policy-rc.d"

# Run a command inside the root: own mount and PID namespaces, /proc, /dev,
# /dev/pts, /dev/shm and /sys mounted there only, a clean environment.
inside() {
  local envs=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
    LANG=C.UTF-8 TERM=dumb CI=true DEBIAN_FRONTEND=noninteractive
    KOMEK_KAFKA_PORT="$KPORT" KOMEK_KAFKA_CONTROLLER_PORT=$((KPORT + 1))
    KOMEK_PG_PORT=1)
  local v
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [ -n "${!v:-}" ] && envs+=("$v=${!v}")
  done
  unshare --mount --propagation private --pid --fork --kill-child \
    bash -c '
      set -e
      t=$1; shift
      # the root a mount of its own, as / is on a machine (ip netns needs it)
      mount --bind "$t" "$t"
      mount -t proc proc "$t/proc"
      mount --rbind /dev "$t/dev"
      mount -t tmpfs -o mode=1777 tmpfs "$t/dev/shm"
      mount -t sysfs sysfs "$t/sys"
      exec chroot "$t" /usr/bin/env -i "$@"
    ' fresh "$TARGET" "${envs[@]}" bash -c "$1" </dev/null
}

t0=$(date +%s)
if inside 'set -e
  apt-get update -q
  apt-get install -y -q --no-install-recommends git make ca-certificates
  update-ca-certificates' >>"$LOG" 2>&1; then
  ok "git and make installed in the root ($(($(date +%s) - t0)) s)"
else
  bad "apt-get install git make in the root failed; last lines of $LOG:"
  tail -5 "$LOG"
  finish
fi

# ---- 3. the README, as a newcomer types it ---------------------------------
rev=$(git rev-parse --short HEAD)
if git clone -q --no-local "file://$ROOT" "$TARGET/root/komek" >>"$LOG" 2>&1; then
  ok "cloned $rev into the root"
else
  bad "git clone failed"
  finish
fi

secs() { echo "$(($1 / 60)) min $(($1 % 60)) s"; }
# Both commands in one session of the root, as a newcomer runs them: the
# services `make demo` starts are still up for `make test`; `make down` at
# the end stops them cleanly before the namespace ends.
say "make demo, then make test, inside the root (logs: $FRESH/demo.log, $FRESH/test.log)"
t0=$(date +%s)
# shellcheck disable=SC2016
timeout --kill-after=30 $((TIMEOUT_MIN * 60)) bash -c "$(declare -f inside)
  KPORT=$KPORT TARGET=$TARGET inside '
    cd /root/komek
    s=\$(date +%s); make demo >/root/demo.log 2>&1; echo \$? \$((\$(date +%s) - s)) >/root/demo.rc
    s=\$(date +%s); make test >/root/test.log 2>&1; echo \$? \$((\$(date +%s) - s)) >/root/test.rc
    make down >/root/down.log 2>&1'" >>"$LOG" 2>&1
rc=$?
[ $rc -eq 0 ] || say "the root's session ended with $rc after $(secs $(($(date +%s) - t0))) (124: timeout)"
cp "$TARGET/root/demo.log" "$FRESH/demo.log" 2>/dev/null
cp "$TARGET/root/test.log" "$FRESH/test.log" 2>/dev/null
rm -rf "$FRESH/logs" && cp -r "$TARGET/root/komek/.run/test-logs" "$FRESH/logs" 2>/dev/null
read -r demo_rc demo_s <"$TARGET/root/demo.rc" 2>/dev/null || { demo_rc=none demo_s=0; }
read -r test_rc test_s <"$TARGET/root/test.rc" 2>/dev/null || { test_rc=none test_s=0; }

if [ "$demo_rc" = 0 ]; then
  ok "make demo exit 0 on the fresh root ($(secs "$demo_s"), installing deps included)"
else
  bad "make demo exit $demo_rc after $(secs "$demo_s"); last lines:"
  tail -15 "$FRESH/demo.log" 2>/dev/null
fi
if grep -q 'Сводка komek за неделю' "$FRESH/demo.log" 2>/dev/null &&
  [ -s "$TARGET/root/komek/.run/demo/report.html" ]; then
  ok "the demo printed its weekly report and wrote report.html"
else
  bad "no weekly report in the demo's output"
fi
last=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$FRESH/test.log" 2>/dev/null | tail -1)
if [ "$test_rc" = 0 ] && [[ $last =~ ^[1-9][0-9]*\ passed,\ 0\ failed ]]; then
  ok "make test exit 0 on the fresh root: $last ($(secs "$test_s"))"
else
  bad "make test exit $test_rc after $(secs "$test_s"): ${last:-no summary line}; failures:"
  # each failed test's block as tests/run.sh printed it: its line, its
  # failed checks, its log's last lines (the root's logs are kept in
  # $FRESH/logs, the root itself goes)
  awk '/^FAIL  / { on = 1 } on { print } /^-----$/ { on = 0 }' \
    "$FRESH/test.log" 2>/dev/null | head -200
  tail -5 "$FRESH/test.log" 2>/dev/null
fi

if [ -z "$(mounted_under)" ]; then
  ok "nothing of the root is mounted on the machine"
else
  bad "mounts left under $TARGET: $(mounted_under | tr '\n' ' ')"
fi
finish

#!/usr/bin/env bash
# Installs what the forwarding tests need when it is missing: rsyslogd with
# imrelp (Debian's rsyslog and rsyslog-relp). `.ci/run` calls it, and the
# tests themselves (test-support/src/rsyslog.rs) when they find no rsyslogd,
# so that `cargo test --workspace` works on a fresh machine run as root.
# Exit status 0 if rsyslogd and imrelp.so are there afterwards.
set -euo pipefail

have_rsyslog() {
    { command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ]; } &&
        compgen -G '/usr/lib/*/rsyslog/imrelp.so' >/dev/null
}
have_rsyslog && exit 0
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "rsyslogd or imrelp.so not found, and this is not root on a Debian-like system: install rsyslog and rsyslog-relp (apt-get install rsyslog rsyslog-relp)" >&2
    exit 1
fi
echo "== installing rsyslog rsyslog-relp (the forwarding tests run a private rsyslogd)" >&2
# Keep the packages' scripts from starting the system rsyslogd: the tests
# run their own. policy-rc.d exiting 101 forbids service actions to
# invoke-rc.d and deb-systemd-invoke; only a file this script made is
# removed.
policy=/usr/sbin/policy-rc.d
ours=
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && ours=1
fi
status=0
{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsyslog rsyslog-relp >/dev/null; } || status=$?
if [ -n "$ours" ]; then rm -f "$policy"; fi
[ "$status" = 0 ] || exit "$status"
have_rsyslog

#!/bin/bash
# Installs a Berth package on a clean Debian 12 root made with debootstrap (nothing of the build machine:
# no Swift, no project files) and checks what an operator relies on:
#   apt resolves its dependencies; `berth version` and `berth check-config` run; /etc/ecs/ecs.config is a
#   conffile that an upgrade keeps and purge removes; the data directory exists, private; the unit is
#   installed and enabled; the binary needs no library its dependencies do not bring.
#
#   packaging/test-install.sh packaging/berth_<version>_<arch>.deb
set -euo pipefail

package="$(realpath "$1")"
mirror="${BERTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
root="$(mktemp -d /var/tmp/berth-install-XXXXXX)"
cleanup() { umount "$root/proc" 2>/dev/null || true; rm -rf "$root"; }
trap cleanup EXIT
failures=0

fail() { echo "test-install: FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "test-install: ok: $*"; }
in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

echo "test-install: debootstrap bookworm (minbase) into $root"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 \
    || { tail -20 "$root.debootstrap.log" >&2; rm -f "$root.debootstrap.log"; exit 1; }
rm -f "$root.debootstrap.log"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# As on a running machine (Swift reads its arguments from /proc/self/cmdline).
mount -t proc proc "$root/proc"
# A root being built, as in an image build: no service starts.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
cp "$package" "$root/tmp/berth.deb"

[ ! -e "$root/opt/swift" ] && ! in_root sh -c 'ls /usr/lib/swift* >/dev/null 2>&1' \
    && pass "the root has no Swift" || fail "the root has a Swift toolchain"

in_root apt-get update -qq >/dev/null 2>&1
if in_root apt-get install -y -qq --no-install-recommends /tmp/berth.deb >"$root/tmp/install.log" 2>&1; then
    pass "apt-get install resolves the package's dependencies"
else
    cat "$root/tmp/install.log" >&2
    fail "apt-get install"
    exit 1
fi

version="$(tr -d ' \n' < "$(dirname "$0")/../VERSION")"
printed="$(in_root berth version)" || fail "berth version exits $?"
[[ "$printed" == "berth $version (commit "* ]] && pass "berth version: $printed" || fail "berth version printed '$printed'"

missing="$(in_root ldd /usr/bin/berth | grep -E 'not found|swift' || true)"
[ -z "$missing" ] && pass "every shared library is there; none is Swift's" || fail "libraries: $missing"

if report="$(in_root berth check-config 2>&1)"; then
    echo "$report" | grep -q 'us-east-1' && pass "berth check-config reads /etc/ecs/ecs.config" \
        || fail "check-config did not show the region: $report"
else
    fail "berth check-config: $report"
fi

in_root dpkg-query -W -f='${Conffiles}\n' berth | grep -q '^ /etc/ecs/ecs.config ' \
    && pass "/etc/ecs/ecs.config is a conffile" || fail "/etc/ecs/ecs.config is not a conffile"
[ "$(stat -c %a "$root/var/lib/ecs/data")" = 700 ] && pass "/var/lib/ecs/data exists, mode 700" \
    || fail "/var/lib/ecs/data: $(stat -c %a "$root/var/lib/ecs/data" 2>&1)"
[ -f "$root/lib/systemd/system/berth.service" ] && pass "the unit is installed" || fail "no unit file"
[ "$(readlink "$root/etc/systemd/system/multi-user.target.wants/berth.service")" = /lib/systemd/system/berth.service ] \
    && pass "postinst enabled berth.service" || fail "berth.service is not enabled"

# The operator's edits survive an upgrade (here: the same package again).
echo "ECS_CLUSTER=edited-by-operator" >> "$root/etc/ecs/ecs.config"
in_root dpkg -i /tmp/berth.deb >/dev/null 2>&1 || fail "reinstalling"
in_root berth check-config 2>&1 | grep -q 'edited-by-operator' && pass "an upgrade keeps the edited conffile" \
    || fail "the edited conffile was replaced"

in_root apt-get remove -y -qq berth >/dev/null 2>&1 || fail "apt-get remove"
[ ! -e "$root/usr/bin/berth" ] && [ -f "$root/etc/ecs/ecs.config" ] && [ -d "$root/var/lib/ecs/data" ] \
    && pass "remove takes the binary, keeps the configuration and the data directory" \
    || fail "after remove: $(ls -ld "$root/usr/bin/berth" "$root/etc/ecs/ecs.config" "$root/var/lib/ecs/data" 2>&1)"
in_root dpkg --purge berth >/dev/null 2>&1 || fail "dpkg --purge"
[ ! -e "$root/etc/ecs/ecs.config" ] && [ ! -e "$root/etc/systemd/system/multi-user.target.wants/berth.service" ] \
    && pass "purge takes the conffile and the unit's enablement" || fail "after purge"

if [ "$failures" -gt 0 ]; then
    echo "test-install: $failures check(s) failed" >&2
    exit 1
fi
echo "test-install: every check passed"

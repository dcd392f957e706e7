#!/bin/bash
# Builds packaging/berth_<version>_<arch>.deb: the berth binary with the Swift runtime linked in
# statically, the systemd unit, /etc/ecs/ecs.config as a conffile, and maintainer scripts that make the
# data directory /var/lib/ecs/data and enable the unit. The dependencies on shared libraries come from
# dpkg-shlibdeps, reading the binary itself.
#
#   packaging/build-deb.sh [--configuration release|debug]
#
# `make deb` builds the release package; `make test` packages its debug build to test installing it.
set -euo pipefail

configuration=release
while [ $# -gt 0 ]; do
    case "$1" in
        --configuration) configuration="$2"; shift 2 ;;
        *) echo "build-deb: unknown argument $1" >&2; exit 2 ;;
    esac
done

repository="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repository"
version="$(tr -d ' \n' < VERSION)"
architecture="$(dpkg --print-architecture)"
package="packaging/berth_${version}_${architecture}.deb"
staging="packaging/build/root"

# The same warning flags as every other build, so that this one reuses what `make build` compiled.
#
# Foundation's static libraries need their own dependencies on the link line (CoreFoundation, the ICU
# data, Foundation's C shims). swiftc finds them in the autolink entries of objects compiled against the
# static resource directory, but after a dynamic build SwiftPM does not always recompile those objects:
# CI saw such links fail, twice in a row, with "undefined reference to CFBundleGetMainBundle" and to
# swift_ICU symbols. So they are named here, in a group of their own so that the linker resolves them in any
# order; when the autolink entries name them too, nothing changes.
# The ordinary build (the same flags as `make test`, so nothing is rebuilt), then its objects linked again
# with the Swift runtime and Foundation inside (see link-static.py for why not --static-swift-stdlib).
flags=(-Xswiftc -warnings-as-errors)
if [ "$configuration" = release ]; then
    # The same flags as `make release` (see the Makefile).
    read -ra release_flags < packaging/release-swift-flags
    flags+=("${release_flags[@]}")
fi
swift build -c "$configuration" --product berth "${flags[@]}"
binary="packaging/build-static/berth"
mkdir -p packaging/build-static
packaging/link-static.py "$configuration" "$binary"
if ldd "$binary" | grep -q libswiftCore; then
    echo "build-deb: $binary still loads the Swift runtime dynamically" >&2
    exit 1
fi

rm -rf packaging/build
# /var/lib/ecs/data is made by postinst, not shipped: dpkg would remove it with the package when empty.
mkdir -p "$staging/DEBIAN" "$staging/usr/bin" "$staging/lib/systemd/system" "$staging/etc/ecs" \
    "$staging/usr/share/doc/berth"
install -m 0755 "$binary" "$staging/usr/bin/berth"
strip --strip-unneeded "$staging/usr/bin/berth"
install -m 0644 systemd/berth.service "$staging/lib/systemd/system/berth.service"
install -m 0644 etc/ecs/ecs.config "$staging/etc/ecs/ecs.config"
install -m 0644 README.md "$staging/usr/share/doc/berth/README.md"
install -m 0644 packaging/debian/copyright "$staging/usr/share/doc/berth/copyright"
for script in postinst prerm postrm; do
    install -m 0755 "packaging/debian/$script" "$staging/DEBIAN/$script"
done
install -m 0644 packaging/debian/conffiles "$staging/DEBIAN/conffiles"

# dpkg-shlibdeps wants a source package's debian/control to read; a minimal one in the build folder.
mkdir -p packaging/build/debian
printf 'Source: berth\n\nPackage: berth\nArchitecture: any\n' > packaging/build/debian/control
shlibs="$(cd packaging/build && dpkg-shlibdeps -O -e root/usr/bin/berth 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
if [ -z "$shlibs" ]; then
    echo "build-deb: dpkg-shlibdeps found no shared-library dependencies" >&2
    exit 1
fi

sed -e "s/@VERSION@/$version/" -e "s/@ARCHITECTURE@/$architecture/" -e "s/@SHLIBS@/$shlibs/" \
    -e "s/@SIZE@/$(du -sk "$staging" | cut -f1)/" packaging/debian/control > "$staging/DEBIAN/control"

dpkg-deb --root-owner-group -Zgzip --build "$staging" "$package" >/dev/null
echo "build-deb: $package ($configuration, $(du -h "$package" | cut -f1))"
dpkg-deb --field "$package" Package Version Architecture Depends

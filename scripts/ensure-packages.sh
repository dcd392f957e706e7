#!/usr/bin/env bash
# Installs the Debian packages Berth needs to build, run and test, when any is missing.
# Run as root on Debian 12. Quick when everything is installed: no apt-get at all.
set -euo pipefail

packages=(
    docker.io            # dockerd and the docker CLI
    docker-registry      # the local registries the tests pull from
    busybox-static       # the test image is built from it (there is no Docker Hub here)
    apache2-utils        # htpasswd, for the registry with basic auth
    libsqlite3-dev       # state store
    libsystemd-dev       # sd_notify, journald
    libcurl4-openssl-dev # Foundation's networking on Debian
    systemd              # systemd-analyze, to verify the unit
    dpkg-dev             # dpkg-shlibdeps, for the package's dependencies (make deb)
    binutils             # strip (make deb)
    debootstrap          # a clean Debian root to test installing the package in
    iproute2             # ip: the network namespaces of the many-host tests
    util-linux           # nsenter: a dockerd and an agent in each of those namespaces
    postgresql-15        # the tests' own PostgreSQL server (scripts/test-postgres.sh): replicas' shared state
    postgresql-client-15 # createdb and dropdb, for a database per test
    pkg-config
    curl
    ca-certificates
)

missing=()
for package in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$package")
done

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "ensure-packages: missing ${missing[*]}; run as root (or install them) first" >&2
        exit 1
    fi
    echo "ensure-packages: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

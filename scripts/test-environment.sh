#!/usr/bin/env bash
# Prepares everything the tests need on a Debian 12 machine, as root, and is idempotent:
#   - system packages, dockerd running;
#   - the test image berth-test/busybox:latest, built locally with `docker import` from busybox-static;
#   - two registries on loopback, 127.0.0.1:51670 (open) and 127.0.0.1:51671 (htpasswd basic auth),
#     each holding the test image as berth/busybox:latest;
#   - a PostgreSQL server of the tests' own (scripts/test-postgres.sh).
# The names and credentials are the defaults of Tests/DockerEngineIntegrationTests/TestEnvironment.swift.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=${BERTH_TEST_STATE:-/var/lib/berth-test}
logs=${BERTH_TEST_LOGS:-/var/log/berth-test}
image=berth-test/busybox:latest
open_registry=127.0.0.1:51670
auth_registry=127.0.0.1:51671
user=berth-test
password=berth-test-password

"$here/ensure-packages.sh"
"$here/ensure-dockerd.sh"
mkdir -p "$state" "$logs"

# The test image: static busybox and its applets, nothing else.
if ! docker image inspect "$image" >/dev/null 2>&1; then
    echo "test-environment: building $image from busybox-static"
    root=$(mktemp -d)
    trap 'rm -rf "$root"' EXIT
    mkdir -p "$root"/{bin,etc,tmp,root,www}
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [[ "$applet" == busybox ]] || ln -sf busybox "$root/bin/$applet"
    done
    echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
    echo 'nobody:x:65534:65534:nobody:/:/bin/false' >>"$root/etc/passwd"
    echo 'root:x:0:' >"$root/etc/group"
    tar -C "$root" -c . | docker import -c 'CMD ["sh"]' -c 'ENV PATH=/bin' - "$image" >/dev/null
fi

# The registries.
registry_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" || true; }

start_registry() { # name address [auth]
    local name=$1 address=$2 auth=${3:-}
    local config="$state/registry-$name.yml"
    {
        echo "version: 0.1"
        echo "log: {level: warn, accesslog: {disabled: true}}"
        echo "storage: {filesystem: {rootdirectory: $state/registry-$name}, delete: {enabled: true}}"
        echo "http: {addr: $address}"
        [[ -n "$auth" ]] && echo "auth: {htpasswd: {realm: berth-test, path: $state/htpasswd}}"
    } >"$config"
    mkdir -p "$state/registry-$name"
    echo "test-environment: starting registry $name on $address (log: $logs/registry-$name.log)"
    nohup docker-registry serve "$config" >>"$logs/registry-$name.log" 2>&1 </dev/null &
}

wait_for() { # address expected-status
    for _ in $(seq 1 60); do
        [[ $(registry_status "http://$1/v2/") == "$2" ]] && return 0
        sleep 0.5
    done
    echo "test-environment: registry on $1 did not answer; see $logs" >&2
    exit 1
}

[[ -s "$state/htpasswd" ]] || htpasswd -Bbn "$user" "$password" >"$state/htpasswd"
[[ $(registry_status "http://$open_registry/v2/") == 200 ]] || start_registry open "$open_registry"
[[ $(registry_status "http://$auth_registry/v2/") == 401 ]] || start_registry auth "$auth_registry" yes
wait_for "$open_registry" 200
wait_for "$auth_registry" 401

# The image in both registries, under one repository per test suite that pulls and removes it, so one
# suite removing its copy never pulls the image from under another running in parallel.
repositories=(berth/busybox berth/agent-busybox berth/api-busybox)
manifest=application/vnd.docker.distribution.manifest.v2+json
has_image() { [[ $(registry_status -H "Accept: $manifest" "$@") == 200 ]]; }

push() { # registry repository
    local target="$1/$2:latest"
    echo "test-environment: pushing $image to $target"
    docker tag "$image" "$target"
    docker push "$target" >/dev/null
    docker rmi "$target" >/dev/null
}

for repository in "${repositories[@]}"; do
    has_image "http://$open_registry/v2/$repository/manifests/latest" || push "$open_registry" "$repository"
done
login_config=
for repository in "${repositories[@]}"; do
    has_image -u "$user:$password" "http://$auth_registry/v2/$repository/manifests/latest" && continue
    if [[ -z $login_config ]]; then
        # Log in with a throwaway client configuration, so no credentials stay on the machine.
        login_config=$(mktemp -d)
        export DOCKER_CONFIG=$login_config
        echo "$password" | docker login -u "$user" --password-stdin "$auth_registry" >/dev/null 2>&1 ||
            { echo "test-environment: cannot log in to $auth_registry" >&2; exit 1; }
    fi
    push "$auth_registry" "$repository"
done
if [[ -n $login_config ]]; then
    rm -rf "$login_config"
    unset DOCKER_CONFIG
fi
# The tests' own PostgreSQL server, on a Unix socket only.
"$here/test-postgres.sh" start
echo "test-environment: ready (dockerd, $image, registries $open_registry and $auth_registry, PostgreSQL on /run/berth-test/postgres)"

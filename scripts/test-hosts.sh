#!/usr/bin/env bash
# Several hosts on this machine, for the many-host tests (as root, idempotent):
#   scripts/test-hosts.sh up [COUNT]    network namespaces berth-h1..COUNT joined by the bridge berthhosts0
#                                        (10.77.0.1 in this namespace, 10.77.0.1N in host N), each with its own
#                                        dockerd on /run/berth-hosts/hN/docker.sock holding the test image;
#   scripts/test-hosts.sh down [COUNT]  stops those dockerds and removes the namespaces, the bridge and their
#                                        state.
# dockerd is started with nsenter --net (not `ip netns exec`, which remounts /sys, after which dockerd fails
# with "Devices cgroup isn't mounted"). Traffic stays on the bridge: nothing is routed off this machine.
set -euo pipefail

action=${1:-up}
count=${2:-3}
bridge=berthhosts0
prefix=10.77.0
state=${BERTH_TEST_STATE:-/var/lib/berth-test}/hosts
run=/run/berth-hosts
image=berth-test/busybox:latest

stop_host() {
    local i=$1
    local pidfile="$run/h$i/dockerd.pid"
    if [[ -f "$pidfile" ]]; then
        local pid
        pid=$(cat "$pidfile")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$pidfile"
    fi
    ip netns del "berth-h$i" 2>/dev/null || true
    ip link del "bh$i" 2>/dev/null || true
}

start_host() {
    local i=$1
    local ns="berth-h$i"
    local dir="$state/h$i"
    local sock="$run/h$i/docker.sock"
    mkdir -p "$dir" "$run/h$i"
    ip netns list | grep -qw "$ns" || ip netns add "$ns"
    if ! ip link show "bh$i" >/dev/null 2>&1; then
        ip link add "bh$i" type veth peer name eth0 netns "$ns"
        ip link set "bh$i" master "$bridge" up
        ip -n "$ns" addr add "$prefix.$((10 + i))/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" link set lo up
        ip -n "$ns" route add default via "$prefix.1"
    fi
    if ! docker -H "unix://$sock" version >/dev/null 2>&1; then
        nsenter --net="/var/run/netns/$ns" dockerd \
            --data-root "$dir/docker" --exec-root "$run/h$i/exec" \
            -H "unix://$sock" --pidfile "$run/h$i/dockerd.pid" \
            --bip "172.$((30 + i)).0.1/24" >"$dir/dockerd.log" 2>&1 &
    fi
}

wait_for_host() {
    local i=$1
    local sock="$run/h$i/docker.sock"
    for _ in $(seq 1 600); do
        docker -H "unix://$sock" version >/dev/null 2>&1 && break
        sleep 0.1
    done
    if ! docker -H "unix://$sock" version >/dev/null 2>&1; then
        echo "test-hosts: the dockerd of host $i did not start:" >&2
        tail -20 "$state/h$i/dockerd.log" >&2
        exit 1
    fi
    if ! docker -H "unix://$sock" image inspect "$image" >/dev/null 2>&1; then
        docker save "$image" | docker -H "unix://$sock" load >/dev/null
    fi
}

case "$action" in
up)
    docker image inspect "$image" >/dev/null
    if ! ip link show "$bridge" >/dev/null 2>&1; then
        ip link add "$bridge" type bridge
        ip addr add "$prefix.1/24" dev "$bridge"
    fi
    ip link set "$bridge" up
    for i in $(seq 1 "$count"); do start_host "$i"; done
    for i in $(seq 1 "$count"); do wait_for_host "$i"; done
    ;;
down)
    for i in $(seq 1 "$count"); do stop_host "$i"; done
    ip link del "$bridge" 2>/dev/null || true
    # The hosts' dockerd state (images, stopped containers) is not kept between runs.
    rm -rf "$state"
    ;;
*)
    echo "usage: $0 up|down [COUNT]" >&2
    exit 2
    ;;
esac

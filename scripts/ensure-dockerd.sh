#!/usr/bin/env bash
# Starts dockerd in the background when nothing answers on its socket, and waits until it does.
set -euo pipefail

socket=${BERTH_TEST_DOCKER_SOCKET:-/var/run/docker.sock}
logs=${BERTH_TEST_LOGS:-/var/log/berth-test}

answers() { curl -sf --max-time 5 --unix-socket "$socket" http://docker/_ping >/dev/null 2>&1; }

answers && exit 0

# A dockerd that died (killed, or its machine image snapshotted while it ran) leaves its containers'
# network namespaces mounted under /run/docker/netns, their veths still on docker0. A new dockerd knows
# nothing of them, hands their addresses out again, and the stale namespace answers for the new
# container: a link's alias then reaches a namespace with nothing listening. Release them first.
if ! pgrep -x dockerd >/dev/null && [[ -d /run/docker/netns ]]; then
    for namespace in /run/docker/netns/*; do
        [[ -e "$namespace" && "$(basename "$namespace")" != default ]] || continue
        umount -l "$namespace" 2>/dev/null || true
        rm -f "$namespace"
    done
fi

if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    systemctl start docker.service || true
else
    mkdir -p "$logs"
    echo "ensure-dockerd: starting dockerd (log: $logs/dockerd.log)"
    nohup dockerd >>"$logs/dockerd.log" 2>&1 </dev/null &
fi

for _ in $(seq 1 120); do
    answers && exit 0
    sleep 0.5
done
echo "ensure-dockerd: dockerd did not answer on $socket within 60s; see $logs/dockerd.log" >&2
tail -n 20 "$logs/dockerd.log" >&2 || true
exit 1

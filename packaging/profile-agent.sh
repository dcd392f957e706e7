#!/bin/bash
# Writes packaging/agent-order.txt: the functions `berth agent` runs from its start until it idles
# connected to a control plane (configuration, recovery, registration, the payload channel, heartbeats).
# link-static.py places them first and together in the packaged binary, so that the pages of code an idle
# agent has touched are few: the kernel maps a binary's code in windows of 64 KiB or more around each page
# used, and with the code laid out by module the few functions used of each of the hundreds of objects
# pull in most of the binary (22 of 34 MiB resident idle; see packaging/README.md).
#
# The functions are found by running the packaged binary under callgrind against a `berth control-plane`
# on loopback. Run it again when the agent's start-up or idle path changes much; an older list still
# links (names it lacks are placed after it, as without a list).
#
#   packaging/profile-agent.sh [SECONDS_IDLE]     (as root, dockerd running; default 45)
set -euo pipefail

idle=${1:-45}
repository="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repository"
command -v valgrind >/dev/null || apt-get install -y valgrind >/dev/null
work=$(mktemp -d /tmp/berth-profile-XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

make --no-print-directory release
packaging/link-static.py release "$work/berth"
# valgrind cannot read the DWARF of Swift's static libraries; the symbol table is all it needs here.
objcopy --strip-debug "$work/berth"

port=51795
key=AKIDBERTHPROFILE0001
secret=berth-profile-secret-0001
cat >"$work/credentials" <<EOF
[agent]
aws_access_key_id = $key
aws_secret_access_key = $secret
EOF
cat >"$work/control-plane.config" <<EOF
AWS_DEFAULT_REGION=us-east-1
ECS_DATADIR=$work/control-plane
BERTH_API_LISTEN=127.0.0.1:$port
BERTH_API_CREDENTIALS_FILE=$work/credentials
ECS_LOGLEVEL=warn
EOF
cat >"$work/agent.config" <<EOF
AWS_DEFAULT_REGION=us-east-1
ECS_CLUSTER=default
ECS_DATADIR=$work/agent
ECS_BACKEND_HOST=http://127.0.0.1:$port
AWS_ACCESS_KEY_ID=$key
AWS_SECRET_ACCESS_KEY=$secret
BERTH_INTROSPECTION_LISTEN=127.0.0.1:$((port + 1))
BERTH_TASK_METADATA_PORT=0
ECS_LOGLEVEL=warn
EOF

"$work/berth" control-plane --config "$work/control-plane.config" >"$work/control-plane.log" 2>&1 &
pids+=($!)
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/callgrind.out" \
    "$work/berth" agent --config "$work/agent.config" >"$work/agent.log" 2>&1 &
pids+=($!)
agent=$!

# Registered and connected: the introspection API names the container instance.
registered() {
    curl -fsS "http://127.0.0.1:$((port + 1))/v1/metadata" 2>/dev/null | grep -q ContainerInstanceArn
}
for _ in $(seq 1 240); do
    registered && break
    if ! kill -0 "$agent" 2>/dev/null; then
        echo "profile-agent: the agent ended; its log:" >&2
        cat "$work/agent.log" >&2
        exit 1
    fi
    sleep 1
done
registered || {
    echo "profile-agent: the agent did not register within 240 s" >&2
    exit 1
}
echo "profile-agent: registered; idle for $idle s"
sleep "$idle"
# The profile so far; then SIGKILL, so that the shutdown path is not written into it as well.
callgrind_control --dump "$agent" >/dev/null
# Written once it is there and its size holds still.
previous=-1
for _ in $(seq 1 60); do
    size=$(cat "$work"/callgrind.out* 2>/dev/null | wc -c)
    [ "$size" -gt 0 ] && [ "$size" -eq "$previous" ] && break
    previous=$size
    sleep 1
done
kill -KILL "$agent"
wait "$agent" 2>/dev/null || true
compgen -G "$work/callgrind.out*" >/dev/null || {
    echo "profile-agent: callgrind wrote no profile" >&2
    exit 1
}

# Every function with a cost, by its symbol name; only names the binary defines once (a local name that
# several objects define would pull all their code forward).
python3 - "$work" >packaging/agent-order.txt <<'EOF'
import collections, glob, re, subprocess, sys
work = sys.argv[1]
names = {}
executed = set()
for path in glob.glob(f"{work}/callgrind.out*"):
    for line in open(path, errors="replace"):
        match = re.match(r"c?fn=\((\d+)\)(?: (.*))?$", line.rstrip("\n"))
        if not match:
            continue
        if match.group(2):
            names[match.group(1)] = match.group(2)
        if line.startswith("fn="):
            executed.add(names.get(match.group(1)))
defined = collections.Counter()
symbols = subprocess.run(["nm", "--defined-only", f"{work}/berth"], capture_output=True, text=True, check=True)
for line in symbols.stdout.splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[1] in "tT":
        defined[parts[2]] += 1
order = sorted(name.split("'")[0] for name in executed if name)
print("\n".join(name for name in dict.fromkeys(order) if defined[name] == 1))
EOF
echo "profile-agent: packaging/agent-order.txt has $(wc -l <packaging/agent-order.txt) functions"

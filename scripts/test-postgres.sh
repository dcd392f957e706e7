#!/usr/bin/env bash
# The tests' own PostgreSQL 15 server (as root, idempotent; no system service involved):
#   scripts/test-postgres.sh start   initdb into $BERTH_TEST_STATE/postgres when new, then start the server
#                                    on the Unix socket /run/berth-test/postgres/.s.PGSQL.51672 only (no TCP
#                                    port, so none a test or the agent may want is taken); role berth, trust
#                                    authentication, as user postgres (the server refuses to run as root);
#                                    fsync off: a test's database need not survive the machine, and its
#                                    fsyncs (createdb and dropdb force checkpoints) are the likely cause of a
#                                    dockerd stall beside them in one CI-like run;
#   scripts/test-postgres.sh stop    stops it (its data stays for the next start).
# Tests make a database of their own on it (createdb) and drop it afterwards.
set -euo pipefail

action=${1:-start}
state=${BERTH_TEST_STATE:-/var/lib/berth-test}
logs=${BERTH_TEST_LOGS:-/var/log/berth-test}
data=$state/postgres
sockets=/run/berth-test/postgres
port=51672
bin=/usr/lib/postgresql/15/bin

as_postgres() { runuser -u postgres -- "$@"; }

case "$action" in
start)
    mkdir -p "$state" "$logs" "$sockets"
    chown postgres:postgres "$sockets"
    touch "$logs/postgres.log"
    chown postgres:postgres "$logs/postgres.log"
    if [[ ! -s "$data/PG_VERSION" ]]; then
        echo "test-environment: initdb of the tests' PostgreSQL in $data"
        rm -rf "$data"
        mkdir -p "$data"
        chown postgres:postgres "$data"
        as_postgres "$bin/initdb" -D "$data" -U berth --auth=trust -E UTF8 --no-sync >/dev/null
    fi
    if ! as_postgres "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
        echo "test-environment: starting the tests' PostgreSQL on $sockets (log: $logs/postgres.log)"
        as_postgres "$bin/pg_ctl" -D "$data" -l "$logs/postgres.log" -w -t 120 \
            -o "-c listen_addresses='' -k $sockets -p $port -c max_connections=300 -c fsync=off -c full_page_writes=off" start >/dev/null
    fi
    for _ in $(seq 1 240); do
        "$bin/pg_isready" -q -h "$sockets" -p "$port" && exit 0
        sleep 0.5
    done
    echo "test-environment: the tests' PostgreSQL did not answer; see $logs/postgres.log" >&2
    tail -20 "$logs/postgres.log" >&2
    exit 1
    ;;
stop)
    if [[ -s "$data/PG_VERSION" ]]; then
        as_postgres "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    ;;
*)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac

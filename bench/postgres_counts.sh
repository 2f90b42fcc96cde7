#!/bin/bash
# Statements, transactions and the database server's CPU per workflow on PostgreSQL.
#
#   bench/postgres_counts.sh SUNDIAL_BIN SCENARIO SECONDS CONCURRENCY [log]
#
# Starts SUNDIAL_BIN (`sundial start`) on a scratch database of the local PostgreSQL, drives it
# with `sundial-bench run` ($SUNDIAL_BENCH, default target/release/sundial-bench), and prints
# the run's figures, the scratch database's commits and rollbacks (pg_stat_database) and the
# CPU time of all PostgreSQL processes per workflow. With `log`, `log_statement = all` is set
# on the scratch database only, and the statements its sessions ran during the load are
# counted from the server's log (each is one round trip: a simple query such as BEGIN, or a
# bind-and-execute of the extended protocol), the commonest listed. Needs a superuser
# (ALTER DATABASE … SET log_statement) and a log file it can read ($PG_LOG).
set -euo pipefail
BIN=$1; SCENARIO=$2; SECONDS_=$3; CONCURRENCY=$4; LOG=${5:-}
. "$(dirname "$0")/counts_common.sh"
PG_LOG=${PG_LOG:-$(ls /var/log/postgresql/postgresql-*-main.log | head -1)}
P="psql -h 127.0.0.1 -U postgres -d test -AtqX"
DB=bench_counts_$RANDOM$RANDOM
DIR=$(mktemp -d)
$P -c "CREATE DATABASE $DB"
cleanup() {
    stop_sundial
    $P -c "DROP DATABASE $DB WITH (FORCE)" || true
    rm -rf "$DIR"
}
if [ "$LOG" = log ]; then
    $P -c "ALTER DATABASE $DB SET log_statement = 'all'"
fi
trap cleanup EXIT
start_sundial "$BIN" "postgres://postgres@127.0.0.1:5432/$DB" "$DIR"
# user+system ticks of every PostgreSQL process (the pool's sessions live through the run).
cpu_ticks() {
    local sum=0 pid
    for pid in $(pgrep -u postgres); do
        sum=$((sum + $(awk '{print $14 + $15}' /proc/"$pid"/stat 2>/dev/null || echo 0)))
    done
    echo "$sum"
}
xacts() { $P -c "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = '$DB'"; }
LOG_START=$(stat -c %s "$PG_LOG" 2>/dev/null || echo 0)
X0=$(xacts); T0=$(cpu_ticks)
drive "$SCENARIO" "$SECONDS_" "$CONCURRENCY" "$DIR/run.json"
T1=$(cpu_ticks)
sleep 0.6  # pg_stat_database is updated by the sessions at most every 500 ms
X1=$(xacts)
if [ "$LOG" = log ]; then
    tail -c +"$((LOG_START + 1))" "$PG_LOG" > "$DIR/log"
fi
python3 - "$DIR" "$T0" "$T1" "$(getconf CLK_TCK)" "$X0" "$X1" <<'PY'
import collections, json, os, re, sys
d, t0, t1, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
(c0, r0), (c1, r1) = (map(int, x.split("|")) for x in sys.argv[5:7])
run = json.load(open(f"{d}/run.json"))
wf = max(run["completed"], 1)
print(f"completed {run['completed']}, errors {run['errors']}, {run['throughput']:.1f} wf/s, "
      f"Sundial CPU {run['cpu_ms_per_workflow']:.2f} ms/wf")
print(f"per workflow: commits {(c1 - c0) / wf:.2f}, rollbacks {(r1 - r0) / wf:.2f}, "
      f"PostgreSQL CPU {(t1 - t0) * 1000 / hz / wf:.3f} ms")
if os.path.exists(f"{d}/log"):
    kinds = collections.Counter()
    for line in open(f"{d}/log", errors="replace"):
        m = re.search(r"LOG:  (statement|execute [^:]*): (.{0,60})", line)
        if m:
            kinds[m.group(2).strip()] += 1
    total = sum(kinds.values())
    print(f"statements (round trips) per workflow: {total / wf:.2f}")
    for text, n in kinds.most_common(10):
        print(f"  {n / wf:6.2f}  {text}")
PY

#!/bin/bash
# Statements, round trips and the database server's CPU per workflow on MariaDB.
#
#   bench/mariadb_counts.sh SUNDIAL_BIN SCENARIO SECONDS CONCURRENCY [log]
#
# Starts SUNDIAL_BIN (`sundial start`) on a scratch database of the local MariaDB, drives it
# with `sundial-bench run` ($SUNDIAL_BENCH, default target/release/sundial-bench), and prints
# the run's figures, the change of MariaDB's statement counters (SHOW GLOBAL STATUS) and of
# mariadbd's CPU time per workflow. With `log`, MariaDB's general log is kept in a table for
# the run: its commands per workflow are the round trips (a multi-statement query is one
# Query), and the commonest statements are listed. Needs root on MariaDB (SET GLOBAL).
set -euo pipefail
BIN=$1; SCENARIO=$2; SECONDS_=$3; CONCURRENCY=$4; LOG=${5:-}
. "$(dirname "$0")/counts_common.sh"
M="mariadb -h 127.0.0.1 -u root -N -B"
DB=bench_counts_$RANDOM$RANDOM
DIR=$(mktemp -d)
$M -e "CREATE DATABASE $DB"
cleanup() {
    stop_sundial
    $M -e "SET GLOBAL general_log=OFF; DROP DATABASE $DB" || true
    rm -rf "$DIR"
}
trap cleanup EXIT
start_sundial "$BIN" "mysql://root@127.0.0.1:3306/$DB" "$DIR"
MARIADBD=$(pgrep -x mariadbd || pgrep -x mysqld)
cpu_ticks() { awk '{print $14 + $15}' /proc/"$MARIADBD"/stat; }
status() {
    $M -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Com_begin', 'Com_commit',
        'Com_rollback', 'Com_stmt_execute', 'Com_stmt_prepare', 'Com_select', 'Com_insert',
        'Com_update', 'Com_delete')"
}
if [ "$LOG" = log ]; then
    $M -e "SET GLOBAL log_output='TABLE'; TRUNCATE mysql.general_log; SET GLOBAL general_log=ON"
fi
status > "$DIR/before"; T0=$(cpu_ticks)
drive "$SCENARIO" "$SECONDS_" "$CONCURRENCY" "$DIR/run.json"
T1=$(cpu_ticks); status > "$DIR/after"
if [ "$LOG" = log ]; then
    $M -e "SET GLOBAL general_log=OFF"
    $M -e "SELECT command_type, COUNT(*) FROM mysql.general_log
        WHERE command_type IN ('Query', 'Execute', 'Prepare') GROUP BY command_type" > "$DIR/commands"
    $M -e "SELECT COUNT(*), command_type, LEFT(CAST(argument AS CHAR), 70) AS statement
        FROM mysql.general_log WHERE command_type IN ('Query', 'Execute', 'Prepare')
        GROUP BY command_type, statement ORDER BY 1 DESC LIMIT 12" > "$DIR/top"
fi
python3 - "$DIR" "$T0" "$T1" "$(getconf CLK_TCK)" <<'PY'
import json, os, sys
d, t0, t1, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
run = json.load(open(f"{d}/run.json"))
wf = max(run["completed"], 1)
print(f"completed {run['completed']}, errors {run['errors']}, {run['throughput']:.1f} wf/s, "
      f"Sundial CPU {run['cpu_ms_per_workflow']:.2f} ms/wf")
def counters(name):
    return {k: int(v) for k, v in (l.split("\t") for l in open(f"{d}/{name}").read().splitlines())}
before, after = counters("before"), counters("after")
print("per workflow: " + ", ".join(f"{k} {(after[k] - before[k]) / wf:.2f}" for k in sorted(before)))
print(f"mariadbd CPU {(t1 - t0) * 1000 / hz / wf:.3f} ms/wf")
if os.path.exists(f"{d}/commands"):
    commands = counters("commands")
    print("round trips per workflow: " + ", ".join(f"{k} {v / wf:.2f}" for k, v in commands.items())
          + f", in all {sum(commands.values()) / wf:.2f}")
    print(open(f"{d}/top").read(), end="")
PY

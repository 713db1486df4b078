#!/usr/bin/env bash
# Load benchmark of local-server's read path; see bench/README.md.
#
#   bench/run.sh [--plain-http] [--storage fs|s3] [--proxy] [--metrics] [--modules N]
#                [--duration 10s] [--connections "1 16 64"] [--soak SECONDS]
#
# Builds local-server and adapter-hyper's bare_hyper example in release, starts the
# server on a free port with a fresh data dir, publishes N modules (default 10) of
# three versions each plus the measured module, creates a downloader token, then
# drives discovery, GET .../versions, GET .../{version}/download and PUT of new
# versions with oha, and the bare hyper server (a fixed 200 JSON) at the same
# connection counts, and prints a table of requests/s, p50/p99 latency and each
# row's ratio to bare hyper, plus the server's peak RSS. --soak SECONDS instead runs
# versions and download together at 16 connections for that long and reports the
# error count and the server's RSS after warm-up and at the end. With --storage s3
# the modules and tokens are in a fresh bucket of $TFR_TEST_S3_ENDPOINT, or, unless
# that is set, of moto's S3 server started for the run (as scripts/test does).
# With --proxy the server also proxies to a fake upstream registry on loopback
# (upstream-registry's fake_upstream example), and the table gains rows for a
# proxied module's versions (a cached upstream list) and download next to the
# local ones: the latency proxying adds. With --metrics the server also keeps
# Prometheus metrics (--metrics-listen on loopback), scraped once at the end to
# show they counted the run: compare with a run without it for their cost.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly MODULE=bench/greeting/null
readonly VERSIONS="1.0.0 1.1.0 1.2.0 2.0.0"
# What upstream-registry's fake_upstream example serves.
readonly PROXIED_MODULE=hashicorp/consul/aws
readonly PROXIED_VERSION=0.1.3

plain_http=false
proxy=false
metrics=false
storage=fs
duration=10s
connections="1 16 64"
modules=10
soak=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --plain-http) plain_http=true ;;
        --proxy) proxy=true ;;
        --metrics) metrics=true ;;
        --modules) modules="$2"; shift ;;
        --soak) soak="$2"; shift ;;
        --storage) storage="$2"; shift ;;
        --duration) duration="$2"; shift ;;
        --connections) connections="$2"; shift ;;
        -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "bench/run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ "$storage" == fs || "$storage" == s3 ]] || { echo "bench/run.sh: --storage is fs or s3, not '$storage'" >&2; exit 2; }

fail() {
    echo "bench/run.sh: $*" >&2
    exit 1
}
say() {
    echo "bench/run.sh: $*" >&2
}
for tool in cargo curl tar python3; do
    command -v "$tool" >/dev/null || fail "'$tool' is required and not on PATH"
done
# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_find_oha

# --- the server
bench_build
if $proxy; then
    echo "bench/run.sh: cargo build --release -p upstream-registry --example fake_upstream" >&2
    cargo build --release --locked -p upstream-registry --features fake --example fake_upstream
    fake_bin="${CARGO_TARGET_DIR:-target}/release/examples/fake_upstream"
fi

work="$(mktemp -d)"
server_pid=""
fake_pid=""
bare_pid=""
MOTO_PID=""
cleanup() {
    for pid in $server_pid $fake_pid $bare_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    [[ -n "$MOTO_PID" ]] && stop_moto
    rm -rf "$work"
}
trap cleanup EXIT

server_args=(--listen 127.0.0.1:0 --data-dir "$work/data" --port-file "$work/port")
$plain_http && server_args+=(--plain-http)
$metrics && server_args+=(--metrics-listen 127.0.0.1:0 --metrics-port-file "$work/metrics-port")

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
    bench_s3_bucket
    server_args+=(--storage s3 --s3-bucket "$bucket" --s3-endpoint-url "$s3_endpoint" --s3-force-path-style)
fi
bench_start_server "${server_args[@]}"

if $plain_http; then
    base="http://127.0.0.1:$port"
    tls=()
else
    base="https://127.0.0.1:$port"
    tls=(--cacert "$work/data/tls/cert.pem")
fi

# --- data: a few versions of one module, and a downloader token
mkdir -p "$work/module"
for version in $VERSIONS; do
    printf 'output "version" {\n  value = "%s"\n}\n' "$version" >"$work/module/main.tf"
    tar -czf "$work/module.tar.gz" -C "$work/module" main.tf
    request PUT "/v1/modules/$MODULE/$version" "$master" --upload-file "$work/module.tar.gz" >/dev/null
done
bench_downloader_token

# --- more modules: three versions each, published concurrently over keep-alive
if (( modules > 0 )); then
    echo "bench/run.sh: publishing $modules modules x 3 versions" >&2
    seed_started=$SECONDS
    python3 - "$base" "$master" "$modules" "$work/module.tar.gz" "${tls[@]:1}" <<'PY' || fail "seeding failed"
import concurrent.futures, http.client, ssl, sys, threading, urllib.parse

base, token, count, archive = sys.argv[1], sys.argv[2], int(sys.argv[3]), open(sys.argv[4], "rb").read()
ca = sys.argv[5] if len(sys.argv) > 5 else None
url = urllib.parse.urlsplit(base)
local = threading.local()

def connection():
    if not hasattr(local, "c"):
        if url.scheme == "https":
            local.c = http.client.HTTPSConnection(url.hostname, url.port, context=ssl.create_default_context(cafile=ca))
        else:
            local.c = http.client.HTTPConnection(url.hostname, url.port)
    return local.c

def publish(i):
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        c = connection()
        c.request("PUT", f"/v1/modules/seed{i // 1000}/m{i}/null/{version}", body=archive,
                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/gzip"})
        r = c.getresponse()
        r.read()
        if r.status not in (201, 409):
            raise SystemExit(f"PUT seed module {i} {version}: {r.status}")

with concurrent.futures.ThreadPoolExecutor(8) as pool:
    list(pool.map(publish, range(count), chunksize=64))
PY
    echo "bench/run.sh: seeded in $((SECONDS - seed_started)) s" >&2
fi

# --- the ceiling: bare hyper on the same transport
bare_tls=()
$plain_http || bare_tls=(--tls-cert "$work/data/tls/cert.pem" --tls-key "$work/data/tls/key.pem")
bench_start_bare "${base%:*}" "${bare_tls[@]}"

# --- load
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
latest="${VERSIONS##* }"
declare -A paths=(
    [discovery]="/.well-known/terraform.json"
    [versions]="/v1/modules/$MODULE/versions"
    [download]="/v1/modules/$MODULE/$latest/download"
    [proxied-versions]="/v1/modules/$PROXIED_MODULE/versions"
    [proxied-download]="/v1/modules/$PROXIED_MODULE/$PROXIED_VERSION/download"
)

# oha_run OUT CONNS DURATION URL [oha args...]
oha_run() {
    local out="$1" c="$2" d="$3" url="$4"
    shift 4
    "$oha" --no-tui --output-format json -z "$d" -c "$c" "${tls[@]}" \
        -H "Authorization: Bearer $downloader" "$@" "$url" >"$out"
}

rss_kib() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status"
}

if [[ -n "$soak" ]]; then
    echo "bench/run.sh: soak, versions + download at 16 connections for ${soak}s" >&2
    oha_run "$work/soak-versions.json" 8 "${soak}s" "$base${paths[versions]}" &
    soak_a=$!
    oha_run "$work/soak-download.json" 8 "${soak}s" "$base${paths[download]}" &
    soak_b=$!
    sleep 10
    rss_start="$(rss_kib)"
    wait "$soak_a" "$soak_b"
    rss_end="$(rss_kib)"
    python3 - "$work/soak-versions.json" "$work/soak-download.json" "$rss_start" "$rss_end" "$soak" <<'PY'
import json, sys
total = errors = 0
for path, ok in ((sys.argv[1], "200"), (sys.argv[2], "204")):
    d = json.load(open(path))
    codes = d.get("statusCodeDistribution", {})
    total += sum(codes.values())
    errors += sum(v for k, v in codes.items() if k != ok)
    errors += sum(v for k, v in d.get("errorDistribution", {}).items() if k != "aborted due to deadline")
start, end = int(sys.argv[3]), int(sys.argv[4])
print(f"soak {sys.argv[5]} s: {total} requests, {errors} errors; server RSS after 10 s warm-up "
      f"{start / 1024:.1f} MiB, at the end {end / 1024:.1f} MiB ({(end - start) * 100 / start:+.1f}%)")
PY
    exit 0
fi

endpoints=(discovery versions download)
if $proxy; then
    endpoints+=(proxied-versions proxied-download)
    # Warm the upstream cache: the rows measure a cached upstream list.
    for name in proxied-versions proxied-download; do
        request GET "${paths[$name]}" "$downloader" >/dev/null
    done
fi
# Every GET row is paired with a bare hyper run just before it at the same
# connection count, and its ratio is to that run: the machine's speed drifts by
# 10-20% within minutes (other tenants, frequency scaling), which a single
# ceiling measured at the start would put into the ratios.
results=()
for name in "${endpoints[@]}"; do
    for c in $connections; do
        bare_out="$work/oha-bare-$name-$c.json"
        echo "bench/run.sh: bare hyper (paired with $name), $c connection(s), $duration" >&2
        oha_run "$bare_out" "$c" "$duration" "$bare_base/"
        out="$work/oha-$name-$c.json"
        echo "bench/run.sh: GET $name, $c connection(s), $duration" >&2
        oha_run "$out" "$c" "$duration" "$base${paths[$name]}"
        results+=("$name $c $out $bare_out")
    done
done
# PUT of new versions with the master token. oha sends one URL per run, so this row's
# load comes from a small Python driver (one keep-alive connection per thread, every
# PUT a new version), in oha's JSON shape; Python is slower than oha, but a publish
# (validation, fsync, rename) costs the server far more than the driver.
printf 'output "version" {\n  value = "put"\n}\n' >"$work/module/main.tf"
tar -czf "$work/put.tar.gz" -C "$work/module" main.tf
for c in $connections; do
    out="$work/put-$c.json"
    echo "bench/run.sh: PUT new versions, $c connection(s), $duration" >&2
    python3 - "$base" "$master" "$c" "${duration%s}" "$work/put.tar.gz" "${tls[@]:1}" >"$out" <<'PY' ||
import http.client, json, ssl, sys, threading, time, urllib.parse

base, token, conns, secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
archive = open(sys.argv[5], "rb").read()
ca = sys.argv[6] if len(sys.argv) > 6 else None
url = urllib.parse.urlsplit(base)
lock, latencies, statuses, errors = threading.Lock(), [], {}, {}
deadline = time.monotonic() + secs

def worker(n):
    if url.scheme == "https":
        c = http.client.HTTPSConnection(url.hostname, url.port, context=ssl.create_default_context(cafile=ca))
    else:
        c = http.client.HTTPConnection(url.hostname, url.port)
    i = 0
    while time.monotonic() < deadline:
        i += 1
        start = time.monotonic()
        try:
            c.request("PUT", f"/v1/modules/bench/put/null/{conns}.{n}.{i}", body=archive,
                      headers={"Authorization": f"Bearer {token}", "Content-Type": "application/gzip"})
            r = c.getresponse()
            r.read()
            key, table = str(r.status), statuses
        except OSError as e:
            key, table = type(e).__name__, errors
            c.close()
        with lock:
            table[key] = table.get(key, 0) + 1
            latencies.append(time.monotonic() - start)

threads = [threading.Thread(target=worker, args=(n,)) for n in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
latencies.sort()
pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None
print(json.dumps({"summary": {"requestsPerSec": len(latencies) / secs},
                  "latencyPercentiles": {"p50": pct(0.5), "p99": pct(0.99)},
                  "statusCodeDistribution": statuses, "errorDistribution": errors}))
PY
        fail "the PUT driver failed"
    results+=("put $c $out")
done
peak_rss_kib="$(awk '/^VmHWM:/ { print $2 }' "/proc/$server_pid/status")"
metrics_line=""
if $metrics; then
    metrics_port="$(tr -d '[:space:]' <"$work/metrics-port")"
    counted="$(curl -fsS "http://127.0.0.1:$metrics_port/metrics" |
        awk '/^tfr_http_requests_total/ { n += $NF } END { printf "%d", n }')" ||
        fail "could not scrape the metrics listener"
    metrics_line="metrics on: /metrics counted $counted requests"
fi

# --- report
echo
[[ -n "$metrics_line" ]] && echo "$metrics_line"
echo "local-server $($plain_http && echo "plain HTTP" || echo "HTTPS"), metrics $($metrics && echo on || echo off), storage $storage$([[ $storage == s3 ]] && echo " ($s3_endpoint)"), $modules seeded modules, $(nproc) CPUs shared with oha, $duration per row, load average before: $load_before"
python3 - "${results[@]}" <<'PY'
import json, sys

def ms(seconds):
    return "-" if seconds is None else f"{seconds * 1000:.3f}"


def load(path):
    with open(path) as f:
        return json.load(f)

def line(name, conns, d, ratio):
    p = d["latencyPercentiles"]
    statuses = " ".join(f"{k}:{v}" for k, v in sorted(d.get("statusCodeDistribution", {}).items()))
    # oha -z cuts HTTP/1 requests still running at the deadline: not the server's errors.
    errors = {k: v for k, v in d.get("errorDistribution", {}).items() if k != "aborted due to deadline"}
    if errors:
        statuses += " errors: " + json.dumps(errors)
    rps = d["summary"]["requestsPerSec"]
    print(f"{name:<16} {conns:>5} {rps:>10.0f} {ratio:>8} {ms(p.get('p50')):>8} {ms(p.get('p99')):>8}  {statuses}")

rows = [row.split() for row in sys.argv[1:]]
# The bare hyper rows: per connection count, the paired run with the median req/s.
bare_runs = {}
for name, conns, path, *paired in rows:
    if paired:
        bare_runs.setdefault(conns, []).append(load(paired[0]))
bare_median = {}
print(f"{'endpoint':<16} {'conns':>5} {'req/s':>10} {'vs bare':>8} {'p50 ms':>8} {'p99 ms':>8}  statuses")
for conns, runs in bare_runs.items():
    runs.sort(key=lambda d: d["summary"]["requestsPerSec"])
    median = runs[len(runs) // 2]
    bare_median[conns] = median["summary"]["requestsPerSec"]
    spread = f"{runs[0]['summary']['requestsPerSec']:.0f}-{runs[-1]['summary']['requestsPerSec']:.0f}"
    line("bare-hyper", conns, median, f"{len(runs)} runs")
    print(f"{'':<16} {'':>5} {'':>10} {'':>8}  (median of the paired runs; range {spread} req/s)")
for name, conns, path, *paired in rows:
    d = load(path)
    rps = d["summary"]["requestsPerSec"]
    # GET rows: against the bare run just before; PUT rows: against the median.
    ceiling = load(paired[0])["summary"]["requestsPerSec"] if paired else bare_median.get(conns)
    ratio = f"{rps / ceiling * 100:.0f}%" if ceiling else "-"
    line(name, conns, d, ratio)
PY
echo "server peak RSS (VmHWM): $((peak_rss_kib / 1024)) MiB ($peak_rss_kib KiB)"

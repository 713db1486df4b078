#!/usr/bin/env bash
# Does `GET .../versions` slow down with the number of modules stored? See bench/README.md.
#
#   bench/store-size.sh [--modules 100000] [--duration 5s] [--rounds 3] [--connections "1 16"]
#
# Writes two storage-fs data directories straight to disk in the layout
# storage-fs documents (its README): one with the measured module
# (bench/greeting/null, four versions) and 10 more modules, one with the same
# and --modules more, three versions each. Then starts local-server on each,
# both at once, and measures versions on them in turn (--rounds times per
# connection count), once with the read cache (the default) and once without
# (TFR_READ_CACHE_TTL_MS=0, every request lists the module's directory), and
# prints each round and the median p50 ratio large/small. Interleaving the two
# servers keeps the machine's drift out of the ratio, and writing the files
# directly (no fsync) keeps the seeding's aftermath out of the numbers, which a
# seeding through the API (bench/run.sh --modules) leaves in them.
set -euo pipefail
cd "$(dirname "$0")/.."

modules=100000
duration=5s
rounds=3
connections="1 16"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --modules) modules="$2"; shift ;;
        --duration) duration="$2"; shift ;;
        --rounds) rounds="$2"; shift ;;
        --connections) connections="$2"; shift ;;
        -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "bench/store-size.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done

fail() {
    echo "bench/store-size.sh: $*" >&2
    exit 1
}
oha="bench/.tools/bin/oha"
[[ -x "$oha" ]] || oha="$(command -v oha)" || fail "no oha: run bench/run.sh once (it installs it) or put oha on PATH"

cargo build --release --locked -p local-server
server_bin="${CARGO_TARGET_DIR:-target}/release/local-server"

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

echo "bench/store-size.sh: writing 10 and $modules modules x 3 versions into $work" >&2
python3 - "$work" "$modules" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile

work, large = sys.argv[1], int(sys.argv[2])
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w:gz") as tar:
    body = b'output "version" {\n  value = "bench"\n}\n'
    info = tarfile.TarInfo("main.tf")
    info.size = len(body)
    tar.addfile(info, io.BytesIO(body))
archive = buf.getvalue()
meta = json.dumps({"format": "tar.gz", "sha256": hashlib.sha256(archive).hexdigest(), "size": len(archive)})

def put(root, ns, name, system, version):
    d = os.path.join(root, "modules", ns, name, system, version)
    os.makedirs(d)
    with open(os.path.join(d, f"{name}-{system}-{version}.tar.gz"), "wb") as f:
        f.write(archive)
    with open(os.path.join(d, "archive.json"), "w") as f:
        f.write(meta)

for label, count in (("small", 10), ("large", large)):
    root = os.path.join(work, label)
    for version in ("1.0.0", "1.1.0", "1.2.0", "2.0.0"):
        put(root, "bench", "greeting", "null", version)
    for i in range(count):
        for version in ("1.0.0", "1.1.0", "2.0.0"):
            put(root, f"ns{i % 1000}", f"mod{i}", "aws", version)
PY
sync

# start LABEL CACHE_TTL_MS: a server on $work/LABEL; sets port_LABEL, and token_LABEL
# on the first start (the server prints the master token it generates only then).
start() {
    local label="$1" ttl="$2" port="" token_var token
    token_var="token_$label"
    token="${!token_var:-}"
    rm -f "$work/$label.port"
    TFR_READ_CACHE_TTL_MS="$ttl" "$server_bin" --listen 127.0.0.1:0 --data-dir "$work/$label" \
        --port-file "$work/$label.port" >"$work/$label.out" 2>"$work/$label.err" &
    pids+=($!)
    for _ in $(seq 100); do
        [[ -s "$work/$label.port" ]] && port="$(tr -d '[:space:]' <"$work/$label.port")"
        [[ -z "$token" ]] && token="$(grep -o -m1 'tfr_[A-Za-z0-9_-]\{43\}' "$work/$label.out" || true)"
        [[ -n "$port" && -n "$token" ]] && break
        sleep 0.1
    done
    # The work dir goes when the script exits: show the server's output now.
    [[ -n "$port" && -n "$token" ]] || { cat "$work/$label.err" >&2; fail "local-server on $label did not start (its stderr is above)"; }
    printf -v "port_$label" %s "$port"
    printf -v "token_$label" %s "$token"
}

# measure LABEL CONNS: prints "req/s p50_ms p99_ms".
measure() {
    local label="$1" c="$2" port token
    port="port_$label" token="token_$label"
    "$oha" --no-tui --output-format json -z "$duration" -c "$c" --cacert "$work/$label/tls/cert.pem" \
        -H "Authorization: Bearer ${!token}" \
        "https://127.0.0.1:${!port}/v1/modules/bench/greeting/null/versions" |
        python3 -c 'import json, sys
d = json.load(sys.stdin)
codes = d.get("statusCodeDistribution", {})
assert set(codes) == {"200"}, f"statuses {codes}"
rps, p = d["summary"]["requestsPerSec"], d["latencyPercentiles"]
p50, p99 = p["p50"] * 1000, p["p99"] * 1000
print(f"{rps:.0f} {p50:.3f} {p99:.3f}")'
}

printf '%-8s %5s %5s  %-26s %-26s %s\n' cache conns round "10 modules: req/s p50 p99" "$modules modules" "p50 large/small"
for ttl in 1000 0; do
    start small "$ttl"
    start large "$ttl"
    cache=$([[ "$ttl" == 0 ]] && echo off || echo on)
    for c in $connections; do
        ratios=()
        for round in $(seq "$rounds"); do
            small="$(measure small "$c")"
            large="$(measure large "$c")"
            ratio="$(python3 -c "import sys; print(f'{float(sys.argv[2]) / float(sys.argv[1]):.2f}')" \
                "$(cut -d' ' -f2 <<<"$small")" "$(cut -d' ' -f2 <<<"$large")")"
            ratios+=("$ratio")
            printf '%-8s %5s %5s  %-26s %-26s %s\n' "$cache" "$c" "$round" "$small" "$large" "$ratio"
        done
        median="$(printf '%s\n' "${ratios[@]}" | sort -n | sed -n "$(( (rounds + 1) / 2 ))p")"
        echo "         cache $cache, $c connection(s): median p50 ratio $median"
    done
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    pids=()
done

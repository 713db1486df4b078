#!/usr/bin/env bash
# The discovery API (list, search, details) at 100,000 modules; see bench/README.md.
#
#   bench/catalogue.sh [--modules 100000] [--duration 10s] [--connections "16"]
#                      [--storage fs|s3] [--without-metadata 3000] [--derive-all]
#                      [--s3-modules 50] [--s3-ttl-ms 2000]
#
# --storage fs (the default): writes a storage-fs data dir straight to disk (no
# fsync; --modules modules x 3 versions, names, providers and READMEs varied so
# that "production" is in half the descriptions and "quokka" in 5 per 100,000),
# times `local-server --rebuild-catalogue` on it, starts the release server and
# runs oha against list (first page and the last page), search (a common and a rare
# term) and details (latest and one version), each row right after a run of
# adapter-hyper's bare_hyper at the same connection count, as bench/run.sh does.
# Prints req/s, the ratio to bare hyper, p50/p99, statuses and whether the row
# meets the target (>= 50% of bare hyper, p99 <= 5 ms), the server's RSS before and
# after the index is loaded, and its peak RSS.
# Each version gets a metadata.json copied from a template (derived once per
# distinct archive by a rebuild of a small data dir), except the last
# --without-metadata versions, which the big rebuild derives; --derive-all leaves
# every version without one (the full backfill: minutes).
# --storage s3: moto's S3 server (as bench/run.sh), --s3-modules modules published
# through the API, read cache TTL --s3-ttl-ms, then counts the S3 requests (moto's
# request log) one search makes after the TTL passed and ten searches within it.
set -euo pipefail
cd "$(dirname "$0")/.."

modules=100000
duration=10s
connections="16"
storage=fs
without_metadata=3000
derive_all=false
s3_modules=50
s3_ttl_ms=2000
while [[ $# -gt 0 ]]; do
    case "$1" in
        --modules) modules="$2"; shift ;;
        --duration) duration="$2"; shift ;;
        --connections) connections="$2"; shift ;;
        --storage) storage="$2"; shift ;;
        --without-metadata) without_metadata="$2"; shift ;;
        --derive-all) derive_all=true ;;
        --s3-modules) s3_modules="$2"; shift ;;
        --s3-ttl-ms) s3_ttl_ms="$2"; shift ;;
        -h | --help) sed -n '2,24p' "$0"; exit 0 ;;
        *) echo "bench/catalogue.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ "$storage" == fs || "$storage" == s3 ]] || { echo "bench/catalogue.sh: --storage is fs or s3, not '$storage'" >&2; exit 2; }

fail() {
    echo "bench/catalogue.sh: $*" >&2
    exit 1
}
say() {
    echo "bench/catalogue.sh: $*" >&2
}
for tool in cargo curl python3; do
    command -v "$tool" >/dev/null || fail "'$tool' is required and not on PATH"
done

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_find_oha
bench_build

work="$(mktemp -d)"
server_pid=""
bare_pid=""
MOTO_PID=""
cleanup() {
    for pid in $server_pid $bare_pid; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    [[ -n "$MOTO_PID" ]] && stop_moto
    rm -rf "$work"
}
trap cleanup EXIT

data="$work/data"
server_args=(--listen 127.0.0.1:0 --data-dir "$data" --port-file "$work/port")
rebuild_line=""
if [[ "$storage" == fs ]]; then
    seed_started=$SECONDS
    if $derive_all; then
        say "writing $modules modules x 3 versions into $data (no metadata.json)"
        python3 bench/catalogue_seed.py "$data" "$modules"
    else
        say "deriving the metadata of each distinct archive (a small data dir, --rebuild-catalogue)"
        python3 bench/catalogue_seed.py "$work/tpl" "$modules" --templates
        RUST_LOG=warn "$server_bin" --data-dir "$work/tpl" --rebuild-catalogue >/dev/null
        say "writing $modules modules x 3 versions into $data ($without_metadata without metadata.json)"
        python3 bench/catalogue_seed.py "$data" "$modules" --metadata-from "$work/tpl" --without-metadata "$without_metadata"
    fi
    sync
    say "seeded in $((SECONDS - seed_started)) s; timing local-server --rebuild-catalogue"
    started="$(date +%s.%N)"
    RUST_LOG=warn "$server_bin" --data-dir "$data" --rebuild-catalogue >"$work/rebuild.out" 2>"$work/rebuild.err" ||
        { cat "$work/rebuild.err" >&2; fail "--rebuild-catalogue failed"; }
    rebuild_secs="$(python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$started")"
    rebuild_line="$(cat "$work/rebuild.out") [${rebuild_secs} s]"
    say "$rebuild_line"
else
    bench_s3_bucket
    s3_args=(--storage s3 --s3-bucket "$bucket" --s3-endpoint-url "$s3_endpoint" --s3-force-path-style)
    server_args+=("${s3_args[@]}")
    export TFR_READ_CACHE_TTL_MS="$s3_ttl_ms"
    modules="$s3_modules"
fi

bench_start_server "${server_args[@]}"
base="https://127.0.0.1:$port"
tls=(--cacert "$data/tls/cert.pem")

rss_kib() {
    awk "/^$1:/ { print \$2 }" "/proc/$server_pid/status"
}
rss_started="$(rss_kib VmRSS)"

bench_downloader_token

# =====================================================================  S3: request counts
if [[ "$storage" == s3 ]]; then
    say "publishing $modules modules x 3 versions through the API"
    python3 - "$base" "$master" "$modules" "$data/tls/cert.pem" <<'PY' || fail "publishing failed"
import http.client, ssl, sys, urllib.parse
sys.path.insert(0, "bench")
import catalogue_seed as seed

base, token, count, ca = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
url = urllib.parse.urlsplit(base)
c = http.client.HTTPSConnection(url.hostname, url.port, context=ssl.create_default_context(cafile=ca))
for i in range(count):
    ns, name, provider = seed.module(i)
    k = seed.archive_id(i)
    body = seed.archive_bytes(k)
    for version in seed.VERSIONS:
        c.request("PUT", f"/v1/modules/{ns}/{name}/{provider}/{version}", body=body,
                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/gzip"})
        r = c.getresponse()
        r.read()
        if r.status != 201:
            raise SystemExit(f"PUT {ns}/{name}/{provider}/{version}: {r.status}")
PY
    search="/v1/modules/search?q=production"
    # moto logs one werkzeug line per request it answers, coloured (ANSI escapes) for
    # some statuses, 304 among them: requests_logged strips the colours.
    requests_logged() {
        sed 's/\x1b\[[0-9;]*m//g' "$work/moto.log" | grep -E '"(GET|PUT|HEAD|POST|DELETE) /' || true
    }
    s3_lines() {
        requests_logged | wc -l
    }
    # count_requests LABEL N TOKEN: N searches back to back; prints the S3 requests they made.
    count_requests() {
        local label="$1" n="$2" token="$3" before after
        before="$(s3_lines)"
        for _ in $(seq "$n"); do request GET "$search" "$token" >/dev/null; done
        sleep 0.5   # moto writes its log line after answering
        after="$(s3_lines)"
        printf '%-58s %3d S3 requests\n' "$label" "$((after - before))" >>"$work/s3-table"
        requests_logged | sed -n "$((before + 1)),${after}p" |
            sed -E 's/^.*"([A-Z]+ [^ ]+) HTTP[^"]*" ([0-9]+).*$/      \1 -> \2/' | sed "s#/$bucket/#/{bucket}/#" >>"$work/s3-table"
    }
    ttl_s="$(python3 -c "print($s3_ttl_ms / 1000 + 0.5)")"
    : >"$work/s3-table"
    request GET "$search" "$downloader" >/dev/null   # loads the index, caches the token
    request GET "$search" "$master" >/dev/null
    sleep "$ttl_s"
    count_requests "search after the TTL (master token: no token lookup)" 1 "$master"
    count_requests "10 searches within the TTL (master token)" 10 "$master"
    sleep "$ttl_s"
    count_requests "search after the TTL (downloader token, its record in S3)" 1 "$downloader"
    count_requests "10 searches within the TTL (downloader token)" 10 "$downloader"
    # Another server's publish changes the snapshot: the next check after the TTL reads it.
    RUST_LOG=warn "$server_bin" --data-dir "$data" "${s3_args[@]}" --rebuild-catalogue >/dev/null 2>"$work/rebuild2.err" || { cat "$work/rebuild2.err" >&2; fail "second --rebuild-catalogue failed"; }
    sleep "$ttl_s"
    count_requests "search after the TTL, snapshot changed by another process" 1 "$master"
    echo
    echo "local-server, storage s3 (moto $s3_endpoint), $modules modules x 3 versions published, read cache TTL ${s3_ttl_ms} ms, GET $search, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    cat "$work/s3-table"
    echo "(a 304 is the conditional GET of the snapshot: If-None-Match, unchanged)"
    exit 0
fi

# =====================================================================  fs: load rows
# The index is built on the first list or search: RSS before and after it.
request GET "/v1/modules?limit=1" "$downloader" >/dev/null
rss_loaded="$(rss_kib VmRSS)"
latest_probe="$(request GET "/v1/modules/search?q=quokka" "$downloader" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["modules"]))')"
say "search quokka finds $latest_probe modules"

bench_start_bare https://127.0.0.1 --tls-cert "$data/tls/cert.pem" --tls-key "$data/tls/key.pem"

deep=$((modules > 15 ? modules - 15 : 0))
endpoints=(list-first list-deep search-common search-rare details details-version)
declare -A paths=(
    [list-first]="/v1/modules"
    [list-deep]="/v1/modules?offset=$deep"
    [search-common]="/v1/modules/search?q=production"
    [search-rare]="/v1/modules/search?q=quokka"
    [details]="/v1/modules/team-0000/vpc/aws"
    [details-version]="/v1/modules/team-0000/vpc/aws/2.0.0"
)
for name in "${endpoints[@]}"; do
    request GET "${paths[$name]}" "$downloader" >/dev/null
done

oha_run() {
    local out="$1" c="$2" url="$3"
    "$oha" --no-tui --output-format json -z "$duration" -c "$c" "${tls[@]}" \
        -H "Authorization: Bearer $downloader" "$url" >"$out"
}
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
results=()
for name in "${endpoints[@]}"; do
    for c in $connections; do
        say "bare hyper (paired with $name), $c connection(s), $duration"
        oha_run "$work/bare-$name-$c.json" "$c" "$bare_base/"
        say "GET $name ${paths[$name]}, $c connection(s), $duration"
        oha_run "$work/$name-$c.json" "$c" "$base${paths[$name]}"
        results+=("$name $c $work/$name-$c.json $work/bare-$name-$c.json")
    done
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
peak_kib="$(rss_kib VmHWM)"
now_kib="$(rss_kib VmRSS)"

echo
echo "local-server HTTPS, storage fs, $modules modules x 3 versions, $(nproc) CPUs shared with oha, $duration per row, load average before: $load_before, after: $load_after"
[[ -n "$rebuild_line" ]] && echo "rebuild: $rebuild_line"
python3 bench/catalogue_report.py "${results[@]}"
echo "paths: list-first ${paths[list-first]}, list-deep ${paths[list-deep]}, search-common ${paths[search-common]}, search-rare ${paths[search-rare]} ($latest_probe modules), details ${paths[details]}, details-version ${paths[details-version]}"
echo "server RSS: after start $((rss_started / 1024)) MiB, after the index was loaded (first list) $((rss_loaded / 1024)) MiB (+$(((rss_loaded - rss_started) / 1024)) MiB for $modules modules), after the rows $((now_kib / 1024)) MiB, peak (VmHWM) $((peak_kib / 1024)) MiB"

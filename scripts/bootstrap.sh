# Sourced by demo.sh and test.sh: find Python ≥ 3.11, create .venv, install the project with the given extras.
set -euo pipefail

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
    else return 1
    fi
}

apt_install() {
    # Installs Debian packages when missing and possible (root or passwordless sudo); says so when not.
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if command -v apt-get >/dev/null 2>&1 && as_root true; then
        echo "installing with apt-get: ${missing[*]}"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "note: cannot install ${missing[*]} (needs root and apt-get); continuing without" >&2
    fi
}

find_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    echo "checkpoint-edge needs Python 3.11 or newer" >&2
    return 1
}

make_venv() {
    local extras=$1 python
    python=$(find_python)
    if [ ! -x .venv/bin/python ]; then
        "$python" -m venv .venv 2>/dev/null || { apt_install python3-venv && "$python" -m venv .venv; }
    fi
    .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
    # PIP_PROGRESS=1 (the demo): show pip's progress instead of a silent minute.
    local quiet=--quiet spec=".[${extras}]"
    [ -n "${PIP_PROGRESS:-}" ] && quiet=--progress-bar=on
    [ -z "$extras" ] && spec="."
    .venv/bin/python -m pip install "$quiet" -e "$spec"
}

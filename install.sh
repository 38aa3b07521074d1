#!/usr/bin/env bash
# Everything the pipeline and its tests need, on a fresh Debian or Ubuntu machine: a virtual
# environment with requirements.txt (torch pinned to its CPU build), Debian's chromium (which
# tests/test_plots_page.py drives headless), postgresql (the server tests/test_search_e2e.py
# starts for a shared study) and node/npm where missing, then the offline plots template (web/).
# Run it again at any time; it installs only what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")"

[ -d .venv ] || python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
.venv/bin/python -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
command -v npm >/dev/null || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
    if ! command -v apt-get >/dev/null; then
        echo "install.sh: install ${need[*]} with your system's package manager (apt-get not found), then rerun." >&2
        exit 1
    fi
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "install.sh: installing ${need[*]} with apt-get" >&2
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# vega/vega-lite/vega-embed from web/package-lock.json; postinstall writes web/dist/plots_template.html.
npm ci --prefix web --silent

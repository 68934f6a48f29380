#!/usr/bin/env bash
# Regenerates requirements/lock.txt from requirements/dev.in (which pulls in
# runtime.in): every package, transitive ones and setuptools/wheel included,
# pinned with == and the sha256 of every file the public index publishes for
# that version, for CPython 3.11 on Linux x86_64.
#
# Run from anywhere:  bash requirements/lock.sh
# Pins already in lock.txt are kept (uv reads them as preferences), so adding a package pins
# only it and what it needs; to move everything to the newest versions instead:
#     bash requirements/lock.sh --upgrade
# It needs only python3 and the network to the public package index; it puts
# the pinned tool (uv) in a throwaway venv under /tmp, never in the project.
set -euo pipefail

UV_VERSION=0.13.9
TOOL_VENV=${TOOL_VENV:-/tmp/redress-locktool}

cd "$(dirname "$0")/.."

# The public index only: no local pip or uv config, indexes or find-links, so
# the hashes are those of the files any fresh machine downloads.
unset PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_CONSTRAINT
unset UV_INDEX UV_INDEX_URL UV_DEFAULT_INDEX UV_EXTRA_INDEX_URL UV_FIND_LINKS UV_CONSTRAINT
export PIP_CONFIG_FILE=/dev/null

if ! "$TOOL_VENV/bin/uv" --version 2>/dev/null | grep -qx "uv $UV_VERSION.*"; then
    python3 -m venv --clear "$TOOL_VENV"
    "$TOOL_VENV/bin/pip" install --quiet "uv==$UV_VERSION"
fi

body=$(mktemp)
trap 'rm -f "$body"' EXIT
cp requirements/lock.txt "$body"  # the current pins, as preferences
"$TOOL_VENV/bin/uv" pip compile \
    --no-config \
    --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 \
    --generate-hashes \
    --no-header \
    --quiet \
    "$@" \
    requirements/dev.in -o "$body"

{
    cat <<'EOF'
# Redress dependency lock: runtime + dev, transitive deps, setuptools and wheel,
# all pinned with hashes. Target: CPython 3.11, Linux x86_64.
# Generated, do not edit by hand. To regenerate, from the repo root:
#
#     bash requirements/lock.sh
#
# which installs uv==0.13.9 into a throwaway venv under /tmp
# (python3 -m venv /tmp/redress-locktool && /tmp/redress-locktool/bin/pip install uv==0.13.9),
# then, with local pip/uv index and find-links settings cleared, runs
#
#     uv pip compile --no-config --python-version 3.11 \
#         --python-platform x86_64-manylinux_2_28 --generate-hashes --no-header \
#         requirements/dev.in
#
# and puts this header above its output.
# Install with:
#
#     pip install --require-hashes --no-deps -r requirements/lock.txt
#
EOF
    cat "$body"
} > requirements/lock.txt
echo "wrote requirements/lock.txt"

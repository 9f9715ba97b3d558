#!/usr/bin/env bash
# Make sure a Chromium for the browser test is available (called by `make test-browser`).
#
# Looks for $CHROMIUM if set, else chromium / chromium-browser / google-chrome on PATH.
# Found: prints its path. Missing and root (as in CI): installs Debian's `chromium`
# package with apt-get (a failed install fails). Missing and not root: says how to install it and exits 0,
# so the browser test skips with the same message and the rest of `make test` runs.
set -u

find_chromium() {
    if [ -n "${CHROMIUM:-}" ]; then  # an explicit choice is used as it is (the test does the same)
        [ -x "${CHROMIUM}" ] && echo "${CHROMIUM}" && return 0
        echo "browser test: CHROMIUM=${CHROMIUM} is not an executable file" >&2
        return 1
    fi
    local name
    for name in chromium chromium-browser google-chrome google-chrome-stable; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    return 1
}

if found=$(find_chromium); then
    echo "browser test: using Chromium at $found"
    exit 0
fi

if [ -n "${CHROMIUM:-}" ]; then
    echo "browser test: fix or unset CHROMIUM; the browser test will be skipped" >&2
    exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "browser test: no Chromium found; installing Debian's chromium package with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    if apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; then
        found=$(find_chromium) && echo "browser test: installed Chromium at $found" && exit 0
    fi
    # as root the install is part of the set-up: a failure must fail make test, not skip quietly
    echo "browser test: installing chromium with apt-get failed" >&2
    exit 1
fi

cat >&2 <<'MSG'
browser test: no Chromium found, so the browser test will be SKIPPED.
  To run it, install Chromium, e.g. on Debian/Ubuntu:  sudo apt-get install chromium
  (or point CHROMIUM=/path/to/chromium at any Chromium/Chrome binary).
MSG
exit 0

# Shared by scripts/guests/*.sh (sourced, not run). Run from the repo root.
OUT=${GUESTS_OUT:-target/guests}
TOOLS=${GUEST_TOOLS:-target/guest-tools}
mkdir -p "$OUT" "$TOOLS"

# apt_install PKG...: installs the Debian packages that are missing.
apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "guests: apt-get install ${missing[*]}" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# npm_tools: installs the JS toolchain (jco, componentize-qjs) pinned by
# examples/wasm/js-poller/package-lock.json, when the lock changed since.
JS_DIR=examples/wasm/js-poller
npm_tools() {
    command -v npm >/dev/null || apt_install nodejs npm
    local stamp="$JS_DIR/node_modules/.aslan-lock.sha256"
    local want
    want=$(sha256sum "$JS_DIR/package-lock.json" | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        (cd "$JS_DIR" && nice npm ci --no-audit --no-fund --loglevel=error)
        echo "$want" >"$stamp"
    fi
}
JCO="$JS_DIR/node_modules/.bin/jco"

# timed NAME CMD...: runs CMD, then reports how long it took.
timed() {
    local name=$1 start end
    shift
    start=$(date +%s.%N)
    "$@"
    end=$(date +%s.%N)
    LAST_SECONDS=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
}

# report FILE: prints the size and the last build time of a component.
report() {
    printf 'guests: %-24s %9d bytes  %5ss\n' "$(basename "$1")" "$(stat -c %s "$1")" "$LAST_SECONDS" >&2
}

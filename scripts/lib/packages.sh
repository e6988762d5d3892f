# Debian/Ubuntu packages Vision Queue needs, and a helper that installs the missing ones.
# Sourced by scripts/serve, scripts/test and .ci/run so the list lives in one place.

# To build and run the service.
VQ_RUN_PACKAGES="libfcgi-dev libcurl4-openssl-dev libsqlite3-dev libpq-dev nginx ca-certificates"
# Additionally, to run the tests.
VQ_TEST_PACKAGES="sqlite3 curl python3-venv postgresql"
# To build the local model server once (scripts/model-server): llama.cpp's server from source.
VQ_MODEL_SERVER_BUILD_PACKAGES="build-essential cmake ninja-build python3-venv"
# Additionally, for the browser tests (Tests/Browser): headless Chromium driven by Debian's selenium.
VQ_BROWSER_TEST_PACKAGES="chromium chromium-driver python3-selenium"

# ensure_packages PKG...: installs what is missing with apt-get when running as root; otherwise
# prints the exact command to run and fails.
ensure_packages() {
    local missing=()
    local package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        echo "Installing: ${missing[*]}" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "Missing packages. Run this, then try again:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        return 1
    fi
}

ensure_swift() {
    command -v swift >/dev/null 2>&1 && return 0
    echo "Swift 6 is not on PATH. Install it from https://www.swift.org/install/linux/ and try again." >&2
    return 1
}

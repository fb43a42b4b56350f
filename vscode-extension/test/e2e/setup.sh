#!/usr/bin/env bash
# Prepares everything the VS Code end-to-end test needs on an offline Debian machine
# (see ../../../../shared/VSCODE-E2E.md for why each step is done this way):
#   1. Debian packages: a C toolchain and headers for code-server's native modules,
#      ripgrep, Chromium and a font for readable screenshots;
#   2. code-server 4.100.3 (VS Code 1.100.3) and playwright-core from npm, in a cache folder
#      with its own package.json, reusing Debian's ripgrep instead of a GitHub download;
#   3. the extension's .vsix, built from the current sources.
# Steps already done are skipped, so a second run takes seconds.
#
# Environment:
#   GEMMA_REVIEW_E2E_CACHE  cache folder (default: ~/.cache/gemma-review-e2e)
# Prints the cache folder and the .vsix path on its last two lines as KEY=VALUE.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
extension_dir="$(cd "$here/../.." && pwd)"
cache="${GEMMA_REVIEW_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gemma-review-e2e}"
code_server_version="4.100.3"
playwright_version="1.65.1"

say() { printf 'e2e setup: %s\n' "$*" >&2; }
die() { printf 'e2e setup: %s\n' "$*" >&2; exit 1; }

# --- 1. Debian packages -------------------------------------------------------------
install_debian_packages() {
    debian_packages=(build-essential pkg-config libkrb5-dev libx11-dev libxkbfile-dev
                     libsecret-1-dev ripgrep chromium fonts-liberation)
    missing=()
    for package in "${debian_packages[@]}"; do
        status="$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)"
        [ "$status" = "install ok installed" ] || missing+=("$package")
    done
    if ((${#missing[@]})); then
        sudo=()
        if [ "$(id -u)" != 0 ]; then
            command -v sudo >/dev/null 2>&1 || die "missing Debian packages (${missing[*]}) and no root or sudo to install them"
            sudo=(sudo)
        fi
        say "installing Debian packages: ${missing[*]}"
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
    [ -x /usr/bin/chromium ] || die "/usr/bin/chromium is missing after installing Debian's chromium"
    command -v rg >/dev/null 2>&1 || die "ripgrep (rg) is missing after installing Debian's ripgrep"
}

# --- 2. code-server and playwright-core -----------------------------------------------
install_code_server() {
    mkdir -p "$cache"
    stamp="$cache/installed-code-server-$code_server_version-playwright-$playwright_version"
    if [ -f "$stamp" ] && [ -x "$cache/node_modules/.bin/code-server" ] \
            && [ -f "$cache/node_modules/playwright-core/package.json" ]; then
        say "code-server $code_server_version and playwright-core $playwright_version already in $cache"
    else
        say "installing code-server $code_server_version and playwright-core $playwright_version into $cache (a minute or two)"
        # npm installs into the nearest parent folder with a package.json; give the cache its own.
        [ -f "$cache/package.json" ] || printf '{\n  "name": "gemma-review-e2e-cache",\n  "private": true\n}\n' > "$cache/package.json"

        # @vscode/ripgrep's postinstall downloads rg from GitHub unless the tarball is already in
        # its cache under the temp folder: give it Debian's rg (the same 13.0.0 release).
        case "$(uname -m)" in
            x86_64) rg_target="x86_64-unknown-linux-musl" ;;
            aarch64) rg_target="aarch64-unknown-linux-musl" ;;
            *) die "no ripgrep build name known for $(uname -m)" ;;
        esac
        rg_version="$(rg --version)"
        rg_version="${rg_version%%$'\n'*}"  # the first line; no pipe, so no SIGPIPE under pipefail
        [[ "$rg_version" == "ripgrep 13.0.0"* ]] \
            || say "warning: Debian's rg is not 13.0.0 ($rg_version); code-server's search may misbehave"
        install_tmp="$cache/tmp"
        rg_cache="$install_tmp/vscode-ripgrep-cache-1.15.11"
        mkdir -p "$rg_cache"
        rg_tarball="$rg_cache/ripgrep-v13.0.0-10-$rg_target.tar.gz"
        if [ ! -s "$rg_tarball" ]; then
            rg_stage="$(mktemp -d)"
            cp "$(command -v rg)" "$rg_stage/rg"
            tar -czf "$rg_tarball" -C "$rg_stage" rg
            rm -rf "$rg_stage"
        fi

        # unsafe_perm: code-server's postinstall refuses root otherwise; nodedir: node-gyp uses
        # Debian's Node headers instead of downloading them; yes: node-pty's `npx node-gyp` would
        # otherwise wait for a confirmation nobody gives.
        log="$cache/npm-install.log"
        if ! (cd "$cache" && TMPDIR="$install_tmp" npm_config_unsafe_perm=true npm_config_nodedir=/usr \
                npm_config_yes=true npm install --no-audit --no-fund --loglevel=error \
                "code-server@$code_server_version" "playwright-core@$playwright_version" >"$log" 2>&1); then
            tail -n 40 "$log" >&2
            die "npm install of code-server failed (full log: $log)"
        fi
        [ -x "$cache/node_modules/.bin/code-server" ] || die "code-server is not in $cache/node_modules/.bin after npm install (log: $log)"
        if ! version_output="$("$cache/node_modules/.bin/code-server" --version 2>&1)"; then
            printf '%s\n' "$version_output" | tail -n 20 >&2
            die "code-server was installed but does not start: $cache/node_modules/.bin/code-server --version"
        fi
        touch "$stamp"
    fi
}

# --- 3. the extension's .vsix -----------------------------------------------------------
build_vsix() {
    if [ ! -d "$extension_dir/node_modules" ]; then
        say "installing the extension's npm dependencies (npm ci)"
        (cd "$extension_dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
    fi
    build_dir="$here/.build"
    mkdir -p "$build_dir"
    vsix="$build_dir/gemma-review.vsix"
    rm -f "$vsix"
    say "building $vsix"
    (cd "$extension_dir" && npm run --silent package -- -o "$vsix" >&2) \
        || die "building the .vsix failed: (cd $extension_dir && npm run package)"
    [ -s "$vsix" ] || die "npm run package did not write $vsix"
}

# Everything runs from functions, so bash has read the whole file before the long npm install
# (editing a script while bash runs it otherwise changes what it executes).
main() {
    install_debian_packages
    install_code_server
    build_vsix
    echo "GEMMA_REVIEW_E2E_CACHE=$cache"
    echo "GEMMA_REVIEW_E2E_VSIX=$vsix"
}

main "$@"
exit

#!/usr/bin/env bash
# Install the offline deploy-check tools into the photochanger cache:
#   kustomize    renders deploy/k8s overlays
#   promtool     checks and unit-tests deploy/prometheus rules
#   deploycheck  our own Go program (cmd/deploycheck): BuildKit's Dockerfile linter
#                (`docker build --check`) and compose-go (`docker compose config`), offline
#
#   tools/deploycheck/install-tools.sh [kustomize|promtool|deploycheck|all]   (default: all)
#
# kustomize and promtool are built with `go install <package>@<version>` (versions.env),
# deploycheck with `go build` from this directory (go.mod/go.sum pin its dependencies), into
# ${PHOTOCHANGER_CACHE_DIR:-~/.cache/photochanger}/bin/<tool>-<version or source hash>; an
# existing binary is reused. The path of every installed tool is printed on stdout, one per
# line; progress goes to stderr. Needs the Go toolchain and the Go module proxy; nothing else.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=tools/deploycheck/versions.env
source "${here}/versions.env"

export GOTOOLCHAIN=local
cache="${PHOTOCHANGER_CACHE_DIR:-${HOME}/.cache/photochanger}"
bin="${cache}/bin"
mkdir -p "${bin}"

say() { echo "[deploycheck] $*" >&2; }

# install_one NAME PACKAGE VERSION [LDFLAGS]: `go install PACKAGE@VERSION`; with PACKAGE
# starting with ./, `go build` it from this directory instead.
install_one() {
    local name="$1" package="$2" version="$3" ldflags="-s -w ${4:-}"
    local target="${bin}/${name}-${version}"
    if [[ -x "${target}" ]]; then
        echo "${target}"
        return 0
    fi
    if ! command -v go >/dev/null 2>&1; then
        say "go is not on PATH: cannot build ${name}"
        return 1
    fi
    # One installer at a time per tool (parallel test sessions share the cache).
    exec {lock}>"${bin}/.${name}.lock"
    flock "${lock}"
    if [[ ! -x "${target}" ]]; then
        local work
        work="$(mktemp -d --tmpdir="${bin}")"  # a private build dir beside the cache
        say "building ${package}@${version} with $(go env GOVERSION) (first time only)"
        local started=${SECONDS}
        local build=(go install -trimpath -ldflags="${ldflags}" "${package}@${version}")
        if [[ "${package}" == ./* ]]; then
            build=(go build -C "${here}" -trimpath -ldflags="${ldflags}" -o "${work}/${name}" "${package}")
        fi
        if ! CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN="${work}" "${build[@]}" >&2; then
            rm -rf "${work}"
            exec {lock}>&-
            say "building ${name} failed"
            return 1
        fi
        mv -f "${work}/${name}" "${target}"
        rm -rf "${work}"
        ln -sfn "${name}-${version}" "${bin}/${name}"
        say "${name} ${version} built in $((SECONDS - started)) s -> ${target}"
    fi
    exec {lock}>&-
    echo "${target}"
}

# `promtool --version` prints the Prometheus release (module v0.316.0 is Prometheus 3.16.0).
promtool_release() {
    local rest="${PROMTOOL_VERSION#v0.}" minor patch
    minor="${rest%%.*}"
    patch="${rest#*.}"
    echo "${minor:0:1}.$((10#${minor:1})).${patch}"
}
promtool_ldflags="-X github.com/prometheus/common/version.Version=$(promtool_release)"

# deploycheck is rebuilt whenever its sources change.
deploycheck_version="src-$(cat "${here}/go.mod" "${here}/go.sum" "${here}"/cmd/deploycheck/*.go \
    | sha256sum | cut -c1-12)"

what="${1:-all}"
status=0
case "${what}" in
    kustomize) install_one kustomize "${KUSTOMIZE_MODULE}" "${KUSTOMIZE_VERSION}" || status=1 ;;
    promtool) install_one promtool "${PROMTOOL_PACKAGE}" "${PROMTOOL_VERSION}" "${promtool_ldflags}" || status=1 ;;
    deploycheck) install_one deploycheck ./cmd/deploycheck "${deploycheck_version}" || status=1 ;;
    all)
        install_one kustomize "${KUSTOMIZE_MODULE}" "${KUSTOMIZE_VERSION}" || status=1
        install_one promtool "${PROMTOOL_PACKAGE}" "${PROMTOOL_VERSION}" "${promtool_ldflags}" || status=1
        install_one deploycheck ./cmd/deploycheck "${deploycheck_version}" || status=1
        ;;
    *)
        say "usage: $0 [kustomize|promtool|deploycheck|all]"
        exit 2
        ;;
esac
exit "${status}"

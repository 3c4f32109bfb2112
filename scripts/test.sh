#!/usr/bin/env bash
# Runs fwd's whole test suite: unit, golden, replay and (as root) the
# end-to-end tests in network namespaces. Installs what the tests need first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
go vet ./...
go test -count=1 -timeout 20m ./... "$@"
# The packages whose state workers share, under the race detector: the
# datapath runs on several workers while reloads and the CLI read and swap.
go test -race -count=1 -timeout 10m ./pipeline ./packet ./conntrack ./flowtable ./nat ./icmperr ./ipfrag ./router ./rules/... "$@"

#!/usr/bin/env bash
# Installs everything the test suite needs beyond Go itself, idempotently:
#   - Debian packages: kcat (librdkafka 2.0), python3-confluent-kafka and
#     python3-kafka, the real clients the end-to-end tests drive, and the
#     snappy, lz4 and zstandard modules kafka-python compresses with;
#   - versitygw, the S3 server the S3 object-store tests run against, built
#     with go install at a pinned version into .tools/bin;
#   - for the compatibility layer (tests/compat): kafkajs and its codecs at
#     the versions of tests/compat/node/package-lock.json (npm ci into
#     tests/compat/node/node_modules), and the Go modules of tests/compat/go.mod
#     (the client libraries whose own test suites it runs).
# Run as root (or with sudo available) on Debian; CI runs it from .ci/run
# through `make test`.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

pkgs=(kcat python3-confluent-kafka python3-kafka python3-snappy python3-lz4 python3-zstandard)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	sudo=""
	[[ $(id -u) -ne 0 ]] && sudo=sudo
	echo "installing Debian packages: ${missing[*]}"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

"$repo_root/scripts/install-versitygw.sh" "$repo_root/.tools/bin"

# npm ci replaces node_modules with exactly what the lock file names.
(cd "$repo_root/tests/compat/node" && npm ci --no-audit --no-fund --loglevel=error)
(cd "$repo_root/tests/compat" && go mod download)

#!/usr/bin/env bash
# Installs everything the test suite needs beyond Go itself, idempotently:
#   - Debian packages: kcat (librdkafka 2.0), python3-confluent-kafka and
#     python3-kafka, the real clients the end-to-end tests drive;
#   - versitygw, the S3 server the S3 object-store tests run against, built
#     with go install at a pinned version into .tools/bin.
# Run as root (or with sudo available) on Debian; CI runs it from .ci/run
# through `make test`.
set -euo pipefail
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

pkgs=(kcat python3-confluent-kafka python3-kafka)
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

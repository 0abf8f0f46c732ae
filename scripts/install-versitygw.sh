#!/usr/bin/env bash
# Installs versitygw, the S3-compatible server that objstore's S3 tests run
# against (internal/storage/objstore/s3_test.go), at a pinned version.
#
#   scripts/install-versitygw.sh [DIR]
#
# DIR defaults to .tools/bin at the repository root, where the tests look
# for it. Idempotent: does nothing if DIR/versitygw is already the pinned
# version. Needs Go and the module proxy; builds from source with go install.
set -euo pipefail

VERSION=v1.8.0
MODULE=github.com/versity/versitygw

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:-$repo_root/.tools/bin}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
bin=$dest/versitygw

# go install builds carry no release version in "versitygw --version", so
# the module version recorded in the binary's build info is checked instead.
installed_version() {
	go version -m "$1" 2>/dev/null | awk -v mod="$MODULE" '$1 == "mod" && $2 == mod { print $3 }'
}

if [[ -x $bin && $(installed_version "$bin") == "$VERSION" ]]; then
	echo "versitygw $VERSION already installed at $bin"
	exit 0
fi

echo "installing versitygw $VERSION into $dest"
# Run outside the repository so Weir's go.mod plays no part in the build.
(cd / && GOBIN=$dest go install "$MODULE/cmd/versitygw@$VERSION")

got=$(installed_version "$bin")
if [[ $got != "$VERSION" ]]; then
	echo "install-versitygw: $bin reports version '${got}', want $VERSION" >&2
	exit 1
fi
echo "installed versitygw $VERSION at $bin"

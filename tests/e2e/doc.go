// Package e2e holds Weir's end-to-end tests: each test builds the weir
// binary once (TestMain), runs it as a real `weir serve` child process on a
// free 127.0.0.1 port with a temporary data directory, and drives it with
// real clients: franz-go, kcat (librdkafka) and the Python clients
// confluent-kafka and kafka-python.
//
// Run them with
//
//	go test ./tests/e2e/ -count=1 -v
//
// Tests that need kcat or the Python clients skip when they are missing,
// unless WEIR_REQUIRE_CLIENTS=1 is set (as in CI), in which case they fail.
// WEIR_BIN=/path/to/weir uses a prebuilt binary instead of building one;
// WEIR_PYTHON=/path/to/python3 picks the Python interpreter.
package e2e

//go:build tools

// Package compat pins, in this module's go.mod, the client modules whose own
// test suites the harness runs from the module cache (harness/suites.go):
// confluent-kafka-go and kafka-go. franz-go's kgo suite runs at the version
// pinned in the repository's main go.mod.
package compat

import (
	_ "github.com/confluentinc/confluent-kafka-go/v2/kafka"
	_ "github.com/segmentio/kafka-go"
)

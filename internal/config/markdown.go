package config

import (
	"fmt"
	"strings"
)

// MarkdownReference documents every setting as Markdown tables (broker
// settings, then topic settings), generated from the definitions.
func MarkdownReference() string {
	var sb strings.Builder
	sb.WriteString("### Broker settings\n\n")
	sb.WriteString("Set in the YAML file given to `weir serve --config FILE` (a flat mapping of names to values) ")
	sb.WriteString("or with `--set name=value` (repeatable; overrides the file). ")
	sb.WriteString("Unknown names and invalid values stop start-up. ")
	sb.WriteString("Broker settings are static: DescribeConfigs reports them read-only.\n\n")
	sb.WriteString("| Name | Type | Default | Valid values | Description |\n")
	sb.WriteString("|---|---|---|---|---|\n")
	fmt.Fprintf(&sb, "| `%s` | STRING | `%s` | | Address to accept Kafka connections on (YAML key, not a Kafka setting). |\n", KeyListen, DefaultListen)
	fmt.Fprintf(&sb, "| `%s` | STRING | | | host:port given to clients in metadata; empty derives it from `listen` (YAML key). |\n", KeyAdvertise)
	fmt.Fprintf(&sb, "| `%s` | STRING | `%s` | | Directory for local state: file WAL, filesystem object store, embedded etcd (YAML key). |\n", KeyDataDir, DefaultDataDir)
	for i := range brokerDefs {
		d := &brokerDefs[i]
		fmt.Fprintf(&sb, "| `%s` | %s | %s | %s | %s |\n", d.Name, d.Type, mdDefault(d), mdCell(d.Valid), mdCell(d.Doc))
	}

	sb.WriteString("\n### Topic settings\n\n")
	sb.WriteString("Set per topic with CreateTopics, AlterConfigs or IncrementalAlterConfigs ")
	sb.WriteString("(e.g. `kafka-configs.sh --alter --entity-type topics --add-config retention.ms=3600000`). ")
	sb.WriteString("A topic setting not set on the topic takes its value from the broker setting in the ")
	sb.WriteString("\"Broker default\" column, converted to the topic setting's unit, else from the Default column.\n\n")
	sb.WriteString("| Name | Type | Default | Broker default | Valid values | Description |\n")
	sb.WriteString("|---|---|---|---|---|---|\n")
	for i := range topicDefs {
		d := &topicDefs[i]
		bd := ""
		if len(d.Synonyms) > 0 {
			parts := make([]string, len(d.Synonyms))
			for j, s := range d.Synonyms {
				parts[j] = "`" + s + "`"
			}
			bd = strings.Join(parts, ", ")
		}
		fmt.Fprintf(&sb, "| `%s` | %s | %s | %s | %s | %s |\n", d.Name, d.Type, mdDefault(d), bd, mdCell(d.Valid), mdCell(d.Doc))
	}
	return sb.String()
}

func mdDefault(d *Def) string {
	switch {
	case d.NullDefault:
		return "null"
	case d.Default == "":
		return `""`
	case d.Default == maxLong:
		return "`" + maxLong + "` (no limit)"
	}
	return "`" + d.Default + "`"
}

func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

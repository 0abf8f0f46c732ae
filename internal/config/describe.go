package config

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTopic returns the DescribeConfigs entries for a topic whose
// overrides are set (b nil: broker defaults), in name order, restricted to
// names when names is non-empty (unknown names are skipped, as Kafka does).
//
// As in Kafka, each value is the effective one; Source is
// DYNAMIC_TOPIC_CONFIG for an override, STATIC_BROKER_CONFIG when the broker
// setting it defaults from (or a synonym) was set explicitly, DEFAULT_CONFIG
// otherwise. With includeSynonyms, ConfigSynonyms lists, in precedence
// order, the override, then each broker synonym that was set explicitly and
// each with a non-null default (values in the broker setting's own unit:
// log.retention.hours=168). Documentation is filled with includeDocs.
func DescribeTopic(set map[string]string, b *Broker, names []string, includeSynonyms, includeDocs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	want := nameFilter(names)
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for i := range topicDefs {
		d := &topicDefs[i]
		if want != nil && !want[d.Name] {
			continue
		}
		var syns []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
		if v, ok := set[d.Name]; ok {
			if c, err := d.check(v); err == nil {
				v = c
			}
			syns = append(syns, synonym(d.Name, v, d.Sensitive, kmsg.ConfigSourceDynamicTopicConfig))
		}
		syns = append(syns, brokerSynonyms(d.Synonyms, b)...)
		v := topicValue(d, set, b)
		out = append(out, entry(d, &v, syns, includeSynonyms, includeDocs))
	}
	return out
}

// DescribeBroker returns the DescribeConfigs entries of a broker's settings,
// in name order, restricted to names when names is non-empty (unknown names
// are skipped, as Kafka does). All are ReadOnly: Weir has no dynamic broker
// configs.
//
// As in Kafka, a setting whose default is null and which is not set
// (log.retention.ms, ...) has a null value; its synonyms show where the
// effective value comes from. Source is STATIC_BROKER_CONFIG when the
// setting or a synonym was set explicitly, DEFAULT_CONFIG otherwise.
func DescribeBroker(b *Broker, names []string, includeSynonyms, includeDocs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	b = b.get()
	want := nameFilter(names)
	var out []kmsg.DescribeConfigsResponseResourceConfig
	for i := range brokerDefs {
		d := &brokerDefs[i]
		if want != nil && !want[d.Name] {
			continue
		}
		var value *string
		if _, ok := b.set[d.Name]; ok || !d.NullDefault {
			v := b.value(d)
			value = &v
		}
		out = append(out, entry(d, value, brokerSynonyms(d.Synonyms, b), includeSynonyms, includeDocs))
	}
	return out
}

func entry(d *Def, value *string, syns []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym, includeSynonyms, includeDocs bool) kmsg.DescribeConfigsResponseResourceConfig {
	e := kmsg.NewDescribeConfigsResponseResourceConfig()
	e.Name = d.Name
	if !d.Sensitive {
		e.Value = value
	}
	e.ReadOnly = d.ReadOnly
	e.IsSensitive = d.Sensitive
	e.Source = kmsg.ConfigSourceDefaultConfig
	if len(syns) > 0 {
		e.Source = syns[0].Source
	}
	e.IsDefault = e.Source == kmsg.ConfigSourceDefaultConfig
	e.ConfigType = d.Type.ConfigType()
	if includeSynonyms {
		e.ConfigSynonyms = syns
	}
	if includeDocs {
		doc := d.Doc
		e.Documentation = &doc
	}
	return e
}

// brokerSynonyms lists, for each broker setting in names, its explicit
// value (STATIC_BROKER_CONFIG) and its non-null default (DEFAULT_CONFIG).
func brokerSynonyms(names []string, b *Broker) []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	var out []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
	for _, n := range names {
		d := brokerByName[n]
		if v, ok := b.explicit(n); ok {
			out = append(out, synonym(n, v, d.Sensitive, kmsg.ConfigSourceStaticBrokerConfig))
		}
		if !d.NullDefault {
			out = append(out, synonym(n, d.Default, d.Sensitive, kmsg.ConfigSourceDefaultConfig))
		}
	}
	return out
}

func synonym(name, value string, sensitive bool, src kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	s.Name = name
	if !sensitive {
		s.Value = &value
	}
	s.Source = src
	return s
}

func nameFilter(names []string) map[string]bool {
	if len(names) == 0 {
		return nil
	}
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

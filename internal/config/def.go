// Package config holds Weir's broker and topic configuration: every setting
// under Kafka's own name, with Kafka's type, default and validation, plus
// Weir's own settings under the "weir." prefix.
//
// Broker settings are static: they come from the YAML file given to
// `weir serve --config FILE` and from repeatable `--set name=value` flags
// (which override the file), are validated once by [Load], and are read-only
// afterwards (DescribeConfigs reports them with ReadOnly set).
//
// Topic settings are stored per topic as a map of explicitly set names to
// values ("overrides"); anything not overridden falls back to the broker
// setting Kafka derives it from (retention.ms <- log.retention.ms,
// log.retention.minutes, log.retention.hours; max.message.bytes <-
// message.max.bytes; ...), and from there to Kafka's default. [TopicValue]
// and [Topic] resolve effective values; [DescribeTopic] and [DescribeBroker]
// build DescribeConfigs entries with Kafka's sources and synonyms;
// [NormalizeTopicConfigs] and [AlterTopicIncremental] validate CreateTopics,
// AlterConfigs and IncrementalAlterConfigs input and return errors that carry
// the Kafka error code to answer with (see [Error]).
package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Type is a setting's type, mirroring Kafka's ConfigDef.Type. The numeric
// values equal kmsg.ConfigType (DescribeConfigs v3+), so the zero value is
// "unknown".
type Type int

// Kafka's config types.
const (
	TypeBoolean  Type = 1
	TypeString   Type = 2
	TypeInt      Type = 3 // 32-bit
	TypeShort    Type = 4 // 16-bit
	TypeLong     Type = 5 // 64-bit
	TypeDouble   Type = 6
	TypeList     Type = 7 // comma-separated
	TypeClass    Type = 8
	TypePassword Type = 9
)

// ConfigType returns the kmsg value to put into a DescribeConfigs v3+
// response.
func (t Type) ConfigType() kmsg.ConfigType { return kmsg.ConfigType(t) }

// String returns Kafka's name for the type (BOOLEAN, STRING, ...).
func (t Type) String() string {
	switch t {
	case TypeBoolean:
		return "BOOLEAN"
	case TypeString:
		return "STRING"
	case TypeInt:
		return "INT"
	case TypeShort:
		return "SHORT"
	case TypeLong:
		return "LONG"
	case TypeDouble:
		return "DOUBLE"
	case TypeList:
		return "LIST"
	case TypeClass:
		return "CLASS"
	case TypePassword:
		return "PASSWORD"
	}
	return "UNKNOWN"
}

// Def defines one setting.
type Def struct {
	Name string
	Type Type
	// Default is the default value in canonical form. It is meaningless
	// when NullDefault is set.
	Default string
	// NullDefault marks a setting whose Kafka default is null: unset, its
	// effective value is derived from other settings (log.retention.ms from
	// log.retention.minutes or log.retention.hours, for example).
	NullDefault bool
	Doc         string
	// Valid describes the accepted values for humans ("[1,...]", "one of
	// delete, compact"); empty means any value of the type.
	Valid string
	// Validate checks a (whitespace-trimmed) value: its type, then its range
	// or allowed values. The error is the reason only, e.g. "not an
	// integer"; callers add the name and value.
	Validate  func(string) error
	ReadOnly  bool
	Sensitive bool
	// Synonyms are Kafka's config synonyms, in Kafka's order of precedence.
	// For a topic setting: the broker settings its default comes from
	// (retention.ms: log.retention.ms, log.retention.minutes,
	// log.retention.hours), empty when it has none. For a broker setting:
	// the family it belongs to, itself included (log.retention.hours:
	// log.retention.ms, log.retention.minutes, log.retention.hours).
	Synonyms []string

	// effective computes the value of an unset broker setting from other
	// settings (NullDefault settings and node.id/broker.id).
	effective func(b *Broker) (string, bool)
}

func (d Def) copy() Def {
	d.Synonyms = append([]string(nil), d.Synonyms...)
	return d
}

// check validates v for d and returns its canonical form.
func (d *Def) check(v string) (string, error) {
	v = strings.TrimSpace(v)
	if d.Validate != nil {
		if err := d.Validate(v); err != nil {
			return "", invalidValue(d.Name, v, err.Error())
		}
	}
	return canonical(d.Type, v), nil
}

// canonical returns v (already validated for t) in canonical form: integers
// without sign or leading zeros, lower-case booleans, lists without blanks.
func canonical(t Type, v string) string {
	v = strings.TrimSpace(v)
	switch t {
	case TypeInt, TypeShort, TypeLong:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return strconv.FormatInt(n, 10)
		}
	case TypeBoolean:
		return strings.ToLower(v)
	case TypeDouble:
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
	case TypeList:
		return strings.Join(splitList(v), ",")
	}
	return v
}

// splitList splits a Kafka LIST value: comma-separated, blanks around items
// ignored, empty string is the empty list.
func splitList(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// ---- validators ----

// rule is a validator plus its human description.
type rule struct {
	fn    func(string) error
	valid string
}

func bitsOf(t Type) int {
	switch t {
	case TypeShort:
		return 16
	case TypeInt:
		return 32
	}
	return 64
}

func parseInteger(t Type, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, bitsOf(t))
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("out of range for %s", t)
		}
		return 0, fmt.Errorf("not an integer")
	}
	return n, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("must be true or false")
}

func parseDouble(v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("not a number")
	}
	return f, nil
}

func anyInteger(t Type) rule {
	return between(t, math.MinInt64, math.MaxInt64)
}

func atLeast(t Type, min int64) rule {
	return between(t, min, math.MaxInt64)
}

func between(t Type, min, max int64) rule {
	valid := ""
	switch {
	case min != math.MinInt64 && max != math.MaxInt64:
		valid = fmt.Sprintf("[%d,...,%d]", min, max)
	case min != math.MinInt64:
		valid = fmt.Sprintf("[%d,...]", min)
	}
	return rule{
		fn: func(v string) error {
			n, err := parseInteger(t, v)
			if err != nil {
				return err
			}
			if n < min {
				return fmt.Errorf("must be at least %d", min)
			}
			if n > max {
				return fmt.Errorf("must be at most %d", max)
			}
			return nil
		},
		valid: valid,
	}
}

func boolean() rule {
	return rule{fn: func(v string) error { _, err := parseBool(v); return err }}
}

func doubleBetween(min, max float64) rule {
	return rule{
		fn: func(v string) error {
			f, err := parseDouble(v)
			if err != nil {
				return err
			}
			if f < min || f > max {
				return fmt.Errorf("must be between %g and %g", min, max)
			}
			return nil
		},
		valid: fmt.Sprintf("[%g,...,%g]", min, max),
	}
}

// oneOf accepts exactly one of vals (case-sensitive, as Kafka's
// ValidString).
func oneOf(vals ...string) rule {
	return rule{
		fn: func(v string) error {
			for _, ok := range vals {
				if v == ok {
					return nil
				}
			}
			return fmt.Errorf("must be one of %s", strings.Join(vals, ", "))
		},
		valid: "one of " + strings.Join(vals, ", "),
	}
}

// listOf accepts a non-empty comma-separated list of vals.
func listOf(vals ...string) rule {
	return rule{
		fn: func(v string) error {
			items := splitList(v)
			if len(items) == 0 {
				return fmt.Errorf("must not be empty; use a comma-separated list of %s", strings.Join(vals, ", "))
			}
		next:
			for _, it := range items {
				for _, ok := range vals {
					if it == ok {
						continue next
					}
				}
				return fmt.Errorf("%q is not one of %s", it, strings.Join(vals, ", "))
			}
			return nil
		},
		valid: "list of " + strings.Join(vals, ", "),
	}
}

func anyString() rule { return rule{fn: func(string) error { return nil }} }

func nonEmptyString() rule {
	return rule{
		fn: func(v string) error {
			if v == "" {
				return fmt.Errorf("must not be empty")
			}
			return nil
		},
		valid: "non-empty",
	}
}

// listOfNonEmpty accepts any list (also the empty list) whose items are not
// empty.
func listOfNonEmpty() rule {
	return rule{fn: func(v string) error {
		for _, it := range splitList(v) {
			if it == "" {
				return fmt.Errorf("empty item in list")
			}
		}
		return nil
	}}
}

func httpURL() rule {
	return rule{
		fn: func(v string) error {
			if v == "" || strings.HasPrefix(v, "http://") || strings.HasPrefix(v, "https://") {
				return nil
			}
			return fmt.Errorf("must be an http:// or https:// URL")
		},
		valid: "empty or an http(s) URL",
	}
}

// ---- errors ----

// Error is a configuration error. Code is the Kafka error code to answer an
// API request with (40 INVALID_CONFIG, or 42 INVALID_REQUEST for malformed
// requests); Name is the setting concerned, if any. errors.Is(err,
// kerr.InvalidConfig) works through Unwrap.
type Error struct {
	Code    int16
	Name    string
	Message string
}

// Kafka error codes used by this package.
const (
	CodeInvalidConfig  int16 = 40
	CodeInvalidRequest int16 = 42
)

func (e *Error) Error() string { return e.Message }

// Unwrap returns the kerr error for Code.
func (e *Error) Unwrap() error { return kerr.ErrorForCode(e.Code) }

// ErrorCode returns the Kafka error code carried by err: the Code of an
// *Error in its chain, else 40 (INVALID_CONFIG) for any other non-nil error,
// else 0.
func ErrorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ce *Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	return CodeInvalidConfig
}

func invalidValue(name, v, why string) *Error {
	return &Error{
		Code:    CodeInvalidConfig,
		Name:    name,
		Message: fmt.Sprintf("invalid value %q for %s: %s", v, name, why),
	}
}

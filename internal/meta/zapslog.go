package meta

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapToSlog returns a zap logger that forwards entries at min and above to
// l, so etcd's server and client logs land in Weir's log, in Weir's format,
// instead of as a second JSON stream on stderr. Entries that quiet (may be
// nil) calls noise are still forwarded, at debug level.
func zapToSlog(l *slog.Logger, min zapcore.Level, quiet *logQuieter) *zap.Logger {
	return zap.New(&slogCore{l: l, min: min, quiet: quiet})
}

// logQuieter demotes etcd log entries that are expected and say nothing
// actionable, so that a warning from the embedded etcd is worth reading.
type logQuieter struct {
	// msgs maps a message to demote to the text its "error" field must
	// contain; "" demotes the message whatever the error.
	msgs map[string]string
	// closing is set when we stop the server: etcd then reports each of
	// its listeners closing as an error.
	closing atomic.Bool
}

func (q *logQuieter) demote(e zapcore.Entry, fields []zapcore.Field) bool {
	if q == nil || e.Level >= zapcore.DPanicLevel {
		return false
	}
	if q.closing.Load() {
		return true
	}
	want, ok := q.msgs[e.Message]
	if !ok {
		return false
	}
	if want == "" {
		return true
	}
	for _, f := range fields {
		if err, isErr := f.Interface.(error); isErr && f.Type == zapcore.ErrorType && strings.Contains(err.Error(), want) {
			return true
		}
	}
	return false
}

type slogCore struct {
	l     *slog.Logger
	min   zapcore.Level
	quiet *logQuieter
	attrs []any // from With, already converted
}

func (c *slogCore) Enabled(lvl zapcore.Level) bool { return lvl >= c.min }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	attrs := append(append([]any(nil), c.attrs...), fieldsToAttrs(fields)...)
	return &slogCore{l: c.l, min: c.min, quiet: c.quiet, attrs: attrs}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	lvl := slog.LevelError
	switch {
	case c.quiet.demote(e, fields), e.Level <= zapcore.DebugLevel:
		lvl = slog.LevelDebug
	case e.Level == zapcore.InfoLevel:
		lvl = slog.LevelInfo
	case e.Level == zapcore.WarnLevel:
		lvl = slog.LevelWarn
	}
	ctx := context.Background()
	if !c.l.Enabled(ctx, lvl) {
		return nil
	}
	args := append(append([]any(nil), c.attrs...), fieldsToAttrs(fields)...)
	if e.LoggerName != "" {
		args = append(args, slog.String("logger", e.LoggerName))
	}
	c.l.Log(ctx, lvl, "etcd: "+e.Message, args...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

// fieldsToAttrs lets zap render its typed fields (durations, errors,
// stringers, objects) through its map encoder, then hands slog plain values.
func fieldsToAttrs(fields []zapcore.Field) []any {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys) // map order would make log lines differ run to run
	out := make([]any, 0, len(keys))
	for _, k := range keys {
		v := enc.Fields[k]
		// etcd's slow-request warnings print the whole request; for one of
		// Weir's per-object commits that is megabytes on one log line.
		if str, ok := v.(string); ok && len(str) > maxLogValue {
			v = fmt.Sprintf("%s... (%d bytes)", str[:maxLogValue], len(str))
		}
		out = append(out, slog.Any(k, v))
	}
	return out
}

const maxLogValue = 512

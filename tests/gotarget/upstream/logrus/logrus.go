// Package logrus imitates logrus's entry and text formatter (entry.go Info -> log -> write,
// text_formatter.go Format): each line's fields are sorted, quoted and written.
package logrus

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Fields are a log line's key/value pairs.
type Fields map[string]interface{}

// TextFormatter writes key=value text.
type TextFormatter struct{}

// Logger writes formatted entries to Out.
type Logger struct {
	Out       io.Writer
	Formatter *TextFormatter
	mu        sync.Mutex
}

// Entry is a log line being built.
type Entry struct {
	Logger  *Logger
	Data    Fields
	Time    time.Time
	Message string
}

// New returns a logger writing text to out.
func New(out io.Writer) *Logger { return &Logger{Out: out, Formatter: &TextFormatter{}} }

// WithFields starts an entry with fields.
func (l *Logger) WithFields(fields Fields) *Entry { return &Entry{Logger: l, Data: fields} }

// Info logs a message at info level.
func (e *Entry) Info(args ...interface{}) { e.log(fmt.Sprint(args...)) }

func (e *Entry) log(message string) {
	entry := &Entry{Logger: e.Logger, Data: e.Data, Time: time.Now(), Message: message}
	entry.write()
}

func (e *Entry) write() {
	line, err := e.Logger.Formatter.Format(e)
	if err != nil {
		return
	}
	e.Logger.mu.Lock()
	defer e.Logger.mu.Unlock()
	_, _ = e.Logger.Out.Write(line)
}

// Format renders an entry: time, level, message, then the sorted fields, quoted where needed.
func (f *TextFormatter) Format(e *Entry) ([]byte, error) {
	var b bytes.Buffer
	keys := make([]string, 0, len(e.Data))
	for key := range e.Data {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	fmt.Fprintf(&b, "time=%q level=info msg=%s", e.Time.Format(time.RFC3339Nano), strconv.Quote(e.Message))
	for _, key := range keys {
		fmt.Fprintf(&b, " %s=%s", key, strconv.Quote(fmt.Sprint(e.Data[key])))
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// Stand-in at logrus's import path (entry.go, text_formatter.go) for the test target's profiles: a log line is
// formatted as text and written. Standard library only; a small imitation, never the upstream code.
module github.com/sirupsen/logrus

go 1.19

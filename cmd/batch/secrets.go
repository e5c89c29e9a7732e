package main

import (
	"io"
	"sync/atomic"

	"github.com/contactbatch/batch/internal/redact"
)

// secretWriter redacts the API key from everything written to stderr (log
// lines, warnings, the summary, the final error). The key is known only
// once a command has read it; until then nothing is redacted.
type secretWriter struct {
	w   io.Writer
	red atomic.Pointer[redact.Redactor]
}

// setSecret starts redacting secret.
func (s *secretWriter) setSecret(secret string) {
	if secret != "" {
		s.red.Store(redact.New(secret))
	}
}

// Write writes p with the secret redacted. It reports len(p) written when
// the underlying write succeeds, as callers expect of an io.Writer.
func (s *secretWriter) Write(p []byte) (int, error) {
	if _, err := s.w.Write(s.red.Load().Bytes(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

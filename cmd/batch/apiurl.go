package main

import (
	"fmt"

	"github.com/contactbatch/batch/customeros"
	"github.com/contactbatch/batch/internal/redact"
)

// checkAPIURL refuses a plain-http API URL off loopback before anything is
// dialled, unless --insecure-http, which prints a warning instead.
func (j *JobFlags) checkAPIURL(e *env) error {
	insecure, err := customeros.CheckBaseURL(j.APIURL, j.InsecureHTTP)
	if err != nil {
		return usagef("--api-url: %w", err)
	}
	if insecure {
		fmt.Fprintf(e.Stderr, "batch: warning: --insecure-http: the API key is sent to %s in cleartext\n", redact.URL(j.APIURL))
	}
	return nil
}

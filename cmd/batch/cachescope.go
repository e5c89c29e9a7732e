package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"

	"github.com/contactbatch/batch/checkpoint"
	"github.com/contactbatch/batch/pipeline"
)

// cacheScope is what, besides a lookup's key, changes an answer: the API's
// base URL, the tenant (a fingerprint of the key, never the key) and each
// kind's request options. Answers bought under one scope (the emulator's,
// say) are never served to a run under another.
func cacheScope(j *JobFlags, apiKey string) checkpoint.CacheScope {
	common := "api=" + canonicalBaseURL(j.APIURL) + " tenant=" + keyFingerprint(apiKey)
	return checkpoint.CacheScope{
		string(pipeline.KindVerify): common + " verifyCatchAll=true",
		string(pipeline.KindPerson): common + " includeMobile=" + strconv.FormatBool(j.IncludeMobile),
		string(pipeline.KindOrg):    common,
	}
}

// keyFingerprint identifies an API key without revealing it: 64 bits of a
// domain-separated SHA-256.
func keyFingerprint(key string) string {
	h := sha256.Sum256([]byte("batch cache tenant\x00" + key))
	return hex.EncodeToString(h[:8])
}

// canonicalBaseURL spells one base URL one way: scheme and host in lower
// case, the default port dropped, no trailing slash.
func canonicalBaseURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return strings.TrimRight(raw, "/")
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if p := u.Port(); p != "" && !(scheme == "https" && p == "443") && !(scheme == "http" && p == "80") {
		host += ":" + p
	}
	return scheme + "://" + host + strings.TrimRight(u.EscapedPath(), "/")
}

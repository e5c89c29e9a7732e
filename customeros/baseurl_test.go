package customeros

import (
	"errors"
	"testing"
)

func TestCheckBaseURL(t *testing.T) {
	for _, tc := range []struct {
		url          string
		allow        bool
		wantErr      error
		wantInsecure bool
	}{
		{url: "https://api.customeros.ai"},
		{url: "https://10.0.0.1:8443/v1"},
		{url: "http://127.0.0.1:8080"},
		{url: "http://127.9.8.7"},
		{url: "http://[::1]:9000"},
		{url: "HTTP://127.0.0.1:1"},
		{url: "http://localhost:8080", wantErr: ErrInsecureURL},
		{url: "http://api.customeros.ai", wantErr: ErrInsecureURL},
		{url: "http://10.1.2.3", wantErr: ErrInsecureURL},
		{url: "http://[::ffff:10.0.0.1]", wantErr: ErrInsecureURL},
		{url: "http://api.customeros.ai", allow: true, wantInsecure: true},
		{url: "ftp://127.0.0.1", wantErr: ErrInvalidArgument},
		{url: "api.customeros.ai", wantErr: ErrInvalidArgument},
		{url: "https://user:pw@api.customeros.ai", wantErr: ErrInvalidArgument},
		{url: "http://%zz", wantErr: ErrInvalidArgument},
	} {
		insecure, err := CheckBaseURL(tc.url, tc.allow)
		if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
			t.Errorf("CheckBaseURL(%q, %v) = %v, want %v", tc.url, tc.allow, err, tc.wantErr)
		}
		if insecure != tc.wantInsecure {
			t.Errorf("CheckBaseURL(%q, %v) insecure = %v, want %v", tc.url, tc.allow, insecure, tc.wantInsecure)
		}
	}
}

package customeros_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
)

// handlerTransport serves requests in-process (for synctest bubbles, where
// real sockets would escape the fake clock).
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				resp, err = nil, errors.New("connection reset by peer")
				return
			}
			panic(r)
		}
	}()
	if req.Body != nil {
		defer req.Body.Close()
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	res := rec.Result()
	res.Request = req
	res.Body = io.NopCloser(res.Body)
	return res, nil
}

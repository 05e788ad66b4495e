// Package rest imitates client-go's REST client decoding path (rest/request.go: Request.Do, Result.Into): the
// response body is JSON-decoded into the caller's object, which is where large lists cost CPU.
package rest

import (
	"context"
	"encoding/json"
)

// Request holds a canned response body, as if returned by the API server.
type Request struct {
	body []byte
}

// Result is a response waiting to be decoded.
type Result struct {
	body []byte
	err  error
}

// NewRequest returns a request whose response is body.
func NewRequest(body []byte) *Request { return &Request{body: body} }

// Do "performs" the request.
func (r *Request) Do(ctx context.Context) Result {
	if err := ctx.Err(); err != nil {
		return Result{err: err}
	}
	return Result{body: r.body}
}

// Into decodes the response body into obj.
func (r Result) Into(obj interface{}) error {
	if r.err != nil {
		return r.err
	}
	return json.Unmarshal(r.body, obj)
}

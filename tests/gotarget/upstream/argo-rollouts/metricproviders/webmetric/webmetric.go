// Package webmetric imitates the web metric provider (metricproviders/webmetric/webmetric.go: Provider.Run), which
// GETs a URL with the provider's HTTP client. Here the client has no timeout, so a provider that never answers
// keeps the measurement goroutine (and its connection) forever.
package webmetric

import (
	"context"
	"io"
	"net/http"
)

// Provider queries one URL.
type Provider struct {
	URL    string
	Client *http.Client
}

// Run takes one measurement.
func (p *Provider) Run(ctx context.Context) error {
	request, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return err
	}
	response, err := p.Client.Do(request)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	_, err = io.Copy(io.Discard, response.Body)
	return err
}

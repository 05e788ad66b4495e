// Package analysis imitates the AnalysisRun controller's measurement loop (analysis/analysis.go:
// runMeasurements), which starts one goroutine per metric to call its provider.
package analysis

import (
	"context"
	"sync"
)

// Provider takes one measurement (metricproviders/provider.go's Provider.Run).
type Provider interface {
	Run(ctx context.Context) error
}

// Controller runs measurements.
type Controller struct {
	Provider Provider
	wg       sync.WaitGroup
}

// RunMeasurements starts count measurements in their own goroutines, as runMeasurements does per metric.
func (c *Controller) RunMeasurements(ctx context.Context, count int) {
	c.runMeasurements(ctx, count)
}

func (c *Controller) runMeasurements(ctx context.Context, count int) {
	for i := 0; i < count; i++ {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			_ = c.Provider.Run(ctx)
		}()
	}
}

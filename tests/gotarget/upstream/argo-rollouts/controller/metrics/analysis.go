package metrics

import (
	"fmt"
	"io"

	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
)

// AnalysisRunLister lists AnalysisRuns in their typed form.
type AnalysisRunLister interface {
	List() ([]*v1alpha1.AnalysisRun, error)
}

// analysisRunCollector imitates controller/metrics/analysis.go: on every scrape it lists every AnalysisRun and
// writes one analysis_run_info series per run.
type analysisRunCollector struct {
	runs AnalysisRunLister
}

// NewAnalysisRunCollector returns a collector over runs.
func NewAnalysisRunCollector(runs AnalysisRunLister) Collector {
	return &analysisRunCollector{runs: runs}
}

// Collect writes the AnalysisRuns' series.
func (c *analysisRunCollector) Collect(w io.Writer) {
	runs, err := c.runs.List()
	if err != nil {
		return
	}
	fmt.Fprint(w, "# HELP analysis_run_info Information about analysis run.\n# TYPE analysis_run_info gauge\n")
	for _, run := range runs {
		collectAnalysisRuns(w, run)
	}
}

func collectAnalysisRuns(w io.Writer, run *v1alpha1.AnalysisRun) {
	fmt.Fprintf(w, "analysis_run_info{name=%q,namespace=%q,phase=%q} 1\n", run.Name, run.Namespace, run.Status.Phase)
}

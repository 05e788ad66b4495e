// Package v1alpha1 imitates the AnalysisRun type of argo-rollouts (pkg/apis/rollouts/v1alpha1/analysis_types.go):
// enough nested fields that converting one from unstructured costs what it costs the controller.
package v1alpha1

// ObjectMeta is the part of metadata the stand-ins fill.
type ObjectMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// Argument is an analysis argument.
type Argument struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Metric is one metric an analysis measures.
type Metric struct {
	Name             string            `json:"name"`
	Interval         string            `json:"interval"`
	Count            int64             `json:"count"`
	SuccessCondition string            `json:"successCondition"`
	Provider         map[string]string `json:"provider"`
}

// Measurement is one measurement of a metric.
type Measurement struct {
	Phase      string `json:"phase"`
	Value      string `json:"value"`
	StartedAt  string `json:"startedAt"`
	FinishedAt string `json:"finishedAt"`
}

// MetricResult holds a metric's measurements.
type MetricResult struct {
	Name         string        `json:"name"`
	Phase        string        `json:"phase"`
	Measurements []Measurement `json:"measurements"`
}

// AnalysisRunSpec is what an AnalysisRun measures.
type AnalysisRunSpec struct {
	Metrics []Metric   `json:"metrics"`
	Args    []Argument `json:"args"`
}

// AnalysisRunStatus is what it found.
type AnalysisRunStatus struct {
	Phase         string         `json:"phase"`
	MetricResults []MetricResult `json:"metricResults"`
}

// AnalysisRun is one run of an analysis.
type AnalysisRun struct {
	ObjectMeta `json:"metadata"`
	Spec       AnalysisRunSpec   `json:"spec"`
	Status     AnalysisRunStatus `json:"status"`
}

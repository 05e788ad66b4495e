// Package tolerantinformer imitates argo-rollouts' tolerant listers (utils/tolerantinformer, v0.10 to v1.9.x):
// the CRD informers keep unstructured objects, and every List converts each of them into its typed form again.
package tolerantinformer

import (
	"github.com/argoproj/argo-rollouts/pkg/apis/rollouts/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
)

// convertObject fills typedObj from an unstructured object.
func convertObject(object map[string]interface{}, typedObj interface{}) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(object, typedObj)
}

type tolerantAnalysisRunLister struct {
	delegate func() []map[string]interface{}
}

// NewTolerantAnalysisRunLister lists the unstructured AnalysisRuns delegate returns, converted.
func NewTolerantAnalysisRunLister(delegate func() []map[string]interface{}) *tolerantAnalysisRunLister {
	return &tolerantAnalysisRunLister{delegate: delegate}
}

// List converts every AnalysisRun the informer holds.
func (t *tolerantAnalysisRunLister) List() ([]*v1alpha1.AnalysisRun, error) {
	return convertObjectsToAnalysisRuns(t.delegate())
}

func convertObjectsToAnalysisRuns(objects []map[string]interface{}) ([]*v1alpha1.AnalysisRun, error) {
	runs := make([]*v1alpha1.AnalysisRun, len(objects))
	var firstErr error
	for i, object := range objects {
		runs[i] = &v1alpha1.AnalysisRun{}
		if err := convertObject(object, runs[i]); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return runs, firstErr
}

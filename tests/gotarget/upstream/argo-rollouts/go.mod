// Stand-ins at the Argo Rollouts controller's import paths, so the test target's profiles carry the function
// names the analysis catalog matches (rollout/controller.go, analysis/analysis.go, metricproviders/webmetric,
// controller/metrics). Standard library only; the behaviour is a small imitation, never the upstream code.
module github.com/argoproj/argo-rollouts

go 1.19

require k8s.io/client-go v0.0.0

replace k8s.io/client-go => ../client-go

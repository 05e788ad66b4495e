// Stand-ins at the Argo Rollouts controller's import paths, so the test target's profiles carry the function
// names the analysis catalog matches (rollout/controller.go, analysis/analysis.go, metricproviders/webmetric,
// controller/metrics, utils/tolerantinformer). Standard library only; the behaviour is a small imitation, never
// the upstream code.
module github.com/argoproj/argo-rollouts

go 1.19

require (
	github.com/sirupsen/logrus v0.0.0
	k8s.io/apimachinery v0.0.0
	k8s.io/client-go v0.0.0
)

replace (
	github.com/sirupsen/logrus => ../logrus
	k8s.io/apimachinery => ../apimachinery
	k8s.io/client-go => ../client-go
)

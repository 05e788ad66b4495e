module gotarget

go 1.19

require (
	github.com/argoproj/argo-rollouts v0.0.0
	github.com/sirupsen/logrus v0.0.0
	k8s.io/apimachinery v0.0.0
	k8s.io/client-go v0.0.0
)

// Local stand-ins at the real import paths, so profiles carry the controller's and its libraries' function names.
replace (
	github.com/argoproj/argo-rollouts => ./upstream/argo-rollouts
	github.com/sirupsen/logrus => ./upstream/logrus
	k8s.io/apimachinery => ./upstream/apimachinery
	k8s.io/client-go => ./upstream/client-go
)

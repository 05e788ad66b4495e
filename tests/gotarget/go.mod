module gotarget

go 1.19

require (
	github.com/argoproj/argo-rollouts v0.0.0
	k8s.io/client-go v0.0.0
)

// Local stand-ins at the real import paths, so profiles carry the controller's and client-go's function names.
replace (
	github.com/argoproj/argo-rollouts => ./upstream/argo-rollouts
	k8s.io/client-go => ./upstream/client-go
)

// Stand-ins at client-go's import paths (tools/cache, util/workqueue, rest) for the test target's profiles.
// Standard library only; a small imitation of the behaviour, never the upstream code.
module k8s.io/client-go

go 1.19

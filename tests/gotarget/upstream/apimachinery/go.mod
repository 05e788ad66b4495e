// Stand-in at apimachinery's import path (pkg/runtime: the unstructured converter) for the test target's profiles.
// Standard library only; a small imitation of the behaviour, never the upstream code.
module k8s.io/apimachinery

go 1.19

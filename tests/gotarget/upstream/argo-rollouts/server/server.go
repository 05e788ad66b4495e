// Package server imitates the dashboard's API server before v1.8.0-rc1 (server/server.go: GetRolloutInfo builds a
// view controller per request and starts it with context.Background(), so its informers are never stopped).
package server

import (
	"context"

	"github.com/argoproj/argo-rollouts/pkg/kubectl-argo-rollouts/viewcontroller"
)

// ArgoRolloutsServer serves the dashboard.
type ArgoRolloutsServer struct {
	List func() []viewcontroller.Object
}

func (s *ArgoRolloutsServer) initRolloutViewController(ctx context.Context) *viewcontroller.RolloutViewController {
	controller := viewcontroller.NewRolloutViewController(s.List())
	controller.Start(ctx)
	return controller
}

func (s *ArgoRolloutsServer) getRolloutInfo() int {
	return s.initRolloutViewController(context.Background()).GetRolloutInfo()
}

// GetRolloutInfo answers one dashboard request.
func (s *ArgoRolloutsServer) GetRolloutInfo() int { return s.getRolloutInfo() }

"""Incident runbook pieces: the capture lock, the goroutine trend and the evidence bundle."""

"""Training with probes, test metrics and the run store."""

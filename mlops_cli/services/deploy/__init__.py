"""Hosting: endpoints, their scaling and rollouts, invocation, batch transform and load tests."""

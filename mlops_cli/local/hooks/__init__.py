"""Handlers for the API calls the embedded local AWS executes for real (each module has `register`)."""

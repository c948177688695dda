"""EC2 in the local AWS: the project's bootstrap runs for real on a launched instance."""

"""Application Auto Scaling in the local AWS: scalable targets, the autoscaler, its CloudWatch alarms."""

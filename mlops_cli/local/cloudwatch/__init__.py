"""CloudWatch in the local AWS beyond what moto does: alarms evaluated on their metrics."""

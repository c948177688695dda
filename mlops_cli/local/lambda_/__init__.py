"""Lambda in the local AWS: functions run in local processes, with reserved and provisioned concurrency."""

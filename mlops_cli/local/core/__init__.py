"""The local AWS's front door and machinery shared by every emulated service: the server and its hook registry,
the guard (Host, size, SigV4), credentials, AWS's error shapes, strict validation, names and paths, the durable
store, the process environment, and the manager that starts and stops the server."""

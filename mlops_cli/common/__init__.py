"""What the client and the local AWS must read the same way (neutral: imports nothing of either side)."""

"""Call campaigns and the dialer's leads."""

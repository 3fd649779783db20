"""What runs inside the child process: the bootstrap and the pytest plugin. Keep it small."""

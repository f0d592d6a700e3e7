"""The process side: the CLI, the supervisor, the embedded Redis, the demo."""

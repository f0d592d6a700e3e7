"""cadencia's assembly: the ASGI app, the dataflow wiring, the supervisor and the CLI."""

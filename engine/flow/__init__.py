"""The dataflow: its wiring on Bytewax and the process that runs it."""

"""The command line: one module per command group, terminal rendering apart."""

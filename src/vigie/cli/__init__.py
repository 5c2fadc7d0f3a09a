"""Command line: thin translation of commands into service calls, with Rich output."""

"""Data helpers: the synthetic Decathlon task generator."""

"""Data helpers: Decathlon task generators (synthetic shapes; real anatomy from mricron-data)."""

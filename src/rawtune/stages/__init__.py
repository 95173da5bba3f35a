"""Stages: each turns a validated config into a finished run directory (the Python API's engines)."""

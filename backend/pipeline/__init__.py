"""The pipeline: one request from its validation to decoded images (stages, runtime, loader, device,
attention, limits, platform effects).

Importing this package imports nothing: torch loads with the modules that need it.
"""

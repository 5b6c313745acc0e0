"""The pipeline: one request from its validation to decoded images (request, limits, context, stages,
loader, device, attention, platform effects).

Importing this package imports nothing: torch loads with the modules that need it.
"""

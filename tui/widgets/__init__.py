"""Widgets of the console; one widget per module, named after its class."""

"""Screens and panes of the console: settings panes generated from the registry, modals, crash report."""
